"""From POST /v1/messages to the SMTP and SMPP stand-ins: outcomes come back into delivery state
(sent, bounced, refused, retried after a deferral, SMS delivered or failed by receipt), official
content goes in full by every chosen channel with a neutral push, sensitive content never leaves
in an email or SMS, personalised messages are rendered per family."""
from __future__ import annotations

import asyncpg
import httpx
import pytest

from pupilpost.mis.roster import ContactRecord
from tests.conftest import client, eventually
from tests.integration.helpers import admin_token, create_school
from tests.integration.test_dispatch_planning import mail_text
from tests.integration.test_inbox import inbox_item, sign_in
from tests.integration.test_messages import PUBLIC, SENSITIVE, compose, until_state
from tests.integration.test_uploads import settled
from tests.integration.upload_client import roster, send

# Mothers' addresses pick the SMTP stand-in's behaviour; fathers have no email, so they get SMS.
EMAILS = {0: "mum0@example.org", 1: "mum1@bounce.example.org", 2: "mum2@reject.example.org", 3: "mum3@greylist.example.org"}
FAILING_MOBILE = "+447700900991"
NAMES = ("Amelia", "Bilal", "Chloe", "Dev")  # the pupils' forenames  # the SMSC stand-in answers UNDELIV err:001 for +44770090099x


@pytest.fixture
async def school(services, tmp_path):
    token = await admin_token(services, tmp_path)
    school_id, key = await create_school(services, token, "838383", "Handoff Primary")
    carer = ContactRecord(pupil_ref="A0000", ref="3", forename="Gran", surname="Testwell", relationship="Grandparent",
                          parental_responsibility=True, priority=3, mobile=FAILING_MOBILE, source_row=9)
    payload = roster("838383", pupils=4, email_of=lambda i, n: EMAILS[i] if n == 1 else None, extra_contacts=(carer,))
    payload = payload.model_copy(update={"pupils": tuple(
        p.model_copy(update={"legal_forename": NAMES[i]}) for i, p in enumerate(payload.pupils))})
    async with client(services["ingest"], key) as c:
        up = await send(c, key, school_id, payload)
        report = await settled(c, up.json()["upload_id"])
        assert report["status"] == "imported", str(report)[-600:]
    await eventually(lambda: _count(services, school_id, "SELECT count(*) FROM dispatch.contact", 9))
    return school_id, key


async def _count(services, school_id, sql, n) -> bool:
    async with services["dispatch"].db().acquire() as conn, conn.transaction():
        await conn.execute("SELECT set_config('pupilpost.school_id', $1, true)", str(school_id))
        return await conn.fetchval(sql) == n


async def _deliveries(env, message_id) -> dict[tuple[str, str], dict]:
    """(channel, recipient address kind) -> row, read as the database owner."""
    conn = await asyncpg.connect(env.admin_dsn())
    try:
        rows = await conn.fetch(
            "SELECT delivery_id, channel, content, state, attempts, error_code, provider_message_id"
            " FROM dispatch.delivery WHERE message_id = $1", message_id)
    finally:
        await conn.close()
    return {r["delivery_id"]: dict(r) for r in rows}


async def _settled_states(env, message_id, n):
    rows = await _deliveries(env, message_id)
    moving = {"queued", "sending"}
    return rows if len(rows) == n and not any(r["state"] in moving for r in rows.values()) else None


async def test_each_provider_outcome_becomes_delivery_state(services, school, env, outside):
    _, key = school
    async with client(services["ingest"], key) as c:
        message_id = await compose(c, PUBLIC)

        async def final():
            rows = await _settled_states(env, message_id, 9)
            if rows is None:
                return None
            sms = [r for r in rows.values() if r["channel"] == "sms"]
            return rows if all(r["state"] in ("delivered", "failed") for r in sms) else None
        rows = await eventually(final, timeout=30)

        expected = {"email": {"sent": 2, "bounced": 1, "failed": 1}, "sms": {"delivered": 4, "failed": 1}}

        async def projected():  # the school's view (ingest, fed by deliveries.status) catches up
            return (await c.get(f"/v1/messages/{message_id}")).json()["deliveries"] == expected
        await eventually(projected)
    by_address = {m.rcpt_tos[0]: m for m in outside.smtp.mails.values()}
    email = {r["provider_message_id"]: r for r in rows.values() if r["channel"] == "email"}
    states = sorted((r["state"], r["error_code"] or "") for r in rows.values() if r["channel"] == "email")
    assert states == [("bounced", "5.1.1"), ("failed", "550 5.1.1"), ("sent", ""), ("sent", "")]
    assert set(by_address) == {"mum0@example.org", "mum1@bounce.example.org", "mum3@greylist.example.org"}
    retried = [r for r in email.values() if r["attempts"] == 2]
    assert len(retried) == 1 and retried[0]["state"] == "sent"  # deferred once (451), then accepted
    sms = [r for r in rows.values() if r["channel"] == "sms"]
    assert sorted(r["state"] for r in sms) == ["delivered"] * 4 + ["failed"]
    assert [r["error_code"] for r in sms if r["state"] == "failed"] == ["001"]
    texts = [r.text for r in outside.smsc.messages.values()]
    assert len(texts) == 5 and all(PUBLIC["body"] in t and t.startswith("Handoff Primary: ") for t in texts)


async def test_sensitive_content_never_leaves_in_email_or_sms(services, school, env, outside):
    _, key = school
    async with client(services["ingest"], key) as c:
        message_id = await compose(c, SENSITIVE)
        await until_state(c, message_id, "released")
    rows = await eventually(lambda: _settled_states(env, message_id, 18))  # 9 app copies, 9 notices
    assert {(r["channel"], r["content"]) for r in rows.values()} == {
        ("app", "full"), ("email", "notice"), ("sms", "notice")}
    assert {r["state"] for r in rows.values() if r["channel"] == "app"} == {"delivered"}
    await eventually(lambda: _n(outside.smsc.messages, 5))
    outgoing = [mail_text(m) + str(m.summary()["subject"]) for m in outside.smtp.mails.values()]
    outgoing += [r.text for r in outside.smsc.messages.values()]
    assert outgoing and all("Handoff Primary" in text for text in outgoing)
    for word in ("Ruby", "Wright", "tonsillitis", "antibiotics", *NAMES, "Testwell", "Gran"):
        assert not any(word in text for text in outgoing), word


async def _n(mapping, n):
    return len(mapping) >= n


async def test_personalised_messages_are_rendered_per_family(services, school, env, outside):
    _, key = school
    async with client(services["ingest"], key) as c:
        message_id = await compose(c, {"subject": "{{forename}}'s trip", "body": "{{forename}} goes to the zoo."},
                                   personalised=True)
        released = await until_state(c, message_id, "released")
        assert released["level"] == "official"  # about one named child: full content, by email and SMS
    await eventually(lambda: _settled_states(env, message_id, 9))
    subjects = sorted(str(m.summary()["subject"]) for m in outside.smtp.mails.values())
    assert subjects == ["Amelia's trip", "Bilal's trip", "Dev's trip"]  # mum2's address is refused
    by_pupil = sorted(r.text for r in outside.smsc.messages.values() if r.destination != FAILING_MOBILE)
    assert [t.split("\n")[1] for t in by_pupil] == [f"{name} goes to the zoo." for name in NAMES]


@pytest.fixture
def quick_fallback(env):
    """Unread app messages fall back to an SMS notice after one second (instead of hours)."""
    env.overrides.setdefault("dispatch", {})["fallback_after_seconds"] = 1.0


async def test_an_unread_app_message_falls_back_to_an_sms_notice(quick_fallback, services, school, env, outside):
    from tests.integration.test_inbox import inbox_item, sign_in

    school_id, key = school
    token = await sign_in(services, outside, school_id, EMAILS[0])  # mum0 has the app now
    async with client(services["ingest"], key) as c:
        message_id = await compose(c, PUBLIC)
    item = await inbox_item(services, token, message_id)
    assert item["read"] is False

    async def notices():
        rows = await _deliveries(env, message_id)
        sms = [r for r in rows.values() if r["channel"] == "sms" and r["content"] == "notice"]
        return sms if sms and sms[0]["state"] == "delivered" else None
    fallback = await eventually(notices, timeout=30)
    assert len(fallback) == 1  # only mum0 was on the app; everyone else got email or SMS directly
    mum0 = [r for r in outside.smsc.messages.values() if r.destination == "+447700900001"]
    assert len(mum0) == 1 and mum0[0].text.startswith("You have a new message from Handoff Primary")
    rows = await _deliveries(env, message_id)
    assert sum(1 for r in rows.values() if r["channel"] == "email") == 3  # mum0 reads in the app, not by email


async def test_staff_audience_gets_the_message_by_email(services, school, env, outside):
    _, key = school
    async with client(services["ingest"], key) as c:
        r = await c.post("/v1/messages", json={"audience": {"staff": True}, "subject": "INSET day",
                                               "body": "Staff briefing at 8am in the hall."})
        assert r.status_code == 202, r.text
    rows = await eventually(lambda: _settled_states(env, r.json()["message_id"], 1))
    assert [(x["channel"], x["state"]) for x in rows.values()] == [("email", "sent")]
    assert [m.rcpt_tos for m in outside.smtp.mails.values()] == [["staff0@school.example.org"]]


async def test_a_message_naming_another_familys_child_is_never_sent(services, school, env, outside):
    _, key = school
    async with client(services["ingest"], key) as c:
        message_id = await compose(c, {"subject": "Today", "body": "{{forename}} sat next to Bilal Testwell today."},
                                   personalised=True)
        blocked = await until_state(c, message_id, "blocked")
        harmless = await compose(c, {"subject": "Today", "body": "{{forename}} had a good day."}, personalised=True)
        await until_state(c, harmless, "released")
    assert blocked["other_pupil_named"] is True
    await eventually(lambda: _settled_states(env, harmless, 9))  # dispatch has seen both by now
    conn = await asyncpg.connect(env.admin_dsn())
    try:
        state = await conn.fetchval("SELECT state FROM dispatch.message WHERE message_id = $1", message_id)
    finally:
        await conn.close()
    assert state == "blocked" and await _deliveries(env, message_id) == {}
    assert not any("sat next to" in mail_text(m) for m in outside.smtp.mails.values())


OFFICIAL = {"subject": "Attendance", "body": "Your child has been marked absent from period 2 today. If you are "
                                             "not aware of this absence please contact the attendance line."}


async def test_an_official_message_reaches_mail_sms_inbox_and_push_in_full_with_a_neutral_nudge(
        services, school, env, outside):
    """Official (personal, not sensitive) content goes in full by every chosen channel: the email,
    the SMS with its delivery receipt, the inbox; the push that announces it carries none of it."""
    school_id, key = school
    mum = await sign_in(services, outside, school_id, EMAILS[0])
    async with client(services["dispatch"]) as c:
        server_key = (await c.get("/v1/inbox/push/key")).json()["application_server_key"]
    async with httpx.AsyncClient(base_url=outside.push.http.url) as h:
        browser = (await h.post("/subscribe", json={"applicationServerKey": server_key})).json()
    async with client(services["dispatch"], mum) as c:
        r = await c.post("/v1/inbox/push/subscriptions", json={"endpoint": browser["endpoint"], "keys": browser["keys"]})
        assert r.status_code == 201, r.text
        prefs = await c.put("/v1/inbox/preferences", json={"channels": ["app", "email"], "marketing_consent": False})
        assert prefs.status_code == 200, prefs.text

    async with client(services["ingest"], key) as c:
        message_id = await compose(c, OFFICIAL)
        shown = await until_state(c, message_id, "released")
    assert shown["level"] == "official"

    item = await inbox_item(services, mum, message_id)
    async with client(services["dispatch"], mum) as c:
        assert OFFICIAL["body"] in (await c.get(f"/v1/inbox/{item['delivery_id']}")).json()["body"]

    async def pushed():
        async with httpx.AsyncClient(base_url=outside.push.http.url) as h:
            return (await h.get("/messages")).json() or None
    pushes = await eventually(pushed)
    assert len(pushes) == 1 and "absent" not in str(pushes[0]["payload"]) and "Amelia" not in str(pushes[0]["payload"])

    async def receipts():  # each father's SMS, and the carer's that the network fails
        rows = await _deliveries(env, message_id)
        sms = [r for r in rows.values() if r["channel"] == "sms"]
        return sms if len(sms) == 5 and all(r["state"] in ("delivered", "failed") for r in sms) else None
    sms = await eventually(receipts, timeout=30)
    assert sorted(r["state"] for r in sms) == ["delivered"] * 4 + ["failed"]
    assert {r["content"] for r in sms} == {"full"}
    texts = [m.text for m in outside.smsc.messages.values()]
    assert len(texts) == 5 and all(OFFICIAL["body"] in t for t in texts)

    async def mailed():
        return [m for m in outside.smtp.mails.values() if m.rcpt_tos == [EMAILS[0]] and "absent" in mail_text(m)]
    [mail] = await eventually(mailed)
    assert OFFICIAL["body"] in mail_text(mail) and OFFICIAL["subject"] in mail.summary()["subject"]
