"""Personalised messages end to end: merge fields checked at compose, every family's rendering
classified against the classifier's own roster projection, and a message that names another
family's child blocked (never sent)."""
from __future__ import annotations

import base64
import json
from uuid import uuid4

import pytest

from pupilpost import db
from schemas.messages import Audience, MessageClassifiedV1, MessageSubmittedV1
from tests.conftest import client, eventually
from tests.integration.helpers import admin_token, create_school
from tests.integration.kafka_io import produce, read
from tests.integration.test_messages import until_state
from tests.integration.test_uploads import settled
from tests.integration.upload_client import roster, send

URN = "838383"
NAMES = [("Ruby", "Wright"), ("Oscar", "Bennett"), ("Amara", "Osei"), ("Theo", "Marsh")]
AUDIENCE = {"year_groups": ["4"]}


def named_roster(names=NAMES):
    """The helper's valid roster, with real-looking pupil names (the classifier looks for names)."""
    base = roster(URN, pupils=len(names))
    pupils = tuple(p.model_copy(update={"legal_forename": f, "legal_surname": s})
                   for p, (f, s) in zip(base.pupils, names, strict=True))
    return base.model_copy(update={"pupils": pupils})


async def upload(services, key, school_id, names=NAMES) -> None:
    async with client(services["ingest"], key) as c:
        up = await send(c, key, school_id, named_roster(names))
        assert (await settled(c, up.json()["upload_id"]))["status"] == "imported"
    await eventually(lambda: _pupils_projected(services, school_id, len(names)))


async def _pupils_projected(services, school_id, n) -> bool:
    async with db.tenant_tx(services["classifier"].db(), school_id) as conn:
        return await conn.fetchval("SELECT count(*) FROM classifier.pupil") == n


@pytest.fixture
async def school(services, tmp_path):
    token = await admin_token(services, tmp_path)
    school_id, key = await create_school(services, token, URN, "Personal Primary")
    await upload(services, key, school_id)
    return school_id, key


async def personalised(c, subject, body, audience=AUDIENCE):
    r = await c.post("/v1/messages", json={"audience": audience, "subject": subject, "body": body,
                                           "personalised": True})
    assert r.status_code == 202, r.text
    return r.json()["message_id"]


async def test_a_rendering_that_names_another_familys_child_is_blocked(services, school):
    _, key = school
    body = "{{forename}} and Oscar Bennett will lead the class assembly on Friday."
    async with client(services["ingest"], key) as c:
        message_id = await personalised(c, "Assembly", body)
        shown = await until_state(c, message_id, "blocked", "released", "awaiting_approval")
        # A blocked message stays blocked: it cannot be approved into sending.
        colleague = {"x-pupilpost-staff": str(uuid4())}
        assert (await c.post(f"/v1/messages/{message_id}/approve", headers=colleague)).status_code == 409
    assert shown["state"] == "blocked" and shown["other_pupil_named"] is True
    start = len("Assembly") + 1 + body.index("Oscar Bennett")
    assert {"kind": "other_pupil", "label": "other_pupil", "start": start, "end": start + len("Oscar Bennett")} \
        in shown["evidence"]  # offsets into what the school wrote, the same for every family


async def test_a_benign_personalised_message_is_released(services, school):
    _, key = school
    async with client(services["ingest"], key) as c:
        message_id = await personalised(c, "Trip for {{forename}}",
                                        "{{forename}} will need a packed lunch for the farm trip on Friday.")
        shown = await until_state(c, message_id, "blocked", "released", "awaiting_approval")
    assert shown["state"] == "released" and shown["other_pupil_named"] is False
    assert shown["level"] == "official" and "person_name" in shown["pii"]


async def test_content_that_is_sensitive_only_once_rendered_is_official_sensitive(services, school, env):
    _, key = school
    subject, body = "Medicine in school", "We have been told {{full_name}} has tonsillitis and will need antibiotics."
    async with client(services["ingest"], key) as c:
        message_id = await personalised(c, subject, body)
        shown = await until_state(c, message_id, "blocked", "released", "awaiting_approval")
        # The same words with no one named are not about anyone: the rendering is what makes them sensitive.
        r = await c.post("/v1/messages", json={"audience": AUDIENCE, "subject": subject,
                                               "body": body.replace("{{full_name}}", "a child")})
        plain = await until_state(c, r.json()["message_id"], "released")
    assert shown["state"] == "released" and shown["other_pupil_named"] is False
    assert shown["level"] == "official-sensitive" and "health" in shown["categories"]
    assert plain["level"] != "official-sensitive" and plain["other_pupil_named"] is None
    classified = await read(env.platform.kafka_bootstrap, env.platform.topic_prefix + "messages.classified", 2)
    for record in classified:
        for forename, surname in NAMES:
            assert forename.encode() not in record.value and surname.encode() not in record.value
        assert b"tonsillitis" not in record.value


async def test_merge_fields_are_checked_at_compose(services, school):
    _, key = school
    async with client(services["ingest"], key) as c:
        unknown = await c.post("/v1/messages", json={"audience": AUDIENCE, "subject": "Hello",
                                                     "body": "Dear {{parent_name}}", "personalised": True})
        assert unknown.status_code == 422
        [error] = unknown.json()["errors"]
        assert error["field"] == "body.body" and "unknown merge field" in error["reason"]
        assert "parent_name" not in unknown.text  # where, not what: the caller's text is not echoed
        unset = await c.post("/v1/messages", json={"audience": AUDIENCE, "subject": "Hi {{forename}}",
                                                   "body": "See you soon"})
        assert unset.status_code == 422 and "personalised" in unset.text
        nobody = await c.post("/v1/messages", json={"audience": {"year_groups": ["11"]}, "subject": "Hi",
                                                    "body": "{{forename}}", "personalised": True})
        assert nobody.status_code == 422 and "no pupil" in nobody.json()["detail"]


async def test_the_roster_projection_follows_the_directory(services, school):
    school_id, key = school
    classifier = services["classifier"]
    async with db.plain_tx(classifier.db()) as conn:  # no school context: nothing is visible
        assert await conn.fetchval("SELECT count(*) FROM classifier.pupil") == 0
    async with db.tenant_tx(classifier.db(), school_id) as conn:
        bodies = [bytes(r["body"]) for r in await conn.fetch("SELECT body FROM classifier.pupil")]
    assert bodies and not any(f.encode() in b or s.encode() in b for b in bodies for f, s in NAMES)

    body = "{{forename}} and Oscar Bennett will lead the class assembly on Friday."
    async with client(services["ingest"], key) as c:
        before = await personalised(c, "Assembly", body)
        assert (await until_state(c, before, "blocked", "released"))["state"] == "blocked"
        await upload(services, key, school_id, [n for n in NAMES if n[0] != "Oscar"])  # Oscar has left
        after = await personalised(c, "Assembly", body)
        shown = await until_state(c, after, "blocked", "released")
    # Oscar is no longer a pupil here, so naming him names no other family's child.
    assert shown["state"] == "released" and shown["other_pupil_named"] is False


async def test_a_message_that_arrives_before_its_roster_waits_for_it(services, tmp_path, env):
    """The directory and the message travel on different topics: a personalised message the classifier
    sees first is parked, not released unchecked, and classified once the upload is in."""
    token = await admin_token(services, tmp_path)
    school_id, key = await create_school(services, token, URN, "Early Primary")
    ingest, message_id = services["ingest"], uuid4()
    async with db.tenant_tx(ingest.db(), school_id) as conn:  # sealed exactly as compose seals it
        keys = ingest.keys()
        await keys.create_message_key(conn, school_id, message_id)
        sealed = await keys.encrypt_with(await keys.message_key(conn, school_id, message_id), "message.content",
                                         json.dumps({"subject": "Assembly", "body": "{{forename}} and Oscar Bennett"
                                                     " will lead the class assembly on Friday."}))
    evt = MessageSubmittedV1(school_id=school_id, message_id=message_id, author_id=uuid4(),
                             audience=Audience(year_groups=("4",)), kind="information", personalised=True,
                             content=base64.b64encode(sealed).decode())
    await produce(env.platform.kafka_bootstrap, env.platform.topic_prefix + "messages.submitted", evt,
                  key=str(school_id).encode())

    async def parked():
        async with db.tenant_tx(services["classifier"].db(), school_id) as conn:
            return await conn.fetchval("SELECT count(*) FROM classifier.parked_message") == 1
    await eventually(parked)
    await upload(services, key, school_id)
    records = await read(env.platform.kafka_bootstrap, env.platform.topic_prefix + "messages.classified", 1)
    [classified] = [MessageClassifiedV1.model_validate_json(r.value) for r in records]
    assert classified.message_id == message_id and classified.other_pupil_named is True
    assert not await parked()
