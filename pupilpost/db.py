"""PostgreSQL plumbing: pools, per-service migrations, tenant-scoped transactions.

Each service owns one schema. Tenant tables use row-level security keyed by
`school_id`; the school context is set per transaction with
`set_config(..., true)` (never plain SET: it would leak through the pool).
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path
from urllib.parse import urlsplit
from uuid import UUID

import asyncpg

PLATFORM_MIGRATIONS = Path(str(resources.files("pupilpost") / "migrations"))
KEYRING_MIGRATIONS = Path(str(resources.files("pupilpost") / "keyring_migrations"))

Conn = asyncpg.Connection
Pool = asyncpg.Pool


class DatabaseUnreachable(RuntimeError):
    """The configured PostgreSQL could not be reached; the message says where."""


def where(dsn: str) -> str:
    """Host:port/database of a DSN, without credentials (for error lines)."""
    parts = urlsplit(dsn)
    return f"{parts.hostname or 'localhost'}:{parts.port or 5432}{parts.path}"


def role_of(dsn: str) -> str | None:
    """The user name in a DSN, if any."""
    return urlsplit(dsn).username


async def _init_conn(conn: Conn) -> None:
    for typ in ("json", "jsonb"):
        await conn.set_type_codec(typ, encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def connect_pool(dsn: str, *, min_size: int = 1, max_size: int = 10) -> Pool:
    """Open a pool, turning connection failures into one clear error."""
    try:
        return await asyncpg.create_pool(dsn, min_size=min_size, max_size=max_size, init=_init_conn)
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        raise DatabaseUnreachable(f"cannot reach PostgreSQL at {where(dsn)}: {exc}") from exc


def _render(sql: str, schema: str, app_role: str) -> str:
    return sql.replace("__SCHEMA__", schema).replace("__APP_ROLE__", app_role)


def _migration_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.glob("*.sql"))


async def migrate(dsn: str, schema: str, dirs: list[Path], app_role: str) -> list[str]:
    """Apply the migrations in `dirs` (in order) to `schema`, once each, under a lock.

    Returns the names applied now. An edited, already-applied migration is refused.
    """
    try:
        conn = await asyncpg.connect(dsn)
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        raise DatabaseUnreachable(f"cannot reach PostgreSQL at {where(dsn)}: {exc}") from exc
    applied_now: list[str] = []
    try:
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", f"migrate:{schema}")
            await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
            await conn.execute(
                f'CREATE TABLE IF NOT EXISTS "{schema}".schema_migration ('
                " name text PRIMARY KEY, checksum text NOT NULL,"
                " applied_at timestamptz NOT NULL DEFAULT now())")
            done = {r["name"]: r["checksum"] for r in await conn.fetch(
                f'SELECT name, checksum FROM "{schema}".schema_migration')}
            for directory in dirs:
                for path in _migration_files(directory):
                    name = f"{directory.name}/{path.name}"
                    raw = path.read_text()
                    checksum = hashlib.sha256(raw.encode()).hexdigest()
                    if name in done:
                        if done[name] != checksum:
                            raise RuntimeError(f"migration {schema}/{name} was edited after it was applied")
                        continue
                    await conn.execute(_render(raw, schema, app_role))
                    await conn.execute(
                        f'INSERT INTO "{schema}".schema_migration (name, checksum) VALUES ($1, $2)',
                        name, checksum)
                    applied_now.append(name)
            if schema == "keyring":
                await conn.execute(
                    f'GRANT USAGE ON SCHEMA keyring TO "{app_role}";'
                    f' GRANT SELECT, INSERT, UPDATE ON keyring.data_key TO "{app_role}";'
                    f' GRANT EXECUTE ON FUNCTION keyring.tenant_visible(uuid) TO "{app_role}"')
    finally:
        await conn.close()
    return applied_now


async def ensure_role(admin_dsn: str, role: str, password: str | None = None) -> None:
    """Create a login role that is neither superuser nor owner of service tables."""
    conn = await asyncpg.connect(admin_dsn)
    try:
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext('pupilpost:roles'))")
            exists = await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", role)
            pw = f" PASSWORD '{password}'" if password else ""
            verb = "ALTER" if exists else "CREATE"
            await conn.execute(f'{verb} ROLE "{role}" LOGIN NOSUPERUSER NOBYPASSRLS{pw}')
    finally:
        await conn.close()


@asynccontextmanager
async def tenant_tx(pool: Pool, school_id: UUID) -> AsyncIterator[Conn]:
    """A transaction that sees only `school_id`'s rows."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SELECT set_config('pupilpost.school_id', $1, true)", str(school_id))
        yield conn


@asynccontextmanager
async def operator_tx(pool: Pool) -> AsyncIterator[Conn]:
    """A transaction with the operator scope: every school's rows are visible."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SELECT set_config('pupilpost.scope', 'operator', true)")
        yield conn


@asynccontextmanager
async def plain_tx(pool: Pool) -> AsyncIterator[Conn]:
    """A transaction with no school context: tenant tables show nothing."""
    async with pool.acquire() as conn, conn.transaction():
        yield conn

