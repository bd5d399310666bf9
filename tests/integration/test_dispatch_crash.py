"""kill -9 of dispatch in the middle of a fan-out, then a restart: every delivery is handed off,
each recipient's mail is accepted exactly once (the idempotency key is the delivery id), and the
deliveries the dead process had claimed are recovered rather than lost."""
from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from dataclasses import replace

import asyncpg
import httpx
import pytest

from pupilpost.embedded import free_port
from tests.conftest import client, eventually
from tests.integration.helpers import admin_token, create_school
from tests.integration.test_messages import PUBLIC, compose
from tests.integration.test_uploads import settled
from tests.integration.upload_client import roster, send

PUPILS = 150  # two parents each: 300 emails


def _dispatch_env(env, outside, port: int) -> dict[str, str]:
    p = env.platform
    return {
        **os.environ,
        "PUPILPOST_MODE": "production", "PUPILPOST_KAFKA_BOOTSTRAP": p.kafka_bootstrap,
        "PUPILPOST_KAFKA_IDEMPOTENCE": str(p.kafka_idempotence).lower(), "PUPILPOST_TOPIC_PREFIX": p.topic_prefix,
        "PUPILPOST_KAFKA_PARTITIONS": str(p.kafka_partitions),
        "PUPILPOST_KAFKA_SESSION_TIMEOUT_MS": str(p.kafka_session_timeout_ms),
        "PUPILPOST_KAFKA_HEARTBEAT_INTERVAL_MS": str(p.kafka_heartbeat_interval_ms),
        "PUPILPOST_MASTER_KEY": p.master_key.get_secret_value() if p.master_key else "",
        "PUPILPOST_OUTBOX_POLL_SECONDS": "0.2",
        "DISPATCH_DATABASE_URL": env.app_dsn("dispatch"), "DISPATCH_MIGRATE_DATABASE_URL": env.admin_dsn(),
        "DISPATCH_HTTP_PORT": str(port), "DISPATCH_SMTP_HOST": "127.0.0.1",
        "DISPATCH_SMTP_PORT": str(outside.smtp.port), "DISPATCH_SMTP_SENDER": "messages@pupilpost.test",
        "DISPATCH_SMTP_CONNECTIONS": "2", "DISPATCH_SENDER_WORKERS": "2", "DISPATCH_SENDER_BATCH": "20",
        "DISPATCH_MAINTENANCE_SECONDS": "0.3", "DISPATCH_SENDER_POLL_SECONDS": "0.2",
    }


async def _start(env_vars: dict[str, str], port: int) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", "pupilpost.cli", "run", "dispatch"], env=env_vars,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    async def ready():
        if proc.poll() is not None:
            raise AssertionError(f"dispatch exited: {proc.stderr.read().decode()[-2000:]}")
        try:
            async with httpx.AsyncClient() as h:
                return (await h.get(f"http://127.0.0.1:{port}/readyz", timeout=1)).status_code == 200
        except httpx.HTTPError:
            return False
    await eventually(ready, timeout=60, interval=0.2)
    return proc


async def _states(env) -> dict[str, int]:
    conn = await asyncpg.connect(env.admin_dsn())
    try:
        return {r["state"]: r["n"] for r in await conn.fetch(
            "SELECT state, count(*) AS n FROM dispatch.delivery GROUP BY state")}
    finally:
        await conn.close()


async def _delivery_ids(env) -> set[str]:
    conn = await asyncpg.connect(env.admin_dsn())
    try:
        return {str(r["delivery_id"]) for r in await conn.fetch("SELECT delivery_id FROM dispatch.delivery")}
    finally:
        await conn.close()


@pytest.fixture
async def others(env, outside):
    """Every service but dispatch, in-process; dispatch runs as a child process the test can kill."""
    started = {name: env.create(name) for name in ("ingest", "classifier", "audit", "retention")}
    await asyncio.gather(*(s.start() for s in started.values()))
    yield started
    await asyncio.gather(*(s.stop() for s in started.values()), return_exceptions=True)


async def test_kill_9_mid_fan_out_hands_each_delivery_off_exactly_once(env, outside, others, tmp_path):
    outside.smtp.config = replace(outside.smtp.config, accept_delay=0.02)  # a relay slow enough to kill mid-way
    port = free_port()
    env_vars = _dispatch_env(env, outside, port)
    proc = await _start(env_vars, port)
    try:
        token = await admin_token(others, tmp_path)
        school_id, key = await create_school(others, token, "848484", "Crash Primary")
        async with client(others["ingest"], key) as c:
            payload = roster("848484", pupils=PUPILS)
            payload = payload.model_copy(update={"contacts": tuple(  # email only: one hand-off each
                x.model_copy(update={"mobile": None}) for x in payload.contacts)})
            up = await send(c, key, school_id, payload)
            report = await settled(c, up.json()["upload_id"])
            assert report["status"] == "imported", str(report.get("report"))[:500]
            await compose(c, PUBLIC)
        await eventually(lambda: _at_least(outside.smtp.mails, 40), timeout=60, interval=0.01)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        at_kill = await _states(env)
        mails_at_kill = len(outside.smtp.mails)
        assert at_kill.get("sending", 0) > 0 and mails_at_kill < 2 * PUPILS  # killed mid-hand-off

        proc = await _start(env_vars, port)

        async def drained():
            states = await _states(env)
            return states if states == {"sent": 2 * PUPILS} else None
        await eventually(drained, timeout=90, interval=0.2)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(20)
    ids = await _delivery_ids(env)
    accepted = {m.summary()["message_id"].strip("<>").split("@")[0] for m in outside.smtp.mails.values()}
    assert len(outside.smtp.mails) == 2 * PUPILS and accepted == ids  # each delivery, exactly once
    recipients = [m.rcpt_tos[0] for m in outside.smtp.mails.values()]
    assert len(set(recipients)) == len(recipients) == 2 * PUPILS
    # Re-submissions after the crash (at most the batches in flight) were absorbed by their key.
    assert outside.smtp.duplicates <= at_kill["sending"]
    print(f"kill -9 with {mails_at_kill} of {2 * PUPILS} accepted and {at_kill['sending']} claimed in flight;"
          f" after restart: {len(outside.smtp.mails)} accepted, {outside.smtp.duplicates} re-submissions absorbed")


async def _at_least(mapping, n):
    return len(mapping) >= n
