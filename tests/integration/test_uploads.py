"""MIS uploads through the real API: sealed, signed, validated, imported all-or-nothing, announced
as ciphertext events; every bad upload is refused with a clear reason and imports nothing."""
from __future__ import annotations

import base64
import json
import secrets
import time
from uuid import UUID, uuid4

import asyncpg
import pytest

from pupilpost import crypto, db
from schemas.directory import ContactChangeRequestedV1, DirectoryChangesV1
from tests.conftest import client, eventually
from tests.integration.helpers import admin_token, create_school
from tests.integration.kafka_io import read
from tests.integration.upload_client import roster, send, upload_key


@pytest.fixture
async def school(services, tmp_path):
    token = await admin_token(services, tmp_path)
    urn = str(500000 + secrets.randbelow(99999))
    school_id, key = await create_school(services, token, urn, "Upload Primary")
    return {"id": school_id, "key": key, "urn": urn, "token": token}


async def settled(c, upload_id):
    async def done():
        body = (await c.get(f"/v1/uploads/{upload_id}")).json()
        return body if body["status"] in ("imported", "rejected") else None
    return await eventually(done)


async def count(env, table: str, school_id) -> int:
    conn = await asyncpg.connect(env.admin_dsn())
    try:
        return await conn.fetchval(f"SELECT count(*) FROM ingest.{table} WHERE school_id = $1", school_id)
    finally:
        await conn.close()


async def test_an_upload_is_imported_encrypted_and_announced_without_plaintext(services, school, env):
    async with client(services["ingest"], school["key"]) as c:
        r = await send(c, school["key"], school["id"], roster(school["urn"], pupils=4))
        assert r.status_code == 202, r.text
        result = await settled(c, r.json()["upload_id"])
        assert result["status"] == "imported", result
        assert result["counts"]["pupil"]["added"] == 4 and result["counts"]["contact"]["added"] == 8
        assert result["counts"]["staff"]["added"] == 1 and result["report"] == []

        groups = (await c.get("/v1/directory/groups")).json()["items"]
        assert {(g["year_group"], g["reg_group"], g["pupils"]) for g in groups} == {("4", "4A", 2), ("4", "4B", 2)}
        listed = (await c.get("/v1/directory/pupils", params={"reg_group": "4A"})).json()["items"]
        assert len(listed) == 2 and "details" not in listed[0]
        revealed = (await c.get(f"/v1/directory/pupils/{listed[0]['pupil_id']}/contacts",
                                params={"reveal": "true"})).json()["items"]
        assert [x["priority"] for x in revealed] == [1, 2]
        assert revealed[0]["details"]["email"].endswith("@example.org") and revealed[0]["has_mobile"]

    # At rest: no plaintext names or emails in ingest's tables.
    conn = await asyncpg.connect(env.admin_dsn())
    try:
        dump = b"".join(bytes(v) for r in await conn.fetch(
            "SELECT body, email_enc, mobile_enc, ref_index FROM ingest.contact") for v in r if v is not None)
        assert b"@example.org" not in dump and b"Testwell" not in dump and b"+4477" not in dump
    finally:
        await conn.close()
    # In Kafka: directory.changes carries only ciphertext, which the school key opens.
    records = await read(env.platform.kafka_bootstrap, env.platform.topic_prefix + "directory.changes", 1)
    raw = b"".join(r.value for r in records)
    assert b"Testwell" not in raw and b"example.org" not in raw
    evt = DirectoryChangesV1.model_validate_json(records[0].value)
    contact = next(ch for ch in evt.changes if ch.kind == "contact")
    async with db.tenant_tx(services["ingest"].db(), school["id"]) as conn:
        state = json.loads(await services["ingest"].keys().decrypt(
            conn, school["id"], "directory.contact", base64.b64decode(contact.body)))
    assert state["surname"] == "Testwell" and state["email"].endswith("@example.org")


async def test_an_identical_reupload_changes_and_emits_nothing(services, school, env):
    async with client(services["ingest"], school["key"]) as c:
        first = await send(c, school["key"], school["id"], roster(school["urn"]))
        await settled(c, first.json()["upload_id"])
        again = await send(c, school["key"], school["id"], roster(school["urn"]))
        result = await settled(c, again.json()["upload_id"])
    assert result["status"] == "imported" and result["counts"]["unchanged"] is True
    records = await read(env.platform.kafka_bootstrap, env.platform.topic_prefix + "directory.changes", 1)
    assert {DirectoryChangesV1.model_validate_json(r.value).upload_id for r in records} == {
        UUID(first.json()["upload_id"])}


async def test_an_export_of_one_part_leaves_the_other_as_it_is(services, school, env):
    """A staff-only CSV keeps the pupils and contacts; a pupils-only CSV or a CTF keeps the staff."""
    whole = roster(school["urn"], pupils=3, staff=2)
    async with client(services["ingest"], school["key"]) as c:
        async def imported(payload):
            r = await send(c, school["key"], school["id"], payload)
            assert r.status_code == 202, r.text
            result = await settled(c, r.json()["upload_id"])
            assert result["status"] == "imported", result
            return result["counts"]

        await imported(whole)
        staff_only = whole.model_copy(update={"pupils": (), "contacts": (), "staff": whole.staff[:1],
                                              "covers": ("staff",)})
        counts = await imported(staff_only)
        assert counts["staff"]["removed"] == 1
        assert counts["pupil"] == {"added": 0, "changed": 0, "removed": 0}
        assert counts["contact"] == {"added": 0, "changed": 0, "removed": 0, "confirmations_requested": 0}
        assert (await count(env, "pupil", school["id"]), await count(env, "contact", school["id"])) == (3, 6)

        pupils_only = whole.model_copy(update={"pupils": whole.pupils[:2], "contacts": whole.contacts[:4],
                                               "staff": (), "covers": ("pupils",)})
        counts = await imported(pupils_only)
        assert counts["pupil"]["removed"] == 1 and counts["contact"]["removed"] == 2
        assert counts["staff"] == {"added": 0, "changed": 0, "removed": 0}
        older = pupils_only.model_copy(update={"pupils": whole.pupils, "contacts": whole.contacts, "covers": None})
        assert (await imported(older))["pupil"]["added"] == 1  # no `covers`: the parts it has records of
    assert await count(env, "staff", school["id"]) == 1
    assert (await count(env, "pupil", school["id"]), await count(env, "contact", school["id"])) == (3, 6)


async def test_a_changed_email_waits_for_the_parent(services, school, env):
    ingest = services["ingest"]
    async with client(ingest, school["key"]) as c:
        await settled(c, (await send(c, school["key"], school["id"], roster(school["urn"], pupils=2))).json()["upload_id"])
        moved = roster(school["urn"], pupils=2,
                       email_of=lambda i, n: "new-address@example.org" if (i, n) == (0, 1) else f"parent{i}-{n}@example.org")
        result = await settled(c, (await send(c, school["key"], school["id"], moved)).json()["upload_id"])
        assert result["counts"]["contact"]["confirmations_requested"] == 1
        pupil = (await c.get("/v1/directory/pupils")).json()["items"]
        contacts = {}
        for p in pupil:
            for x in (await c.get(f"/v1/directory/pupils/{p['pupil_id']}/contacts", params={"reveal": "true"})).json()["items"]:
                contacts[x["contact_id"]] = x
        waiting = [x for x in contacts.values() if x["pending"] == ["email"]]
        assert len(waiting) == 1 and waiting[0]["details"]["email"] == "parent0-1@example.org"  # old value in use

    [record] = await read(env.platform.kafka_bootstrap, env.platform.topic_prefix + "directory.contact_change", 1)
    asked = ContactChangeRequestedV1.model_validate_json(record.value)
    assert b"new-address" not in record.value
    async with db.tenant_tx(ingest.db(), school["id"]) as conn:
        inner = json.loads(await ingest.keys().decrypt(conn, school["id"], "directory.contact_change",
                                                        base64.b64decode(asked.body)))
    assert inner["value"] == "new-address@example.org"
    async with client(ingest) as parent:
        wrong = await parent.post(f"/v1/contact-changes/{asked.change_id}/accept", json={"secret": "x" * 40})
        assert wrong.status_code == 404
        ok = await parent.post(f"/v1/contact-changes/{asked.change_id}/accept", json={"secret": inner["secret"]})
        assert ok.status_code == 200 and ok.json()["state"] == "accepted"
        twice = await parent.post(f"/v1/contact-changes/{asked.change_id}/reject", json={"secret": inner["secret"]})
        assert twice.status_code == 409
    async with client(ingest, school["key"]) as c:
        now = {}
        for p in pupil:
            for x in (await c.get(f"/v1/directory/pupils/{p['pupil_id']}/contacts",
                                  params={"reveal": "true"})).json()["items"]:
                now[x["contact_id"]] = x
        changes = (await c.get("/v1/directory/contact-changes", params={"state": "accepted"})).json()["items"]
    assert [x["change_id"] for x in changes] == [str(asked.change_id)]
    assert now[str(asked.contact_id)]["details"]["email"] == "new-address@example.org"
    assert now[str(asked.contact_id)]["pending"] == []


async def test_bad_uploads_are_refused_and_import_nothing(services, school, env):
    ingest = services["ingest"]
    async with client(ingest, school["key"]) as c:
        good = await send(c, school["key"], school["id"], roster(school["urn"], pupils=2))
        await settled(c, good.json()["upload_id"])
        before = await count(env, "pupil", school["id"])
        cases = {
            "tampered": dict(tamper=True),
            "wrong key": dict(key=(uuid4(), crypto.generate_upload_keypair()[1])),
            "stale": dict(timestamp=int(time.time()) - 3600),
            "bad signature": dict(sign_with=f"pps.{uuid4()}.{'A' * 43}"),
            "empty": dict(raw=b""),
            "garbage": dict(raw=b"not sealed at all" * 10),
        }
        expected = {"tampered": 400, "wrong key": 400, "stale": 401, "bad signature": 401, "empty": 400,
                    "garbage": 400}
        for name, kwargs in cases.items():
            r = await send(c, school["key"], school["id"], roster(school["urn"], pupils=5), **kwargs)
            assert r.status_code == expected[name], (name, r.text)
            assert "Testwell" not in r.text and "example.org" not in r.text
        assert await count(env, "pupil", school["id"]) == before  # nothing refused was queued
        nonce = secrets.token_hex(16)
        first = await send(c, school["key"], school["id"], roster(school["urn"], pupils=5), nonce=nonce)
        assert first.status_code == 202
        assert (await settled(c, first.json()["upload_id"]))["status"] == "imported"
        replay = await send(c, school["key"], school["id"], roster(school["urn"], pupils=5), nonce=nonce)
        assert replay.status_code == 409 and "replayed" in replay.json()["detail"]
    async with client(ingest, "pps.00000000-0000-0000-0000-000000000000.nope") as bad:
        assert (await send(bad, "pps.00000000-0000-0000-0000-000000000000.nope", school["id"],
                           roster(school["urn"]), key=(uuid4(), crypto.generate_upload_keypair()[1]))).status_code == 401
    assert await count(env, "pupil", school["id"]) == 5  # the first send of that nonce, once


async def test_invalid_rosters_are_rejected_with_a_report_naming_rows_and_fields(services, school, env):
    from pupilpost.mis.roster import ContactRecord

    async with client(services["ingest"], school["key"]) as c:
        await settled(c, (await send(c, school["key"], school["id"], roster(school["urn"], pupils=2))).json()["upload_id"])
        bad_email = roster(school["urn"], pupils=3, email_of=lambda i, n: "not-an-email" if (i, n) == (1, 2)
                           else f"p{i}{n}@example.org")
        second_first = ContactRecord(pupil_ref="A0000", ref="9", surname="Extra", relationship="Aunt",
                                     parental_responsibility=False, priority=1, source_row=40)
        cases = [(roster("999999"), "another school"),
                 (bad_email, "email"),
                 (roster(school["urn"], extra_contacts=(second_first,)), "priority 1"),
                 (roster(school["urn"], pupils=0, staff=0), "no records")]
        for payload, expect in cases:
            result = await settled(c, (await send(c, school["key"], school["id"], payload)).json()["upload_id"])
            assert result["status"] == "rejected", expect
            text = json.dumps(result["report"])
            assert expect in text, (expect, text)
            assert "not-an-email" not in text and "Testwell" not in text
        email_problem = next(p for p in (await settled(c, (await send(
            c, school["key"], school["id"], bad_email)).json()["upload_id"]))["report"] if p["field"] == "email")
        assert email_problem["record"] == "contact" and email_problem["row"] == 3
    assert await count(env, "pupil", school["id"]) == 2  # the earlier directory is intact


async def test_oversized_uploads_are_refused_before_reading(services, school):
    ingest = services["ingest"]
    limit = ingest.settings.max_upload_bytes
    async with client(ingest, school["key"]) as c:
        r = await c.post("/v1/uploads", content=b"x", headers={
            "authorization": f"Bearer {school['key']}", "content-length": str(2 * 1024 ** 3),
            "x-pupilpost-timestamp": str(int(time.time())), "x-pupilpost-nonce": secrets.token_hex(16),
            "x-pupilpost-signature": "0" * 64})
        assert r.status_code == 413 and str(limit) in r.json()["detail"]


async def test_another_school_cannot_see_an_upload(services, school):
    other_id, other_key = await create_school(services, school["token"], "654321", "Other")
    async with client(services["ingest"], school["key"]) as c:
        upload_id = (await send(c, school["key"], school["id"], roster(school["urn"]))).json()["upload_id"]
    async with client(services["ingest"], other_key) as o:
        assert (await o.get(f"/v1/uploads/{upload_id}")).status_code == 404
        assert (await o.get("/v1/directory/pupils")).json()["items"] == []


async def test_an_upload_the_importer_keeps_failing_on_is_given_up(services, school, env):
    upload_id = uuid4()
    conn = await asyncpg.connect(env.admin_dsn())
    try:  # a payload our own code cannot open: not the school's fault, and not retried for ever
        await conn.execute(
            "INSERT INTO ingest.upload (upload_id, school_id, credential_id, nonce, signed_at, size_bytes, status,"
            " payload) VALUES ($1, $2, $3, $4, now(), 4, 'queued', $5)",
            upload_id, school["id"], uuid4(), secrets.token_hex(16), b"junk" * 20)
    finally:
        await conn.close()
    async with client(services["ingest"], school["key"]) as c:
        result = await settled(c, upload_id)
    assert result["status"] == "rejected" and "contact support" in result["report"][0]["reason"]
    conn = await asyncpg.connect(env.admin_dsn())
    try:
        assert await conn.fetchval("SELECT attempts FROM ingest.upload WHERE upload_id = $1", upload_id) == 3
    finally:
        await conn.close()


@pytest.fixture
def in_worker_processes(env):
    """Ingest prepares every upload, however small, away from its event loop: in a thread while its
    worker processes start, then in them."""
    env.overrides["ingest"] = {"import_processes": 1, "import_process_min_bytes": 0}


async def test_uploads_prepared_off_the_event_loop_import_as_inline(in_worker_processes, services, school, env):
    async with client(services["ingest"], school["key"]) as c:
        first = await settled(c, (await send(c, school["key"], school["id"], roster(school["urn"], pupils=5))
                                  ).json()["upload_id"])
        again = await settled(c, (await send(c, school["key"], school["id"], roster(school["urn"], pupils=5))
                                  ).json()["upload_id"])
        bad = roster(school["urn"], pupils=5, email_of=lambda i, n: "not-an-email" if (i, n) == (1, 2)
                     else f"p{i}{n}@example.org")
        refused = await settled(c, (await send(c, school["key"], school["id"], bad)).json()["upload_id"])
    assert first["status"] == "imported" and first["counts"]["contact"]["added"] == 10
    assert again["status"] == "imported" and again["counts"]["unchanged"] is True
    assert refused["status"] == "rejected" and refused["report"] == [
        {"record": "contact", "row": 3, "field": "email", "reason": "is not a valid email address"}]
    assert await count(env, "contact", school["id"]) == 10
    records = await read(env.platform.kafka_bootstrap, env.platform.topic_prefix + "directory.changes", 1)
    raw = b"".join(r.value for r in records)
    assert b"Testwell" not in raw and b"example.org" not in raw
    assert {DirectoryChangesV1.model_validate_json(r.value).upload_id for r in records} == {UUID(first["upload_id"])}


async def test_the_upload_history_keeps_each_uploads_content_hash(services, school):
    """Identical rosters (generated at different times) hash alike; a different roster hashes differently."""
    async with client(services["ingest"], school["key"]) as c:
        hashes = []
        for payload in (roster(school["urn"], pupils=2), roster(school["urn"], pupils=2),
                        roster(school["urn"], pupils=3)):
            result = await settled(c, (await send(c, school["key"], school["id"], payload)).json()["upload_id"])
            assert result["status"] == "imported", result
            hashes.append(result["content_sha256"])
        refused = await settled(c, (await send(c, school["key"], school["id"], roster("999999"))).json()["upload_id"])
    assert all(len(h) == 64 and int(h, 16) >= 0 for h in hashes), hashes  # sha256 as hex
    assert hashes[0] == hashes[1] and hashes[2] != hashes[0]
    assert refused["status"] == "rejected" and refused["content_sha256"] is None  # only imports are hashed


async def rotate_upload_key(services, token) -> dict:
    async with client(services["ingest"], token) as ops:
        r = await ops.post("/v1/ops/upload-keys")
        assert r.status_code == 201, r.text
        return r.json()


async def test_a_rotated_upload_key_still_opens_uploads_within_the_grace_period(services, school):
    async with client(services["ingest"], school["key"]) as c:
        old = await upload_key(c)
        assert (await c.post("/v1/ops/upload-keys")).status_code == 403  # operators only
        rotated = await rotate_upload_key(services, school["token"])
        new = await upload_key(c)
        assert new[0] == UUID(rotated["key_id"]) and new != old
        sealed_to_old = await send(c, school["key"], school["id"], roster(school["urn"], pupils=2), key=old)
        assert sealed_to_old.status_code == 202, sealed_to_old.text
        assert (await settled(c, sealed_to_old.json()["upload_id"]))["status"] == "imported"
        sealed_to_new = await send(c, school["key"], school["id"], roster(school["urn"], pupils=3), key=new)
        assert sealed_to_new.status_code == 202, sealed_to_new.text


@pytest.fixture
def no_upload_key_grace(env):
    env.overrides["ingest"] = {"upload_key_grace_hours": 0}


async def test_an_upload_sealed_to_a_retired_key_is_refused_after_the_grace_period(no_upload_key_grace, services,
                                                                                   school, env):
    async with client(services["ingest"], school["key"]) as c:
        old = await upload_key(c)
        await rotate_upload_key(services, school["token"])
        r = await send(c, school["key"], school["id"], roster(school["urn"], pupils=2), key=old)
        assert r.status_code == 400 and r.json()["detail"].startswith("body:") and "expired" in r.json()["detail"]
        current = await send(c, school["key"], school["id"], roster(school["urn"], pupils=2))
        assert current.status_code == 202, current.text
    assert await count(env, "upload", school["id"]) == 1  # the refused one was never queued
