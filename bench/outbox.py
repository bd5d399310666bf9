"""Event pipeline benchmark: outbox -> relay -> Kafka -> consumer -> audit hash chain.

Stages N audit.access events in ingest's outbox (as API requests would), and
measures until the audit service has appended all of them: throughput and
per-event latency (occurred_at -> appended) percentiles.

    make bench            # or: python -m bench.outbox --events 20000 --schools 50
"""
from __future__ import annotations

import argparse
import asyncio
import base64
import os
import statistics
import tempfile
import time
from pathlib import Path
from uuid import uuid4

import asyncpg

from pupilpost import db
from pupilpost.embedded import EmbeddedKafka, EmbeddedPostgres, ensure_database, free_port
from pupilpost.settings import PlatformSettings
from schemas.audit import AccessV1
from services.audit.main import create as create_audit
from services.audit.settings import AuditSettings
from services.ingest.main import create as create_ingest
from services.ingest.settings import IngestSettings


def pct(values: list[float], p: float) -> float:
    """The p-th percentile (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


async def run(events: int, schools: int, base: Path) -> None:
    pg, kafka = EmbeddedPostgres(base / "pg", free_port(), durable=True), EmbeddedKafka(free_port())
    admin, bootstrap = pg.start(), kafka.start()
    try:
        await ensure_database(admin, "bench")
        for svc in ("ingest", "audit"):
            await db.ensure_role(admin, f"pp_{svc}", "pp")
        platform = PlatformSettings(kafka_bootstrap=bootstrap, kafka_idempotence=False, kafka_partitions=4,
                                    kafka_session_timeout_ms=3000, kafka_heartbeat_interval_ms=500,
                                    master_key=base64.b64encode(os.urandom(32)).decode())
        owner = pg.dsn_for("bench")
        ingest = create_ingest(platform, IngestSettings(database_url=pg.dsn_for("bench", "pp_ingest"),
                                                        migrate_database_url=owner))
        audit = create_audit(platform, AuditSettings(database_url=pg.dsn_for("bench", "pp_audit"),
                                                     migrate_database_url=owner))
        await asyncio.gather(ingest.start(), audit.start())
        ids = [uuid4() for _ in range(schools)]
        batch = [AccessV1(school_id=ids[i % schools], actor_id=None, actor_kind="service", service="bench",
                          resource="bench", action="read", purpose="benchmark") for i in range(events)]
        started = time.perf_counter()
        for i in range(0, events, 1000):
            async with db.operator_tx(ingest.db()) as conn:
                await ingest.outbox.add(conn, *batch[i:i + 1000])
        staged = time.perf_counter() - started
        conn = await asyncpg.connect(owner)
        while (done := await conn.fetchval("SELECT count(*) FROM audit.record")) < events:
            await asyncio.sleep(0.2)
        elapsed = time.perf_counter() - started
        lat = [r["ms"] for r in await conn.fetch(
            "SELECT extract(epoch FROM recorded_at - occurred_at) * 1000 AS ms FROM audit.record")]
        await conn.close()
        await asyncio.gather(ingest.stop(), audit.stop())
        print(f"events {done}  schools {schools}  staged in {staged:.2f} s")
        print(f"throughput {done / elapsed:,.0f} events/s end to end ({elapsed:.2f} s)")
        print(f"latency ms  p50 {pct(lat, 50):.0f}  p95 {pct(lat, 95):.0f}  p99 {pct(lat, 99):.0f}"
              f"  max {max(lat):.0f}  mean {statistics.fmean(lat):.0f}")
    finally:
        kafka.stop()
        pg.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--schools", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="pupilpost-bench-") as tmp:
        asyncio.run(run(args.events, args.schools, Path(tmp)))


if __name__ == "__main__":
    main()
