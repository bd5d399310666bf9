"""A new email from the MIS is confirmed by its owner through dispatch's channels: the request
goes to the new address (the old one stays in use meanwhile); the link's secret accepts it, and
then messages go to the new address."""
from __future__ import annotations

import re

import pytest

from tests.conftest import client, eventually
from tests.integration.helpers import (
    admin_rows,
    admin_token,
    create_school,
    wait_provisioned,
)
from tests.integration.test_dispatch_planning import mail_text
from tests.integration.test_messages import PUBLIC, compose
from tests.integration.test_uploads import settled
from tests.integration.upload_client import roster, send

NEW = "new-address@example.org"


@pytest.fixture
async def school(services, tmp_path):
    token = await admin_token(services, tmp_path)
    school_id, key = await create_school(services, token, "878787", "Confirm Primary")
    await wait_provisioned(services, token, school_id)  # dispatch knows the name its requests are signed with
    async with client(services["ingest"], key) as c:
        first = await send(c, key, school_id, roster("878787", pupils=1))
        assert (await settled(c, first.json()["upload_id"]))["status"] == "imported"
    return school_id, key


async def _move_email(services, school, outside):
    """Upload a roster that gives the mother a NEW email: the request mailed to NEW, its change id and
    secret, and the upload's id."""
    school_id, key = school
    moved = roster("878787", pupils=1, email_of=lambda i, n: NEW if n == 1 else f"parent{i}-{n}@example.org")
    async with client(services["ingest"], key) as c:
        up = await send(c, key, school_id, moved)
        assert (await settled(c, up.json()["upload_id"]))["counts"]["contact"]["confirmations_requested"] == 1

    async def asked():
        return [m for m in outside.smtp.mails.values() if m.rcpt_tos == [NEW]]
    [request] = await eventually(asked)
    change_id, secret = re.search(r"#change=([0-9a-f-]{36})&secret=([A-Za-z0-9_-]+)", mail_text(request)).groups()
    return request, change_id, secret, up.json()["upload_id"]


async def test_a_new_email_is_confirmed_by_its_owner_before_use(services, school, outside):
    _, key = school
    request, change_id, secret, _ = await _move_email(services, school, outside)
    text = mail_text(request)
    assert "Confirm Primary has recorded this email address for you" in text and "Pupil0" not in text

    async with client(services["ingest"], key) as c:  # until accepted, the old address is the one used
        await compose(c, PUBLIC)
    await eventually(lambda: _mail_to(outside, "parent0-1@example.org"))
    assert not [m for m in outside.smtp.mails.values() if m.rcpt_tos == [NEW] and m is not request]

    async with client(services["ingest"]) as parent:
        r = await parent.post(f"/v1/contact-changes/{change_id}/accept", json={"secret": secret})
        assert r.status_code == 200 and r.json()["state"] == "accepted", r.text

    async def new_address_in_use():
        async with client(services["ingest"], key) as c:
            await compose(c, {"subject": "Second", "body": "A second message."})
        return await eventually(lambda: _mail_to(outside, NEW, subject="Second"), timeout=3)
    await eventually(_retrying(new_address_in_use), timeout=30, interval=0.5)


async def _mail_to(outside, address, subject=None):
    return [m for m in outside.smtp.mails.values()
            if m.rcpt_tos == [address] and (subject is None or m.summary()["subject"] == subject)]


def _retrying(check):
    async def run():
        try:
            return await check()
        except AssertionError:
            return None
    return run


async def test_a_rejected_email_is_reported_to_the_school_and_the_old_one_stays_in_use(services, school, outside):
    _, key = school
    _, change_id, secret, upload_id = await _move_email(services, school, outside)
    async with client(services["ingest"]) as parent:
        r = await parent.post(f"/v1/contact-changes/{change_id}/reject", json={"secret": secret})
        assert r.status_code == 200 and r.json()["state"] == "rejected", r.text
        again = await parent.post(f"/v1/contact-changes/{change_id}/accept", json={"secret": secret})
        assert again.status_code == 409  # a rejection is final

    async with client(services["ingest"], key) as c:
        rejected = (await c.get("/v1/directory/contact-changes", params={"state": "rejected"})).json()["items"]
        assert [(x["change_id"], x["field"]) for x in rejected] == [(change_id, "email")]
        assert rejected[0]["decided_at"] and rejected[0]["upload_id"] == upload_id
        assert (await c.get("/v1/directory/contact-changes", params={"state": "pending"})).json()["items"] == []
        contact = await _revealed(c, rejected[0]["contact_id"])
        assert contact["details"]["email"] == "parent0-1@example.org" and contact["pending"] == []
        await compose(c, {"subject": "After rejection", "body": "A message after the parent said no."})
    await eventually(lambda: _mail_to(outside, "parent0-1@example.org", subject="After rejection"))
    assert not await _mail_to(outside, NEW, subject="After rejection")


async def _revealed(c, contact_id: str) -> dict:
    """One contact as the school sees it with personal details revealed."""
    for p in (await c.get("/v1/directory/pupils")).json()["items"]:
        for x in (await c.get(f"/v1/directory/pupils/{p['pupil_id']}/contacts", params={"reveal": "true"})
                  ).json()["items"]:
            if x["contact_id"] == contact_id:
                return x
    raise AssertionError(f"contact {contact_id} not in the directory")


async def test_the_accuracy_check_lists_contacts_unconfirmed_for_longer_than_asked(services, school, env):
    _, key = school
    [mother, father] = await admin_rows(env, "SELECT contact_id FROM ingest.contact ORDER BY priority")
    await admin_rows(env, "UPDATE ingest.contact SET confirmed_at = now() - make_interval(days => $2)"
                          " WHERE contact_id = $1", mother["contact_id"], 400)
    await admin_rows(env, "UPDATE ingest.contact SET confirmed_at = now() - make_interval(days => $2)"
                          " WHERE contact_id = $1", father["contact_id"], 40)
    async with client(services["ingest"], key) as c:
        async def listed(**params) -> list[str]:
            r = await c.get("/v1/directory/contacts/unconfirmed", params=params)
            assert r.status_code == 200, r.text
            return [x["contact_id"] for x in r.json()["items"]]
        assert await listed(older_than_days=30) == [str(mother["contact_id"]), str(father["contact_id"])]  # oldest first
        assert await listed(older_than_days=100) == [str(mother["contact_id"])]
        assert await listed() == [str(mother["contact_id"])]  # the default period: 365 days
        assert await listed(older_than_days=500) == []
