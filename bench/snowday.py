"""Snow-day benchmark: every school messages every family at once; deliveries/s to the providers.

--schools schools of --families families each (one pupil and one parent per family) are created
through the operator API and their rosters uploaded through POST /v1/uploads (not timed). Every
parent has an email; every tenth also a mobile. As benchmark SETUP, written straight into dispatch's
tables (not through the inbox API): every parent has the app and prefers app + email + SMS
(dispatch.preference), and --push-share of them have one Web Push device registered with the push
stand-in (dispatch.push_subscription, sealed with the school's key as the inbox API would seal it).
So each family gets app + email, and every tenth SMS as well (the issue's "to email + app, with SMS
for 10%").

Timed: one POST /v1/messages per school (whole school, not urgent), all at once, and --probes
urgent messages to one family each, sent as the fan-out passes 1/(probes+1), 2/(probes+1), ... of
its deliveries. Hand-off time is the delivery's sent_at (the recording transaction's now()).

Processes: this one runs ingest (real HTTP), classifier, audit and retention; dispatch runs in its
own process, the SMTP / SMPP / Web Push stand-ins (pupilpost.peers) in another, PostgreSQL (durable)
and the Kafka-API broker (Tansu) in theirs. CPU seconds of each are printed.

    python -m bench.snowday                              # 100 schools x 1,000 families
    python -m bench.snowday --schools 10 --families 1000 # quick
    python -m bench.snowday --schools 10 --profile /tmp/dispatch.prof   # cProfile the dispatch process
"""
from __future__ import annotations

import argparse
import asyncio
import base64
import cProfile
import importlib
import json
import logging
import os
import pstats
import resource
import tempfile
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from multiprocessing import get_context
from pathlib import Path
from typing import Any
from uuid import UUID

import asyncpg
import httpx
import psutil
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from bench import pgstats
from bench.ingest import FIRST_URN, Platform, create_schools, quiet, serve
from bench.outbox import pct
from pupilpost import db, eventloop
from pupilpost.crypto import Keyring, load_master_key
from pupilpost.embedded import (
    EmbeddedKafka,
    EmbeddedPostgres,
    ensure_database,
    free_port,
)
from pupilpost.mis.roster import ContactRecord, PupilRecord, Roster, StaffRecord
from pupilpost.settings import SERVICES, PlatformSettings
from services.dispatch.main import create as create_dispatch
from services.dispatch.settings import DispatchSettings
from services.ingest.handlers import bootstrap_operator
from tests.integration.upload_client import send

SNOW = {"subject": "School closed today (snow)", "body": "Because of heavy snow the school is closed today. "
        "Please keep your child at home; we will write again this afternoon about tomorrow."}
URGENT = {"subject": "Collect your child", "body": "Please collect your child from the school office now."}
HANDED = ("sent", "delivered")


# --- separate processes: the stand-ins and dispatch ---------------------------------------------------

def peers_main(conn: Any, bounce_port: int) -> None:
    """The SMTP, SMSC and Web Push stand-ins in their own process; answers 'counts' and 'stop'."""
    from pupilpost.peers.run import PeersConfig, serve_peers

    async def run() -> None:
        config = PeersConfig().any_ports()
        config = replace(config, smtp=replace(config.smtp, bounce_target=("127.0.0.1", bounce_port)))
        handle = await serve_peers(config)
        conn.send({"smtp": handle.smtp.port, "smpp": handle.smsc.port, "push": handle.push.http.url,
                   "system_id": config.smsc.system_id, "password": config.smsc.password})
        loop = asyncio.get_running_loop()
        while True:
            if not await loop.run_in_executor(None, conn.poll, 0.5):
                continue
            if conn.recv() == "stop":
                break
            conn.send({"mails": len(handle.smtp.mails), "mail duplicates": handle.smtp.duplicates,
                       "sms": len(handle.smsc.messages), "pushes": len(handle.push.messages)})
        await handle.stop()
    logging.getLogger("pupilpost.peers").setLevel(logging.ERROR)
    asyncio.run(run())  # the stand-ins stay on asyncio's loop: aiosmtpd's STARTTLS wires asyncio's SSL protocol


def dispatch_main(platform: dict, settings: dict, ready: Any, go: Any, stop: Any, profile: str | None) -> None:
    """Dispatch in its own process, as deployed; cProfile from `go` to `stop` if asked."""
    async def run() -> None:
        quiet()
        svc = create_dispatch(PlatformSettings(**platform), DispatchSettings(**settings))
        await svc.start()
        ready.set()
        while not go.is_set():
            await asyncio.sleep(0.1)
        prof = cProfile.Profile() if profile else None
        if prof:
            prof.enable()
        while not stop.is_set():
            await asyncio.sleep(0.1)
        if prof:
            prof.disable()
            prof.dump_stats(profile)
        await svc.stop()
    eventloop.run(run())


# --- setup (not timed) ---------------------------------------------------------------------------------

def family_roster(urn: str, families: int) -> Roster:
    """One pupil and one parent per family; every parent has an email, every tenth a mobile too."""
    pupils, contacts = [], []
    for i in range(families):
        ref = f"B{i:05d}"
        pupils.append(PupilRecord(ref=ref, admission_number=ref, legal_forename=f"Pupil{i}", legal_surname="Snow",
                                  gender="F", date_of_birth=date(2016, 1 + i % 12, 1 + i % 28),
                                  year_group=str(1 + i % 6), reg_group=f"{1 + i % 6}A", source_row=i + 2))
        sms = i % 10 == 0  # mobiles 07700 900000-099: Ofcom drama numbers the SMSC stand-in delivers
        contacts.append(ContactRecord(
            pupil_ref=ref, ref="1", forename=f"Parent{i}", surname="Snow", relationship="Mother",
            parental_responsibility=True, priority=1, email=f"p{urn}-{i}@example.org",
            mobile=f"+447700900{i // 10:03d}" if sms else None, source_row=i + 2))
    staff = (StaffRecord(ref="S1", forename="Head", surname="Teacher", email=f"head{urn}@school.example.org",
                         role="Teacher"),)
    return Roster(school_urn=urn, source="csv", generated_at=datetime.now(UTC), pupils=tuple(pupils),
                  contacts=tuple(contacts), staff=staff)


async def upload_rosters(p: Platform, schools: list[tuple[str, UUID, str]], families: int) -> None:
    """Each school's roster through POST /v1/uploads, four at a time, until imported."""
    gate = asyncio.Semaphore(4)

    async def one(urn: str, school_id: UUID, key: str) -> None:
        async with gate, httpx.AsyncClient(base_url=p.url, timeout=600,
                                           headers={"authorization": f"Bearer {key}"}) as c:
            r = await send(c, key, school_id, family_roster(urn, families))
            if r.status_code != 202:
                raise RuntimeError(f"upload for {urn}: HTTP {r.status_code} {r.text[:200]}")
            while (status := (await c.get(f"/v1/uploads/{r.json()['upload_id']}")).json()["status"]) == "queued":
                await asyncio.sleep(0.2)
            if status != "imported":
                raise RuntimeError(f"upload for {urn} was {status}")
    await asyncio.gather(*(one(*s) for s in schools))


async def until(conn: asyncpg.Pool, sql: str, want: int, what: str, timeout: float = 1800) -> None:
    """Poll `sql` (one number) until it reaches `want`."""
    deadline = time.monotonic() + timeout
    while (have := await conn.fetchval(sql)) < want:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what}: {have} of {want} after {timeout:.0f} s")
        await asyncio.sleep(0.5)


async def give_everyone_the_app(conn: asyncpg.Pool) -> int:
    """SETUP shortcut: every parent has the app and prefers app, email and SMS (as the inbox API would save)."""
    return len(await conn.fetch(
        "INSERT INTO dispatch.preference (contact_id, school_id, channels, has_app)"
        " SELECT contact_id, school_id, ARRAY['app', 'email', 'sms'], true FROM dispatch.contact"
        " ON CONFLICT (contact_id) DO UPDATE SET channels = EXCLUDED.channels, has_app = true RETURNING 1"))


async def register_devices(conn: asyncpg.Connection, keys: Keyring, push_url: str, server_key: str,
                           share: float) -> int:
    """SETUP shortcut: a share of parents get a device from the push stand-in, stored as the inbox API stores it."""
    contacts = await conn.fetch("SELECT school_id, person_key FROM dispatch.contact ORDER BY contact_id")
    step = round(1 / share) if share > 0 else 0
    chosen = contacts[::step] if step else []
    rows = []
    async with httpx.AsyncClient(timeout=60) as http:
        for i in range(0, len(chosen), 50):
            subs = await asyncio.gather(*(http.post(f"{push_url}/subscribe", json={"applicationServerKey": server_key})
                                          for _ in chosen[i:i + 50]))
            for c, r in zip(chosen[i:i + 50], subs, strict=True):
                sub = r.json()
                stored = {"endpoint": sub["endpoint"], "keys": sub["keys"]}
                rows.append((UUID(bytes=os.urandom(16), version=4), c["school_id"], bytes(c["person_key"]),
                             await keys.encrypt(conn, c["school_id"], "push.subscription", json.dumps(stored)),
                             await keys.index(conn, c["school_id"], "push.endpoint", sub["endpoint"])))
    await conn.executemany("INSERT INTO dispatch.push_subscription (subscription_id, school_id, person_key, body,"
                           " endpoint_key) VALUES ($1, $2, $3, $4, $5)", rows)
    return len(rows)


async def probe_targets(conn: asyncpg.Pool, schools: list[UUID], n: int) -> list[tuple[UUID, UUID]]:
    """(school, pupil) of an emailed family without SMS per probe, one school after another."""
    out = []
    for k in range(n):
        pupil = await conn.fetchval("SELECT pupil_id FROM dispatch.contact WHERE school_id = $1"
                                    " AND has_email AND NOT has_mobile"
                                    " ORDER BY contact_id OFFSET $2 LIMIT 1", schools[k % len(schools)], k)
        out.append((schools[k % len(schools)], pupil))
    return out


# --- the timed run --------------------------------------------------------------------------------------

@dataclass
class Sent:
    """One POSTed message."""

    message_id: UUID
    posted: float
    accepted: float
    handed: float = 0.0          # its last delivery's sent_at (probes only)
    planned: float = 0.0         # its deliveries' created_at (probes only)
    deliveries: int = 0


@dataclass
class Run:
    """What the timed phase saw."""

    bulk: list[Sent] = field(default_factory=list)
    probes: list[Sent] = field(default_factory=list)
    drained: float = 0.0         # last bulk delivery committed as handed off (seen by polling)
    published: float = 0.0       # dispatch's outbox empty afterwards
    projected: float = 0.0       # ingest's projection shows every delivery handed off
    progress: list[tuple[float, int]] = field(default_factory=list)


async def post(http: httpx.AsyncClient, key: str, body: dict) -> Sent:
    """POST /v1/messages; returns when the 202 arrived."""
    posted = time.time()
    r = await http.post("/v1/messages", json=body, headers={"authorization": f"Bearer {key}"})
    if r.status_code != 202:
        raise RuntimeError(f"POST /v1/messages: HTTP {r.status_code} {r.text[:200]}")
    return Sent(UUID(r.json()["message_id"]), posted, time.time())


async def probe(http: httpx.AsyncClient, conn: asyncpg.Pool, key: str, pupil: UUID) -> Sent:
    """One urgent message to one family; returns once all its deliveries are handed off."""
    sent = await post(http, key, {"audience": {"pupil_ids": [str(pupil)]}, "urgent": True, **URGENT})
    while True:
        row = await conn.fetchrow(
            "SELECT count(*) AS n, count(*) FILTER (WHERE state IN ('sent', 'delivered')) AS done,"
            " extract(epoch FROM max(sent_at))::float8 AS last, extract(epoch FROM max(created_at))::float8 AS planned"
            " FROM dispatch.delivery WHERE message_id = $1", sent.message_id)
        if row["n"] and row["n"] == row["done"]:
            sent.handed, sent.planned, sent.deliveries = row["last"], row["planned"], row["n"]
            return sent
        await asyncio.sleep(0.02)


async def fan_out(p: Platform, owner: asyncpg.Pool, schools: list[tuple[str, UUID, str]],
                  targets: list[tuple[UUID, UUID]], expected: int) -> Run:
    """Every school's snow-day message at once, urgent probes through it, until drained."""
    run, keys = Run(), {school_id: key for _, school_id, key in schools}
    limits = httpx.Limits(max_connections=len(schools) + 4, max_keepalive_connections=len(schools) + 4)
    async with httpx.AsyncClient(base_url=p.url, timeout=600, limits=limits) as http:
        bulk = asyncio.gather(*(post(http, key, {"audience": {"whole_school": True}, **SNOW})
                                for _, _, key in schools))
        probes: list[asyncio.Task[Sent]] = []
        while True:
            # The count scans every delivery (210,000 in the default run): it cost PostgreSQL 51 s of a
            # 290 s run when it ran every 0.5 s, about 15 s of 260 s every 2 s.
            await asyncio.sleep(2.0)
            planned, open_, done = await owner.fetchrow(
                "SELECT count(*), count(*) FILTER (WHERE state IN ('queued', 'sending')),"
                " count(*) FILTER (WHERE state IN ('sent', 'delivered')) FROM dispatch.delivery WHERE NOT urgent")
            run.progress.append((time.time(), done))
            while len(probes) < len(targets) and done >= expected * (len(probes) + 1) / (len(targets) + 1):
                school_id, pupil = targets[len(probes)]
                probes.append(asyncio.create_task(probe(http, owner, keys[school_id], pupil)))
            if planned >= expected and not open_:  # all handed off, or failed for good
                run.drained = time.time()
                break
        run.bulk = list(await bulk)
        run.probes = list(await asyncio.gather(*probes))
    await until(owner, "SELECT CASE WHEN EXISTS (SELECT 1 FROM dispatch.outbox) THEN 0 ELSE 1 END", 1,
                "dispatch outbox")
    run.published = time.time()
    await until(owner, "SELECT count(*) FROM ingest.message_delivery WHERE state NOT IN ('queued', 'sending')",
                expected + sum(s.deliveries for s in run.probes), "ingest projection", timeout=900)
    run.projected = time.time()
    return run


# --- CPU --------------------------------------------------------------------------------------------------

def cpu_now(named: dict[int, str]) -> dict[str, float]:
    """CPU seconds so far of this process, the named child processes, PostgreSQL and the broker."""
    out = dict.fromkeys(("ingest+classifier+audit+bench", *named.values(), "postgres", "kafka"), 0.0)
    out["ingest+classifier+audit+bench"] = sum(resource.getrusage(resource.RUSAGE_SELF)[:2])
    for proc in psutil.Process().children(recursive=True):
        try:
            name, t = proc.name(), proc.cpu_times()
        except psutil.Error:
            continue
        if proc.pid in named:
            out[named[proc.pid]] += t.user + t.system
        elif name.startswith("postgres"):
            out["postgres"] += t.user + t.system + t.children_user + t.children_system
        elif name.startswith("tansu"):
            out["kafka"] += t.user + t.system
    return out


# --- the whole thing -------------------------------------------------------------------------------------

def vapid_key(path: Path) -> str:
    """Write the operator's VAPID key; returns its public key (base64url) for subscriptions."""
    key = ec.generate_private_key(ec.SECP256R1())
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    raw = key.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def dispatch_settings(args: argparse.Namespace, pg: EmbeddedPostgres, peers: dict, vapid: Path) -> dict:
    """Dispatch wired to the stand-ins; hand-off knobs from the flags (else the service's defaults)."""
    s: dict[str, Any] = {
        "database_url": pg.dsn_for("bench", "pp_dispatch"), "migrate_database_url": pg.dsn_for("bench"),
        "smtp_host": "127.0.0.1", "smtp_port": peers["smtp"], "smtp_sender": "messages@pupilpost.test",
        "bounce_domain": "bounces.pupilpost.test", "bounce_listen_port": args.bounce_port,
        "smpp_host": "127.0.0.1", "smpp_port": peers["smpp"], "smpp_system_id": peers["system_id"],
        "smpp_password": peers["password"], "sms_rate_per_second": args.sms_rate,
        "vapid_private_key_file": str(vapid)}
    for flag, name in (("workers", "sender_workers"), ("batch", "sender_batch"),
                       ("smtp_connections", "smtp_connections"), ("pool", "pool_max")):
        if getattr(args, flag) is not None:
            s[name] = getattr(args, flag)
    return s


async def run(args: argparse.Namespace, base: Path) -> None:
    pg = EmbeddedPostgres(base / "pg", free_port(), durable=True, settings=pgstats.server_settings(args.pg_statements))
    kafka = EmbeddedKafka(free_port())
    admin, bootstrap = pg.start(), kafka.start()
    spawn = get_context("spawn")
    args.bounce_port = free_port()
    parent_end, child_end = spawn.Pipe()
    peers_proc = spawn.Process(target=peers_main, args=(child_end, args.bounce_port), daemon=True)
    peers_proc.start()
    peers = parent_end.recv()
    ready, go, stop = spawn.Event(), spawn.Event(), spawn.Event()
    dispatch_proc = None
    started: list[Any] = []
    try:
        await ensure_database(admin, "bench")
        for svc in SERVICES:
            await db.ensure_role(admin, f"pp_{svc}", "pp")
        platform = {"kafka_bootstrap": bootstrap, "kafka_idempotence": False, "kafka_partitions": 4,
                    "kafka_session_timeout_ms": 6000, "kafka_heartbeat_interval_ms": 1000, "topic_prefix": "bench.",
                    "master_key": base64.b64encode(os.urandom(32)).decode()}
        owner_dsn = pg.dsn_for("bench")
        server_key = vapid_key(base / "vapid.pem")
        dsettings = dispatch_settings(args, pg, peers, base / "vapid.pem")
        dispatch_proc = spawn.Process(target=dispatch_main, args=(platform, dsettings, ready, go, stop, args.profile))
        dispatch_proc.start()
        while not ready.wait(0.5):
            if not dispatch_proc.is_alive():
                raise RuntimeError("dispatch did not start")
        for name in (s for s in SERVICES if s != "dispatch"):
            mod, smod = importlib.import_module(f"services.{name}.main"), importlib.import_module(f"services.{name}.settings")
            cls = next(v for k, v in vars(smod).items() if k.endswith("Settings") and k != "ServiceSettings")
            started.append(mod.create(PlatformSettings(**platform), cls(
                database_url=pg.dsn_for("bench", f"pp_{name}"), migrate_database_url=owner_dsn)))
        await asyncio.gather(*(s.start() for s in started))
        ingest = started[0]
        server, task, url = await serve(ingest)
        try:
            await bootstrap_operator(ingest, base / "operator-token")
            p = Platform(ingest, url, owner_dsn, bootstrap, "bench.", (base / "operator-token").read_text().strip())
            await asyncio.sleep(2)  # the operator credential reaches the services' projections
            await measure(args, p, platform, peers, server_key, parent_end,
                          {dispatch_proc.pid: "dispatch", peers_proc.pid: "stand-ins (SMTP, SMSC, push)"}, go)
        finally:
            server.should_exit = True
            await task
    finally:
        stop.set()
        if dispatch_proc is not None:
            dispatch_proc.join(60)
        await asyncio.gather(*(s.stop() for s in started), return_exceptions=True)
        parent_end.send("stop")
        peers_proc.join(30)
        kafka.stop()
        pg.stop()
    if args.profile:
        report_profile(args.profile)


async def measure(args: argparse.Namespace, p: Platform, platform: dict, peers: dict, server_key: str,
                  peers_pipe: Any, named: dict[int, str], go: Any) -> None:
    """Setup, then the timed fan-out, then the report."""
    t0 = time.perf_counter()
    schools = await create_schools(p, args.schools, FIRST_URN + 50_000)
    await upload_rosters(p, schools, args.families)
    owner = await asyncpg.create_pool(p.owner_dsn, min_size=1, max_size=args.probes + 2)
    try:
        n = args.schools * args.families
        await until(owner, "SELECT count(*) FROM dispatch.contact", n, "dispatch's directory projection")
        apps = await give_everyone_the_app(owner)
        kek = load_master_key(platform["master_key"], None, development=False)
        async with owner.acquire() as conn:
            devices = await register_devices(conn, Keyring(kek), peers["push"], server_key, args.push_share)
        targets = await probe_targets(owner, [s for _, s, _ in schools], args.probes)
        await owner.execute("VACUUM ANALYZE dispatch.contact")
        print(f"setup {time.perf_counter() - t0:.0f} s (not timed): {args.schools} schools x {args.families:,}"
              f" families; SETUP SHORTCUT, written directly into dispatch's tables: {apps:,} parents have the app"
              f" and prefer app+email+SMS, {devices:,} have a Web Push device", flush=True)
        expected = 2 * n + args.schools * len(range(0, args.families, 10))  # app + email; SMS for every tenth
        await pgstats.start(p.owner_dsn, args.pg_statements)
        go.set()
        before = cpu_now(named)
        result = await fan_out(p, owner, schools, targets, expected)
        cpu = {k: v - before[k] for k, v in cpu_now(named).items()}
        statements = await pgstats.top(p.owner_dsn, args.pg_statements)
        rows = await owner.fetch(
            "SELECT channel, state, extract(epoch FROM sent_at)::float8 AS sent, extract(epoch FROM created_at)::float8 AS created,"
            " attempts FROM dispatch.delivery WHERE message_id = ANY($1::uuid[])", [s.message_id for s in result.bulk])
    finally:
        await owner.close()
    peers_pipe.send("counts")
    report(args, result, rows, cpu, peers_pipe.recv())
    pgstats.report(statements, "during the fan-out")


# --- reporting ----------------------------------------------------------------------------------------------

def report(args: argparse.Namespace, r: Run, rows: list[Any], cpu: dict[str, float], peers: dict) -> None:
    first = min(s.accepted for s in r.bulk)
    handed = sorted(x["sent"] for x in rows if x["state"] in HANDED)
    n = len(handed)
    by = {}
    for x in rows:
        by[(x["channel"], x["state"])] = by.get((x["channel"], x["state"]), 0) + 1
    wall = handed[-1] - first
    t10, t90 = handed[int(n * 0.1)], handed[int(n * 0.9) - 1]
    planned = max(x["created"] for x in rows) - first
    print(f"\nsnow day: {args.schools} schools x {args.families:,} families, {len(rows):,} deliveries"
          f" ({', '.join(f'{c} {s} {k:,}' for (c, s), k in sorted(by.items()))})")
    print(f"  stand-ins received: {peers}")
    print(f"  HTTP accept        p50 {pct([s.accepted - s.posted for s in r.bulk], 50):.2f} s,"
          f" max {max(s.accepted - s.posted for s in r.bulk):.2f} s for the {len(r.bulk)} POSTs sent at once")
    print(f"  planned            all deliveries queued {planned:.1f} s after the first 202")
    print(f"  first hand-off     {handed[0] - first:.2f} s after the first 202")
    print(f"  THROUGHPUT         {n / wall:,.0f} deliveries/s (first 202 -> last hand-off: {n:,} in {wall:.1f} s);"
          f" sustained {0.8 * n / (t90 - t10):,.0f}/s between 10% and 90% handed off")
    print(f"  DRAIN              {wall:.1f} s to the last hand-off; {r.published - first:.1f} s until dispatch's"
          f" outbox was empty; {r.projected - first:.1f} s until ingest's message status showed every delivery")
    lat = [(s.handed - s.accepted) * 1000 for s in r.probes]
    if lat:
        print(f"  URGENT LATENCY     {len(lat)} probes (1 family each, {r.probes[0].deliveries} deliveries),"
              f" 202 -> last delivery handed off: p50 {pct(lat, 50):,.0f} ms, p99 {pct(lat, 99):,.0f} ms,"
              f" max {max(lat):,.0f} ms; each: {', '.join(f'{x:,.0f}' for x in lat)}")
        plan = [(s.planned - s.accepted) * 1000 for s in r.probes]
        print(f"    of which         202 -> planned (ingest relay, classifier, dispatch consumer): p50 {pct(plan, 50):,.0f} ms,"
              f" p99 {pct(plan, 99):,.0f} ms; planned -> handed off: p50 "
              f"{pct([(s.handed - s.planned) * 1000 for s in r.probes], 50):,.0f} ms,"
              f" p99 {pct([(s.handed - s.planned) * 1000 for s in r.probes], 99):,.0f} ms")
    total = sum(cpu.values())
    print(f"  CPU                {total:.1f} s over {r.projected - first:.1f} s = {total / (r.projected - first):.2f}"
          f" of {os.cpu_count()} cores: " + ", ".join(
              f"{k} {v:.1f} s ({v / n * 1e6:,.0f} us/delivery)" for k, v in cpu.items()))


def report_profile(path: str) -> None:
    print(f"\ndispatch process, cProfile ({path}), by own time:")
    pstats.Stats(path).sort_stats("tottime").print_stats(25)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--schools", type=int, default=100)
    parser.add_argument("--families", type=int, default=1000, help="families per school")
    parser.add_argument("--probes", type=int, default=20, help="urgent messages spaced through the fan-out")
    parser.add_argument("--push-share", type=float, default=0.25, help="share of parents with a Web Push device")
    parser.add_argument("--sms-rate", type=float, default=1000.0,
                        help="dispatch's SMS submit rate per second (the service default is 50)")
    parser.add_argument("--workers", type=int, help="dispatch sender workers (default: the service's)")
    parser.add_argument("--batch", type=int, help="deliveries per claimed batch (default: the service's)")
    parser.add_argument("--smtp-connections", type=int, help="SMTP connections (default: the service's)")
    parser.add_argument("--pool", type=int, help="dispatch's connection pool (default: the service's)")
    parser.add_argument("--profile", help="cProfile the dispatch process during the fan-out into this file")
    parser.add_argument("--pg-statements", type=int, default=0, metavar="N",
                        help="record statements with pg_stat_statements and print the N costliest")
    args = parser.parse_args()
    quiet()
    with tempfile.TemporaryDirectory(prefix="pupilpost-bench-") as tmp:
        eventloop.run(run(args, Path(tmp)))


if __name__ == "__main__":
    main()
