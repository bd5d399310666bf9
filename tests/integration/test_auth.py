"""Authentication and authorisation through the real HTTP API and credential events."""
from __future__ import annotations

from uuid import uuid4

from tests.conftest import client, eventually
from tests.integration.helpers import admin_token, create_school, wait_known


async def test_requests_without_valid_credentials_get_401(services, tmp_path):
    await admin_token(services, tmp_path)
    async with client(services["ingest"]) as anon:
        r = await anon.get("/v1/ops/schools")
        assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    async with client(services["ingest"], f"ppo.{uuid4()}.not-a-real-secret") as forged:
        assert (await forged.get("/v1/ops/schools")).status_code == 401
    async with client(services["audit"], "garbage") as junk:
        assert (await junk.get("/v1/ops/audit")).status_code == 401


async def test_tiers_are_enforced(services, tmp_path):
    admin = await admin_token(services, tmp_path)
    async with client(services["ingest"], admin) as ops:
        r = await ops.post("/v1/ops/operators", json={"tier": "basic", "label": "support desk"})
        assert r.status_code == 201
        basic = r.json()["token"]
    await wait_known(services, basic, ("ingest", "audit"))
    async with client(services["ingest"], basic) as desk:
        assert (await desk.get("/v1/ops/schools")).status_code == 200
        denied = await desk.post("/v1/ops/schools", json={"name": "X", "urn": "200001"})
        assert denied.status_code == 403 and "administrator" in denied.json()["detail"]
    async with client(services["audit"], basic) as desk:
        assert (await desk.get("/v1/ops/audit")).status_code == 403


async def test_a_school_key_reaches_only_its_own_school(services, tmp_path):
    admin = await admin_token(services, tmp_path)
    school_a, key_a = await create_school(services, admin, "300001", "A")
    school_b, _ = await create_school(services, admin, "300002", "B")
    async with client(services["ingest"], key_a) as a:
        own = await a.get(f"/v1/schools/{school_a}")
        assert own.status_code == 200 and own.json()["urn"] == "300001"
        other = await a.get(f"/v1/schools/{school_b}")
        assert other.status_code == 404
        assert (await a.get("/v1/ops/schools")).status_code == 403


async def test_a_revoked_credential_stops_working_in_every_service(services, tmp_path):
    admin = await admin_token(services, tmp_path)
    async with client(services["ingest"], admin) as ops:
        made = (await ops.post("/v1/ops/operators", json={"tier": "administrator"})).json()
    await wait_known(services, made["token"], ("ingest", "audit"))
    async with client(services["ingest"], admin) as ops:
        assert (await ops.delete(f"/v1/ops/credentials/{made['credential_id']}")).status_code == 204
        assert (await ops.delete(f"/v1/ops/credentials/{uuid4()}")).status_code == 404

    async def rejected_by_audit() -> bool:
        async with client(services["audit"], made["token"]) as c:
            return (await c.get("/v1/ops/audit")).status_code == 401
    await eventually(rejected_by_audit)
    async with client(services["ingest"], made["token"]) as c:
        assert (await c.get("/v1/ops/schools")).status_code == 401
