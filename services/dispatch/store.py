"""Every SQL statement the dispatch service runs."""
from __future__ import annotations

from uuid import UUID

from pupilpost.db import Conn


async def save_school(conn: Conn, school_id: UUID, name: str) -> None:
    """Create dispatch's projection of a school (idempotent)."""
    await conn.execute(
        "INSERT INTO dispatch.school (school_id, name) VALUES ($1, $2) ON CONFLICT DO NOTHING", school_id, name)
