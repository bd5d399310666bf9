"""Dispatch plans deliveries from its own directory projection: one per (message, recipient,
channel), sensitive content only in the app, held for approval, cancelled on recall; and hands
them off to the SMTP stand-in."""
from __future__ import annotations

import asyncpg
import pytest

from tests.conftest import client, eventually
from tests.integration.helpers import admin_rows, admin_token, create_school
from tests.integration.test_messages import PUBLIC, SENSITIVE, compose, until_state
from tests.integration.test_uploads import settled
from tests.integration.upload_client import roster, send


@pytest.fixture
async def school(services, tmp_path):
    token = await admin_token(services, tmp_path)
    school_id, key = await create_school(services, token, "818181", "Planning Primary")
    # Pupils 0 and 1 are siblings: their mothers share one address, so one delivery reaches her.
    shared = lambda i, n: "shared-mum@example.org" if n == 1 and i in (0, 1) else f"p{i}-{n}@example.org"  # noqa: E731
    async with client(services["ingest"], key) as c:
        up = await send(c, key, school_id, roster("818181", pupils=4, email_of=shared))
        assert (await settled(c, up.json()["upload_id"]))["status"] == "imported"
    await eventually(lambda: _contacts(services, school_id, 8))
    return school_id, key


async def _contacts(services, school_id, n) -> bool:
    async with services["dispatch"].db().acquire() as conn, conn.transaction():
        await conn.execute("SELECT set_config('pupilpost.school_id', $1, true)", str(school_id))
        return await conn.fetchval("SELECT count(*) FROM dispatch.contact") == n


async def deliveries(env, message_id) -> list[dict]:
    conn = await asyncpg.connect(env.admin_dsn())
    try:
        return [dict(r) for r in await conn.fetch(
            "SELECT contact_id, channel, content, state FROM dispatch.delivery WHERE message_id = $1", message_id)]
    finally:
        await conn.close()


async def test_a_public_message_gets_one_email_per_parent(services, school, env, outside):
    _, key = school
    async with client(services["ingest"], key) as c:
        message_id = await compose(c, PUBLIC)

        async def counted():
            body = (await c.get(f"/v1/messages/{message_id}")).json()
            return body["deliveries"] if body["deliveries"].get("email", {}).get("sent") == 7 else None
        counts = await eventually(counted)
    assert counts == {"email": {"sent": 7}}  # 8 contacts, the shared mother once
    rows = await deliveries(env, message_id)
    assert {(r["channel"], r["content"]) for r in rows} == {("email", "full")}
    assert len({r["contact_id"] for r in rows}) == 7
    mails = list(outside.smtp.mails.values())
    assert len(mails) == 7 and all(len(m.rcpt_tos) == 1 for m in mails)
    assert sorted(m.rcpt_tos[0] for m in mails).count("shared-mum@example.org") == 1
    text = mail_text(mails[0])
    assert PUBLIC["body"] in text and "\n-- \n" in text and "pupil at Planning Primary" in text  # the footer


def mail_text(mail) -> str:
    """The decoded plain-text body of a mail the SMTP stand-in kept."""
    from email import message_from_bytes, policy

    return message_from_bytes(mail.raw, policy=policy.default).get_body(("plain",)).get_content().replace("\r\n", "\n")


async def test_sensitive_content_goes_to_the_app_and_email_carries_a_notice(services, school, env):
    _, key = school
    async with client(services["ingest"], key) as c:
        message_id = await compose(c, SENSITIVE)
        await until_state(c, message_id, "released")
    rows = await eventually(lambda: _rows(env, message_id, 14))
    assert {(r["channel"], r["content"]) for r in rows} == {("app", "full"), ("email", "notice")}


async def _rows(env, message_id, n):
    rows = await deliveries(env, message_id)
    return rows if len(rows) == n else None


async def test_held_messages_wait_for_approval_and_recall_cancels(services, school, env, outside):
    from datetime import UTC, datetime, timedelta
    from uuid import uuid4

    _, key = school
    author, colleague = uuid4(), uuid4()
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    async with client(services["ingest"], key) as c:
        await c.put("/v1/messages/settings", json={"require_approval": True})
        held = await compose(c, SENSITIVE, staff=author, schedule_at=later)
        await until_state(c, held, "awaiting_approval")
        assert await deliveries(env, held) == []
        await c.post(f"/v1/messages/{held}/approve", headers={"x-pupilpost-staff": str(colleague)})
        await eventually(lambda: _rows(env, held, 14))
        assert {r["state"] for r in await deliveries(env, held)} == {"queued"}  # scheduled for later
        r = await c.post(f"/v1/messages/{held}/recall")
        assert r.status_code == 200

        async def cancelled():
            rows = await deliveries(env, held)
            return all(x["state"] == "cancelled" for x in rows)
        await eventually(cancelled)

        async def shown():
            body = (await c.get(f"/v1/messages/{held}")).json()
            return body["deliveries"].get("email", {}).get("cancelled") == 7
        await eventually(shown)
    assert outside.smtp.mails == {}  # nothing of a recalled message ever left


async def test_deliveries_page_through_every_delivery_once(services, school, env):
    _, key = school
    async with client(services["ingest"], key) as c:
        message_id = await compose(c, PUBLIC, audience={"whole_school": True})
        await eventually(lambda: _sent(c, message_id, 7))
        pages, after = [], None
        for _ in range(10):
            body = (await c.get(f"/v1/messages/{message_id}/deliveries",
                                params={"limit": 3, **({"after": after} if after else {})})).json()
            pages.append(body["items"])
            if (after := body["next"]) is None:
                break
    assert [len(p) for p in pages] == [3, 3, 1]
    walked = [d["delivery_id"] for p in pages for d in p]
    assert len(set(walked)) == 7
    assert sorted(walked) == sorted(str(r["delivery_id"]) for r in await admin_rows(
        env, "SELECT delivery_id FROM dispatch.delivery WHERE message_id = $1", message_id))
    assert {(d["channel"], d["state"]) for p in pages for d in p} == {("email", "sent")}


async def _sent(c, message_id, n) -> bool:
    body = (await c.get(f"/v1/messages/{message_id}")).json()
    return body["deliveries"].get("email", {}).get("sent") == n


async def test_audiences_by_registration_group_and_by_listed_pupils_reach_exactly_their_families(
        services, school, env, outside):
    _, key = school
    async with client(services["ingest"], key) as c:
        pupils = {p["details"]["ref"]: p["pupil_id"] for p in
                  (await c.get("/v1/directory/pupils", params={"reveal": "true"})).json()["items"]}
        by_group = await compose(c, {"subject": "4A only", "body": "Class 4A trip on Monday."},
                                 audience={"reg_groups": ["4A"]})  # pupils 0 and 2
        by_pupil = await compose(c, {"subject": "Two pupils", "body": "Choir practice after school."},
                                 audience={"pupil_ids": [pupils["A0001"], pupils["A0003"]]})
        await eventually(lambda: _sent(c, by_group, 4))
        await eventually(lambda: _sent(c, by_pupil, 4))
    assert len(await deliveries(env, by_group)) == len(await deliveries(env, by_pupil)) == 4  # planned at once

    def to(subject):
        return sorted(m.rcpt_tos[0] for m in outside.smtp.mails.values() if m.summary()["subject"] == subject)
    # Pupils 0 and 1 share their mother: she is in both audiences, through a different child each time.
    assert to("4A only") == ["p0-2@example.org", "p2-1@example.org", "p2-2@example.org", "shared-mum@example.org"]
    assert to("Two pupils") == ["p1-2@example.org", "p3-1@example.org", "p3-2@example.org", "shared-mum@example.org"]


async def test_a_held_message_rejected_by_a_colleague_is_never_delivered_and_both_decisions_are_audited(
        services, school, env, outside, tmp_path):
    from uuid import uuid4

    school_id, key = school
    author, colleague = uuid4(), uuid4()
    async with client(services["ingest"], key) as c:
        await c.put("/v1/messages/settings", json={"require_approval": True})
        rejected = await compose(c, SENSITIVE, staff=author)
        approved = await compose(c, SENSITIVE, staff=author)
        await until_state(c, rejected, "awaiting_approval")
        await until_state(c, approved, "awaiting_approval")
        no = await c.post(f"/v1/messages/{rejected}/reject", headers={"x-pupilpost-staff": str(colleague)})
        assert no.status_code == 200 and no.json()["state"] == "rejected", no.text
        assert (await c.post(f"/v1/messages/{rejected}/approve",
                             headers={"x-pupilpost-staff": str(colleague)})).status_code == 409  # final
        shown = (await c.get(f"/v1/messages/{rejected}")).json()
        assert shown["state"] == "rejected" and shown["approver_id"] == str(colleague) and shown["decided_at"]
        await c.post(f"/v1/messages/{approved}/approve", headers={"x-pupilpost-staff": str(colleague)})
        await eventually(lambda: _sent(c, approved, 7))  # dispatch has acted on both decisions by now

    async def dispatch_state():
        rows = await admin_rows(env, "SELECT state FROM dispatch.message WHERE message_id = $1", rejected)
        return rows and rows[0]["state"]
    assert await eventually(dispatch_state) == "rejected"
    assert await deliveries(env, rejected) == []
    assert len(await deliveries(env, approved)) == 14  # app + email notice, for 7 parents
    assert len(outside.smtp.mails) == 7  # the approved message's notices, nothing of the rejected one

    token = await admin_token(services, tmp_path)
    async with client(services["audit"], token) as ops:
        async def audited():
            items = (await ops.get("/v1/ops/audit", params={"school_id": str(school_id), "limit": 1000})
                     ).json()["items"]
            found = {(i["resource"], i["purpose"]) for i in items if i["action"] == "approve"}
            return found if len(found) >= 2 else None
        assert await eventually(audited) == {(f"messages/{rejected}", f"four eyes: rejected by staff {colleague}"),
                                             (f"messages/{approved}", f"four eyes: approved by staff {colleague}")}
