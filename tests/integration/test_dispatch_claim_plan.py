"""The sender's claim walks the queue index in order and stops after a batch, whatever the table's
statistics say (bench/README.md, "Round 3: the claim": a plan made on an empty table sorted every
queued delivery at each claim, 2.3 s a batch under load)."""
from __future__ import annotations

import json
from uuid import uuid4

import asyncpg

from services.dispatch import sender


def _nodes(plan: dict) -> list[dict]:
    return [plan, *(n for child in plan.get("Plans", ()) for n in _nodes(child))]


async def test_the_claim_is_an_ordered_index_walk_even_planned_on_an_empty_table(services, env):
    conn = await asyncpg.connect(env.admin_dsn())
    try:
        await conn.execute("ANALYZE dispatch.delivery")  # the statistics of an empty table
        for urgent_only in (False, True):
            async with conn.transaction():
                [row] = await sender._fetch_planned_now(
                    conn, "EXPLAIN (FORMAT JSON) " + sender.CLAIM, uuid4(), 200, urgent_only, index_order=True)
                nodes = _nodes(json.loads(row[0])[0]["Plan"])
                # still the usual planning afterwards, in the same transaction
                assert await conn.fetchval("SHOW enable_sort") == "on"
                assert await conn.fetchval("SHOW plan_cache_mode") == "auto"
            scans = [n for n in nodes if n.get("Index Name") == "delivery_due"]
            assert scans and scans[0]["Node Type"] == "Index Scan", nodes
            assert not any(n["Node Type"] in ("Sort", "Seq Scan", "Bitmap Heap Scan") and
                           n.get("Relation Name", "delivery") == "delivery" for n in nodes), nodes
            if urgent_only:  # only the urgent part of the index is read
                assert "urgent" in scans[0].get("Index Cond", ""), scans[0]
    finally:
        await conn.close()
