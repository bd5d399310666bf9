"""Every SQL statement the retention service runs."""
from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pupilpost.db import Conn


async def save_school(conn: Conn, school_id: UUID, created_at: datetime) -> None:
    """Start a school's lifecycle in the active state (idempotent)."""
    await conn.execute(
        "INSERT INTO retention.school (school_id, created_at) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        school_id, created_at)


async def load_state(conn: Conn, school_id: UUID) -> str | None:
    """A school's lifecycle state, if known here."""
    return await conn.fetchval("SELECT state FROM retention.school WHERE school_id = $1", school_id)
