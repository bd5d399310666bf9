"""`--pg-statements N` for the benchmarks: which SQL PostgreSQL spent its time on (pg_stat_statements)."""
from __future__ import annotations

from typing import Any

import asyncpg


def server_settings(n: int) -> dict[str, str]:
    """The embedded PostgreSQL's extra settings when statements are to be recorded."""
    return {"shared_preload_libraries": "pg_stat_statements"} if n else {}


async def start(dsn: str, n: int) -> None:
    """Start recording (from zero) in the database of `dsn` (an owner's)."""
    if n:
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements;"
                               " SELECT pg_stat_statements_reset()")
        finally:
            await conn.close()


async def top(dsn: str, n: int) -> list[Any]:
    """The `n` statements with the most execution time since `start`."""
    if not n:
        return []
    conn = await asyncpg.connect(dsn)
    try:
        return list(await conn.fetch(
            "SELECT calls, rows, total_exec_time, left(regexp_replace(query, '\\s+', ' ', 'g'), 150) AS query"
            " FROM pg_stat_statements ORDER BY total_exec_time DESC LIMIT $1", n))
    finally:
        await conn.close()


def report(statements: list[Any], during: str) -> None:
    """Print them, costliest first."""
    if statements:
        print(f"\nPostgreSQL statements {during}, by total execution time (top {len(statements)}):")
        for st in statements:
            print(f"  {st['total_exec_time'] / 1000:8.1f} s {st['calls']:>9,} calls {st['rows']:>10,} rows"
                  f"  {st['query']}")
