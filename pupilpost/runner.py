"""A service's life: build (app, broker, consumer, outbox), start, serve, stop.

Every service is composed the same way; its own `main.py` adds routes and
handlers. Tests start services in-process with `start()`/`stop()`; the
container entry point `pupilpost run <service>` serves them with uvicorn.
"""
from __future__ import annotations

import asyncio
import functools
import logging
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvicorn
from aiokafka.errors import KafkaError
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from faststream.kafka import KafkaBroker

from pupilpost import auth, db, telemetry
from pupilpost.bus import BrokerUnreachable, Consumer, Lane, Outbox, OutboxRelay, ensure_topics, make_broker
from pupilpost.crypto import CryptoError, Keyring, load_master_key
from pupilpost.settings import PlatformSettings, ServiceSettings
from schemas.auth import CredentialIssuedV1, CredentialRevokedV1
from schemas.registry import TOPICS

log = logging.getLogger("pupilpost.runner")


class StartupError(RuntimeError):
    """A dependency is missing or unreachable; the message is one line saying which and where."""


@dataclass
class Service:
    """One running Pupilpost service and the resources it owns."""

    name: str
    platform: PlatformSettings
    settings: ServiceSettings
    migrations: Path
    app: FastAPI
    broker: KafkaBroker
    outbox: Outbox
    handlers: dict[type, Callable[..., Awaitable[None]]] = field(default_factory=dict)
    on_start: list[Callable[["Service"], Awaitable[None]]] = field(default_factory=list)
    on_stop: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    keyring: Keyring | None = None
    pool: db.Pool | None = None
    relay: OutboxRelay | None = None
    ready: bool = False

    @property
    def schema(self) -> str:
        """The service's PostgreSQL schema (its name)."""
        return self.name

    def handle(self, model: type, fn: Callable[..., Awaitable[None]]) -> None:
        """Route events of `model` to `fn(evt, conn, svc)`."""
        self.handlers[model] = functools.partial(_call_with_svc, fn, self)

    async def principal(self, request: Request) -> auth.Principal:
        """FastAPI dependency: the authenticated caller, or 401."""
        return await auth.principal_from(request, self.db(), self.schema)

    def db(self) -> db.Pool:
        """The pool (only after start)."""
        if self.pool is None:
            raise RuntimeError(f"{self.name} is not started")
        return self.pool

    def keys(self) -> Keyring:
        """The keyring (only after start)."""
        if self.keyring is None:
            raise RuntimeError(f"{self.name} is not started")
        return self.keyring

    async def start(self) -> None:
        """Migrate, connect, subscribe, relay; raises StartupError with one clear line."""
        try:
            kek = load_master_key(
                self.platform.master_key.get_secret_value() if self.platform.master_key else None,
                self.platform.master_key_file, development=self.platform.mode == "development")
            self.keyring = Keyring(kek, self.platform.key_cache_seconds)
            owner_dsn = self.settings.migrate_database_url or self.settings.database_url
            app_role = db.role_of(self.settings.database_url) or "postgres"
            await db.migrate(owner_dsn, self.schema, [db.PLATFORM_MIGRATIONS, self.migrations], app_role)
            await db.migrate(owner_dsn, "keyring", [db.KEYRING_MIGRATIONS], app_role)
            self.pool = await db.connect_pool(
                self.settings.database_url, min_size=self.settings.pool_min, max_size=self.settings.pool_max)
            await ensure_topics(self.platform, list(TOPICS))
            await self._start_broker()
            self.relay = OutboxRelay(self.pool, self.schema, self.broker, self.platform)
            await self.relay.start()
            for hook in self.on_start:
                await hook(self)
        except (db.DatabaseUnreachable, BrokerUnreachable, CryptoError) as exc:
            await self.stop()
            raise StartupError(f"{self.name}: {exc}") from None
        self.ready = True

    async def _start_broker(self) -> None:
        try:
            await asyncio.wait_for(self.broker.start(), 60)
        except (OSError, TimeoutError, KafkaError) as exc:
            raise BrokerUnreachable(
                f"cannot reach Kafka at {self.platform.kafka_bootstrap}: {exc.__class__.__name__}") from exc

    async def stop(self) -> None:
        """Stop hooks, relay, broker and pool; safe to call twice. Each step is bounded by
        `settings.stop_step_seconds`: a step that overruns is logged and abandoned (the pool is
        then terminated, its connections cut), so a stuck dependency never holds a shutdown."""
        self.ready = False
        for hook in self.on_stop:
            await self._bounded(f"stop hook {getattr(hook, '__qualname__', hook)}", hook())
        if self.relay is not None:
            await self._bounded("outbox relay", self.relay.stop())
            self.relay = None
        await self._bounded("kafka broker", self.broker.stop())
        if self.pool is not None:
            pool, self.pool = self.pool, None
            if not await self._bounded("database pool", pool.close()):
                pool.terminate()

    async def _bounded(self, what: str, step: Awaitable[Any]) -> bool:
        try:
            await asyncio.wait_for(step, self.settings.stop_step_seconds)
            return True
        except TimeoutError:
            log.error("%s: stopping the %s took over %.0f s; abandoned",
                      self.name, what, self.settings.stop_step_seconds)
        except Exception as exc:  # noqa: BLE001 - a failing step must not stop the others
            log.error("%s: stopping the %s failed: %s", self.name, what, type(exc).__name__)
        return False

    async def is_ready(self) -> bool:
        """Migrations ran, the database answers and the broker is reachable."""
        if not self.ready or self.pool is None:
            return False
        try:
            async with self.pool.acquire(timeout=2) as conn:
                await conn.fetchval("SELECT 1")
            return bool(await self.broker.ping(timeout=2))
        except Exception:
            return False


async def _call_with_svc(fn: Callable[..., Awaitable[None]], svc: Service, evt: Any, conn: db.Conn) -> None:
    await fn(evt, conn, svc)


async def _validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
    # Name the field and the problem; never echo the submitted value (it may be personal data).
    errors = [{"field": ".".join(str(p) for p in e["loc"]), "reason": e["msg"], "type": e["type"]}
              for e in exc.errors()]
    return JSONResponse({"detail": "invalid request", "errors": errors}, status_code=422)


def create_service(name: str, platform: PlatformSettings, settings: ServiceSettings,
                   migrations: Path) -> Service:
    """A service with health routes, tracing, credential projection and its consumer."""
    telemetry.setup(name)
    app = FastAPI(title=f"Pupilpost {name}", version="0.1.0")
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
    app.add_middleware(telemetry.TracingMiddleware, service=name)
    svc = Service(name, platform, settings, migrations, app, make_broker(platform, name), Outbox(name))

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "service": name}

    @app.get("/readyz", include_in_schema=False)
    async def readyz() -> JSONResponse:
        ok = await svc.is_ready()
        return JSONResponse({"ready": ok, "service": name}, status_code=200 if ok else 503)

    svc.handle(CredentialIssuedV1, _on_credential_issued)
    svc.handle(CredentialRevokedV1, _on_credential_revoked)
    return svc


async def _on_credential_issued(evt: CredentialIssuedV1, conn: db.Conn, svc: Service) -> None:
    await auth.save_credential(conn, svc.schema, evt)


async def _on_credential_revoked(evt: CredentialRevokedV1, conn: db.Conn, svc: Service) -> None:
    await auth.revoke_credential(conn, svc.schema, evt)


def subscribe(svc: Service, lanes: tuple[Lane, ...] = ()) -> None:
    """Register the service's consumer group, and one more per lane; call after all handlers are added."""
    handlers = dict(svc.handlers)
    Consumer(svc.name, svc.schema, svc.broker, svc.platform, svc.db, handlers, lanes=lanes).register()
    for lane in lanes:
        Consumer(svc.name, svc.schema, svc.broker, svc.platform, svc.db, handlers, lane=lane).register()


async def serve(svc: Service) -> int:
    """Start the service and serve HTTP until SIGINT/SIGTERM; 2 on a startup error."""
    try:
        await svc.start()
    except StartupError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    config = uvicorn.Config(svc.app, host=svc.settings.http_host, port=svc.settings.http_port,
                            log_level="warning", lifespan="off")
    try:
        await uvicorn.Server(config).serve()
    finally:
        await svc.stop()
    return 0
