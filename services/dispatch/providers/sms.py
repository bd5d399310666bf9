"""SMS over SMPP 3.4 (the smpp34 library): one submit_sm per recipient, delivery receipts, keep-alive.

smpp34 runs the session (framing, sequence window, enquire_link every 30 s,
answering the SMSC's enquire_link) in its Rust core; this module adds what a
sender needs around it: a bind that is re-established with backoff, a token
bucket for the contracted send rate, ESME_RTHROTTLED handling, safe failure
classification, and delivery receipts turned into callbacks.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Literal

import smpp34

from services.dispatch.providers.base import (
    PermanentFailure,
    TokenBucket,
    TransientFailure,
)
from services.dispatch.providers.sms_receipts import Receipt, parse_receipt

log = logging.getLogger(__name__)

ESME_RTHROTTLED = 0x58
ESME_RMSGQFUL = 0x14
# Statuses that will not change on a retry (SMPP 3.4 §5.1.3): RINVMSGLEN, RINVSRCADR, RINVDSTADR,
# RINVESMCLASS, RINVSRCTON/NPI, RINVDSTTON/NPI, RINVSCHED, RINVEXPIRY, RX_P_APPN, RINVPARLEN, RINVOPTPARAMVAL.
PERMANENT_STATUSES = frozenset({0x01, 0x0A, 0x0B, 0x43, 0x48, 0x49, 0x50, 0x51, 0x61, 0x62, 0x65, 0xC2, 0xC4})
TLV_MESSAGE_PAYLOAD = 0x0424
# Vendor-specific TLV carrying our idempotency key (the delivery id) so an SMSC that supports
# client references can drop a re-submission after a crash; others pass it through untouched.
TLV_CLIENT_REFERENCE = 0x1501
# Inbound PDUs (receipts) the session buffers before it gives up on the ESME: the library's
# default dropped the bind under a snow day's burst of receipts (bench.snowday), so keep a deep
# buffer and drain it at once into a queue of our own.
INBOUND_CAPACITY = 4096
_E164 = re.compile(r"^\+[1-9]\d{6,14}$")
_STATUS_IN_ERROR = re.compile(r"\(0x([0-9A-Fa-f]{8})\)")

OnReceipt = Callable[[str, Literal["delivered", "failed"], str | None], Awaitable[None]]

__all__ = ["OnReceipt", "Receipt", "SmppProvider", "encode_text", "parse_receipt"]


def encode_text(text: str) -> tuple[int, bytes]:
    """(data_coding, octets): IA5/ASCII (1) when possible, else UCS-2 big-endian (8)."""
    try:
        return 1, text.encode("ascii")
    except UnicodeEncodeError:
        return 8, text.encode("utf-16-be")


def _address(addr: str) -> tuple[str, int, int]:
    """(address, ton, npi) for a sender: E.164, a numeric short code or an alphanumeric name."""
    if addr.startswith("+") and addr[1:].isdigit():
        return addr[1:], 1, 1
    if addr.isdigit():
        return addr, 0, 1
    return addr, 5, 0


def failure_for_status(status: int) -> TransientFailure | PermanentFailure:
    """A safe failure for a non-zero submit_sm_resp command_status."""
    code = f"0x{status:02X}"
    if status in (ESME_RTHROTTLED, ESME_RMSGQFUL):
        return TransientFailure("smsc throttled", code=code, retry_after=1.0)
    if status in PERMANENT_STATUSES:
        return PermanentFailure("smsc refused the message", code=code)
    return TransientFailure("smsc error", code=code)


class SmppProvider:
    """An ESME bound as transceiver: submits messages and receives their delivery receipts."""

    def __init__(self, host: str, port: int, system_id: str, password: str, *, source_addr: str,
                 rate_per_second: float, on_receipt: OnReceipt | None = None, throttle_retries: int = 2,
                 throttle_backoff: float = 0.5, submit_timeout: float = 10.0, connect_timeout: float = 5.0,
                 reconnect_delay: tuple[float, float] = (0.2, 10.0), window_size: int = 10) -> None:
        self.host, self.port = host, port
        self._credentials = (system_id, password)
        self._source = _address(source_addr)
        self.on_receipt = on_receipt
        self._bucket = TokenBucket(rate_per_second)
        self._throttle_retries, self._throttle_backoff = throttle_retries, throttle_backoff
        self._submit_timeout, self._connect_timeout = submit_timeout, connect_timeout
        self._reconnect_delay, self._window = reconnect_delay, window_size
        self._smsc: smpp34.Smsc | None = None
        self._bound = asyncio.Event()
        self._supervisor: asyncio.Task[None] | None = None
        # Receipts are handed to `on_receipt` by a task of their own, so a slow handler never stalls
        # the session's reads (a stalled session misses enquire_link and is dropped by the SMSC).
        self._receipts: asyncio.Queue[Receipt] = asyncio.Queue()
        self._receipt_task: asyncio.Task[None] | None = None
        self._stopping = False
        self.binds = 0

    @property
    def is_bound(self) -> bool:
        """True while a session to the SMSC is bound."""
        return self._bound.is_set()

    async def start(self) -> None:
        """Start binding (and re-binding whenever the session drops); waits up to connect_timeout."""
        if self._supervisor is None:
            self._stopping = False
            self._supervisor = asyncio.create_task(self._supervise(), name="smpp-supervisor")
            self._receipt_task = asyncio.create_task(self._hand_receipts(), name="smpp-receipts")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._bound.wait(), self._connect_timeout + 1.0)

    async def stop(self) -> None:
        """Unbind politely and stop re-binding."""
        self._stopping = True
        smsc, self._smsc = self._smsc, None
        if smsc is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(smsc.unbind(), 5)
        for task in (self._supervisor, self._receipt_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._supervisor = self._receipt_task = None
        self._bound.clear()

    async def submit(self, to_e164: str, text: str, reference: str) -> str:
        """Submit one SMS to one number; returns the SMSC's message_id."""
        if not _E164.match(to_e164):
            raise ValueError("recipient must be an E.164 number like +447700900123")
        coding, octets = encode_text(text)
        body, tlvs = (octets, []) if len(octets) <= 254 else (b"", [smpp34.Tlv(TLV_MESSAGE_PAYLOAD, octets)])
        tlvs.append(smpp34.Tlv(TLV_CLIENT_REFERENCE, reference.encode("ascii", "replace")[:64]))
        attempt = 0
        while True:
            await self._bucket.acquire()
            status, message_id = await self._submit_once(await self._wait_bound(), to_e164[1:], body,
                                                         coding, tlvs)
            if status == 0 and message_id:
                return message_id
            if status in (ESME_RTHROTTLED, ESME_RMSGQFUL) and attempt < self._throttle_retries:
                attempt += 1
                await asyncio.sleep(self._throttle_backoff * 2 ** (attempt - 1))
                continue
            failure = failure_for_status(status) if status else TransientFailure("smsc gave no message id")
            log.info("sms delivery %s failed: %s", reference, failure)
            raise failure

    async def _submit_once(self, smsc: smpp34.Smsc, destination: str, body: bytes, coding: int,
                           tlvs: list[smpp34.Tlv]) -> tuple[int, str | None]:
        source, ton, npi = self._source
        try:
            resp = await asyncio.wait_for(smsc.submit_sm(
                destination, body, source_addr=source, source_addr_ton=ton, source_addr_npi=npi,
                dest_addr_ton=1, dest_addr_npi=1, registered_delivery=1, data_coding=coding, tlvs=tlvs),
                self._submit_timeout)
        except TimeoutError:
            raise TransientFailure("smsc submit timed out") from None
        except smpp34.SmppError as exc:
            found = _STATUS_IN_ERROR.search(str(exc))  # a generic_nack, or the session failed
            return (int(found.group(1), 16) if found else 0x08), None
        return resp.command_status, resp.message_id

    async def _wait_bound(self) -> smpp34.Smsc:
        try:
            await asyncio.wait_for(self._bound.wait(), self._submit_timeout)
        except TimeoutError:
            raise TransientFailure("smsc not bound") from None
        if self._smsc is None:
            raise TransientFailure("smsc not bound")
        return self._smsc

    async def _supervise(self) -> None:
        delay = self._reconnect_delay[0]
        while not self._stopping:
            system_id, password = self._credentials
            client = smpp34.Client(self.host, self.port, system_id, password, bind_type="TRX",
                                   window_size=self._window,
                                   inbound_capacity=INBOUND_CAPACITY,
                                   connect_timeout_ms=int(self._connect_timeout * 1000))
            try:
                smsc = await client.connect()
            except smpp34.SmppError as exc:
                log.warning("smsc bind failed (%s); retrying in %.1fs", str(exc)[:80], delay)
                with contextlib.suppress(Exception):
                    await client.stop()
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._reconnect_delay[1])
                continue
            delay = self._reconnect_delay[0]
            self._smsc, self.binds = smsc, self.binds + 1
            self._bound.set()
            log.info("smsc bound (session %d)", self.binds)
            try:
                await self._read_events(smsc)
            finally:
                self._bound.clear()
                self._smsc = None
                with contextlib.suppress(Exception):
                    await client.stop()
            if not self._stopping:
                log.warning("smsc session dropped; re-binding")

    async def _read_events(self, smsc: smpp34.Smsc) -> None:
        while True:
            event = await smsc.next()
            if isinstance(event, smpp34.Disconnected):
                return
            if event.esm_class & 0x3C != 0x04:
                log.info("ignored an inbound (MO) SMS")
                continue
            receipt = parse_receipt(event.short_message, {t.tag: t.value for t in event.tlvs})
            if receipt is None or receipt.outcome is None or self.on_receipt is None:
                continue
            self._receipts.put_nowait(receipt)

    async def _hand_receipts(self) -> None:
        while True:
            receipt = await self._receipts.get()
            if self.on_receipt is None or receipt.outcome is None:
                continue
            try:
                await self.on_receipt(receipt.message_id, receipt.outcome, receipt.error_code)
            except Exception as exc:  # noqa: BLE001 - one bad receipt must not stop the others
                log.error("receipt handler failed for message %s: %s", receipt.message_id, type(exc).__name__)
