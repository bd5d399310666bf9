"""Start-up: one clear line when a dependency is missing; readiness only once everything is up."""
from __future__ import annotations

import os
import subprocess
import sys

from pupilpost.embedded import free_port
from tests.conftest import client


def run_service(service: str, env_vars: dict[str, str]) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PUPILPOST_", "INGEST_", "AUDIT_"))}
    env.update(env_vars)
    return subprocess.run([sys.executable, "-m", "pupilpost.cli", "run", service], env=env,
                          capture_output=True, text=True, timeout=90)


def test_unreachable_database_is_one_clear_line(env):
    port = free_port()
    done = run_service("ingest", {
        "PUPILPOST_MASTER_KEY": env.platform.master_key.get_secret_value(),
        "PUPILPOST_KAFKA_BOOTSTRAP": env.platform.kafka_bootstrap,
        "INGEST_DATABASE_URL": f"postgresql://pp_ingest@127.0.0.1:{port}/pupilpost"})
    assert done.returncode == 2
    assert f"ingest: cannot reach PostgreSQL at 127.0.0.1:{port}/pupilpost" in done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_unreachable_broker_is_one_clear_line(env):
    port = free_port()
    done = run_service("audit", {
        "PUPILPOST_MASTER_KEY": env.platform.master_key.get_secret_value(),
        "PUPILPOST_KAFKA_BOOTSTRAP": f"127.0.0.1:{port}",
        "PUPILPOST_KAFKA_IDEMPOTENCE": "false",
        "AUDIT_DATABASE_URL": env.app_dsn("audit"), "AUDIT_MIGRATE_DATABASE_URL": env.admin_dsn()})
    assert done.returncode == 2
    assert f"audit: cannot reach Kafka at 127.0.0.1:{port}" in done.stderr
    assert "Traceback" not in done.stderr


def test_production_refuses_to_start_without_a_master_key(env):
    done = run_service("audit", {"PUPILPOST_MODE": "production",
                                 "AUDIT_DATABASE_URL": env.app_dsn("audit")})
    assert done.returncode == 2
    assert "no master key" in done.stderr and "PUPILPOST_MASTER_KEY" in done.stderr


def test_bad_configuration_names_the_variable():
    done = run_service("ingest", {"INGEST_HTTP_PORT": "eighty"})
    assert done.returncode == 2 and "http_port" in done.stderr


async def test_readiness_follows_the_service_life(env):
    svc = env.create("dispatch")
    async with client(svc) as c:
        assert (await c.get("/readyz")).status_code == 503
        assert (await c.get("/healthz")).json()["status"] == "ok"
        await svc.start()
        try:
            ready = await c.get("/readyz")
            assert ready.status_code == 200 and ready.json() == {"ready": True, "service": "dispatch"}
        finally:
            await svc.stop()
        assert (await c.get("/readyz")).status_code == 503
