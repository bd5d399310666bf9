"""Every SQL statement the classifier service runs."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID, uuid4

from pupilpost.db import Conn


async def save_school(conn: Conn, school_id: UUID) -> None:
    """Create the school's classifier state (idempotent)."""
    await conn.execute("INSERT INTO classifier.school (school_id) VALUES ($1) ON CONFLICT DO NOTHING", school_id)


async def upsert_pupils(conn: Conn, rows: Sequence[tuple]) -> None:
    """(pupil_id, school_id, year_group, reg_group, body ciphertext)."""
    if rows:
        await conn.executemany(
            "INSERT INTO classifier.pupil (pupil_id, school_id, year_group, reg_group, body)"
            " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (pupil_id)"
            " DO UPDATE SET year_group = $3, reg_group = $4, body = $5, updated_at = now()", rows)


async def remove_pupils(conn: Conn, ids: Sequence[UUID]) -> None:
    """Drop pupils from the projection."""
    if ids:
        await conn.execute("DELETE FROM classifier.pupil WHERE pupil_id = ANY($1::uuid[])", list(ids))


async def track_roster(conn: Conn, school_id: UUID, upload_id: UUID, part: int, parts: int, *,
                       pupils_changed: bool) -> None:
    """Record how far the school's latest upload is applied; a fresh stamp if its pupils changed."""
    await conn.execute(
        "INSERT INTO classifier.roster_state (school_id, stamp, upload_id, part, parts) VALUES ($1, $2, $3, $4, $5)"
        " ON CONFLICT (school_id) DO UPDATE SET upload_id = $3, part = $4, parts = $5, updated_at = now(),"
        " stamp = CASE WHEN $6 THEN $2 ELSE classifier.roster_state.stamp END",
        school_id, uuid4(), upload_id, part, parts, pupils_changed)


async def roster_state(conn: Conn, school_id: UUID) -> tuple[UUID | None, bool]:
    """The school's roster stamp, and whether its latest upload is fully applied (None, False before any)."""
    row = await conn.fetchrow("SELECT stamp, part = parts AS settled FROM classifier.roster_state"
                              " WHERE school_id = $1", school_id)
    return (row["stamp"], row["settled"]) if row else (None, False)


async def pupils(conn: Conn, school_id: UUID) -> list[Any]:
    """Every pupil of the school: id, groups and the body ciphertext."""
    return await conn.fetch("SELECT pupil_id, year_group, reg_group, body FROM classifier.pupil"
                            " WHERE school_id = $1 ORDER BY pupil_id", school_id)


async def park(conn: Conn, school_id: UUID, message_id: UUID, event: dict[str, Any]) -> None:
    """Keep a submitted message (ciphertext only) until the school's roster can check it."""
    await conn.execute("INSERT INTO classifier.parked_message (message_id, school_id, event) VALUES ($1, $2, $3)"
                       " ON CONFLICT (message_id) DO NOTHING", message_id, school_id, event)


async def parked(conn: Conn, school_id: UUID) -> list[dict[str, Any]]:
    """The school's parked messages, oldest first."""
    rows = await conn.fetch("SELECT event FROM classifier.parked_message WHERE school_id = $1"
                            " ORDER BY parked_at, message_id", school_id)
    return [r["event"] for r in rows]


async def unpark(conn: Conn, message_id: UUID) -> None:
    """Forget a parked message (classified, or its key is gone)."""
    await conn.execute("DELETE FROM classifier.parked_message WHERE message_id = $1", message_id)
