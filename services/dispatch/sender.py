"""The hand-off engine: queued deliveries out to email, SMS and the app, exactly once.

Exactly-once hand-off, even across kill -9:

1. A worker claims a batch of due deliveries (urgent first) with SKIP LOCKED, marks
   them `sending` with its instance id, and COMMITS, before any provider is called.
2. It hands each one off, giving the provider the delivery id as the idempotency
   key (SMTP Message-ID, an SMPP client-reference TLV, the Web Push Topic).
3. It commits the outcome: sent/delivered with the provider's id, a retry time for
   a transient failure (exponential backoff), or failed.

Each instance holds a PostgreSQL session advisory lock for as long as it lives. A
`sending` delivery whose instance's lock is free belongs to a dead instance: it is
queued again and handed off under the same key, which the provider de-duplicates.
No delivery is ever handed off by two live instances, and none is lost.

Receipts (SMPP deliver_sm) and bounces (DSNs) may overtake the commit of step 3;
they wait in dispatch.provider_report until the delivery they name is `sent`.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from uuid import UUID, uuid4

import asyncpg

from pupilpost import access, db
from pupilpost.crypto import CryptoError
from pupilpost.runner import Service
from services.dispatch import logic, status
from services.dispatch.channels import Channels
from services.dispatch.content import Renderer
from services.dispatch.providers.base import PermanentFailure, SubscriptionGone, TransientFailure
from services.dispatch.providers.bounces import Bounce
from services.dispatch.providers.email import OutboundEmail
from services.dispatch.settings import DispatchSettings

log = logging.getLogger(__name__)

LOCK_CLASS = 0x5050  # advisory lock space of sender instances: (LOCK_CLASS, instance key)
Outcome = Literal["sent", "delivered", "retry", "failed", "cancelled"]

CLAIM = """
WITH due AS (
  SELECT delivery_id FROM dispatch.delivery
  WHERE state = 'queued' AND next_attempt_at <= now() AND (urgent OR NOT $3::bool)
  ORDER BY urgent DESC, next_attempt_at LIMIT $2 FOR UPDATE SKIP LOCKED)
UPDATE dispatch.delivery d SET state = 'sending', claimed_by = $1, claimed_at = now(),
  attempts = d.attempts + 1, updated_at = now()
FROM due WHERE d.delivery_id = due.delivery_id
RETURNING d.delivery_id, d.school_id, d.message_id, d.contact_id, d.channel, d.content, d.urgent,
  d.attempts, d.recipient_kind, d.pupil_id, d.person_key
"""

# Statements are prepared, so PostgreSQL may cache a generic plan made when dispatch's tables were
# empty (its first minutes) and keep it as they fill. The claim's became a sequential scan and a
# sort of every queued delivery, which under concurrent claimers took 2.3 s a batch instead of
# 13 ms (bench/README.md, "Round 3: the claim"). So the claim and the report matching are planned
# afresh at each call, the claim with index order forced so it stops after a batch however many
# are queued.
# (A fresh plan needs a parameter: PostgreSQL always reuses the generic plan of one without.)
FRESH_PLAN = "SET LOCAL plan_cache_mode = force_custom_plan"
INDEX_ORDER = "; SET LOCAL enable_seqscan = off; SET LOCAL enable_bitmapscan = off; SET LOCAL enable_sort = off"
PLAN_RESET = ("SET LOCAL plan_cache_mode TO DEFAULT; SET LOCAL enable_seqscan TO DEFAULT;"
              " SET LOCAL enable_bitmapscan TO DEFAULT; SET LOCAL enable_sort TO DEFAULT")


async def _fetch_planned_now(conn: db.Conn, sql: str, *args: Any, index_order: bool = False) -> list[Any]:
    """`conn.fetch` with a plan made for this call (index access forced if `index_order`); the
    transaction's later statements are planned as usual."""
    await conn.execute(FRESH_PLAN + (INDEX_ORDER if index_order else ""))
    rows = await conn.fetch(sql, *args)
    await conn.execute(PLAN_RESET)
    return rows


RECORD = """
UPDATE dispatch.delivery d SET state = t.state, provider_message_id = coalesce(t.pid, d.provider_message_id),
  error_code = t.code, next_attempt_at = coalesce(t.next_at, d.next_attempt_at), claimed_by = NULL,
  sent_at = CASE WHEN t.state IN ('sent', 'delivered') THEN now() ELSE d.sent_at END, updated_at = now()
FROM unnest($2::uuid[], $3::text[], $4::text[], $5::text[], $6::timestamptz[]) AS t(id, state, pid, code, next_at)
WHERE d.delivery_id = t.id AND d.state = 'sending' AND d.claimed_by = $1
RETURNING d.delivery_id, d.school_id, d.message_id, d.channel, d.state, d.provider_message_id, d.error_code,
  d.updated_at
"""

# Reports that can now be applied: an SMS receipt to a `sent` SMS, a bounce to a sent/delivered email.
REPORTS_KEPT = timedelta(days=7)  # a report that found no delivery in this long is dropped
APPLY_REPORTS = """
WITH r AS (SELECT report_id, channel, ref, outcome, code FROM dispatch.provider_report
           WHERE received_at > now() - $1::interval),
m AS (
  SELECT DISTINCT ON (d.delivery_id) r.report_id, d.delivery_id, r.outcome, r.code
  FROM r JOIN dispatch.delivery d ON
    (r.channel = 'sms' AND d.channel = 'sms' AND d.provider_message_id = r.ref AND d.state = 'sent')
  WHERE r.channel = 'sms'
  UNION ALL
  SELECT DISTINCT ON (d.delivery_id) r.report_id, d.delivery_id, r.outcome, r.code
  FROM r JOIN dispatch.delivery d ON
    (d.delivery_id = r.ref::uuid AND d.channel = 'email' AND d.state IN ('sent', 'delivered'))
  WHERE r.channel = 'email'),
gone AS (DELETE FROM dispatch.provider_report WHERE report_id IN (SELECT report_id FROM m))
UPDATE dispatch.delivery d SET state = m.outcome, error_code = m.code, updated_at = now()
FROM m WHERE d.delivery_id = m.delivery_id
RETURNING d.delivery_id, d.school_id, d.message_id, d.channel, d.state, d.provider_message_id, d.error_code,
  d.updated_at
"""


async def _apply_reports(conn: db.Conn) -> list[Any]:
    """Apply every waiting report that now finds its delivery; the deliveries' new rows."""
    return await _fetch_planned_now(conn, APPLY_REPORTS, REPORTS_KEPT)


FALLBACK = """
INSERT INTO dispatch.delivery (delivery_id, school_id, message_id, contact_id, channel, content, state, urgent,
  recipient_kind, pupil_id, person_key, fallback_of)
SELECT gen_random_uuid(), d.school_id, d.message_id, d.contact_id, 'sms', 'notice', 'queued', d.urgent,
  d.recipient_kind, d.pupil_id, d.person_key, d.delivery_id
FROM dispatch.delivery d
JOIN dispatch.contact c ON c.contact_id = d.contact_id
JOIN dispatch.message m ON m.message_id = d.message_id
WHERE d.channel = 'app' AND d.state IN ('sent', 'delivered') AND d.read_at IS NULL
  AND d.sent_at <= now() - make_interval(secs => $1) AND c.has_mobile AND m.state = 'planned'
  AND NOT EXISTS (SELECT 1 FROM dispatch.delivery s
                  WHERE s.message_id = d.message_id AND s.contact_id = d.contact_id AND s.channel = 'sms')
LIMIT 1000
ON CONFLICT (message_id, contact_id, channel) DO NOTHING
RETURNING delivery_id, school_id, message_id, channel, state, provider_message_id, error_code, updated_at
"""

DEFAULT_FOOTER = ("You receive this because you are a contact of a pupil at {school}. "
                  "To choose how {school} reaches you, use the Pupilpost app.")


@dataclass(frozen=True)
class Result:
    """The outcome of one hand-off attempt (codes and reasons carry no personal data)."""

    delivery_id: UUID
    outcome: Outcome
    provider_id: str | None = None
    code: str | None = None
    retry_at: datetime | None = None


def _instance_key(instance: UUID) -> int:
    return int.from_bytes(instance.bytes[:4], "big", signed=True)


class Sender:
    """Claims due deliveries and hands them to the providers; applies receipts, bounces, fallback."""

    def __init__(self, svc: Service, settings: DispatchSettings) -> None:
        self.svc, self.settings = svc, settings
        self.instance = uuid4()
        self.channels = Channels.from_settings(settings, self.on_receipt, self.on_bounce)
        self.handed_off = 0
        self._wakes: list[asyncio.Event] = []  # one per worker: a wake-up is never lost to another's clear
        self._stop = asyncio.Event()
        self._reports: list[tuple[str, str, str, str | None]] = []
        self._report_due = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._lock_conn: asyncpg.Connection | None = None
        self._stopping = False

    # --- life -------------------------------------------------------------------------------
    async def start(self, svc: Service) -> None:
        """Take this instance's liveness lock, recover dead instances' hand-offs, start the workers."""
        self._stopping = False
        self._stop.clear()
        self._wakes = []
        await self.channels.start()
        await self._keep_alive_lock()
        await self.recover()
        self._tasks = [asyncio.create_task(self._work(), name=f"dispatch-sender-{i}")
                       for i in range(self.settings.sender_workers)]
        # The urgent lane: workers that claim only urgent deliveries, so an urgent message never
        # waits for a bulk batch to finish its hand-offs (the others take urgent ones first, too).
        self._tasks += [asyncio.create_task(self._work(urgent_only=True), name=f"dispatch-urgent-{i}")
                        for i in range(self.settings.sender_urgent_workers)]
        self._tasks.append(asyncio.create_task(self._maintain(), name="dispatch-maintenance"))
        self._tasks.append(asyncio.create_task(self._flush_reports_loop(), name="dispatch-receipts"))

    async def stop(self) -> None:
        """Let in-flight batches finish (briefly), then disconnect."""
        self._stopping = True
        self._stop.set()
        self._wake()
        self._report_due.set()
        if self._tasks:
            _, pending = await asyncio.wait(self._tasks, timeout=10)
            for t in pending:
                t.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            self._tasks = []
        await self.channels.stop()
        with contextlib.suppress(Exception):
            await self.flush_reports()  # receipts that came in while stopping
        if self._lock_conn is not None:
            with contextlib.suppress(Exception):
                await self._lock_conn.close()
            self._lock_conn = None

    async def _keep_alive_lock(self) -> None:
        """Hold this instance's liveness lock (and the wake-up listener) on a connection of its own;
        if that connection was lost, a new instance id is taken, since others may already have
        recovered the deliveries claimed under the old one."""
        if self._lock_conn is not None and not self._lock_conn.is_closed():
            return
        if self._lock_conn is not None:
            self.instance = uuid4()
            log.warning("dispatch liveness connection lost; continuing as a new sender instance")
        self._lock_conn = await asyncpg.connect(self.settings.database_url)
        await self._lock_conn.execute("SELECT pg_advisory_lock($1, $2)", LOCK_CLASS, _instance_key(self.instance))
        await self._lock_conn.add_listener("dispatch_due", lambda *_: self._wake())

    def _wake(self) -> None:
        """Deliveries are due (a NOTIFY, a recovery, a fallback, or stopping): every worker looks."""
        for wake in self._wakes:
            wake.set()

    async def _work(self, urgent_only: bool = False) -> None:
        wake = asyncio.Event()
        self._wakes.append(wake)
        while not self._stopping:
            wake.clear()  # before the claim: a NOTIFY during it makes the next wait return at once
            try:
                handled = await self.run_once(urgent_only)
            except Exception as exc:  # noqa: BLE001 - a worker must outlive any one batch; the batch is
                # recovered (its claim committed or not) by the liveness check below
                log.error("dispatch sender batch failed: %s", type(exc).__name__)
                handled = 0
                await asyncio.sleep(1.0)
            if handled == 0 and not self._stopping:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), self.settings.sender_poll_seconds)

    async def _maintain(self) -> None:
        while not self._stopping:
            try:
                await self._keep_alive_lock()
                await self.recover()
                await self.fallback()
                await self.apply_reports()
            except Exception as exc:  # noqa: BLE001 - maintenance retries on its next round
                log.error("dispatch maintenance failed: %s", type(exc).__name__)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self.settings.maintenance_seconds)

    # --- one batch --------------------------------------------------------------------------
    async def run_once(self, urgent_only: bool = False) -> int:
        """Claim, hand off and record one batch (only urgent deliveries if asked); returns how many."""
        async with db.operator_tx(self.svc.db()) as conn:
            instance = self.instance  # the outcome is recorded under the id the claim was made with
            claimed = await _fetch_planned_now(conn, CLAIM, instance, self.settings.sender_batch, urgent_only,
                                                index_order=True)
            if not claimed:
                return 0
            jobs = await self._prepare(conn, claimed)
        results = await asyncio.gather(*(job() for job in jobs))
        await self._record(results, instance)
        return len(claimed)

    async def _prepare(self, conn: db.Conn, claimed: list[Any]) -> list[Callable[[], Awaitable[Result]]]:
        """Decrypt what each hand-off needs (committed with the claim, so nothing is sent unclaimed)."""
        ids = lambda col: list({r[col] for r in claimed})  # noqa: E731
        messages = {r["message_id"]: r for r in await conn.fetch(
            "SELECT message_id, state, personalised, content FROM dispatch.message"
            " WHERE message_id = ANY($1::uuid[])", ids("message_id"))}
        schools = {r["school_id"]: r for r in await conn.fetch(
            "SELECT school_id, name, email_footer FROM dispatch.school WHERE school_id = ANY($1::uuid[])",
            ids("school_id"))}
        footers = {sid: (r["email_footer"] or DEFAULT_FOOTER).format(school=r["name"]) for sid, r in schools.items()}
        bodies = {r["id"]: r["body"] for r in await conn.fetch(
            "SELECT contact_id AS id, body FROM dispatch.contact WHERE contact_id = ANY($1::uuid[])"
            " UNION ALL SELECT staff_id, body FROM dispatch.staff WHERE staff_id = ANY($1::uuid[])",
            ids("contact_id"))}
        subs = await self._subscriptions(conn, [r for r in claimed if r["channel"] == "app"])
        renderer = Renderer(conn, self.svc.keys())
        jobs, reads = [], {}
        for d in claimed:
            msg, school = messages.get(d["message_id"]), schools.get(d["school_id"])
            name = school["name"] if school else "your school"
            try:
                content = None if msg is None or msg["state"] == "recalled" else await renderer.content(
                    d["school_id"], d["message_id"], msg["content"], personalised=msg["personalised"],
                    pupil_id=d["pupil_id"])
            except Exception as exc:  # a template or directory record that cannot be rendered
                jobs.append(_done(Result(d["delivery_id"], "failed", code=f"render {type(exc).__name__}"[:50])))
                continue
            if content is None:
                jobs.append(_done(Result(d["delivery_id"], "cancelled", code="recalled")))
                continue
            if d["channel"] == "app":
                jobs.append(self._app_job(d, name, subs.get((d["school_id"], bytes(d["person_key"] or b"")), [])))
                continue
            body = bodies.get(d["contact_id"])
            if body is None:
                jobs.append(_done(Result(d["delivery_id"], "failed", code="recipient removed")))
                continue
            field = "directory.staff" if d["recipient_kind"] == "staff" else "directory.contact"
            try:
                person = json.loads(await self.svc.keys().decrypt(conn, d["school_id"], field, bytes(body)))
            except CryptoError:  # the school's key is gone (purged): nobody can be reached any more
                jobs.append(_done(Result(d["delivery_id"], "failed", code="recipient unreadable")))
                continue
            reads[d["school_id"]] = reads.get(d["school_id"], 0) + 1
            footer = footers.get(d["school_id"]) or DEFAULT_FOOTER.format(school=name)
            if d["content"] == "notice":
                subject, text = logic.neutral_title(name), logic.notice(name)
            else:
                subject, text = content.subject, content.body
            if d["channel"] == "email":
                jobs.append(self._email_job(d, person.get("email"), subject, text, footer, name))
            else:
                sms = text if d["content"] == "notice" else f"{name}: {subject}\n{text}" if subject else text
                jobs.append(self._sms_job(d, person.get("mobile"), sms))
        for school_id, n in reads.items():
            await access.record(conn, self.svc.outbox, self.svc.name, None, school_id=school_id,
                                resource="directory/contacts", action="read",
                                purpose=f"hand off {n} deliveries")
        return jobs

    async def _subscriptions(self, conn: db.Conn, app: list[Any]) -> dict[tuple[UUID, bytes], list[tuple]]:
        if not app or self.channels.push is None:
            return {}
        out: dict[tuple[UUID, bytes], list[tuple]] = {}
        rows = await conn.fetch(
            "SELECT s.subscription_id, s.school_id, s.person_key, s.body FROM dispatch.push_subscription s"
            " JOIN unnest($1::uuid[], $2::bytea[]) AS t(school_id, person_key)"
            " ON s.school_id = t.school_id AND s.person_key = t.person_key",
            [r["school_id"] for r in app], [r["person_key"] or b"" for r in app])
        for r in rows:
            sub = json.loads(await self.svc.keys().decrypt(conn, r["school_id"], "push.subscription",
                                                           bytes(r["body"])))
            out.setdefault((r["school_id"], bytes(r["person_key"])), []).append((r["subscription_id"], sub))
        return out

    # --- hand-off per channel ---------------------------------------------------------------
    def _email_job(self, d: Any, to: str | None, subject: str, text: str, footer: str,
                   school: str) -> Callable[[], Awaitable[Result]]:
        email = self.channels.email
        return self._provider_job(d, "email", to, None if email is None else lambda: email.send(OutboundEmail(
            delivery_id=str(d["delivery_id"]), to=to or "", subject=subject, text=text, footer=footer,
            from_name=school), urgent=d["urgent"]))

    def _sms_job(self, d: Any, to: str | None, text: str) -> Callable[[], Awaitable[Result]]:
        sms = self.channels.sms
        return self._provider_job(d, "sms", to, None if sms is None else lambda: sms.submit(
            to or "", text, reference=str(d["delivery_id"])))

    def _provider_job(self, d: Any, channel: str, to: str | None,
                      send: Callable[[], Awaitable[str]] | None) -> Callable[[], Awaitable[Result]]:
        """One hand-off to an outside provider: its id on success, a retry or a failure otherwise."""
        what = "email" if channel == "email" else "mobile"

        async def job() -> Result:
            if not to:
                return Result(d["delivery_id"], "failed", code=f"no confirmed {what}")
            if send is None:
                return self._failure(d, TransientFailure(f"{channel} channel not configured"))
            try:
                pid = await send()
            except (TransientFailure, PermanentFailure) as exc:
                return self._failure(d, exc)
            except ValueError:  # the provider cannot carry this address or number
                return Result(d["delivery_id"], "failed", code=f"invalid {what}")
            return Result(d["delivery_id"], "sent", provider_id=pid)
        return job

    def _app_job(self, d: Any, school: str, subs: list[tuple]) -> Callable[[], Awaitable[Result]]:
        async def job() -> Result:
            # The inbox item is the delivery itself: committing `delivered` makes it visible. The push
            # is a nudge whose visible text carries no personal data (lock screens).
            payload = {"title": logic.neutral_title(school), "body": "Open Pupilpost to read it.",
                       "delivery_id": str(d["delivery_id"])}
            for subscription_id, sub in subs:
                try:
                    assert self.channels.push is not None
                    await self.channels.push.send(sub, payload, ttl=24 * 3600,
                                                  urgency="high" if d["urgent"] else "normal",
                                                  topic=d["delivery_id"].hex)
                except SubscriptionGone:
                    await self._forget_subscription(d["school_id"], subscription_id)
                except (TransientFailure, PermanentFailure) as exc:
                    log.info("push nudge for delivery %s failed: %s", d["delivery_id"], exc.reason)
            return Result(d["delivery_id"], "delivered", provider_id="inbox")
        return job

    async def _forget_subscription(self, school_id: UUID, subscription_id: UUID) -> None:
        async with db.tenant_tx(self.svc.db(), school_id) as conn:
            await conn.execute("DELETE FROM dispatch.push_subscription WHERE subscription_id = $1", subscription_id)

    def _failure(self, d: Any, exc: TransientFailure | PermanentFailure) -> Result:
        code = (exc.code or exc.reason)[:50]
        if isinstance(exc, PermanentFailure) or d["attempts"] >= self.settings.max_attempts:
            return Result(d["delivery_id"], "failed", code=code)
        now = datetime.now(UTC)
        at = logic.next_attempt(d["attempts"], now, base=timedelta(seconds=self.settings.retry_base_seconds),
                                cap=timedelta(seconds=self.settings.retry_cap_seconds))
        if exc.retry_after:
            at = max(at, now + timedelta(seconds=exc.retry_after))
        return Result(d["delivery_id"], "retry", code=code, retry_at=at)

    async def _record(self, results: list[Result], instance: UUID) -> None:
        state = {"retry": "queued"}
        async with db.operator_tx(self.svc.db()) as conn:
            rows = await conn.fetch(
                RECORD, instance, [r.delivery_id for r in results],
                [state.get(r.outcome, r.outcome) for r in results], [r.provider_id for r in results],
                [r.code for r in results], [r.retry_at for r in results])
            reported = [r for r in rows if r["state"] != "queued"]
            reported += await _apply_reports(conn)
            await self.svc.outbox.add(conn, *status.from_rows(reported))
        self.handed_off += sum(1 for r in results if r.outcome in ("sent", "delivered"))

    # --- reports, recovery, fallback --------------------------------------------------------
    async def on_receipt(self, provider_id: str, outcome: Literal["delivered", "failed"], code: str | None) -> None:
        """An SMPP delivery receipt: delivered or failed."""
        await self._report("sms", provider_id, outcome, code)

    async def on_bounce(self, bounce: Bounce) -> None:
        """A DSN: a permanent failure bounces the delivery; a delay is only logged."""
        if not bounce.permanent:
            log.info("email delivery %s delayed (%s)", bounce.delivery_id, bounce.status)
            return
        try:
            delivery_id = UUID(bounce.delivery_id or "")
        except ValueError:
            log.info("bounce for an unknown delivery ignored")
            return
        await self._report("email", str(delivery_id), "bounced", bounce.status)

    async def _report(self, channel: str, ref: str, outcome: str, code: str | None) -> None:
        """Queue a report; they are written and applied together, a batch per transaction."""
        self._reports.append((channel, ref[:200], outcome, (code or "")[:50] or None))
        if len(self._reports) >= self.settings.sender_batch:
            await self.flush_reports()
        else:
            self._report_due.set()

    async def flush_reports(self) -> None:
        """Write the queued receipts/bounces and apply every one that can be (one transaction)."""
        reports, self._reports = self._reports, []
        if not reports:
            return
        try:
            async with db.operator_tx(self.svc.db()) as conn:
                await conn.execute(
                    "INSERT INTO dispatch.provider_report (channel, ref, outcome, code)"
                    " SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[])",
                    *[list(col) for col in zip(*reports, strict=True)])
                await self.svc.outbox.add(conn, *status.from_rows(await _apply_reports(conn)))
        except BaseException:
            self._reports[:0] = reports  # not written: keep them for the next flush
            raise

    async def _flush_reports_loop(self) -> None:
        while not self._stopping:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._report_due.wait(), 1.0)
            self._report_due.clear()
            await asyncio.sleep(0.05)  # let a burst of receipts gather
            try:
                await self.flush_reports()
            except Exception as exc:  # noqa: BLE001 - kept, retried on the next round
                log.error("dispatch could not record receipts: %s", type(exc).__name__)

    async def apply_reports(self) -> None:
        """Apply receipts/bounces that arrived before their hand-off was recorded; drop week-old strays."""
        async with db.operator_tx(self.svc.db()) as conn:
            await self.svc.outbox.add(conn, *status.from_rows(await _apply_reports(conn)))
            await conn.execute("DELETE FROM dispatch.provider_report WHERE received_at <= now() - $1::interval",
                               REPORTS_KEPT)

    async def recover(self) -> int:
        """Queue again the `sending` deliveries of instances that died; returns how many."""
        assert self._lock_conn is not None
        async with db.operator_tx(self.svc.db()) as conn:
            owners = [r["claimed_by"] for r in await conn.fetch(
                "SELECT DISTINCT claimed_by FROM dispatch.delivery WHERE state = 'sending'")]
        recovered = 0
        for owner in owners:
            if owner == self.instance or owner is None:
                continue
            key = _instance_key(owner)
            if not await self._lock_conn.fetchval("SELECT pg_try_advisory_lock($1, $2)", LOCK_CLASS, key):
                continue  # its instance is alive and still handing off
            try:
                async with db.operator_tx(self.svc.db()) as conn:
                    recovered += len(await conn.fetch(
                        "UPDATE dispatch.delivery SET state = 'queued', claimed_by = NULL, next_attempt_at = now(),"
                        " updated_at = now() WHERE state = 'sending' AND claimed_by = $1 RETURNING 1", owner))
            finally:
                await self._lock_conn.execute("SELECT pg_advisory_unlock($1, $2)", LOCK_CLASS, key)
        if recovered:
            log.warning("recovered %d deliveries from a dispatch instance that stopped mid-hand-off", recovered)
            self._wake()
        return recovered

    async def fallback(self) -> int:
        """An app message unread after `fallback_after_seconds`: queue an SMS notice."""
        async with db.operator_tx(self.svc.db()) as conn:
            rows = await conn.fetch(FALLBACK, self.settings.fallback_after_seconds)
            await self.svc.outbox.add(conn, *status.from_rows(rows))
        if rows:
            self._wake()
        return len(rows)


def _done(result: Result) -> Callable[[], Awaitable[Result]]:
    async def job() -> Result:
        return result
    return job
