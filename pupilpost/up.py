"""`pupilpost up` (what `make up` runs): the whole platform on one machine, nothing to install.

Starts an embedded PostgreSQL (data kept in the data dir) and an embedded,
memory-only Kafka-API broker, then each service and the gateway as child
processes, waits until all are ready, prints where everything is, and stays in
the foreground until Ctrl-C, when it stops everything in order.
"""
from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import asyncpg
import httpx

from pupilpost.crypto import CryptoError, load_master_key
from pupilpost.db import ensure_role
from pupilpost.embedded import (
    EmbeddedError, EmbeddedKafka, EmbeddedPostgres, accepts_connections, ensure_database, port_is_free, spawn_child,
    stop_children, tail,
)
from pupilpost.peers.run import DEFAULT_SMSC
from pupilpost.routes import PORT_OFFSETS
from pupilpost.settings import SERVICES

DATABASE = "pupilpost"
# Local stand-ins for email, SMS and push (pupilpost.peers), at gateway port + offset.
PEER_OFFSETS = {"page": 20, "smtp": 21, "smtp-view": 22, "smpp": 23, "smpp-view": 24, "push": 25, "bounces": 26}
STEPS = 5
READY_TIMEOUT = 60.0
TOKEN_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0


class Stop(Exception):
    """SIGINT or SIGTERM asked us to stop."""


class StartupFailed(RuntimeError):
    """Something did not come up; the message says what and where to look."""


@dataclass(frozen=True)
class Layout:
    """Where everything lives: ports and paths of one embedded run."""

    port: int
    pg_port: int
    kafka_port: int
    data_dir: Path

    @property
    def logs(self) -> Path:
        """Directory of every process's log file."""
        return self.data_dir / "logs"

    @property
    def master_key(self) -> Path:
        """The development master key (KEK) file."""
        return self.data_dir / "master.key"

    @property
    def operator_token(self) -> Path:
        """Where ingest writes the first administrator's token."""
        return self.data_dir / "operator-token"

    def service_port(self, service: str) -> int:
        """HTTP port of `service`."""
        return self.port + PORT_OFFSETS[service]

    def service_url(self, service: str) -> str:
        """Base URL of `service`."""
        return f"http://127.0.0.1:{self.service_port(service)}"

    def peer_port(self, peer: str) -> int:
        """Port of a local stand-in for the outside world (gateway port + a fixed offset)."""
        return self.port + PEER_OFFSETS[peer]

    def ports(self) -> dict[str, int]:
        """Every port this run needs, by what needs it."""
        return {"gateway": self.port, **{s: self.service_port(s) for s in SERVICES},
                **{f"{p} stand-in": self.peer_port(p) for p in PEER_OFFSETS},
                "PostgreSQL": self.pg_port, "Kafka": self.kafka_port}


def layout_from_env(port: int | None = None, data_dir: Path | None = None) -> Layout:
    """Arguments win, then PUPILPOST_* environment variables, then defaults."""
    env = os.environ
    data = data_dir or Path(env.get("PUPILPOST_DATA_DIR") or Path.cwd() / ".pupilpost")
    return Layout(port=port if port is not None else int(env.get("PUPILPOST_PORT", "8000")),
                  pg_port=int(env.get("PUPILPOST_PG_PORT", "54329")),
                  kafka_port=int(env.get("PUPILPOST_KAFKA_PORT", "19092")),
                  data_dir=data.expanduser().resolve())


def service_env(layout: Layout, service: str) -> dict[str, str]:
    """The environment of one service process (its whole configuration)."""
    prefix, pg = service.upper(), f"127.0.0.1:{layout.pg_port}/{DATABASE}"
    env = {**os.environ, **_platform_env(layout),
           f"{prefix}_DATABASE_URL": f"postgresql://pp_{service}@{pg}",
           f"{prefix}_MIGRATE_DATABASE_URL": f"postgresql://postgres@{pg}",
           f"{prefix}_HTTP_HOST": "127.0.0.1",
           f"{prefix}_HTTP_PORT": str(layout.service_port(service))}
    if service == "ingest":
        env["INGEST_BOOTSTRAP_OPERATOR_TOKEN_FILE"] = str(layout.operator_token)
    if service == "dispatch":
        env.update({k: v for k, v in dispatch_channels_env(layout).items() if k not in os.environ})
    return env


def dispatch_channels_env(layout: Layout) -> dict[str, str]:
    """Dispatch's providers in the embedded run: the local stand-ins (any DISPATCH_* variable set
    in the environment wins, so a real relay or SMSC can be tried from `make up`)."""
    p = layout.peer_port
    return {"DISPATCH_SMTP_HOST": "127.0.0.1", "DISPATCH_SMTP_PORT": str(p("smtp")),
            "DISPATCH_SMTP_SENDER": "messages@pupilpost.localhost", "DISPATCH_BOUNCE_DOMAIN": "bounces.localhost",
            "DISPATCH_BOUNCE_LISTEN_PORT": str(p("bounces")),
            "DISPATCH_SMPP_HOST": "127.0.0.1", "DISPATCH_SMPP_PORT": str(p("smpp")),
            "DISPATCH_SMPP_SYSTEM_ID": DEFAULT_SMSC.system_id, "DISPATCH_SMPP_PASSWORD": DEFAULT_SMSC.password,
            "DISPATCH_VAPID_PRIVATE_KEY_FILE": str(ensure_vapid_key(layout.data_dir / "vapid.pem"))}


def ensure_vapid_key(path: Path) -> Path:
    """The development VAPID key (EC P-256), created on first use and kept with the data."""
    if not path.is_file():
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ec

        path.parent.mkdir(parents=True, exist_ok=True)
        pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        path.touch(mode=0o600)
        path.write_bytes(pem)
    return path


def _platform_env(layout: Layout) -> dict[str, str]:
    return {"PUPILPOST_MODE": "development",
            "PUPILPOST_KAFKA_BOOTSTRAP": f"127.0.0.1:{layout.kafka_port}",
            "PUPILPOST_KAFKA_IDEMPOTENCE": "false",  # Tansu rejects InitProducerId
            "PUPILPOST_KAFKA_SESSION_TIMEOUT_MS": "3000",
            "PUPILPOST_KAFKA_HEARTBEAT_INTERVAL_MS": "500",
            "PUPILPOST_MASTER_KEY_FILE": str(layout.master_key),
            "PUPILPOST_DATA_DIR": str(layout.data_dir),
            "PYTHONUNBUFFERED": "1"}


def service_command(service: str) -> list[str]:
    """The command line that runs one service in the foreground."""
    return [sys.executable, "-m", "pupilpost.cli", "run", service]


def peers_command(layout: Layout) -> list[str]:
    """The command line that runs the SMTP, SMPP and Web Push stand-ins."""
    p = layout.peer_port
    return [sys.executable, "-m", "pupilpost.peers", "--host", "127.0.0.1", "--page-port", str(p("page")),
            "--smtp-port", str(p("smtp")), "--smtp-http-port", str(p("smtp-view")),
            "--bounce-target", f"127.0.0.1:{p('bounces')}", "--smpp-port", str(p("smpp")),
            "--smpp-http-port", str(p("smpp-view")), "--push-port", str(p("push"))]


def gateway_command() -> list[str]:
    """The command line that runs the gateway."""
    return [sys.executable, "-m", "pupilpost.gateway"]


def gateway_env(layout: Layout) -> dict[str, str]:
    """The gateway's environment: its port and the services' URLs."""
    upstreams = {s: layout.service_url(s) for s in SERVICES}
    return {**os.environ, "PUPILPOST_GATEWAY_PORT": str(layout.port),
            "PUPILPOST_UPSTREAMS": json.dumps(upstreams), "PYTHONUNBUFFERED": "1"}


@contextmanager
def step(number: int, label: str) -> Iterator[None]:
    """Print '[n/5] label ... ready (1.2 s)' around one start-up step."""
    print(f"[{number}/{STEPS}] {label} ...", end=" ", flush=True)
    started = time.monotonic()
    try:
        yield
    except Stop:
        print("interrupted", flush=True)
        raise
    except BaseException:
        print("failed", flush=True)
        raise
    print(f"ready ({time.monotonic() - started:.1f} s)", flush=True)


class Platform:
    """The processes of one embedded run, started and stopped in order."""

    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        logs = layout.logs
        self.pg = EmbeddedPostgres(layout.data_dir / "pg", layout.pg_port, durable=True,
                                   log_file=logs / "postgres.log")
        self.kafka = EmbeddedKafka(layout.kafka_port, log_file=logs / "kafka.log")
        self.children: dict[str, subprocess.Popen[bytes]] = {}

    def start(self) -> None:
        """Bring everything up, printing progress; raises StartupFailed or EmbeddedError."""
        layout = self.layout
        with step(1, f"PostgreSQL (embedded, data in {layout.data_dir / 'pg'})"):
            self.pg.start()
        with step(2, "Kafka-API broker (embedded Tansu, memory-only)"):
            self.kafka.start()
        with step(3, f'database "{DATABASE}" and service roles'):
            asyncio.run(_prepare_database(self.pg.dsn, self.pg.dsn_for(DATABASE)))
        with step(4, f"services {', '.join(SERVICES)} (logs in {layout.logs})"):
            self._spawn()
            self._wait_ready({s: layout.service_url(s) for s in SERVICES}, READY_TIMEOUT)
        with step(5, f"gateway on http://127.0.0.1:{layout.port}, local mail/SMS/push stand-ins"):
            self._wait_ready({"gateway": f"http://127.0.0.1:{layout.port}"}, 15.0)
            self._wait_port(layout.peer_port("page"), 15.0)

    def _spawn(self) -> None:
        self.layout.logs.mkdir(parents=True, exist_ok=True)
        for name in (*SERVICES, "gateway", "peers"):
            self._log(name).write_bytes(b"")  # one run per log file: a failure's tail is this run's
        # The stand-ins first: dispatch binds to the SMSC as it starts.
        self.children["peers"] = spawn_child(peers_command(self.layout), self._log("peers"),
                                             env={**os.environ, "PYTHONUNBUFFERED": "1"})
        for service in SERVICES:
            self.children[service] = spawn_child(service_command(service), self._log(service),
                                                 env=service_env(self.layout, service))
        self.children["gateway"] = spawn_child(gateway_command(), self._log("gateway"),
                                               env=gateway_env(self.layout))

    def _log(self, name: str) -> Path:
        return self.layout.logs / f"{name}.log"

    def _wait_ready(self, urls: dict[str, str], timeout: float) -> None:
        """Poll each /readyz until 200; fail if a child exits or time runs out."""
        pending, deadline = dict(urls), time.monotonic() + timeout
        with httpx.Client(timeout=1.0, trust_env=False) as client:
            while pending:
                self._fail_if_exited()
                pending = {n: u for n, u in pending.items() if not _ready(client, u)}
                if pending and time.monotonic() > deadline:
                    raise StartupFailed(f"not ready after {timeout:.0f} s: {', '.join(pending)}"
                                        f" (logs in {self.layout.logs})")
                if pending:
                    time.sleep(0.2)

    def _wait_port(self, port: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not accepts_connections(port):
            self._fail_if_exited()
            if time.monotonic() > deadline:
                raise StartupFailed(f"the local stand-ins are not listening after {timeout:.0f} s"
                                    f" (log: {self._log('peers')})")
            time.sleep(0.1)

    def _fail_if_exited(self) -> None:
        for name, proc in self.children.items():
            if proc.poll() is not None:
                raise StartupFailed(self.exit_report(name, proc.returncode))

    def exit_report(self, name: str, code: int | None) -> str:
        """'<name> exited with code N' and the last lines of its log."""
        log = self._log(name)
        how = f"was killed by {signal.Signals(-code).name}" if code and code < 0 else f"exited with code {code}"
        return f"{name} {how}; last lines of {log}:\n{tail(log, 20)}"

    def watch(self) -> int:
        """Block until a process dies (returns 1); a signal raises Stop."""
        while True:
            for name, proc in self.children.items():
                if proc.poll() is not None:
                    print(self.exit_report(name, proc.returncode), file=sys.stderr, flush=True)
                    return 1
            for name, server in (("PostgreSQL", self.pg), ("Kafka", self.kafka)):
                if not server.running():
                    print(f"{name} stopped unexpectedly; see {self.layout.logs}", file=sys.stderr, flush=True)
                    return 1
            time.sleep(0.5)

    def stop(self) -> None:
        """Stop gateway and services (SIGTERM, then SIGKILL after 10 s), then Kafka, then PostgreSQL."""
        if self.children:
            print("stopping gateway and services ...", flush=True)
            stop_children(self.children.values(), timeout=STOP_TIMEOUT)
        self.kafka.stop()
        self.pg.stop()


async def _prepare_database(admin_dsn: str, db_dsn: str) -> None:
    """Create the database and one non-superuser login role per service."""
    await ensure_database(admin_dsn, DATABASE)
    for service in SERVICES:
        await ensure_role(db_dsn, f"pp_{service}")


def _ready(client: httpx.Client, base: str) -> bool:
    try:
        return client.get(f"{base}/readyz").status_code == 200
    except httpx.HTTPError:
        return False


def busy_ports(layout: Layout) -> list[str]:
    """'port N (what)' for every needed port that is already taken."""
    return [f"port {port} ({what})" for what, port in layout.ports().items() if not port_is_free(port)]


def read_token(path: Path, timeout: float = TOKEN_TIMEOUT) -> str | None:
    """The operator token once ingest has written it (None after `timeout`)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.is_file() and (token := path.read_text().strip()):
            return token
        time.sleep(0.2)
    return None


def print_summary(platform: Platform, started: float) -> None:
    """Where everything is, how to call it, and how long start-up took."""
    layout, token = platform.layout, read_token(platform.layout.operator_token)
    base = f"http://127.0.0.1:{layout.port}"
    lines = ["", f"Pupilpost is up in {time.monotonic() - started:.1f} s.", "",
             f"  API (gateway)      {base}",
             *(f"  {s:<18} {layout.service_url(s)}" for s in SERVICES),
             f"  mail, SMS, pushes  http://127.0.0.1:{layout.peer_port('page')}  (local stand-ins: SMTP"
             f" {layout.peer_port('smtp')}, SMPP {layout.peer_port('smpp')}, Web Push {layout.peer_port('push')})",
             f"  PostgreSQL admin   {platform.pg.dsn_for(DATABASE)}",
             f"  Kafka bootstrap    {platform.kafka.bootstrap}  (embedded, memory-only: a restart loses"
             " in-flight events; development only)",
             f"  data dir           {layout.data_dir}",
             f"  logs               {layout.logs}/<name>.log",
             f"  operator token     {token or '(not written yet; see logs/ingest.log)'}",
             f"                     (in {layout.operator_token})", "",
             "Try it:",
             f'  curl -H "Authorization: Bearer $(cat {layout.operator_token})" -X POST {base}/v1/ops/schools \\',
             """       -d '{"name":"Northwick Park Primary","urn":"123456"}' -H 'content-type: application/json'""",
             "", "Press Ctrl-C to stop."]
    print("\n".join(lines), flush=True)


def _raise_stop(signum: int, _frame: FrameType | None) -> None:
    raise Stop(signal.Signals(signum).name)


def _set_signals(handler: Any) -> dict[int, Any]:
    """Install `handler` for SIGINT and SIGTERM; return the previous handlers."""
    return {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}


def main(port: int | None = None, data_dir: Path | None = None) -> int:
    """Run the platform in the foreground until Ctrl-C; 0 on a clean stop, 1 on failure, 2 if ports are taken."""
    layout = layout_from_env(port, data_dir)
    busy = busy_ports(layout)
    if busy:
        print(f"pupilpost up: already in use: {', '.join(busy)}; stop what holds them or choose other"
              " ports (--port, PUPILPOST_PG_PORT, PUPILPOST_KAFKA_PORT)", file=sys.stderr)
        return 2
    previous = _set_signals(_raise_stop)
    platform = Platform(layout)
    try:
        return _run(platform)
    except Stop:
        return 0
    finally:
        _set_signals(signal.SIG_IGN)  # let shutdown finish; children are in their own process groups
        _shutdown(platform)
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _run(platform: Platform) -> int:
    """Start, summarise, watch; one-line errors for expected failures."""
    started = time.monotonic()
    try:
        key_existed = platform.layout.master_key.exists()
        load_master_key(None, platform.layout.master_key, development=True)
        print(f"master key: {platform.layout.master_key} ({'existing' if key_existed else 'generated'};"
              " development only)", flush=True)
        platform.start()
    except (EmbeddedError, StartupFailed, CryptoError, asyncpg.PostgresError, OSError) as exc:
        print(f"pupilpost up: {exc}", file=sys.stderr, flush=True)
        return 1
    print_summary(platform, started)
    return platform.watch()


def _shutdown(platform: Platform) -> None:
    started = time.monotonic()
    platform.stop()
    print(f"stopped ({time.monotonic() - started:.1f} s)", flush=True)


if __name__ == "__main__":
    sys.exit(main())
