"""Talking to the test broker as an outside producer or observer would."""
from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from schemas import Envelope, encode


async def produce(bootstrap: str, topic: str, *values: bytes | Envelope, key: bytes = b"k") -> None:
    """Publish raw bytes or events to `topic`, in order, on one partition (same key)."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=False)
    await producer.start()
    try:
        for value in values:
            raw = encode(value) if isinstance(value, Envelope) else value
            await producer.send_and_wait(topic, raw, key=key)
    finally:
        await producer.stop()


async def read(bootstrap: str, topic: str, count: int, timeout: float = 20.0) -> list:
    """Read at least `count` records from the start of `topic` (fails after `timeout`)."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                                enable_auto_commit=False)
    await consumer.start()
    got: list = []
    try:
        async with asyncio.timeout(timeout):
            while len(got) < count:
                for records in (await consumer.getmany(timeout_ms=500)).values():
                    got.extend(records)
    except TimeoutError:
        raise AssertionError(f"only {len(got)} of {count} records on {topic}") from None
    finally:
        await consumer.stop()
    return got
