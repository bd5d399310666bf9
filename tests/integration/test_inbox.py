"""The parent side of the app channel, through the real HTTP API: sign in with a code sent by the
SMTP/SMSC stand-ins, read the inbox (the read receipt travels back to the school), withdrawn
messages, Web Push devices, channel preferences and consent."""
from __future__ import annotations

import logging
import re
from uuid import UUID, uuid4

import httpx
import pytest

from tests.conftest import client, eventually
from tests.integration.helpers import admin_rows as admin
from tests.integration.helpers import admin_token, create_school
from tests.integration.test_messages import PUBLIC, SENSITIVE, compose
from tests.integration.test_uploads import settled
from tests.integration.upload_client import roster, send

MUM = "shared-mum@example.org"      # mother of pupils 0 and 1: one person, two contacts
DAD = "p0-2@example.org"
MUM_MOBILE = "+447700900001"         # pupil 0's mother's mobile in the roster
CODE_SUBJECT = "Your Pupilpost sign-in code"


@pytest.fixture
async def school(services, tmp_path):
    token = await admin_token(services, tmp_path)
    school_id, key = await create_school(services, token, "646464", "Inbox Primary")
    email_of = lambda i, n: MUM if n == 1 and i in (0, 1) else f"p{i}-{n}@example.org"
    async with client(services["ingest"], key) as c:
        up = await send(c, key, school_id, roster("646464", pupils=3, email_of=email_of))
        assert (await settled(c, up.json()["upload_id"]))["status"] == "imported"
    await eventually(lambda: _indexed_contacts(services, school_id, 6))
    return school_id, key


async def _indexed_contacts(services, school_id, n) -> bool:
    async with services["dispatch"].db().acquire() as conn, conn.transaction():
        await conn.execute("SELECT set_config('pupilpost.school_id', $1, true)", str(school_id))
        return await conn.fetchval("SELECT count(*) FROM dispatch.contact WHERE email_key IS NOT NULL") == n


async def mails(outside, address) -> list[dict]:
    async with httpx.AsyncClient(base_url=outside.smtp.http.url) as h:
        return [m for m in (await h.get("/mails", params={"to": address})).json() if m["subject"] == CODE_SUBJECT]


async def emailed_code(outside, address, seen: int = 0) -> str:
    """The code in the newest sign-in mail to `address` (waiting for mail number `seen + 1`)."""
    async def arrived():
        found = await mails(outside, address)
        return found if len(found) > seen else None
    newest = (await eventually(arrived))[-1]
    async with httpx.AsyncClient(base_url=outside.smtp.http.url) as h:
        text = (await h.get(f"/mails/{newest['id']}")).json()["text"]
    return re.search(r"\b(\d{6})\b", text).group(1)


async def login(services, school_id, **address) -> UUID:
    async with client(services["dispatch"]) as c:
        r = await c.post("/v1/inbox/login", json={"school_id": str(school_id), **address})
    assert r.status_code == 202, r.text
    assert set(r.json()) == {"login_id"}
    return UUID(r.json()["login_id"])


async def verify(services, login_id, code) -> httpx.Response:
    async with client(services["dispatch"]) as c:
        return await c.post("/v1/inbox/verify", json={"login_id": str(login_id), "code": code})


async def sign_in(services, outside, school_id, email) -> str:
    seen = len(await mails(outside, email))
    login_id = await login(services, school_id, email=email)
    r = await verify(services, login_id, await emailed_code(outside, email, seen))
    assert r.status_code == 200, r.text
    return r.json()["token"]


async def inbox_item(services, token, message_id) -> dict:
    """Wait until the hand-off puts `message_id` in this parent's inbox; its list item."""
    async def listed():
        async with client(services["dispatch"], token) as c:
            items = (await c.get("/v1/inbox")).json()["items"]
        return next((i for i in items if i["message_id"] == str(message_id)), None)
    return await eventually(listed, timeout=30)


async def message_and_pushes(services, outside, key, body, token) -> list[dict]:
    """Send `body`; once it is in the inbox of `token`'s parent, the pushes the push service holds."""
    async with client(services["ingest"], key) as c:
        message_id = await compose(c, body)
    await inbox_item(services, token, message_id)

    async def pushed():
        async with httpx.AsyncClient(base_url=outside.push.http.url) as h:
            return (await h.get("/messages")).json() or None
    return await eventually(pushed)


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


async def test_a_parent_signs_in_with_a_code_and_nobody_learns_who_is_known(services, school, outside, env,
                                                                              caplog):
    caplog.set_level(logging.INFO)
    school_id, _ = school
    known = await login(services, school_id, email="  Shared-Mum@Example.org ")
    unknown = await login(services, school_id, email="stranger@example.org")
    other_school = await login(services, uuid4(), email=MUM)
    assert len({known, unknown, other_school}) == 3
    code = await emailed_code(outside, MUM)
    assert await mails(outside, "stranger@example.org") == []
    assert len(await mails(outside, MUM)) == 1  # the unknown school sent nothing either

    # The same answer for an unknown login, a wrong code and a code for another login.
    for login_id, attempt in ((unknown, code), (other_school, code), (known, wrong(code))):
        r = await verify(services, login_id, attempt)
        assert r.status_code == 401 and r.json()["detail"].startswith("code:")
    assert (await admin(env, "SELECT attempts FROM dispatch.parent_login WHERE login_id = $1", known)) == [
        {"attempts": 1}]

    r = await verify(services, known, code)
    assert r.status_code == 200, r.text
    token = r.json()["token"]
    assert token.startswith("ppp.") and r.json()["expires_at"] and r.headers["cache-control"] == "no-store"
    assert (await verify(services, known, code)).status_code == 401  # a code works once

    # Only hashes are stored; both of mum's contacts now have the app.
    rows = await admin(env, "SELECT secret_hash FROM dispatch.parent_token")
    assert len(rows) == 1 and token.split(".")[2].encode() not in rows[0]["secret_hash"]
    has_app = await admin(env, "SELECT p.has_app FROM dispatch.contact c JOIN dispatch.preference p"
                               " USING (contact_id) WHERE c.school_id = $1 AND p.has_app", school_id)
    assert len(has_app) == 2

    async with client(services["dispatch"], token) as c:
        assert (await c.get("/v1/inbox")).status_code == 200
        assert (await c.post("/v1/inbox/logout")).status_code == 204
        assert (await c.get("/v1/inbox")).status_code == 401
    assert MUM not in caplog.text.lower() and not re.search(rf"\b{code}\b", caplog.text)


async def test_wrong_codes_kill_a_login_and_a_mobile_gets_its_code_by_sms(services, school, outside, env):
    school_id, _ = school
    login_id = await login(services, school_id, mobile="07700 900001")

    async def texted():
        async with httpx.AsyncClient(base_url=outside.smsc.http.url) as h:
            sms = [m for m in (await h.get("/messages")).json() if m["destination"] == MUM_MOBILE]
        return sms[-1]["text"] if sms else None
    text = await eventually(texted)
    assert "Pupilpost sign-in code" in text
    code = re.search(r"\b(\d{6})\b", text).group(1)
    for _ in range(5):
        assert (await verify(services, login_id, wrong(code))).status_code == 401
    assert (await verify(services, login_id, code)).status_code == 401  # dead after five wrong codes

    # A fresh login works (and day-old logins are forgotten); a malformed code is a 422 naming the field.
    await admin(env, "UPDATE dispatch.parent_login SET created_at = now() - interval '2 days'")
    again = await login(services, school_id, mobile="+447700900001")
    assert [r["login_id"] for r in await admin(env, "SELECT login_id FROM dispatch.parent_login")] == [again]
    bad = await verify(services, again, "12ab56")
    assert bad.status_code == 422 and any(e["field"].endswith("code") for e in bad.json()["errors"])


async def test_parent_tokens_are_checked_and_tables_are_tenant_scoped(services, school, outside, env):
    school_id, key = school
    token = await sign_in(services, outside, school_id, MUM)
    token_id = token.split(".")[1]
    for bad in (None, "garbage", key, f"ppp.{token_id}.not-the-secret", f"ppp.{uuid4()}.x"):
        async with client(services["dispatch"], bad) as c:
            r = await c.get("/v1/inbox")
        assert r.status_code == 401, bad
    await admin(env, "UPDATE dispatch.parent_token SET expires_at = now() - interval '1 second'")
    async with client(services["dispatch"], token) as c:
        assert (await c.get("/v1/inbox")).status_code == 401

    async with services["dispatch"].db().acquire() as conn:  # the service's role, no school context
        for table in ("parent_login", "parent_token"):
            assert await conn.fetchval(f"SELECT count(*) FROM dispatch.{table}") == 0
    assert len(await admin(env, "SELECT 1 FROM dispatch.parent_token")) == 1


async def test_reading_a_message_is_the_read_receipt_and_other_parents_see_nothing(services, school, outside,
                                                                                   env):
    school_id, key = school
    mum, dad = await sign_in(services, outside, school_id, MUM), await sign_in(services, outside, school_id, DAD)
    async with client(services["ingest"], key) as c:
        message_id = await compose(c, SENSITIVE)
    item = await inbox_item(services, mum, message_id)
    assert item["subject"] == "Ruby" and item["read"] is False and item["withdrawn"] is False
    assert "body" not in item and item["sent_at"]
    await inbox_item(services, dad, message_id)  # dad has his own delivery

    async with client(services["dispatch"], dad) as c:
        theirs = await c.get(f"/v1/inbox/{item['delivery_id']}")
        assert theirs.status_code == 404 and "delivery_id" in theirs.json()["detail"]
    async with client(services["dispatch"], mum) as c:
        r = await c.get(f"/v1/inbox/{item['delivery_id']}")
        assert r.status_code == 200
        assert "tonsillitis" in r.json()["body"] and r.json()["read"] is True
        assert (await c.get(f"/v1/inbox/{item['delivery_id']}")).status_code == 200  # again: still read
        listed = (await c.get("/v1/inbox")).json()["items"]
        assert [i["read"] for i in listed if i["delivery_id"] == item["delivery_id"]] == [True]
        assert (await c.get(f"/v1/inbox/{uuid4()}")).status_code == 404

    row = (await admin(env, "SELECT state, read_at FROM dispatch.delivery WHERE delivery_id = $1",
                       UUID(item["delivery_id"])))[0]
    assert row["state"] == "read" and row["read_at"] is not None

    async def receipted():  # the status event reached the school's view of the message
        async with client(services["ingest"], key) as c:
            counts = (await c.get(f"/v1/messages/{message_id}")).json()["deliveries"]
        return counts if counts.get("app", {}).get("read") == 1 else None
    await eventually(receipted)

    async def audited():
        return await admin(env, "SELECT action, purpose FROM audit.record WHERE actor_kind = 'parent'"
                                " AND resource = $1 AND purpose = 'parent read'", f"messages/{message_id}")
    assert len(await eventually(audited)) >= 1


async def test_a_recalled_message_shows_as_withdrawn(services, school, outside, env):
    school_id, key = school
    mum = await sign_in(services, outside, school_id, MUM)
    async with client(services["ingest"], key) as c:
        message_id = await compose(c, SENSITIVE)
        item = await inbox_item(services, mum, message_id)
        assert (await c.post(f"/v1/messages/{message_id}/recall")).status_code == 200

    async def withdrawn():
        got = await inbox_item(services, mum, message_id)
        return got if got["withdrawn"] else None
    listed = await eventually(withdrawn)
    assert "subject" not in listed and "body" not in listed
    async with client(services["dispatch"], mum) as c:
        r = (await c.get(f"/v1/inbox/{item['delivery_id']}")).json()
    assert r["withdrawn"] is True and "subject" not in r and "body" not in r
    state = await admin(env, "SELECT state FROM dispatch.delivery WHERE delivery_id = $1", UUID(item["delivery_id"]))
    assert state[0]["state"] != "read"


async def test_the_inbox_pages_newest_first(services, school, outside):
    school_id, key = school
    mum = await sign_in(services, outside, school_id, MUM)  # she has the app: public messages go there
    async with client(services["ingest"], key) as c:
        ids = [await compose(c, {**PUBLIC, "subject": f"Notice {n}"}) for n in range(3)]
    for message_id in ids:
        await inbox_item(services, mum, message_id)
    pages, cursor = [], None
    async with client(services["dispatch"], mum) as c:
        while True:
            body = (await c.get("/v1/inbox", params={"limit": 1, **({"before": cursor} if cursor else {})})).json()
            pages += body["items"]
            cursor = body["next"]
            if cursor is None:
                break
        everything = (await c.get("/v1/inbox")).json()["items"]
        bad = await c.get("/v1/inbox", params={"before": "not-a-cursor"})
        too_many = await c.get("/v1/inbox", params={"limit": 1000})
    assert [i["delivery_id"] for i in pages] == [i["delivery_id"] for i in everything]
    assert len(everything) == 3 and {i["message_id"] for i in everything} == set(ids)
    assert [i["sent_at"] for i in everything] == sorted((i["sent_at"] for i in everything), reverse=True)
    assert bad.status_code == 422 and bad.json()["detail"].startswith("before")
    assert too_many.status_code == 422 and too_many.json()["errors"][0]["field"].endswith("limit")


async def test_push_subscriptions_are_kept_encrypted_and_get_neutral_nudges(services, school, outside, env):
    school_id, key = school
    mum, dad = await sign_in(services, outside, school_id, MUM), await sign_in(services, outside, school_id, DAD)
    async with client(services["dispatch"]) as c:
        server_key = (await c.get("/v1/inbox/push/key")).json()["application_server_key"]
    async with httpx.AsyncClient(base_url=outside.push.http.url) as h:
        browser = (await h.post("/subscribe", json={"applicationServerKey": server_key})).json()
    subscription = {"endpoint": browser["endpoint"], "keys": browser["keys"]}
    async with client(services["dispatch"], mum) as c:
        first = await c.post("/v1/inbox/push/subscriptions", json=subscription)
        again = await c.post("/v1/inbox/push/subscriptions", json=subscription)
        bad = await c.post("/v1/inbox/push/subscriptions",
                           json={**subscription, "keys": {**browser["keys"], "p256dh": "AAAA"}})
    assert first.status_code == 201 and again.json() == first.json()
    assert bad.status_code == 422 and any(e["field"].endswith("p256dh") for e in bad.json()["errors"])
    assert browser["endpoint"] not in bad.text
    stored = await admin(env, "SELECT body, endpoint_key FROM dispatch.push_subscription")
    assert len(stored) == 1 and browser["endpoint"].encode() not in stored[0]["body"]

    pushes = await message_and_pushes(services, outside, key, SENSITIVE, mum)
    assert all("Ruby" not in str(p["payload"]) and "tonsillitis" not in str(p["payload"]) for p in pushes)

    sub_id = first.json()["subscription_id"]
    async with client(services["dispatch"], dad) as c:
        assert (await c.delete(f"/v1/inbox/push/subscriptions/{sub_id}")).status_code == 404
    async with client(services["dispatch"], mum) as c:
        assert (await c.delete(f"/v1/inbox/push/subscriptions/{sub_id}")).status_code == 204
        assert (await c.delete(f"/v1/inbox/push/subscriptions/{sub_id}")).status_code == 404
    assert await admin(env, "SELECT 1 FROM dispatch.push_subscription") == []


async def test_preferences_and_consent_apply_to_every_contact_of_the_parent(services, school, outside, env):
    school_id, _ = school
    mum = await sign_in(services, outside, school_id, MUM)
    prefs = ("SELECT p.channels, p.marketing_consent, p.consent_recorded_at FROM dispatch.contact c"
             " JOIN dispatch.preference p USING (contact_id) WHERE c.person_key = (SELECT person_key"
             " FROM dispatch.parent_token LIMIT 1)")
    async with client(services["dispatch"], mum) as c:
        assert (await c.get("/v1/inbox/preferences")).json() == {
            "channels": [], "marketing_consent": False, "consent_recorded_at": None}
        given = await c.put("/v1/inbox/preferences", json={"channels": ["sms", "email"], "marketing_consent": True})
        assert given.status_code == 200
        assert given.json()["channels"] == ["email", "sms"] and given.json()["marketing_consent"] is True
        rows = await admin(env, prefs)
        assert len(rows) == 2 and all(r["channels"] == ["email", "sms"] and r["marketing_consent"] for r in rows)
        granted_at = rows[0]["consent_recorded_at"]
        assert granted_at is not None

        same = await c.put("/v1/inbox/preferences", json={"channels": ["app"], "marketing_consent": True})
        assert same.json()["consent_recorded_at"] == given.json()["consent_recorded_at"]  # consent unchanged
        withdrawn = await c.put("/v1/inbox/preferences", json={"channels": ["app"], "marketing_consent": False})
        assert withdrawn.json()["marketing_consent"] is False
        rows = await admin(env, prefs)
        assert all(not r["marketing_consent"] and r["consent_recorded_at"] > granted_at for r in rows)

        bad = await c.put("/v1/inbox/preferences", json={"channels": ["fax"], "marketing_consent": True})
        assert bad.status_code == 422 and bad.json()["errors"][0]["field"].startswith("body.channels")

    async def audited():
        rows = await admin(env, "SELECT purpose FROM audit.record WHERE actor_kind = 'parent'"
                                " AND resource LIKE 'contacts/%/preferences' AND action = 'update'")
        purposes = [r["purpose"] for r in rows]
        return purposes if sum("consent withdrawn" in p for p in purposes) == 2 else None
    purposes = await eventually(audited)
    assert sum("consent given" in p for p in purposes) == 2


async def test_signing_a_device_out_stops_its_notifications(services, school, outside, env):
    school_id, key = school
    phone, laptop = await sign_in(services, outside, school_id, MUM), await sign_in(services, outside, school_id, MUM)
    async with client(services["dispatch"]) as c:
        server_key = (await c.get("/v1/inbox/push/key")).json()["application_server_key"]
    endpoints = {}
    for token in (phone, laptop):
        async with httpx.AsyncClient(base_url=outside.push.http.url) as h:
            browser = (await h.post("/subscribe", json={"applicationServerKey": server_key})).json()
        async with client(services["dispatch"], token) as c:
            r = await c.post("/v1/inbox/push/subscriptions", json={"endpoint": browser["endpoint"],
                                                                   "keys": browser["keys"]})
            assert r.status_code == 201
        endpoints[token] = browser["endpoint"]

    async with client(services["dispatch"], phone) as c:
        assert (await c.post("/v1/inbox/logout")).status_code == 204
    assert len(await admin(env, "SELECT 1 FROM dispatch.push_subscription")) == 1  # the laptop's

    async def audited():
        return await admin(env, "SELECT action FROM audit.record WHERE actor_kind = 'parent'"
                                " AND purpose = 'parent signs a device out'")
    assert await eventually(audited) == [{"action": "delete"}]

    pushes = await message_and_pushes(services, outside, key, PUBLIC, laptop)
    assert {p["subscription_id"] for p in pushes} == {endpoints[laptop].rsplit("/", 1)[1]}
