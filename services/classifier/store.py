"""Every SQL statement the classifier service runs."""
from __future__ import annotations

from uuid import UUID

from pupilpost.db import Conn


async def save_school(conn: Conn, school_id: UUID) -> None:
    """Create the school's classifier state (idempotent)."""
    await conn.execute("INSERT INTO classifier.school (school_id) VALUES ($1) ON CONFLICT DO NOTHING", school_id)
