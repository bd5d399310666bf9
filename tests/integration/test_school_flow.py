"""The proving flow through the real broker and database: create a school, every
service provisions it, every access is audited, one trace spans it all."""
from __future__ import annotations

from uuid import UUID

from pupilpost.settings import SERVICES
from tests.conftest import client, eventually
from tests.integration.helpers import admin_token


async def test_school_is_provisioned_by_every_service_and_audited(services, tmp_path, spans):
    token = await admin_token(services, tmp_path)
    async with client(services["ingest"], token) as ops:
        created = await ops.post("/v1/ops/schools", json={"name": "Northwick  Park Primary", "urn": "123456"})
        assert created.status_code == 201, created.text
        body = created.json()
        school_id = UUID(body["school_id"])
        assert body["name"] == "Northwick Park Primary"
        assert body["api_key"].startswith("pps.")

        async def provisioned():
            r = await ops.get(f"/v1/ops/schools/{school_id}")
            return r.json() if r.json().get("provisioned") else None
        status = await eventually(provisioned)
        assert sorted(status["services"]) == sorted(SERVICES)

    async with client(services["audit"], token) as ops:
        async def audited():
            r = await ops.get("/v1/ops/audit", params={"school_id": str(school_id)})
            items = r.json()["items"]
            return items if {"create", "read"} <= {i["action"] for i in items} else None
        items = await eventually(audited)
        create = next(i for i in items if i["action"] == "create")
        assert create["actor_kind"] == "operator" and create["tier"] == "administrator"
        assert create["resource"] == f"school/{school_id}" and create["service"] == "ingest"
        assert create["trace_id"] and len(create["trace_id"]) == 32
        verified = (await ops.get("/v1/ops/audit/verify", params={"school_id": str(school_id)})).json()
        assert verified["valid"] is True and verified["records"] >= 2

    # One trace: the HTTP request, the Kafka hops to every service, and the audit write.
    trace_id = int(create["trace_id"], 16)
    in_trace = [s for s in spans.get_finished_spans() if s.context.trace_id == trace_id]
    names = {s.name for s in in_trace}
    assert "POST /v1/ops/schools" in names
    for svc in SERVICES:
        assert f"{svc} handle tenancy.school.created" in names, names
    assert "ingest handle tenancy.school.provisioned" in names
    assert "audit append" in names
    assert any(s.kind.name == "CONSUMER" for s in in_trace) and any(s.kind.name == "PRODUCER" for s in in_trace)


async def test_the_same_urn_cannot_be_registered_twice(services, tmp_path):
    token = await admin_token(services, tmp_path)
    async with client(services["ingest"], token) as ops:
        assert (await ops.post("/v1/ops/schools", json={"name": "A", "urn": "100001"})).status_code == 201
        again = await ops.post("/v1/ops/schools", json={"name": "B", "urn": "100001"})
        assert again.status_code == 409 and "urn" in again.json()["detail"]
        bad = await ops.post("/v1/ops/schools", json={"name": "C", "urn": "12ab"})
        assert bad.status_code == 422
        assert bad.json()["errors"][0]["field"] == "body.urn"
        assert "12ab" not in bad.text
