"""Kafka plumbing on FastStream: one consumer group per service, idempotent
handlers, retries then a dead-letter topic, and a transactional outbox.

Ordering guarantee: a service's consumer handles one message at a time and
never returns before the message is processed, dead-lettered or (if even the
DLQ is unreachable) nacked. FastStream's ack commits every assigned
partition's position, so nothing may be skipped silently.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from faststream.kafka.opentelemetry import KafkaTelemetryMiddleware
from opentelemetry import context as otel_context
from opentelemetry import propagate
from opentelemetry.trace import SpanKind

from pupilpost import db, telemetry
from pupilpost.settings import PlatformSettings
from schemas import Envelope, TraceContext, UnknownEvent, decode, encode
from schemas.dlq import DeadLetterV1
from schemas.registry import MODELS, TOPICS, consumed_by, topic_of

log = logging.getLogger("pupilpost.bus")

Handler = Callable[[Any, db.Conn], Awaitable[None]]


class BrokerUnreachable(RuntimeError):
    """The configured Kafka-API broker could not be reached; the message says where."""


class PermanentFailure(Exception):
    """A handler's verdict that retrying cannot help: dead-letter at once.

    Its message goes into the DLQ record, so it must name the problem, never personal data.
    """

    safe_message = True


def make_broker(platform: PlatformSettings, service: str) -> KafkaBroker:
    """A FastStream Kafka broker with trace propagation in headers."""
    return KafkaBroker(
        platform.kafka_bootstrap,
        client_id=f"pupilpost-{service}",
        enable_idempotence=platform.kafka_idempotence,
        acks="all",
        middlewares=[KafkaTelemetryMiddleware()],
        logger=None,
    )


def full_name(platform: PlatformSettings, topic: str) -> str:
    """Topic name with the deployment's prefix (tests use a fresh prefix each)."""
    return f"{platform.topic_prefix}{topic}"


async def ensure_topics(platform: PlatformSettings, names: list[str]) -> None:
    """Create topics (and their DLQs) if missing, with the configured partition count."""
    admin = AIOKafkaAdminClient(bootstrap_servers=platform.kafka_bootstrap, request_timeout_ms=10_000)
    try:
        await admin.start()
    except (KafkaError, OSError) as exc:
        raise BrokerUnreachable(f"cannot reach Kafka at {platform.kafka_bootstrap}: {exc}") from exc
    try:
        existing = set(await admin.list_topics())
        wanted = [full_name(platform, n) for name in names for n in (name, f"{name}.dlq")]
        new = [NewTopic(n, platform.kafka_partitions, 1) for n in dict.fromkeys(wanted) if n not in existing]
        if new:
            try:
                await admin.create_topics(new)
            except TopicAlreadyExistsError:
                pass
    finally:
        await admin.close()


@dataclass
class Outbox:
    """Writes events into the service's outbox table inside the caller's transaction."""

    schema: str

    async def add(self, conn: db.Conn, *events: Envelope) -> None:
        """Stage events for publication after commit, stamped with the current trace."""
        carrier = telemetry.current_carrier()
        rows = []
        for event in events:
            if carrier.get("traceparent") and event.trace is None:
                event = event.model_copy(update={"trace": TraceContext(
                    traceparent=carrier["traceparent"], tracestate=carrier.get("tracestate", ""))})
            rows.append((event.event_id, topic_of(event), event.key, encode(event), carrier))
        await conn.executemany(
            f"INSERT INTO {self.schema}.outbox (event_id, topic, key, payload, headers)"
            " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (event_id) DO NOTHING", rows)


@dataclass
class OutboxRelay:
    """Publishes committed outbox rows in order, woken by NOTIFY, with a polling fallback.

    A crash after publish but before the row is deleted republishes it: consumers
    deduplicate by event_id, so the effect is at-least-once with exactly-once processing.
    """

    pool: db.Pool
    schema: str
    broker: KafkaBroker
    platform: PlatformSettings
    batch: int = 500
    _wake: asyncio.Event = field(default_factory=asyncio.Event)
    _task: asyncio.Task | None = None
    _listener: Any = None

    async def start(self) -> None:
        """Listen for new rows and start the publishing loop."""
        self._listener = await self.pool.acquire()
        await self._listener.add_listener(f"{self.schema}_outbox", self._notified)
        self._task = asyncio.create_task(self._run(), name=f"{self.schema}-outbox-relay")

    async def stop(self) -> None:
        """Stop the loop; unpublished rows stay for the next start."""
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._listener is not None:
            await self._listener.remove_listener(f"{self.schema}_outbox", self._notified)
            await self.pool.release(self._listener)
            self._listener = None

    def _notified(self, *_: object) -> None:
        self._wake.set()

    async def _run(self) -> None:
        while True:
            try:
                while await self.publish_pending():
                    pass
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the loop must survive broker/db blips
                log.warning("outbox relay for %s: %s", self.schema, exc.__class__.__name__)
                await asyncio.sleep(1)
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), self.platform.outbox_poll_seconds)
            except TimeoutError:
                pass

    async def publish_pending(self) -> int:
        """Publish one batch of pending rows; returns how many were published."""
        async with self.pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                f"SELECT id, topic, key, payload, headers FROM {self.schema}.outbox"
                " ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED", self.batch)
            sent = []
            for r in rows:  # enqueue in order (per-partition order holds), then wait for all acks
                token = telemetry.attach_carrier(r["headers"])
                try:
                    sent.append(await self.broker.publish(
                        bytes(r["payload"]), full_name(self.platform, r["topic"]),
                        key=r["key"].encode(), headers={"content-type": "application/json"},
                        no_confirm=True))
                finally:
                    otel_context.detach(token)
            await asyncio.gather(*sent)
            if rows:
                await conn.execute(f"DELETE FROM {self.schema}.outbox WHERE id = ANY($1::bigint[])",
                                   [r["id"] for r in rows])
            return len(rows)


@dataclass(frozen=True)
class Work:
    """One decoded record and the handler it goes to."""

    record: Any
    topic: str
    event: Envelope
    handler: Handler


FETCH_MAX_WAIT_MS = 500  # aiokafka's default long poll, for the main consumer groups


@dataclass(frozen=True)
class Lane:
    """A consumer group of its own, beside the service's main one, for the events `takes` picks
    from `topics`; the main group passes those events by. An urgent message then never queues
    behind a snow day's bulk work: the two groups fetch and handle independently, each in order.
    Both lanes share the service's handlers and its processed-event table."""

    name: str
    topics: tuple[str, ...]
    takes: Callable[[Envelope], bool]
    # How long the broker may hold a fetch open when there is nothing new. Tansu answers an empty
    # long poll only when it ends (measured: one hop 122 ms at the client's 500 ms default, 12 ms
    # at 20 ms), so a lane that must be quick asks for short polls; they cost an idle request
    # every `fetch_max_wait_ms` per consumer.
    fetch_max_wait_ms: int = FETCH_MAX_WAIT_MS

    def owns(self, topic: str, event: Envelope) -> bool:
        """Whether this lane (not the main group) handles `event` read from `topic`."""
        return topic in self.topics and self.takes(event)


@dataclass
class Consumer:
    """One consumer group of one service: the main group over all the topics it consumes
    (minus what its lanes take), or, with `lane`, that lane's group."""

    service: str
    schema: str
    broker: KafkaBroker
    platform: PlatformSettings
    pool_ref: Callable[[], db.Pool]
    handlers: dict[type[Envelope], Handler]
    lanes: tuple[Lane, ...] = ()
    lane: Lane | None = None

    @property
    def group(self) -> str:
        """The registry-level group name: the service's, or `<service>-<lane>`."""
        return self.service if self.lane is None else f"{self.service}-{self.lane.name}"

    def topics(self) -> list[str]:
        """The registry names of topics this group consumes."""
        if self.lane is not None:
            return list(self.lane.topics)
        return [t.name for t in consumed_by(self.service)]

    def _passes_by(self, topic: str, event: Envelope) -> bool:
        if self.lane is not None:
            return not self.lane.owns(topic, event)
        return any(lane.owns(topic, event) for lane in self.lanes)

    def register(self) -> None:
        """Subscribe to this group's topics with one batch consumer (one group join)."""
        names = [full_name(self.platform, t) for t in self.topics()]
        self.broker.subscriber(
            *names,
            batch=True,
            max_records=self.platform.consumer_batch,
            batch_timeout_ms=200,
            group_id=full_name(self.platform, self.group),
            fetch_max_wait_ms=self.lane.fetch_max_wait_ms if self.lane is not None else FETCH_MAX_WAIT_MS,
            auto_offset_reset="earliest",
            ack_policy=AckPolicy.NACK_ON_ERROR,
            session_timeout_ms=self.platform.kafka_session_timeout_ms,
            heartbeat_interval_ms=self.platform.kafka_heartbeat_interval_ms,
            max_poll_interval_ms=300_000,
        )(self._on_batch)

    async def _on_batch(self, bodies: list[Any], msg: KafkaMessage) -> None:
        """Settle every record of a poll before the batch is acked (one offset commit per batch)."""
        records = msg.raw_message if isinstance(msg.raw_message, tuple | list) else (msg.raw_message,)
        by_school: dict[str, list[Work]] = {}
        for record in records:
            work = await self._decode(record)
            if work is not None:
                by_school.setdefault(work.event.key, []).append(work)
        for batch in by_school.values():
            await self._settle(batch)

    async def _decode(self, record: Any) -> Work | None:
        topic = record.topic.removeprefix(self.platform.topic_prefix)
        try:
            event = decode(record.value, MODELS)
            if type(event) not in TOPICS[topic].models:
                raise UnknownEvent(f"{event.type} v{event.version} does not belong on {topic}")
            handler = self.handlers.get(type(event))
            if handler is None:
                raise UnknownEvent(f"{self.service} has no handler for {event.type} v{event.version}")
        except UnknownEvent as exc:
            if self.lane is None:  # the main group dead-letters what cannot be read; a lane leaves it
                await self.dead_letter(record, topic, exc, attempts=1)
            return None
        if self._passes_by(topic, event):
            return None
        return Work(record, topic, event, handler)

    async def _settle(self, batch: list[Work]) -> None:
        """One school's records in one transaction; if that fails, each on its own with retries."""
        if len(batch) > 1:
            try:
                await self._handle(batch)
                return
            except Exception as exc:  # one bad record must not sink the others: go one by one
                log.info("%s: batch of %d failed (%s); settling one by one", self.service, len(batch),
                         exc.__class__.__name__)
        for work in batch:
            await self._process(work)

    async def _process(self, work: Work) -> None:
        attempts = self.platform.consumer_retries
        for attempt in range(1, attempts + 1):
            try:
                await self._handle([work])
                return
            except PermanentFailure as exc:
                await self.dead_letter(work.record, work.topic, exc, attempts=attempt)
                return
            except Exception as exc:
                if attempt == attempts:
                    await self.dead_letter(work.record, work.topic, exc, attempts=attempt)
                    return
                log.warning("%s: %s on %s attempt %d", self.service, exc.__class__.__name__, work.topic, attempt)
                await asyncio.sleep(self.platform.consumer_retry_base_seconds * 2 ** (attempt - 1))

    async def _handle(self, batch: list[Work]) -> None:
        """Run handlers in one tenant transaction, skipping events already processed."""
        pool, school_id = self.pool_ref(), batch[0].event.school_id
        scope = db.tenant_tx(pool, school_id) if school_id else db.operator_tx(pool)
        async with scope as conn:
            fresh = {r["event_id"] for r in await conn.fetch(
                f"INSERT INTO {self.schema}.processed_event (event_id, topic)"
                " SELECT * FROM unnest($1::uuid[], $2::text[]) ON CONFLICT DO NOTHING RETURNING event_id",
                [w.event.event_id for w in batch], [w.topic for w in batch])}
            for work in batch:
                if work.event.event_id in fresh:
                    fresh.discard(work.event.event_id)  # a duplicate within the batch runs once
                    await self._run(work, conn)

    async def _run(self, work: Work, conn: db.Conn) -> None:
        # Each event's span continues the trace of the operation that produced it.
        parent = propagate.extract({k: v.decode(errors="replace") for k, v in work.record.headers or ()})
        name = f"{self.service} handle {work.event.type}"
        with telemetry.tracer.start_as_current_span(name, context=parent, kind=SpanKind.CONSUMER) as span:
            span.set_attribute("pupilpost.event_id", str(work.event.event_id))
            span.set_attribute("pupilpost.school_id", work.event.key)
            await work.handler(work.event, conn)

    async def dead_letter(self, record: Any, topic: str, exc: BaseException, attempts: int) -> None:
        """Publish the original bytes and the reason to `<topic>.dlq`; raise if that fails (nack)."""
        letter = DeadLetterV1.of(
            topic=topic, partition=record.partition, offset=record.offset,
            key=record.key.decode(errors="replace") if record.key else None, value=record.value or b"",
            error=exc, attempts=attempts, consumer_group=full_name(self.platform, self.group),
            now=datetime.now(UTC))
        await self.broker.publish(letter.model_dump_json().encode(),
                                  full_name(self.platform, TOPICS[topic].dlq), key=record.key)
        log.error("%s: dead-lettered %s[%d]@%d: %s", self.service, topic, record.partition,
                  record.offset, letter.error_type)
