"""Every SQL statement of ingest's uploads and directory."""
from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import orjson

from pupilpost.db import Conn
from services.ingest.logic import Current, Kind

TABLE = {"pupil": ("ingest.pupil", "pupil_id"), "contact": ("ingest.contact", "contact_id"),
         "staff": ("ingest.staff", "staff_id")}


# --- upload keys (platform-wide) -------------------------------------------------------------

async def save_upload_key(conn: Conn, key_id: UUID, public: bytes, wrapped: bytes) -> datetime:
    """Store a new key pair and retire the previous current one."""
    await conn.execute("UPDATE ingest.upload_key SET retired_at = now() WHERE retired_at IS NULL")
    return await conn.fetchval(
        "INSERT INTO ingest.upload_key (key_id, public_key, private_wrapped) VALUES ($1, $2, $3)"
        " RETURNING created_at", key_id, public, wrapped)


async def current_upload_key(conn: Conn) -> dict[str, Any] | None:
    """The key extractors should encrypt to."""
    row = await conn.fetchrow("SELECT key_id, public_key, created_at FROM ingest.upload_key"
                              " WHERE retired_at IS NULL ORDER BY created_at DESC LIMIT 1")
    return dict(row) if row else None


async def usable_private_key(conn: Conn, key_id: UUID, grace_hours: int) -> bytes | None:
    """A key pair's wrapped private key, if current or retired within the grace period."""
    return await conn.fetchval(
        "SELECT private_wrapped FROM ingest.upload_key WHERE key_id = $1"
        " AND (retired_at IS NULL OR retired_at > now() - make_interval(hours => $2))", key_id, grace_hours)


# --- uploads ---------------------------------------------------------------------------------

async def queue_upload(conn: Conn, upload_id: UUID, school_id: UUID, credential_id: UUID, nonce: str,
                       signed_at: datetime, size: int, payload: bytes) -> bool:
    """Queue a verified upload; False if this nonce was seen before (a replay)."""
    row = await conn.fetchrow(
        "INSERT INTO ingest.upload (upload_id, school_id, credential_id, nonce, signed_at, size_bytes,"
        " status, payload) VALUES ($1, $2, $3, $4, $5, $6, 'queued', $7)"
        " ON CONFLICT (school_id, nonce) DO NOTHING RETURNING upload_id",
        upload_id, school_id, credential_id, nonce, signed_at, size, payload)
    return row is not None


async def claim_upload(conn: Conn) -> dict[str, Any] | None:
    """Lock the oldest queued upload of any school (operator scope), skipping locked ones."""
    row = await conn.fetchrow(
        "SELECT upload_id, school_id, payload FROM ingest.upload WHERE status = 'queued'"
        " ORDER BY received_at LIMIT 1 FOR UPDATE SKIP LOCKED")
    return dict(row) if row else None


async def settle_upload(conn: Conn, upload_id: UUID, status: str, counts: dict, report: list,
                        content_sha256: bytes | None) -> None:
    """Record an upload's outcome and erase its payload."""
    await conn.execute(
        "UPDATE ingest.upload SET status = $2, counts = $3, report = $4, content_sha256 = $5,"
        " payload = NULL, completed_at = now() WHERE upload_id = $1",
        upload_id, status, counts, report, content_sha256)


async def count_failure(conn: Conn, upload_id: UUID) -> int:
    """One more failed attempt at importing a still-queued upload; returns the count (0 if it was settled
    meanwhile: two workers that failed on it at once must not both count after it was given up)."""
    return await conn.fetchval("UPDATE ingest.upload SET attempts = attempts + 1 WHERE upload_id = $1"
                               " AND status = 'queued' RETURNING attempts", upload_id) or 0


async def load_upload(conn: Conn, upload_id: UUID) -> dict[str, Any] | None:
    """An upload's status, counts, report and content hash (hex; never its payload)."""
    row = await conn.fetchrow(
        "SELECT upload_id, school_id, status, received_at, completed_at, size_bytes, counts, report,"
        " encode(content_sha256, 'hex') AS content_sha256 FROM ingest.upload WHERE upload_id = $1", upload_id)
    return dict(row) if row else None


async def list_uploads(conn: Conn, limit: int) -> list[dict[str, Any]]:
    """The school's recent uploads, newest first."""
    rows = await conn.fetch(
        "SELECT upload_id, status, received_at, completed_at, size_bytes, counts FROM ingest.upload"
        " ORDER BY received_at DESC LIMIT $1", limit)
    return [dict(r) for r in rows]


# --- directory -------------------------------------------------------------------------------

async def load_current(conn: Conn, school_id: UUID) -> dict[Kind, dict[bytes, Current]]:
    """Every stored record's reference index, id, fingerprint and value indexes."""
    out: dict[Kind, dict[bytes, Current]] = {}
    for kind in ("pupil", "staff"):
        table, key = TABLE[kind]
        rows = await conn.fetch(f"SELECT {key} AS id, ref_index, fingerprint FROM {table} WHERE school_id = $1",
                                school_id)
        out[kind] = {bytes(r["ref_index"]): Current(r["id"], bytes(r["fingerprint"])) for r in rows}
    pending: dict[UUID, dict[str, bytes]] = {}
    for r in await conn.fetch("SELECT contact_id, field, value_index FROM ingest.contact_change"
                              " WHERE school_id = $1 AND state = 'pending'", school_id):
        pending.setdefault(r["contact_id"], {})[r["field"]] = bytes(r["value_index"])
    rows = await conn.fetch("SELECT contact_id, ref_index, fingerprint, email_index, mobile_index"
                            " FROM ingest.contact WHERE school_id = $1", school_id)
    out["contact"] = {bytes(r["ref_index"]): Current(
        r["contact_id"], bytes(r["fingerprint"]),
        {"email": _b(r["email_index"]), "mobile": _b(r["mobile_index"])}, pending.get(r["contact_id"], {}))
        for r in rows}
    return out


def _b(value: Any) -> bytes | None:
    return bytes(value) if value is not None else None


# The upserts send each column as one array and insert with unnest(): one statement per kind instead
# of one per row. COPY would be quicker still, but PostgreSQL refuses COPY FROM under row-level security.

async def upsert_pupils(conn: Conn, rows: Sequence[tuple]) -> None:
    """(pupil_id, school_id, ref_index, body, fingerprint, year_group, reg_group)."""
    if rows:
        await conn.execute(
            "INSERT INTO ingest.pupil (pupil_id, school_id, ref_index, body, fingerprint, year_group, reg_group)"
            " SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::bytea[], $4::bytea[], $5::bytea[], $6::text[],"
            " $7::text[]) ON CONFLICT (pupil_id) DO UPDATE SET body = EXCLUDED.body,"
            " fingerprint = EXCLUDED.fingerprint, year_group = EXCLUDED.year_group,"
            " reg_group = EXCLUDED.reg_group, updated_at = now()", *_columns(rows, 7))


async def upsert_contacts(conn: Conn, rows: Sequence[tuple]) -> None:
    """(contact_id, school_id, pupil_id, ref_index, body, fingerprint, priority,
    email_enc, email_index, mobile_enc, mobile_index) — values only set on insert."""
    if rows:
        await conn.execute(
            "INSERT INTO ingest.contact (contact_id, school_id, pupil_id, ref_index, body, fingerprint, priority,"
            " email_enc, email_index, mobile_enc, mobile_index, confirmed_at)"
            " SELECT *, now() FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::bytea[], $5::bytea[],"
            " $6::bytea[], $7::smallint[], $8::bytea[], $9::bytea[], $10::bytea[], $11::bytea[])"
            " ON CONFLICT (contact_id) DO UPDATE SET pupil_id = EXCLUDED.pupil_id, body = EXCLUDED.body,"
            " fingerprint = EXCLUDED.fingerprint, priority = EXCLUDED.priority, updated_at = now()",
            *_columns(rows, 11))


async def upsert_staff(conn: Conn, rows: Sequence[tuple]) -> None:
    """(staff_id, school_id, ref_index, body, fingerprint)."""
    if rows:
        await conn.execute(
            "INSERT INTO ingest.staff (staff_id, school_id, ref_index, body, fingerprint)"
            " SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::bytea[], $4::bytea[], $5::bytea[])"
            " ON CONFLICT (staff_id) DO UPDATE SET body = EXCLUDED.body,"
            " fingerprint = EXCLUDED.fingerprint, updated_at = now()", *_columns(rows, 5))


def _columns(rows: Sequence[tuple], width: int) -> list[list[Any]]:
    """Rows as one list per column (each row has `width` values: a short row is a bug, so refuse it)."""
    if any(len(r) != width for r in rows):
        raise ValueError(f"every row must have {width} values")
    return [list(column) for column in zip(*rows)]


async def remove(conn: Conn, kind: Kind, ids: list[UUID]) -> None:
    """Delete records (a pupil's contacts go with it)."""
    table, key = TABLE[kind]
    await conn.execute(f"DELETE FROM {table} WHERE {key} = ANY($1::uuid[])", ids)


async def set_contact_value(conn: Conn, contact_id: UUID, field: str, enc: bytes | None,
                            index: bytes | None) -> None:
    """Put a (confirmed) email or mobile in use, or clear it."""
    await conn.execute(
        f"UPDATE ingest.contact SET {field}_enc = $2, {field}_index = $3, confirmed_at = now(),"
        " updated_at = now() WHERE contact_id = $1", contact_id, enc, index)


async def close_pending(conn: Conn, contact_id: UUID, field: str, state: str) -> UUID | None:
    """End a contact's pending change of `field`; returns its id if there was one."""
    return await conn.fetchval(
        "UPDATE ingest.contact_change SET state = $3, decided_at = now()"
        " WHERE contact_id = $1 AND field = $2 AND state = 'pending' RETURNING change_id",
        contact_id, field, state)


async def request_change(conn: Conn, change_id: UUID, school_id: UUID, contact_id: UUID, field: str,
                         enc: bytes, index: bytes, secret_hash: bytes, upload_id: UUID | None) -> None:
    """Hold a new email/mobile as pending the parent's answer."""
    await conn.execute(
        "INSERT INTO ingest.contact_change (change_id, school_id, contact_id, field, value_enc, value_index,"
        " secret_hash, state, upload_id) VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', $8)",
        change_id, school_id, contact_id, field, enc, index, secret_hash, upload_id)


async def load_change(conn: Conn, change_id: UUID) -> dict[str, Any] | None:
    """A contact change with its secret hash."""
    row = await conn.fetchrow("SELECT * FROM ingest.contact_change WHERE change_id = $1", change_id)
    return dict(row) if row else None


async def decide_change(conn: Conn, change_id: UUID, state: str) -> None:
    """Record the parent's answer."""
    await conn.execute("UPDATE ingest.contact_change SET state = $2, decided_at = now() WHERE change_id = $1",
                       change_id, state)


_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), default=str)
_FLAT = frozenset({str, int, bool, type(None)})
_KEYS = frozenset({str})
_NOT_ASCII = re.compile("[\x7f-\U0010ffff]")


def as_json(value: Any) -> str:
    """Canonical JSON (sorted keys, no spaces, ASCII) for fingerprints and encrypted bodies.

    The bytes are exactly `json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)`:
    stored fingerprints depend on them. A flat record (string keys; string, integer, boolean or
    null values: every MIS record) is written by orjson (3.4 us instead of 8.8 for a pupil), its
    non-ASCII characters escaped as json escapes them. Anything else, and anything orjson refuses
    (an integer beyond 64 bits, a lone surrogate), is written by json itself; floats always are:
    the two write some exponents differently.
    """
    if type(value) is dict and _FLAT.issuperset(map(type, value.values())) and _KEYS.issuperset(map(type, value)):
        try:
            out = orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
        except orjson.JSONEncodeError:
            return _CANONICAL.encode(value)
        return out if out.isascii() and "\x7f" not in out else _NOT_ASCII.sub(_escape, out)
    return _CANONICAL.encode(value)  # json.dumps with these options, without building an encoder per call


def _escape(found: re.Match[str]) -> str:
    """One character as json's ensure_ascii writes it: \\uXXXX, a surrogate pair above U+FFFF."""
    code = ord(found.group())
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    code -= 0x10000
    return f"\\u{0xD800 | (code >> 10):04x}\\u{0xDC00 | (code & 0x3FF):04x}"


async def groups(conn: Conn) -> list[dict[str, Any]]:
    """Year and registration groups with their pupil counts."""
    rows = await conn.fetch("SELECT year_group, reg_group, count(*) AS pupils FROM ingest.pupil"
                            " GROUP BY year_group, reg_group ORDER BY year_group, reg_group NULLS FIRST")
    return [dict(r) for r in rows]


async def pupils(conn: Conn, year_group: str | None, reg_group: str | None, after: UUID | None,
                 limit: int) -> list[dict[str, Any]]:
    """Pupils (optionally of one group), keyset-paginated by id, with their contact counts."""
    rows = await conn.fetch(
        "SELECT p.pupil_id, p.year_group, p.reg_group, p.body, p.updated_at,"
        " (SELECT count(*) FROM ingest.contact c WHERE c.pupil_id = p.pupil_id) AS contacts"
        " FROM ingest.pupil p WHERE ($1::text IS NULL OR p.year_group = $1)"
        " AND ($2::text IS NULL OR p.reg_group = $2) AND ($3::uuid IS NULL OR p.pupil_id > $3)"
        " ORDER BY p.pupil_id LIMIT $4", year_group, reg_group, after, limit)
    return [dict(r) for r in rows]


async def contacts_of(conn: Conn, pupil_id: UUID) -> list[dict[str, Any]]:
    """A pupil's contacts in priority order, with any pending changes' fields."""
    rows = await conn.fetch(
        "SELECT c.contact_id, c.priority, c.body, c.email_enc, c.mobile_enc, c.confirmed_at,"
        " array(SELECT field FROM ingest.contact_change x WHERE x.contact_id = c.contact_id"
        "       AND x.state = 'pending' ORDER BY field) AS pending"
        " FROM ingest.contact c WHERE c.pupil_id = $1 ORDER BY c.priority, c.contact_id", pupil_id)
    return [dict(r) for r in rows]


async def pupil_exists(conn: Conn, pupil_id: UUID) -> bool:
    """Whether the pupil is in this school's directory."""
    return bool(await conn.fetchval("SELECT EXISTS (SELECT 1 FROM ingest.pupil WHERE pupil_id = $1)", pupil_id))


async def staff(conn: Conn, after: UUID | None, limit: int) -> list[dict[str, Any]]:
    """Staff, keyset-paginated by id."""
    rows = await conn.fetch("SELECT staff_id, body, updated_at FROM ingest.staff"
                            " WHERE $1::uuid IS NULL OR staff_id > $1 ORDER BY staff_id LIMIT $2", after, limit)
    return [dict(r) for r in rows]


async def unconfirmed(conn: Conn, older_than: datetime, limit: int) -> list[dict[str, Any]]:
    """Contacts whose details were last confirmed before `older_than`."""
    rows = await conn.fetch("SELECT contact_id, pupil_id, confirmed_at FROM ingest.contact"
                            " WHERE confirmed_at < $1 ORDER BY confirmed_at LIMIT $2", older_than, limit)
    return [dict(r) for r in rows]


async def changes(conn: Conn, state: str | None, limit: int) -> list[dict[str, Any]]:
    """Contact changes, newest first (the school sees rejections here)."""
    rows = await conn.fetch(
        "SELECT change_id, contact_id, field, state, upload_id, requested_at, decided_at"
        " FROM ingest.contact_change WHERE $1::text IS NULL OR state = $1 ORDER BY requested_at DESC LIMIT $2",
        state, limit)
    return [dict(r) for r in rows]


async def school_of_change(conn: Conn, change_id: UUID) -> UUID | None:
    """The school a change belongs to (operator scope)."""
    return await conn.fetchval("SELECT school_id FROM ingest.contact_change WHERE change_id = $1", change_id)
