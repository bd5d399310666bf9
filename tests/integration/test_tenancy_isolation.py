"""Row-level security: a query without a school context sees nothing; a school sees only itself."""
from __future__ import annotations

from uuid import uuid4

import asyncpg

from pupilpost import db


async def test_service_role_without_school_context_sees_no_rows(env):
    svc = env.create("ingest")
    await svc.start()
    try:
        a, b = uuid4(), uuid4()
        for school, urn in ((a, "400001"), (b, "400002")):
            async with db.tenant_tx(svc.db(), school) as conn:
                await conn.execute("INSERT INTO ingest.school (school_id, name, urn, created_by)"
                                   " VALUES ($1, 'S', $2, $3)", school, urn, uuid4())
                await svc.keys().provision_school(conn, school)

        async with db.plain_tx(svc.db()) as conn:
            assert await conn.fetchval("SELECT count(*) FROM ingest.school") == 0
            assert await conn.fetchval("SELECT count(*) FROM keyring.data_key") == 0
        async with db.tenant_tx(svc.db(), a) as conn:
            assert await conn.fetch("SELECT school_id FROM ingest.school") == [(a,)]
            assert {r["school_id"] for r in await conn.fetch("SELECT school_id FROM keyring.data_key")} == {a}
            # Writing a row for another school is refused, not silently allowed.
            try:
                await conn.execute("INSERT INTO ingest.school (school_id, name, urn, created_by)"
                                   " VALUES ($1, 'X', '400003', $2)", b, uuid4())
                raise AssertionError("insert for another school was allowed")
            except asyncpg.InsufficientPrivilegeError:
                pass
        # The context was transaction-local: the pooled connection forgets it.
        for _ in range(svc.settings.pool_max):
            async with db.plain_tx(svc.db()) as conn:
                assert await conn.fetchval("SELECT count(*) FROM ingest.school") == 0
        async with db.operator_tx(svc.db()) as conn:
            assert await conn.fetchval("SELECT count(*) FROM ingest.school") == 2
    finally:
        await svc.stop()


async def test_service_roles_are_neither_superusers_nor_table_owners(env):
    svc = env.create("audit")
    await svc.start()
    await svc.stop()
    conn = await asyncpg.connect(env.admin_dsn())
    try:
        role = await conn.fetchrow("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = 'pp_audit'")
        assert role == (False, False)
        owners = {r["tableowner"] for r in await conn.fetch(
            "SELECT tableowner FROM pg_tables WHERE schemaname IN ('audit', 'keyring')")}
        assert "pp_audit" not in owners
        forced = await conn.fetch(
            "SELECT relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = 'audit' AND c.relkind = 'r' AND c.relforcerowsecurity")
        assert {r["relname"] for r in forced} == {"record", "chain_head"}
    finally:
        await conn.close()
