"""Consumers are idempotent, failures are retried then dead-lettered, the outbox loses nothing."""
from __future__ import annotations

import asyncio
import json
from uuid import uuid4

import asyncpg

from pupilpost import db
from schemas.audit import AccessV1
from schemas.dlq import DeadLetterV1
from schemas.tenancy import SchoolCreatedV1
from tests.conftest import eventually
from tests.integration.kafka_io import produce, read


def school_created(school_id=None) -> SchoolCreatedV1:
    return SchoolCreatedV1(school_id=school_id or uuid4(), name="S", urn="123456", created_by=uuid4())


async def provision_keys(svc, school_id) -> None:
    async with db.tenant_tx(svc.db(), school_id) as conn:
        await svc.keys().provision_school(conn, school_id)


async def retention_states(env) -> dict:
    conn = await asyncpg.connect(env.admin_dsn())
    try:
        return {r["school_id"]: r["state"] for r in await conn.fetch("SELECT * FROM retention.school")}
    finally:
        await conn.close()


async def started(env, name):
    svc = env.create(name)
    await svc.start()
    return svc


async def test_bad_events_go_to_the_dlq_with_the_reason_and_the_consumer_goes_on(env):
    svc = await started(env, "retention")
    try:
        good = school_created()
        await provision_keys(svc, good.school_id)
        unknown = json.dumps({"type": "tenancy.school.exploded", "version": 1}).encode()
        invalid = json.dumps({"type": "tenancy.school.created", "version": 1, "school_id": "nope",
                              "name": "Secret Name", "urn": "1"}).encode()
        topic = env.platform.topic_prefix + "tenancy.school.created"
        await produce(env.platform.kafka_bootstrap, topic, b"\xff not json", unknown, invalid, good)

        letters = [DeadLetterV1.model_validate_json(r.value)
                   for r in await read(env.platform.kafka_bootstrap, topic + ".dlq", 3)]
        assert [letter.offset for letter in letters] == [0, 1, 2]
        assert "not JSON" in letters[0].error
        assert "unknown event type" in letters[1].error
        assert "school_id" in letters[2].error and "urn" in letters[2].error
        assert "Secret Name" not in letters[2].error  # reasons name fields, never values
        assert all(letter.original_topic == "tenancy.school.created" for letter in letters)
        await eventually(lambda: _has(env, good.school_id))
    finally:
        await svc.stop()


async def _has(env, school_id) -> bool:
    return school_id in await retention_states(env)


async def test_a_failing_handler_is_retried_then_dead_lettered_and_nothing_is_half_done(env):
    svc = await started(env, "retention")
    try:
        keyless, fine = school_created(), school_created()
        await provision_keys(svc, fine.school_id)
        topic = env.platform.topic_prefix + "tenancy.school.created"
        await produce(env.platform.kafka_bootstrap, topic, keyless, fine)
        [record] = await read(env.platform.kafka_bootstrap, topic + ".dlq", 1)
        letter = DeadLetterV1.model_validate_json(record.value)
        assert letter.error_type == "KeyUnavailable" and letter.attempts == env.platform.consumer_retries
        await eventually(lambda: _has(env, fine.school_id))
        assert keyless.school_id not in await retention_states(env)  # its transaction rolled back
    finally:
        await svc.stop()


async def test_a_redelivered_event_is_processed_once(env):
    svc = await started(env, "audit")
    try:
        school = uuid4()
        evt = AccessV1(school_id=school, actor_id=uuid4(), actor_kind="operator", tier="basic",
                       service="ingest", resource=f"school/{school}", action="read", purpose="test")
        topic = env.platform.topic_prefix + "audit.access"
        await produce(env.platform.kafka_bootstrap, topic, evt, evt, evt)
        later = evt.model_copy(update={"event_id": uuid4()})
        await produce(env.platform.kafka_bootstrap, topic, later)

        async def two_records():
            conn = await asyncpg.connect(env.admin_dsn())
            try:
                return await conn.fetchval("SELECT count(*) FROM audit.record WHERE chain = $1", school)
            finally:
                await conn.close()
        await eventually(lambda: _equals(two_records, 2))
        await asyncio.sleep(0.5)
        assert await two_records() == 2
    finally:
        await svc.stop()


async def _equals(fn, value) -> bool:
    return await fn() == value


async def test_the_outbox_publishes_what_was_committed_before_a_crash(env):
    audit = await started(env, "audit")
    ingest = await started(env, "ingest")
    school = uuid4()
    evt = AccessV1(school_id=school, actor_id=None, actor_kind="service", service="ingest",
                   resource=f"school/{school}", action="read", purpose="test")
    try:
        await ingest.relay.stop()  # the process "dies" after commit, before publishing
        async with db.operator_tx(ingest.db()) as conn:
            await ingest.outbox.add(conn, evt)
        await asyncio.sleep(0.5)
        conn = await asyncpg.connect(env.admin_dsn())
        try:
            assert await conn.fetchval("SELECT count(*) FROM ingest.outbox") == 1
            assert await conn.fetchval("SELECT count(*) FROM audit.record") == 0
        finally:
            await conn.close()
    finally:
        await ingest.stop()
    restarted = await started(env, "ingest")  # the relay publishes the pending row on start
    try:
        async def recorded():
            c = await asyncpg.connect(env.admin_dsn())
            try:
                return await c.fetchval("SELECT count(*) FROM audit.record WHERE record_id = $1", evt.event_id)
            finally:
                await c.close()
        await eventually(recorded)
        # A relay that crashed after publishing but before deleting the row publishes it again:
        async with db.operator_tx(restarted.db()) as conn:
            await restarted.outbox.add(conn, evt)
        await asyncio.sleep(1.0)
        assert await recorded() == 1
    finally:
        await restarted.stop()
        await audit.stop()
