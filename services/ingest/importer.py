"""The import worker: takes queued uploads and applies each all-or-nothing in one transaction."""
from __future__ import annotations

import asyncio
import logging
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any
from uuid import UUID

from pupilpost import access, db
from pupilpost.crypto import DataKey, Keyring
from pupilpost.runner import Service
from services.ingest import directory, store
from services.ingest import directory_store as ds
from services.ingest.logic import KINDS, Kind, Plan, plan_import
from services.ingest.prepare import Prepared, Record, prepare, started

log = logging.getLogger("pupilpost.ingest.importer")
MAX_ATTEMPTS = 3


class Importer:
    """Background tasks that settle queued uploads; `wake()` after queueing one."""

    def __init__(self, svc: Service, workers: int, max_roster_bytes: int, poll_seconds: float = 1.0,
                 processes: int = 0, process_min_bytes: int = 0) -> None:
        self.svc, self.workers, self.limit, self.poll = svc, workers, max_roster_bytes, poll_seconds
        # Uploads of at least `process_min_bytes` (compressed) are prepared in a pool of `processes`
        # worker processes, so validation and indexing use every core and never hold up the event loop.
        self.processes, self.process_min_bytes = processes, process_min_bytes
        self._pool: ProcessPoolExecutor | None = None
        self._started: asyncio.Future | None = None
        self._event = asyncio.Event()
        self._tasks: list[asyncio.Task] = []

    def wake(self) -> None:
        """Look for work now."""
        self._event.set()

    async def start(self, _: Service | None = None) -> None:
        """Start the worker tasks."""
        self._tasks = [asyncio.create_task(self._loop(), name=f"ingest-import-{i}") for i in range(self.workers)]

    async def stop(self) -> None:
        """Stop the workers; an import in progress rolls back and is retried later."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool, self._started = None, None

    async def prepare(self, compressed: bytes, urn: str, index_key: bytes) -> Prepared:
        """`prepare.prepare` for one upload: in a worker process if it is large, else here."""
        if self.processes < 1 or len(compressed) < self.process_min_bytes:
            return prepare(compressed, self.limit, urn, index_key)
        pool = self._warm_pool()
        if pool is None:  # the workers are still starting (about a second): not worth waiting for
            return await asyncio.to_thread(prepare, compressed, self.limit, urn, index_key)
        try:
            return await asyncio.get_running_loop().run_in_executor(pool, prepare, compressed, self.limit, urn,
                                                                    index_key)
        except BrokenProcessPool:
            if self._pool is pool:  # a worker died; the retry of this upload gets a fresh pool
                self._pool, self._started = None, None
            raise

    def _warm_pool(self) -> ProcessPoolExecutor | None:
        """The worker pool once every worker has started; the first call starts them."""
        if self._pool is None:  # started on first use: most services never see a large upload
            self._pool = ProcessPoolExecutor(self.processes, mp_context=multiprocessing.get_context("spawn"))
            loop = asyncio.get_running_loop()
            self._started = asyncio.gather(*(loop.run_in_executor(self._pool, started)
                                             for _ in range(self.processes)))
        ready = self._started
        if ready is None or not ready.done() or ready.cancelled() or ready.exception() is not None:
            return None
        return self._pool

    async def _loop(self) -> None:
        while True:
            try:
                while await self.run_once():
                    pass
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # keep the worker alive; the upload stays queued for a retry
                log.warning("import failed: %s", exc.__class__.__name__)
                await asyncio.sleep(self.poll)
            self._event.clear()
            try:
                await asyncio.wait_for(self._event.wait(), self.poll)
            except TimeoutError:
                pass

    async def run_once(self) -> bool:
        """Settle one queued upload; False if there was none."""
        job: dict[str, Any] | None = None
        try:
            async with self.svc.db().acquire() as conn, conn.transaction():
                await conn.execute("SELECT set_config('pupilpost.scope', 'operator', true)")
                job = await ds.claim_upload(conn)
                if job is None:
                    return False
                await conn.execute("SELECT set_config('pupilpost.scope', '', true),"
                                   " set_config('pupilpost.school_id', $1, true)", str(job["school_id"]))
                await settle(conn, self.svc, self, job["upload_id"], job["school_id"], job["payload"])
        except Exception:
            if job is not None:  # the import rolled back; count the failure so a poison upload ends
                await self._failed(job["upload_id"], job["school_id"])
            raise
        return True

    async def _failed(self, upload_id: UUID, school_id: UUID) -> None:
        async with db.tenant_tx(self.svc.db(), school_id) as conn:
            if await ds.count_failure(conn, upload_id) >= MAX_ATTEMPTS:
                await ds.settle_upload(conn, upload_id, "rejected", {}, [
                    {"record": "roster", "row": None, "field": None,
                     "reason": "the import failed repeatedly on our side; please contact support"}], None)


async def settle(conn: db.Conn, svc: Service, importer: Importer, upload_id: UUID, school_id: UUID,
                 payload: bytes) -> None:
    """Validate and import one upload, or reject it with a report; either way, audited."""
    school = await store.load_school(conn, school_id)
    keys = svc.keys()
    compressed = await keys.decrypt(conn, school_id, "upload.payload", bytes(payload))
    prepared = await importer.prepare(compressed, school["urn"], await keys.index_key(conn, school_id))
    if prepared.records is None:
        await ds.settle_upload(conn, upload_id, "rejected", prepared.counts, prepared.problems, None)
    else:
        counts = await apply(conn, svc, school_id, upload_id, prepared)
        counts["received"] = prepared.counts
        await ds.settle_upload(conn, upload_id, "imported", counts, [], prepared.digest)
    await access.record(conn, svc.outbox, svc.name, None, school_id=school_id, resource=f"uploads/{upload_id}",
                        action="update", purpose="MIS import")


async def apply(conn: db.Conn, svc: Service, school_id: UUID, upload_id: UUID, prepared: Prepared
                ) -> dict[str, Any]:
    """Diff the roster against the directory and write the difference, with its events."""
    keys = svc.keys()
    key = await keys.family_key(conn, school_id, "personal")  # one key load per import, not one per field
    records = prepared.records or {}
    current = await ds.load_current(conn, school_id)
    plan = plan_import(current, prepared.incoming or {})
    if plan.empty():
        return {"unchanged": True, **plan.counts()}
    ids, known = await _write(conn, keys, key, school_id, plan, records, current)
    await _values(conn, svc, school_id, upload_id, plan, records)
    touched = {k: ids[k] + [i for i, _ in plan.changed[k]] for k in KINDS}
    touched["contact"] = list(dict.fromkeys(touched["contact"] + [v.contact_id for v in plan.values
                                                                   if v.decision == "apply"]))
    await directory.publish_state(conn, svc, school_id, upload_id, touched, plan.removed, known)
    return {"unchanged": False, **plan.counts()}


Known = dict[UUID, tuple[str, UUID | None]]  # record id -> (state JSON for its event, a contact's pupil id)


async def _write(conn: db.Conn, keys: Keyring, key: DataKey, school_id: UUID, plan: Plan,
                 records: dict[bytes, Record], current) -> tuple[dict[Kind, list[UUID]], Known]:
    """Encrypt and store added and changed records; their ids, and the state each now holds
    (for its event, so publish_state need not read back and decrypt what was just written)."""
    pupil_ids = {ref: c.record_id for ref, c in current["pupil"].items()}
    pupil_ids.update({ref: i for i, ref in plan.added["pupil"]})
    rows: dict[Kind, list[tuple]] = {}
    known: Known = {}
    for kind in KINDS:
        todo = [(i, ref, records[kind.encode() + ref]) for i, ref in plan.added[kind] + plan.changed[kind]]
        rows[kind] = _rows(keys, key, school_id, kind, todo, pupil_ids)
        for n, (record_id, _, r) in enumerate(todo):
            if kind != "contact":
                known[record_id] = (r.body, None)
            elif n < len(plan.added[kind]):  # a new contact's email/mobile are the ones just stored; a
                # changed contact keeps its confirmed ones, so publish_state reads those back
                known[record_id] = (r.state, pupil_ids[r.parent])
    await ds.remove(conn, "contact", plan.removed["contact"])
    await ds.remove(conn, "pupil", plan.removed["pupil"])
    await ds.remove(conn, "staff", plan.removed["staff"])
    await ds.upsert_pupils(conn, rows["pupil"])
    await ds.upsert_contacts(conn, rows["contact"])
    await ds.upsert_staff(conn, rows["staff"])
    return {k: [i for i, _ in plan.added[k]] for k in KINDS}, known


def _rows(keys: Keyring, key: DataKey, school_id: UUID, kind: Kind, todo: list[tuple[UUID, bytes, Record]],
          pupil_ids: dict[bytes, UUID]) -> list[tuple]:
    """The rows to upsert for `todo` (id, reference index, record), each personal field sealed
    (one batch per field)."""
    bodies = keys.encrypt_many(key, f"{kind}.body", [r.body for _, _, r in todo])
    if kind == "pupil":
        return [(i, school_id, ref, enc, r.fingerprint, r.columns["year_group"], r.columns["reg_group"])
                for (i, ref, r), enc in zip(todo, bodies, strict=True)]
    if kind == "staff":
        return [(i, school_id, ref, enc, r.fingerprint) for (i, ref, r), enc in zip(todo, bodies, strict=True)]
    emails = _seal_values(keys, key, "email", [r.email for _, _, r in todo])
    mobiles = _seal_values(keys, key, "mobile", [r.mobile for _, _, r in todo])
    return [(i, school_id, pupil_ids[r.parent], ref, enc, r.fingerprint, r.columns["priority"],
             email, r.values["email"] if email else None, mobile, r.values["mobile"] if mobile else None)
            for (i, ref, r), enc, email, mobile in zip(todo, bodies, emails, mobiles, strict=True)]


def _seal_values(keys: Keyring, key: DataKey, field: str, values: list[str | None]) -> list[bytes | None]:
    """A contact field's ciphertexts; None where the value is missing or empty."""
    sealed = iter(keys.encrypt_many(key, f"contact.{field}", [v for v in values if v]))
    return [next(sealed) if v else None for v in values]


async def _values(conn, svc, school_id, upload_id, plan: Plan, records) -> None:
    """Changed emails/mobiles of existing contacts: request, withdraw or (removals) apply."""
    for change in plan.values:
        value = getattr(records[b"contact" + change.ref_index], change.field)
        if change.decision == "request":
            await directory.request_confirmation(conn, svc, school_id, change.contact_id, change.field, value,
                                                 upload_id)
        elif change.decision == "withdraw":
            await directory.close_pending(conn, svc, school_id, change.contact_id, change.field, "superseded")
        elif change.decision == "apply":
            await ds.set_contact_value(conn, change.contact_id, change.field, None, None)
            await directory.close_pending(conn, svc, school_id, change.contact_id, change.field, "superseded")

