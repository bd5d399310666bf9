"""Every SQL statement the dispatch service runs."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from pupilpost.db import Conn

TABLES = {"pupil": ("dispatch.pupil", "pupil_id"), "contact": ("dispatch.contact", "contact_id"),
          "staff": ("dispatch.staff", "staff_id")}


async def save_school(conn: Conn, school_id: UUID, name: str) -> None:
    """Create dispatch's projection of a school (idempotent)."""
    await conn.execute(
        "INSERT INTO dispatch.school (school_id, name) VALUES ($1, $2) ON CONFLICT DO NOTHING", school_id, name)


async def school_name(conn: Conn, school_id: UUID) -> str | None:
    """The school's name, for neutral notices."""
    return await conn.fetchval("SELECT name FROM dispatch.school WHERE school_id = $1", school_id)


async def upsert_pupils(conn: Conn, rows: Sequence[tuple]) -> None:
    """(pupil_id, school_id, year_group, reg_group, body)."""
    await conn.executemany(
        "INSERT INTO dispatch.pupil (pupil_id, school_id, year_group, reg_group, body) VALUES ($1, $2, $3, $4, $5)"
        " ON CONFLICT (pupil_id) DO UPDATE SET year_group = $3, reg_group = $4, body = $5, updated_at = now()",
        rows)


async def upsert_contacts(conn: Conn, rows: Sequence[tuple]) -> None:
    """(contact_id, school_id, pupil_id, priority, parental_responsibility, person_key, has_email,
    has_mobile, body, email_key, mobile_key)."""
    await conn.executemany(
        "INSERT INTO dispatch.contact (contact_id, school_id, pupil_id, priority, parental_responsibility,"
        " person_key, has_email, has_mobile, body, email_key, mobile_key)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
        " ON CONFLICT (contact_id) DO UPDATE SET pupil_id = $3, priority = $4, parental_responsibility = $5,"
        " person_key = $6, has_email = $7, has_mobile = $8, body = $9, email_key = $10, mobile_key = $11,"
        " updated_at = now()", rows)


async def upsert_staff(conn: Conn, rows: Sequence[tuple]) -> None:
    """(staff_id, school_id, body)."""
    await conn.executemany(
        "INSERT INTO dispatch.staff (staff_id, school_id, body) VALUES ($1, $2, $3)"
        " ON CONFLICT (staff_id) DO UPDATE SET body = $3, updated_at = now()", rows)


async def staff(conn: Conn) -> list[Any]:
    """Every staff member of the school in scope (bodies are ciphertext)."""
    return list(await conn.fetch("SELECT staff_id, body FROM dispatch.staff ORDER BY staff_id"))


async def remove(conn: Conn, kind: str, ids: list[UUID]) -> None:
    """Drop records from the projection (a pupil's contacts go with it)."""
    table, key = TABLES[kind]
    if kind == "pupil":
        await conn.execute("DELETE FROM dispatch.contact WHERE pupil_id = ANY($1::uuid[])", ids)
    await conn.execute(f"DELETE FROM {table} WHERE {key} = ANY($1::uuid[])", ids)


async def merge_message(conn: Conn, message_id: UUID, school_id: UUID, **fields: Any) -> dict[str, Any]:
    """Create or complete a message row with whichever event arrived; returns the row."""
    cols = list(fields)
    sets = ", ".join(f"{c} = EXCLUDED.{c}" for c in cols) or "updated_at = now()"
    names = ", ".join(["message_id", "school_id", *cols])
    params = ", ".join(f"${i}" for i in range(1, len(cols) + 3))
    row = await conn.fetchrow(
        f"INSERT INTO dispatch.message ({names}) VALUES ({params}) ON CONFLICT (message_id) DO UPDATE SET {sets},"
        " updated_at = now() RETURNING *", message_id, school_id, *fields.values())
    return dict(row)


async def set_message_state(conn: Conn, message_id: UUID, state: str) -> None:
    """Move a message on."""
    await conn.execute("UPDATE dispatch.message SET state = $2, updated_at = now(),"
                       " planned_at = CASE WHEN $2 = 'planned' THEN now() ELSE planned_at END"
                       " WHERE message_id = $1", message_id, state)


async def audience_contacts(conn: Conn, audience: dict[str, Any]) -> list[dict[str, Any]]:
    """Contacts who receive messages (parental responsibility, or priority 1) of the audience's pupils,
    with the parent's choices: her own contact record's, else the latest saved on any record of hers."""
    rows = await conn.fetch(
        "WITH person AS (SELECT DISTINCT ON (o.person_key) o.person_key, q.channels, q.marketing_consent,"
        "   q.has_app FROM dispatch.preference q JOIN dispatch.contact o ON o.contact_id = q.contact_id"
        "   WHERE o.person_key IS NOT NULL ORDER BY o.person_key, q.updated_at DESC)"
        " SELECT c.contact_id, c.pupil_id, c.priority, c.person_key, c.has_email, c.has_mobile,"
        " coalesce(p.channels, w.channels, '{}') AS channels,"
        " coalesce(p.marketing_consent, w.marketing_consent, false) AS consent,"
        " coalesce(p.has_app, w.has_app, false) AS has_app"
        " FROM dispatch.pupil u JOIN dispatch.contact c ON c.pupil_id = u.pupil_id"
        " LEFT JOIN dispatch.preference p ON p.contact_id = c.contact_id"
        " LEFT JOIN person w ON w.person_key = c.person_key"
        f" WHERE (c.parental_responsibility OR c.priority = 1) AND {IN_AUDIENCE}"
        " ORDER BY c.priority, c.contact_id", *_audience_args(audience))
    return [dict(r) for r in rows]


IN_AUDIENCE = ("($1 OR u.year_group = ANY($2::text[]) OR u.reg_group = ANY($3::text[])"
               " OR u.pupil_id = ANY($4::uuid[]))")


def _audience_args(audience: dict[str, Any]) -> tuple[Any, ...]:
    return (bool(audience.get("whole_school")), list(audience.get("year_groups", [])),
            list(audience.get("reg_groups", [])), [UUID(str(x)) for x in audience.get("pupil_ids", [])])


async def record_case(conn: Conn, message_id: UUID, audience: dict[str, Any]) -> None:
    """Keep the message on the case record of every pupil in its audience."""
    await conn.execute(
        "INSERT INTO dispatch.case_entry (pupil_id, message_id, school_id)"
        f" SELECT u.pupil_id, $5, u.school_id FROM dispatch.pupil u WHERE {IN_AUDIENCE}"
        " ON CONFLICT DO NOTHING", *_audience_args(audience), message_id)


async def insert_deliveries(conn: Conn, rows: Sequence[tuple]) -> list[tuple]:
    """(delivery_id, school_id, message_id, contact_id, channel, content, urgent, recipient_kind, pupil_id,
    person_key, due_at) as queued; returns the rows actually inserted (a replayed plan inserts nothing) and
    wakes the senders when the transaction commits."""
    if not rows:
        return []
    inserted = await conn.fetch(
        "INSERT INTO dispatch.delivery (delivery_id, school_id, message_id, contact_id, channel, content, state,"
        " urgent, recipient_kind, pupil_id, person_key, next_attempt_at)"
        " SELECT d, s, m, c, ch, co, 'queued', u, k, p, pk, coalesce(due, now())"
        " FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[], $5::text[], $6::text[], $7::bool[],"
        " $8::text[], $9::uuid[], $10::bytea[], $11::timestamptz[]) AS t(d, s, m, c, ch, co, u, k, p, pk, due)"
        " ON CONFLICT (message_id, contact_id, channel) DO NOTHING RETURNING delivery_id, channel",
        *[list(col) for col in zip(*rows, strict=True)])
    await conn.execute("SELECT pg_notify('dispatch_due', '')")
    return [(r["delivery_id"], r["channel"]) for r in inserted]


async def cancel_queued(conn: Conn, message_id: UUID) -> list[tuple[UUID, str]]:
    """Cancel a message's deliveries not yet handed off."""
    rows = await conn.fetch(
        "UPDATE dispatch.delivery SET state = 'cancelled', updated_at = now()"
        " WHERE message_id = $1 AND state = 'queued' RETURNING delivery_id, channel", message_id)
    return [(r["delivery_id"], r["channel"]) for r in rows]
