"""The school's directory API through the real service: keyset pagination that visits every record
once, personal details only for a key allowed to reveal them, and every read in the audit log."""
from __future__ import annotations

import pytest

from pupilpost import auth
from tests.conftest import client, eventually
from tests.integration.helpers import admin_token, create_school
from tests.integration.test_uploads import settled
from tests.integration.upload_client import roster, send

URN = "646464"


@pytest.fixture
async def school(services, tmp_path):
    token = await admin_token(services, tmp_path)
    school_id, key = await create_school(services, token, URN, "Directory Primary")
    async with client(services["ingest"], key) as c:
        up = await send(c, key, school_id, roster(URN, pupils=7, staff=3))
        assert (await settled(c, up.json()["upload_id"]))["status"] == "imported"
    return {"id": school_id, "key": key, "token": token}


async def issue_key(services, token, school_id, *permissions: str) -> str:
    async with client(services["ingest"], token) as ops:
        r = await ops.post(f"/v1/ops/schools/{school_id}/api-keys", json={"permissions": list(permissions)})
        assert r.status_code == 201, r.text
        return r.json()["api_key"]


async def walk(c, path: str, id_field: str, limit: int, **params) -> list[list[str]]:
    """Every page of a listing, following `next` until it is null."""
    pages, after = [], None
    for _ in range(20):  # a cursor that never advances fails here instead of looping
        r = await c.get(path, params={**params, "limit": limit, **({"after": after} if after else {})})
        assert r.status_code == 200, r.text
        body = r.json()
        pages.append([x[id_field] for x in body["items"]])
        if body["next"] is None:
            return pages
        assert body["next"] == pages[-1][-1]
        after = body["next"]
    raise AssertionError(f"{path} did not end after 20 pages: {pages}")


async def test_pagination_visits_every_pupil_and_member_of_staff_exactly_once(services, school):
    async with client(services["ingest"], school["key"]) as c:
        everyone = [x["pupil_id"] for x in (await c.get("/v1/directory/pupils", params={"limit": 500})).json()["items"]]
        pages = await walk(c, "/v1/directory/pupils", "pupil_id", 3)
        in_4a = await walk(c, "/v1/directory/pupils", "pupil_id", 3, reg_group="4A")
        staff = await walk(c, "/v1/directory/staff", "staff_id", 2)
        exact = await walk(c, "/v1/directory/pupils", "pupil_id", 7)
    assert len(everyone) == 7 and [len(p) for p in pages] == [3, 3, 1]
    walked = [i for p in pages for i in p]
    assert sorted(walked) == sorted(everyone) and len(set(walked)) == 7
    assert [len(p) for p in in_4a] == [3, 1] and len({i for p in in_4a for i in p}) == 4  # pupils 0, 2, 4, 6
    assert [len(p) for p in staff] == [2, 1] and len({i for p in staff for i in p}) == 3
    assert [len(p) for p in exact] == [7, 0]  # a full last page is followed by an empty one, then no cursor


async def test_revealing_personal_details_needs_the_reveal_permission(services, school):
    reader = await issue_key(services, school["token"], school["id"], "directory.read")
    uploader = await issue_key(services, school["token"], school["id"], "upload")
    async with client(services["ingest"], school["key"]) as full:
        [pupil, *_] = (await full.get("/v1/directory/pupils", params={"reveal": "true"})).json()["items"]
        assert pupil["details"]["legal_surname"] == "Testwell"
    async with client(services["ingest"], reader) as c:
        paths = ["/v1/directory/pupils", f"/v1/directory/pupils/{pupil['pupil_id']}/contacts", "/v1/directory/staff"]
        for path in paths:
            denied = await c.get(path, params={"reveal": "true"})
            assert denied.status_code == 403 and "directory.reveal" in denied.json()["detail"], (path, denied.text)
            assert "Testwell" not in denied.text
            plain = await c.get(path)
            assert plain.status_code == 200 and plain.json()["items"], path
            assert all("details" not in x for x in plain.json()["items"]) and "Testwell" not in plain.text
    async with client(services["ingest"], uploader) as c:
        assert (await c.get("/v1/directory/pupils")).status_code == 403


async def test_every_directory_read_reaches_the_audit_log(services, school):
    key = school["key"]
    credential_id = str(auth.parse_token(key)[0])
    async with client(services["ingest"], key) as c:
        [pupil, *_] = (await c.get("/v1/directory/pupils")).json()["items"]
        contacts = f"directory/pupils/{pupil['pupil_id']}/contacts"
        reads = [("/v1/directory/groups", {}), ("/v1/directory/pupils", {"reveal": "true"}),
                 (f"/v1/{contacts}", {}), (f"/v1/{contacts}", {"reveal": "true"}),
                 ("/v1/directory/staff", {"reveal": "true"}), ("/v1/directory/contacts/unconfirmed", {}),
                 ("/v1/directory/contact-changes", {})]
        for path, params in reads:
            assert (await c.get(path, params=params)).status_code == 200, path
    expected = sorted([("directory/pupils", "directory"), ("directory/groups", "directory"),
                       ("directory/pupils", "directory (revealed)"), (contacts, "directory"),
                       (contacts, "directory (revealed)"), ("directory/staff", "directory (revealed)"),
                       ("directory/contacts/unconfirmed", "directory"), ("directory/contact-changes", "directory")])

    async with client(services["audit"], school["token"]) as ops:
        async def audited():
            items = (await ops.get("/v1/ops/audit", params={"school_id": str(school["id"]), "limit": 1000})
                     ).json()["items"]
            mine = [i for i in items if i["resource"].startswith("directory/") and i["actor_id"] == credential_id]
            return mine if len(mine) >= len(expected) else None
        records = await eventually(audited)
    assert sorted((i["resource"], i["purpose"]) for i in records) == expected
    assert all(i["action"] == "read" and i["actor_kind"] == "school" and i["service"] == "ingest"
               and i["outcome"] == "allowed" for i in records)
