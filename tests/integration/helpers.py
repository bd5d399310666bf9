"""Shared steps of the integration tests (through the real HTTP API)."""
from __future__ import annotations

from pathlib import Path
from uuid import UUID

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
