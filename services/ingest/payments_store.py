"""Every SQL statement of the payments ledger (ingest.payment)."""
from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from pupilpost.db import Conn

_COLUMNS = ("payment_id, order_number, kind, amount_pence, currency, method, item_enc, purchaser_enc,"
            " occurred_at, recorded_at, retain_until")


async def insert_payments(conn: Conn, school_id: UUID, rows: Sequence[tuple]) -> list[dict[str, Any]]:
    """Insert new payments; rows whose (order_number, kind) exists are skipped. Returns those inserted.

    Each row is (payment_id, order_number, kind, amount_pence, currency, method, item_enc,
    purchaser_enc, occurred_at, retain_until).
    """
    columns = list(zip(*rows)) if rows else [[]] * 10
    inserted = await conn.fetch(
        "INSERT INTO ingest.payment (payment_id, school_id, order_number, kind, amount_pence, currency,"
        " method, item_enc, purchaser_enc, occurred_at, retain_until)"
        " SELECT p, $1, o, k, a, c, m, i, pu, oc, r FROM unnest($2::uuid[], $3::text[], $4::text[],"
        " $5::bigint[], $6::text[], $7::text[], $8::bytea[], $9::bytea[], $10::timestamptz[],"
        " $11::timestamptz[]) AS t (p, o, k, a, c, m, i, pu, oc, r)"
        " ON CONFLICT (school_id, order_number, kind) DO NOTHING"
        f" RETURNING {_COLUMNS}",
        school_id, *map(list, columns))
    return [dict(r) for r in inserted]


async def load_by_keys(conn: Conn, school_id: UUID, keys: Sequence[tuple[str, str]]) -> list[dict[str, Any]]:
    """The recorded payments with these (order_number, kind) keys."""
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM ingest.payment WHERE school_id = $1 AND (order_number, kind) IN"
        " (SELECT * FROM unnest($2::text[], $3::text[]))",
        school_id, [k[0] for k in keys], [k[1] for k in keys])
    return [dict(r) for r in rows]


async def list_payments(conn: Conn, school_id: UUID, *, since: datetime | None, until: datetime | None,
                        after: tuple[datetime, UUID] | None, limit: int,
                        recorded_by: datetime | None = None) -> list[dict[str, Any]]:
    """Payments by (occurred_at, payment_id), keyset-paginated after `after`.

    `since` is inclusive, `until` exclusive; `recorded_by` leaves out rows recorded later
    (an export's fixed point in time across pages).
    """
    after_at, after_id = after if after else (None, None)
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM ingest.payment WHERE school_id = $1"
        " AND ($2::timestamptz IS NULL OR occurred_at >= $2)"
        " AND ($3::timestamptz IS NULL OR occurred_at < $3)"
        " AND ($4::timestamptz IS NULL OR (occurred_at, payment_id) > ($4, $5::uuid))"
        " AND ($6::timestamptz IS NULL OR recorded_at <= $6)"
        " ORDER BY occurred_at, payment_id LIMIT $7",
        school_id, since, until, after_at, after_id, recorded_by, limit)
    return [dict(r) for r in rows]


async def now(conn: Conn) -> datetime:
    """The database's clock (the start of this transaction, as `recorded_at` uses)."""
    return await conn.fetchval("SELECT now()")
