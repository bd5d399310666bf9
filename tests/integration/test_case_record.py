"""The case record: every message a pupil's family was sent stays on the pupil's record (sender,
time, recipients and their delivery state, content for a caller allowed to reveal it), withdrawn
once recalled; and the school's own email footer."""
from __future__ import annotations

from uuid import UUID, uuid4

import pytest

from tests.conftest import client, eventually
from tests.integration.helpers import admin_token, create_school
from tests.integration.test_dispatch_planning import mail_text
from tests.integration.test_messages import PUBLIC, SENSITIVE, compose, until_state
from tests.integration.test_uploads import settled
from tests.integration.upload_client import roster, send

SHARED_MUM = "shared-mum@example.org"  # mother of pupils 0 and 1


@pytest.fixture
async def school(services, tmp_path):
    token = await admin_token(services, tmp_path)
    school_id, key = await create_school(services, token, "858585", "Record Primary")
    email_of = lambda i, n: SHARED_MUM if n == 1 and i in (0, 1) else f"p{i}-{n}@example.org"  # noqa: E731
    async with client(services["ingest"], key) as c:
        up = await send(c, key, school_id, roster("858585", pupils=3, email_of=email_of))
        assert (await settled(c, up.json()["upload_id"]))["status"] == "imported"
        pupils = {p["details"]["ref"]: UUID(p["pupil_id"]) for p in
                  (await c.get("/v1/directory/pupils", params={"reveal": "true"})).json()["items"]}

    async def known():
        async with client(services["dispatch"], key) as d:
            return (await d.get("/v1/deliveries/settings")).status_code == 200
    await eventually(known)
    return school_id, key, pupils


async def record(services, key, pupil_id, **params):
    async with client(services["dispatch"], key) as d:
        r = await d.get(f"/v1/case-records/{pupil_id}", params=params)
    assert r.status_code == 200, r.text
    return r.json()["items"]


async def test_every_message_stays_on_each_pupils_record(services, school):
    _, key, pupils = school
    author = uuid4()
    async with client(services["ingest"], key) as c:
        public = await compose(c, PUBLIC, staff=author)
        sensitive = await compose(c, SENSITIVE, staff=author)
        await until_state(c, sensitive, "released")

    async def both_sent():
        items = await record(services, key, pupils["A0001"])
        done = len(items) == 2 and all(r["state"] in ("sent", "delivered") for i in items for r in i["recipients"])
        return items if done else None
    items = await eventually(both_sent)
    assert [i["message_id"] for i in items] == [sensitive, public]  # newest first
    assert all(i["author_id"] == str(author) and "body" not in i for i in items)  # no content without reveal
    shown = {i["message_id"]: i for i in items}
    # Pupil 1's mother is pupil 0's too: her one delivery is on both records, with the father's.
    public_channels = sorted(r["channel"] for r in shown[public]["recipients"])
    assert public_channels == ["email", "email"]
    pupil0 = {i["message_id"]: i for i in await record(services, key, pupils["A0000"])}
    shared = {r["delivery_id"] for r in pupil0[public]["recipients"]} & {
        r["delivery_id"] for r in shown[public]["recipients"]}
    assert len(shared) == 1 and len(pupil0[public]["recipients"]) == 2

    revealed = {i["message_id"]: i for i in await record(services, key, pupils["A0001"], reveal="true")}
    assert revealed[public]["body"] == PUBLIC["body"] and revealed[sensitive]["subject"] == SENSITIVE["subject"]

    async with client(services["ingest"], key) as c:
        assert (await c.post(f"/v1/messages/{sensitive}/recall")).status_code == 200

    async def withdrawn():
        items = {i["message_id"]: i for i in await record(services, key, pupils["A0001"], reveal="true")}
        return items if items[sensitive]["withdrawn"] else None
    after = await eventually(withdrawn)
    assert "body" not in after[sensitive] and after[public]["body"] == PUBLIC["body"]
    assert len(await record(services, key, pupils["A0002"])) == 2  # pupil 2 was in the audience too


async def test_case_records_are_the_schools_own(services, school, tmp_path):
    _, key, pupils = school
    token = await admin_token(services, tmp_path)
    _, other_key = await create_school(services, token, "868686", "Other Primary")

    async def known():
        async with client(services["dispatch"], other_key) as d:
            return (await d.get("/v1/deliveries/settings")).status_code == 200
    await eventually(known)
    async with client(services["dispatch"], other_key) as d:
        assert (await d.get(f"/v1/case-records/{pupils['A0000']}")).status_code == 404
    async with client(services["dispatch"]) as d:
        assert (await d.get(f"/v1/case-records/{pupils['A0000']}")).status_code == 401


async def test_the_schools_footer_ends_every_email(services, school, outside):
    _, key, _ = school
    async with client(services["dispatch"], key) as d:
        bad = await d.put("/v1/deliveries/settings", json={"email_footer": "Reply to {office}"})
        assert bad.status_code == 422 and "email_footer" in bad.text
        ok = await d.put("/v1/deliveries/settings",
                         json={"email_footer": "{school}, Mill Lane. This email is confidential."})
        assert ok.status_code == 200, ok.text
    async with client(services["ingest"], key) as c:
        await compose(c, PUBLIC)
    await eventually(lambda: _mails(outside, 5))
    assert all(mail_text(m).endswith("-- \nRecord Primary, Mill Lane. This email is confidential.\n")
               for m in outside.smtp.mails.values())


async def _mails(outside, n):
    return len(outside.smtp.mails) >= n
