"""Directory domain steps shared by the importer and the API: encrypting records,
publishing their current state, and settling contact changes."""
from __future__ import annotations

import base64
import json
import hashlib
import secrets
from collections.abc import Mapping
from typing import Any
from uuid import UUID, uuid4

from pupilpost import db
from pupilpost.runner import Service
from schemas.directory import (
    ContactChangeDecidedV1, ContactChangeRequestedV1, DirectoryChange, DirectoryChangesV1,
)
from services.ingest import directory_store as ds
from services.ingest.logic import KINDS, Kind, chunks

CHANGES_PER_EVENT = 200


def b64(blob: bytes) -> str:
    """Ciphertext as text for an event."""
    return base64.b64encode(blob).decode()


async def decrypt_json(conn: db.Conn, svc: Service, school_id: UUID, field: str, blob: Any) -> Any:
    """Decrypt a JSON body stored as ciphertext."""
    return json.loads(await svc.keys().decrypt(conn, school_id, field, bytes(blob)))


async def _read_states(conn: db.Conn, svc: Service, school_id: UUID, kind: Kind,
                       ids: list[UUID]) -> dict[UUID, tuple[str, UUID | None]]:
    """Each stored record's full current state as JSON (confirmed values only), and a contact's pupil."""
    table, key = ds.TABLE[kind]
    extra = ", pupil_id, email_enc, mobile_enc" if kind == "contact" else ""
    rows = await conn.fetch(f"SELECT {key} AS id, body{extra} FROM {table} WHERE {key} = ANY($1::uuid[])", ids)
    out = {}
    for r in rows:
        state = await decrypt_json(conn, svc, school_id, f"{kind}.body", r["body"])
        pupil_id = None
        if kind == "contact":
            pupil_id = r["pupil_id"]
            for name in ("email", "mobile"):
                enc = r[f"{name}_enc"]
                state[name] = (await svc.keys().decrypt(conn, school_id, f"contact.{name}", bytes(enc))).decode() \
                    if enc is not None else None
        out[r["id"]] = (ds.as_json(state), pupil_id)
    return out


async def _state(conn: db.Conn, svc: Service, school_id: UUID, kind: Kind, ids: list[UUID],
                 known: Mapping[UUID, tuple[str, UUID | None]]) -> list[DirectoryChange]:
    """Upsert changes carrying each record's full current state, encrypted for the event."""
    keys = svc.keys()
    ids = list(dict.fromkeys(ids))
    missing = [i for i in ids if i not in known]
    states = {**known, **(await _read_states(conn, svc, school_id, kind, missing) if missing else {})}
    key = await keys.family_key(conn, school_id, "personal")
    present = [i for i in ids if i in states]  # one gone from the table has no upsert to announce
    blobs = keys.encrypt_many(key, f"directory.{kind}", [states[i][0] for i in present])
    # Built without validation: every field is made here (the record ids, base64 text), and a first
    # import announces every record, so validating each cost more than the sealing.
    return [DirectoryChange.model_construct(kind=kind, op="upsert", record_id=i, pupil_id=states[i][1],
                                            body=b64(blob)) for i, blob in zip(present, blobs, strict=True)]


async def publish_state(conn: db.Conn, svc: Service, school_id: UUID, upload_id: UUID,
                        upserts: dict[Kind, list[UUID]], removes: dict[Kind, list[UUID]],
                        known: Mapping[UUID, tuple[str, UUID | None]] | None = None) -> int:
    """Stage directory.changes events (in parts) for what changed; returns how many events.

    `known` maps record ids to the state JSON (and a contact's pupil id) the caller has just
    written, so those records are not read back and decrypted; the others are read from the tables.
    """
    changes: list[DirectoryChange] = []
    for kind in KINDS:
        if upserts.get(kind):
            changes += await _state(conn, svc, school_id, kind, upserts[kind], known or {})
        changes += [DirectoryChange(kind=kind, op="remove", record_id=i) for i in removes.get(kind, [])]
    if not changes:
        return 0
    parts = chunks(changes, CHANGES_PER_EVENT)
    await svc.outbox.add(conn, *(DirectoryChangesV1(school_id=school_id, upload_id=upload_id, part=n,
                                                    parts=len(parts), changes=tuple(part))
                                 for n, part in enumerate(parts, 1)))
    return len(parts)


async def request_confirmation(conn: db.Conn, svc: Service, school_id: UUID, contact_id: UUID, field: str,
                               value: str, upload_id: UUID | None) -> None:
    """Hold a new email/mobile as pending and ask the parent (event with a one-time secret)."""
    keys = svc.keys()
    await close_pending(conn, svc, school_id, contact_id, field, "superseded")
    change_id, secret = uuid4(), secrets.token_urlsafe(32)
    await ds.request_change(
        conn, change_id, school_id, contact_id, field,
        await keys.encrypt(conn, school_id, f"contact.{field}", value),
        await keys.index(conn, school_id, field, value.lower()),
        hashlib.sha256(secret.encode()).digest(), upload_id)
    body = await keys.encrypt(conn, school_id, "directory.contact_change",
                              ds.as_json({"value": value, "secret": secret}))
    await svc.outbox.add(conn, ContactChangeRequestedV1(
        school_id=school_id, change_id=change_id, contact_id=contact_id, field=field, body=b64(body)))  # type: ignore[arg-type]


async def close_pending(conn: db.Conn, svc: Service, school_id: UUID, contact_id: UUID, field: str,
                        state: str) -> None:
    """End a pending change (superseded by the MIS), announcing it if there was one."""
    change_id = await ds.close_pending(conn, contact_id, field, state)
    if change_id is not None:
        await svc.outbox.add(conn, ContactChangeDecidedV1(
            school_id=school_id, change_id=change_id, contact_id=contact_id, field=field,  # type: ignore[arg-type]
            decision=state))  # type: ignore[arg-type]
