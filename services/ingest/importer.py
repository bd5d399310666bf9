"""The import worker: takes queued uploads and applies each all-or-nothing in one transaction."""
from __future__ import annotations

import asyncio
import hashlib
import logging
import zlib
from dataclasses import asdict, is_dataclass
from typing import Any, NamedTuple
from uuid import UUID

from pupilpost import access, db
from pupilpost.crypto import BlindIndexer, DataKey, Keyring
from pupilpost.mis.roster import Roster
from pupilpost.mis.validate import validate
from pupilpost.runner import Service
from services.ingest import directory, store
from services.ingest import directory_store as ds
from services.ingest.logic import KINDS, Incoming, Kind, Plan, plan_import

log = logging.getLogger("pupilpost.ingest.importer")
MAX_ATTEMPTS = 3
BODY_EXCLUDE = {"pupil": {"source_row"}, "contact": {"source_row", "email", "mobile"}, "staff": {"source_row"}}


class RosterTooLarge(ValueError):
    """The decompressed roster exceeds the configured limit."""


def inflate(data: bytes, limit: int) -> bytes:
    """gunzip with a ceiling on the output (a decompression bomb is refused)."""
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    out = d.decompress(data, limit + 1)
    if len(out) > limit or d.unconsumed_tail:
        raise RosterTooLarge(f"the roster is larger than {limit} bytes once decompressed")
    return out


class Importer:
    """Background tasks that settle queued uploads; `wake()` after queueing one."""

    def __init__(self, svc: Service, workers: int, max_roster_bytes: int, poll_seconds: float = 1.0) -> None:
        self.svc, self.workers, self.limit, self.poll = svc, workers, max_roster_bytes, poll_seconds
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
                await settle(conn, self.svc, job["upload_id"], job["school_id"], job["payload"], self.limit)
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


def _problem(p: Any) -> dict[str, Any]:
    data = asdict(p) if is_dataclass(p) else p.model_dump()
    return {k: data.get(k) for k in ("record", "row", "field", "reason")}


async def settle(conn: db.Conn, svc: Service, upload_id: UUID, school_id: UUID, payload: bytes,
                 limit: int) -> None:
    """Validate and import one upload, or reject it with a report; either way, audited."""
    school = await store.load_school(conn, school_id)
    try:
        raw = inflate(await svc.keys().decrypt(conn, school_id, "upload.payload", bytes(payload)), limit)
        # Off the event loop: a large roster takes ~1 s to check, and Kafka heartbeats and
        # HTTP requests must not wait for it.
        checked = await asyncio.to_thread(validate, raw, expected_urn=school["urn"])
    except (RosterTooLarge, zlib.error) as exc:
        checked, problems = None, [{"record": "roster", "row": None, "field": None, "reason": str(exc)}]
    else:
        problems = [_problem(p) for p in checked.problems]
    if checked is None or checked.roster is None:
        await ds.settle_upload(conn, upload_id, "rejected", dict(checked.counts) if checked else {}, problems, None)
    else:
        counts = await apply(conn, svc, school_id, upload_id, checked.roster)
        counts["received"] = dict(checked.counts)
        digest = hashlib.sha256(checked.roster.model_dump_json(exclude={"generated_at"}).encode()).digest()
        await ds.settle_upload(conn, upload_id, "imported", counts, [], digest)
    await access.record(conn, svc.outbox, svc.name, None, school_id=school_id, resource=f"uploads/{upload_id}",
                        action="update", purpose="MIS import")


async def apply(conn: db.Conn, svc: Service, school_id: UUID, upload_id: UUID, roster: Roster) -> dict[str, Any]:
    """Diff the roster against the directory and write the difference, with its events."""
    keys = svc.keys()
    # One key load per import, not one await per field: indexes and ciphertexts are computed in place.
    index_key = await keys.index_key(conn, school_id)
    key = await keys.family_key(conn, school_id, "personal")
    incoming, records = _incoming(index_key, roster)
    current = await ds.load_current(conn, school_id)
    plan = plan_import(current, incoming)
    if plan.empty():
        return {"unchanged": True, **plan.counts()}
    ids, known = await _write(conn, keys, key, school_id, plan, records, current)
    await _values(conn, svc, school_id, upload_id, plan, records)
    touched = {k: ids[k] + [i for i, _ in plan.changed[k]] for k in KINDS}
    touched["contact"] = list(dict.fromkeys(touched["contact"] + [v.contact_id for v in plan.values
                                                                   if v.decision == "apply"]))
    await directory.publish_state(conn, svc, school_id, upload_id, touched, plan.removed, known)
    return {"unchanged": False, **plan.counts()}


class Record(NamedTuple):
    """One incoming record and what the import derived from it (plaintext stays in memory)."""

    rec: Any
    data: dict[str, Any]               # the body as a dict: no source_row; a contact's without email/mobile
    body: str                          # canonical JSON of `data`, stored encrypted
    fingerprint: bytes
    parent: bytes | None               # a contact's pupil's reference index
    values: dict[str, bytes | None]    # a contact's email/mobile blind indexes


_LISTS: tuple[tuple[Kind, str], ...] = (("pupil", "pupils"), ("contact", "contacts"), ("staff", "staff"))
_DUMP_EXCLUDE = {plural: {"__all__": BODY_EXCLUDE[kind]} for kind, plural in _LISTS}


def _incoming(index_key: bytes, roster: Roster) -> tuple[dict[Kind, list[Incoming]], dict[bytes, Record]]:
    """Every record's reference index, body and fingerprint, under the school's blind-index key."""
    index = BlindIndexer(index_key)
    dumped = roster.model_dump(mode="json", include=set(_DUMP_EXCLUDE), exclude=_DUMP_EXCLUDE)
    out: dict[Kind, list[Incoming]] = {k: [] for k in KINDS}
    records: dict[bytes, Record] = {}
    pupil_index: dict[str, bytes] = {}
    for kind, plural in _LISTS:
        for rec, data in zip(getattr(roster, plural), dumped[plural], strict=True):
            ref = f"{rec.pupil_ref}\x00{rec.ref}" if kind == "contact" else rec.ref
            ref_index = index(f"ref.{kind}", ref)
            body = ds.as_json(data)
            fingerprint = index(f"fp.{kind}", body)
            values, parent = {}, None
            if kind == "contact":
                values = {f: (index(f, v.lower()) if v else None)
                          for f, v in (("email", rec.email), ("mobile", rec.mobile))}
                parent = pupil_index[rec.pupil_ref]
            if kind == "pupil":
                pupil_index[rec.ref] = ref_index
            out[kind].append(Incoming(ref_index, fingerprint, values, parent))
            records[kind.encode() + ref_index] = Record(rec, data, body, fingerprint, parent, values)
    return out, records


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
                known[record_id] = (ds.as_json({**r.data, "email": r.rec.email or None,
                                                "mobile": r.rec.mobile or None}), pupil_ids[r.parent])
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
        return [(i, school_id, ref, enc, r.fingerprint, r.rec.year_group, r.rec.reg_group)
                for (i, ref, r), enc in zip(todo, bodies, strict=True)]
    if kind == "staff":
        return [(i, school_id, ref, enc, r.fingerprint) for (i, ref, r), enc in zip(todo, bodies, strict=True)]
    emails = _seal_values(keys, key, "email", [r.rec.email for _, _, r in todo])
    mobiles = _seal_values(keys, key, "mobile", [r.rec.mobile for _, _, r in todo])
    return [(i, school_id, pupil_ids[r.parent], ref, enc, r.fingerprint, r.rec.priority,
             email, r.values["email"] if email else None, mobile, r.values["mobile"] if mobile else None)
            for (i, ref, r), enc, email, mobile in zip(todo, bodies, emails, mobiles, strict=True)]


def _seal_values(keys: Keyring, key: DataKey, field: str, values: list[str | None]) -> list[bytes | None]:
    """A contact field's ciphertexts; None where the value is missing or empty."""
    sealed = iter(keys.encrypt_many(key, f"contact.{field}", [v for v in values if v]))
    return [next(sealed) if v else None for v in values]


async def _values(conn, svc, school_id, upload_id, plan: Plan, records) -> None:
    """Changed emails/mobiles of existing contacts: request, withdraw or (removals) apply."""
    for change in plan.values:
        rec = records[b"contact" + change.ref_index].rec
        value = getattr(rec, change.field)
        if change.decision == "request":
            await directory.request_confirmation(conn, svc, school_id, change.contact_id, change.field, value,
                                                 upload_id)
        elif change.decision == "withdraw":
            await directory.close_pending(conn, svc, school_id, change.contact_id, change.field, "superseded")
        elif change.decision == "apply":
            await ds.set_contact_value(conn, change.contact_id, change.field, None, None)
            await directory.close_pending(conn, svc, school_id, change.contact_id, change.field, "superseded")

