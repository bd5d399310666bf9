"""Shared steps of the integration tests (through the real HTTP API), and reads as the database owner."""
from __future__ import annotations

from pathlib import Path
from uuid import UUID

import asyncpg

from services.ingest.handlers import bootstrap_operator
from tests.conftest import client, eventually


async def admin_token(services, tmp_path: Path, known_by: tuple[str, ...] = ("ingest", "audit")) -> str:
    """The development bootstrap credential, once the named services know it."""
    path = tmp_path / "operator-token"
    await bootstrap_operator(services["ingest"], path)
    token = path.read_text().strip()
    await wait_known(services, token, known_by)
    return token


async def wait_known(services, token: str, names: tuple[str, ...]) -> None:
    """Wait until each named service's credential projection accepts `token` (or 403s it)."""
    probe = {"ingest": "/v1/ops/schools", "audit": "/v1/ops/audit"}

    async def known() -> bool:
        for name in names:
            async with client(services[name], token) as c:
                if (await c.get(probe[name])).status_code == 401:
                    return False
        return True
    await eventually(known)


async def create_school(services, token: str, urn: str, name: str = "Test School") -> tuple[UUID, str]:
    """Create a school through the operator API; returns its id and first API key."""
    async with client(services["ingest"], token) as ops:
        r = await ops.post("/v1/ops/schools", json={"name": name, "urn": urn})
        assert r.status_code == 201, r.text
        return UUID(r.json()["school_id"]), r.json()["api_key"]


async def admin_rows(env, sql: str, *args) -> list[dict]:
    """Rows of `sql`, read as the database owner (past row-level security)."""
    conn = await asyncpg.connect(env.admin_dsn())
    try:
        return [dict(r) for r in await conn.fetch(sql, *args)]
    finally:
        await conn.close()


async def admin_value(env, sql: str, *args):
    """The one value `sql` selects, read as the database owner."""
    [row] = await admin_rows(env, sql, *args)
    [value] = row.values()
    return value


async def wait_provisioned(services, token: str, school_id: UUID) -> None:
    """Wait until every service has provisioned the school (dispatch knows its name, and so on)."""
    async with client(services["ingest"], token) as ops:
        async def provisioned() -> bool:
            return (await ops.get(f"/v1/ops/schools/{school_id}")).json().get("provisioned") is True
        await eventually(provisioned)
