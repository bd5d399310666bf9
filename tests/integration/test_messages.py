"""Composing messages: sealed under a per-message key, classified, four-eyes approval, recall."""
from __future__ import annotations

import base64
from uuid import uuid4

import pytest

from pupilpost import db
from pupilpost.crypto import KeyUnavailable
from schemas.messages import MessageRecalledV1, MessageSubmittedV1
from tests.conftest import client, eventually
from tests.integration.helpers import admin_token, create_school
from tests.integration.kafka_io import read

SENSITIVE = {"subject": "Ruby", "body": "Thanks for letting us know Ruby Wright has tonsillitis; we will hold her "
                                        "antibiotics in the office."}
PUBLIC = {"subject": "Harvest festival", "body": "Year 4 will sing at the harvest festival on Friday at 2pm."}


@pytest.fixture
async def school(services, tmp_path):
    token = await admin_token(services, tmp_path)
    school_id, key = await create_school(services, token, "727272", "Messaging Primary")
    return school_id, key


async def compose(c, body, staff=None, **extra):
    headers = {"x-pupilpost-staff": str(staff)} if staff else {}
    r = await c.post("/v1/messages", headers=headers,
                     json={"audience": {"year_groups": ["4"]}, **body, **extra})
    assert r.status_code == 202, r.text
    return r.json()["message_id"]


async def until_state(c, message_id, *states):
    async def check():
        body = (await c.get(f"/v1/messages/{message_id}")).json()
        return body if body["state"] in states else None
    return await eventually(check)


async def test_messages_are_classified_and_content_travels_only_as_ciphertext(services, school, env):
    school_id, key = school
    async with client(services["ingest"], key) as c:
        sensitive = await compose(c, SENSITIVE)
        public = await compose(c, PUBLIC)
        s = await until_state(c, sensitive, "released")
        p = await until_state(c, public, "released")
    assert s["level"] == "official-sensitive" and "health" in s["categories"] and "person_name" in s["pii"]
    assert p["level"] == "public" and p["categories"] == []
    records = await read(env.platform.kafka_bootstrap, env.platform.topic_prefix + "messages.submitted", 2)
    assert all(b"tonsillitis" not in r.value and b"Ruby" not in r.value for r in records)
    classified = await read(env.platform.kafka_bootstrap, env.platform.topic_prefix + "messages.classified", 2)
    assert all(b"tonsillitis" not in r.value and b"Ruby" not in r.value for r in classified)


async def test_a_school_can_mark_up_but_not_down(services, school):
    _, key = school
    async with client(services["ingest"], key) as c:
        up = await compose(c, PUBLIC, mark_level="official")
        assert (await until_state(c, up, "released"))["level"] == "official"
        down = await compose(c, SENSITIVE, mark_level="public")
        assert (await until_state(c, down, "released"))["level"] == "official-sensitive"


async def test_four_eyes_for_official_sensitive_messages(services, school):
    _, key = school
    author, colleague = uuid4(), uuid4()
    async with client(services["ingest"], key) as c:
        assert (await c.put("/v1/messages/settings", json={"require_approval": True})).status_code == 200
        held = await compose(c, SENSITIVE, staff=author)
        waiting = await until_state(c, held, "awaiting_approval")
        assert waiting["approver_id"] is None
        own = await c.post(f"/v1/messages/{held}/approve", headers={"x-pupilpost-staff": str(author)})
        assert own.status_code == 403 and "author" in own.json()["detail"]
        ok = await c.post(f"/v1/messages/{held}/approve", headers={"x-pupilpost-staff": str(colleague)})
        assert ok.status_code == 200 and ok.json()["state"] == "approved"
        again = await c.post(f"/v1/messages/{held}/reject", headers={"x-pupilpost-staff": str(colleague)})
        assert again.status_code == 409
        shown = (await c.get(f"/v1/messages/{held}")).json()
        assert shown["approver_id"] == str(colleague) and shown["decided_at"]
        public = await compose(c, PUBLIC, staff=author)   # only official-sensitive waits
        assert (await until_state(c, public, "released", "awaiting_approval"))["state"] == "released"


async def test_recall_destroys_the_message_key_and_is_audited(services, school, env, tmp_path):
    school_id, key = school
    recaller = uuid4()
    async with client(services["ingest"], key) as c:
        message_id = await compose(c, PUBLIC)
        await until_state(c, message_id, "released")
        r = await c.post(f"/v1/messages/{message_id}/recall", headers={"x-pupilpost-staff": str(recaller)})
        assert r.status_code == 200 and r.json()["state"] == "recalled"
        assert (await c.post(f"/v1/messages/{message_id}/recall")).status_code == 409
        assert (await c.get(f"/v1/messages/{message_id}")).json()["state"] == "recalled"
    [record] = [r for r in await read(env.platform.kafka_bootstrap,
                                      env.platform.topic_prefix + "messages.submitted", 1)]
    evt = MessageSubmittedV1.model_validate_json(record.value)
    ingest = services["ingest"]
    ingest.keys().forget()
    async with db.tenant_tx(ingest.db(), school_id) as conn:
        with pytest.raises(KeyUnavailable):  # the copy in Kafka is unreadable now
            await ingest.keys().decrypt(conn, school_id, "message.content", base64.b64decode(evt.content))
    [recalled] = await read(env.platform.kafka_bootstrap, env.platform.topic_prefix + "messages.recalled", 1)
    assert MessageRecalledV1.model_validate_json(recalled.value).recalled_by == recaller

    token = await admin_token(services, tmp_path)
    async with client(services["audit"], token) as ops:
        async def audited():
            items = (await ops.get("/v1/ops/audit", params={"school_id": str(school_id), "limit": 1000})
                     ).json()["items"]
            return [i for i in items if i["action"] == "recall"]
        [record] = await eventually(audited)
    assert record["resource"] == f"messages/{message_id}" and record["purpose"] == f"recall message by staff {recaller}"
    assert record["actor_kind"] == "school" and record["service"] == "ingest"


async def test_message_validation_and_isolation(services, school, tmp_path):
    school_id, key = school
    async with client(services["ingest"], key) as c:
        empty = await c.post("/v1/messages", json={"audience": {}, **PUBLIC})
        assert empty.status_code == 422 and "audience" in empty.text
        blank = await c.post("/v1/messages", json={"audience": {"whole_school": True}, "subject": "", "body": "x"})
        assert blank.status_code == 422 and blank.json()["errors"][0]["field"] == "body.subject"
        message_id = await compose(c, PUBLIC)
    token = await admin_token(services, tmp_path)
    _, other = await create_school(services, token, "727273", "Other")
    async with client(services["ingest"], other) as o:
        assert (await o.get(f"/v1/messages/{message_id}")).status_code == 404
