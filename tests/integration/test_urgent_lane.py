"""Urgent messages have consumer groups of their own (classifier and dispatch): an urgent message,
and the approval of one, reaches the providers while the services' main groups are stuck behind
other work."""
from __future__ import annotations

from email import message_from_bytes, policy
from uuid import uuid4

import asyncpg
import pytest

from tests.conftest import client, eventually
from tests.integration.helpers import admin_token, admin_value, create_school
from tests.integration.test_messages import PUBLIC, SENSITIVE, compose, until_state
from tests.integration.test_uploads import settled
from tests.integration.upload_client import roster, send

URN = "626262"
URGENT = {"subject": "School closed today", "body": "The school is closed today because of snow."}


@pytest.fixture
async def school(services, env, tmp_path):
    token = await admin_token(services, tmp_path)
    school_id, key = await create_school(services, token, URN, "Lane Primary")
    async with client(services["ingest"], key) as c:
        up = await send(c, key, school_id, roster(URN, pupils=2, staff=1))
        assert (await settled(c, up.json()["upload_id"]))["status"] == "imported"
    await eventually(lambda: admin_value(env, "SELECT (SELECT count(*) FROM dispatch.contact) = 4"
                                               " AND (SELECT count(*) FROM dispatch.staff) = 1"))
    return school_id, key


def _subjects(outside) -> list[str]:
    return [str(message_from_bytes(m.raw, policy=policy.default)["Subject"]) for m in outside.smtp.mails.values()]


async def test_an_urgent_message_overtakes_a_stalled_main_consumer(services, school, env, outside):
    school_id, key = school
    # Stall the classifier's and dispatch's main consumer groups: the next directory change each
    # applies writes a table this connection has locked (reads, as classifying and planning do,
    # still go ahead).
    holder = await asyncpg.connect(env.admin_dsn())
    tx = holder.transaction()
    await tx.start()
    await holder.execute("LOCK TABLE dispatch.staff, classifier.roster_state IN EXCLUSIVE MODE")
    try:
        async with client(services["ingest"], key) as c:
            up = await send(c, key, school_id, roster(URN, pupils=2, staff=2))  # one more staff member
            assert (await settled(c, up.json()["upload_id"]))["status"] == "imported"
            await eventually(lambda: admin_value(
                env, "SELECT count(DISTINCT t.relname) = 2 FROM pg_locks l JOIN pg_class t ON t.oid = l.relation"
                     " WHERE t.relname IN ('staff', 'roster_state') AND NOT l.granted"))

            bulk = await compose(c, PUBLIC)
            urgent = await compose(c, URGENT, urgent=True)

            async def urgent_mailed() -> bool:  # both mothers and both fathers have an email
                return _subjects(outside).count(URGENT["subject"]) == 4
            await eventually(urgent_mailed)

            # An urgent official-sensitive message that needs a second pair of eyes: once approved,
            # its approval travels in the urgent lane too.
            author, colleague = uuid4(), uuid4()
            assert (await c.put("/v1/messages/settings", json={"require_approval": True})).status_code == 200
            held = await compose(c, SENSITIVE, staff=author, urgent=True)
            await until_state(c, held, "awaiting_approval")
            r = await c.post(f"/v1/messages/{held}/approve", headers={"x-pupilpost-staff": str(colleague)})
            assert r.status_code == 200, r.text

            async def approved_handed_off() -> bool:  # 4 app items with the text, 4 email notices
                return await admin_value(
                    env, "SELECT count(*) FILTER (WHERE state IN ('sent', 'delivered')) = 8 FROM dispatch.delivery"
                         " WHERE message_id = $1", held)
            await eventually(approved_handed_off)
            assert PUBLIC["subject"] not in _subjects(outside)
            assert await admin_value(env, "SELECT count(*) FROM dispatch.delivery WHERE message_id = $1",
                                      bulk) == 0
            assert await admin_value(env, "SELECT bool_and(urgent) FROM dispatch.delivery WHERE message_id = $1",
                                      urgent)
    finally:
        await tx.rollback()
        await holder.close()

    async def bulk_mailed() -> bool:  # the main group goes on once the lock is gone
        return _subjects(outside).count(PUBLIC["subject"]) == 4
    await eventually(bulk_mailed)
    assert await admin_value(env, "SELECT count(*) FROM dispatch.staff") == 2
