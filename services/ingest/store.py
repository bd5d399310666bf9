"""Every SQL statement the ingest service runs."""
from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from pupilpost.db import Conn


async def insert_school(conn: Conn, school_id: UUID, name: str, urn: str, created_by: UUID) -> bool:
    """Register a school; False if the URN is already registered."""
    row = await conn.fetchrow(
        "INSERT INTO ingest.school (school_id, name, urn, created_by) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT (urn) DO NOTHING RETURNING school_id", school_id, name, urn, created_by)
    return row is not None


async def load_school(conn: Conn, school_id: UUID) -> dict[str, Any] | None:
    """A school with the services that provisioned it (None if not visible)."""
    row = await conn.fetchrow(
        "SELECT school_id, name, urn, created_at FROM ingest.school WHERE school_id = $1", school_id)
    if row is None:
        return None
    services = await conn.fetch(
        "SELECT service, provisioned_at FROM ingest.school_provisioning WHERE school_id = $1"
        " ORDER BY service", school_id)
    return {**dict(row), "services": {r["service"]: r["provisioned_at"] for r in services}}


async def list_schools(conn: Conn, limit: int, after: UUID | None) -> list[dict[str, Any]]:
    """Schools ordered by id, keyset-paginated."""
    rows = await conn.fetch(
        "SELECT s.school_id, s.name, s.urn, s.created_at, count(p.service) AS provisioned_services"
        " FROM ingest.school s LEFT JOIN ingest.school_provisioning p USING (school_id)"
        " WHERE $2::uuid IS NULL OR s.school_id > $2 GROUP BY s.school_id ORDER BY s.school_id LIMIT $1",
        limit, after)
    return [dict(r) for r in rows]


async def mark_provisioned(conn: Conn, school_id: UUID, service: str, at: datetime) -> None:
    """Record that a service provisioned a school (idempotent)."""
    await conn.execute(
        "INSERT INTO ingest.school_provisioning (school_id, service, provisioned_at) VALUES ($1, $2, $3)"
        " ON CONFLICT DO NOTHING", school_id, service, at)


async def credential_exists(conn: Conn, credential_id: UUID) -> dict[str, Any] | None:
    """A credential's kind and school, if it exists and is not revoked."""
    row = await conn.fetchrow(
        "SELECT kind, school_id FROM ingest.credential WHERE credential_id = $1 AND revoked_at IS NULL",
        credential_id)
    return dict(row) if row else None
