"""A local SMS centre that speaks SMPP 3.4: binds ESMEs, keeps messages, sends delivery receipts.

It stands in for the SMS aggregator at its network boundary. Numbers matching
`fail_patterns` get an UNDELIV receipt with the configured error code, numbers
matching `delay_patterns` get their receipt late, and submits beyond
`max_submits_per_second` are answered with ESME_RTHROTTLED (0x58).
"""
from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import itertools
import time
from collections.abc import Coroutine, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from pupilpost.peers import smpp
from pupilpost.peers.http import HttpServer
from pupilpost.peers.smsc_session import Session

TLV_CLIENT_REFERENCE = 0x1501  # the sender's idempotency key (vendor-specific range)


@dataclass(frozen=True)
class SmscConfig:
    """How the SMS centre behaves; glob patterns match E.164 numbers like '+447700900123'."""

    host: str = "127.0.0.1"
    port: int = 2775
    http_port: int = 2776
    system_id: str = "pupilpost"
    password: str = "secret"
    receipt_delay: float = 0.2
    fail_patterns: Mapping[str, str] = field(default_factory=dict)  # pattern -> 3-digit err
    delay_patterns: tuple[str, ...] = ()
    delayed_receipt_after: float = 5.0
    max_submits_per_second: float | None = None
    enquire_link_interval: float | None = 30.0


@dataclass
class SmsRecord:
    """One message the SMS centre accepted."""

    id: str
    system_id: str
    source: str
    destination: str
    text: str
    data_coding: int
    received_at: str
    wants_receipt: bool
    state: str = "ENROUTE"
    error: str = "000"
    receipt_sent_at: str | None = None

    def as_json(self) -> dict[str, object]:
        """The record as the JSON view shows it."""
        return dict(self.__dict__)


class _Bucket:
    """A token bucket: `rate` tokens a second, at most `rate` (at least 1) banked."""

    def __init__(self, rate: float) -> None:
        self.rate, self.capacity = rate, max(1.0, rate)
        self.tokens, self.at = self.capacity, time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens < 1.0:
            return False
        self.tokens -= 1.0
        return True


def decode_text(data: bytes, data_coding: int) -> str:
    """The text of a short message for the common data codings (0, 1, 3, 8)."""
    if data_coding == 8:
        return data.decode("utf-16-be", "replace")
    if data_coding == 1:
        return data.decode("ascii", "replace")
    return data.decode("latin-1")


def e164(address: str, ton: int) -> str:
    """The address as E.164 when its type of number says international."""
    return f"+{address}" if ton == 1 and not address.startswith("+") else address


def _stamp(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).strftime("%y%m%d%H%M")


def receipt_text(record: SmsRecord, submitted: float) -> str:
    """The de-facto standard receipt text (SMPP 3.4 Appendix B)."""
    delivered = record.state == "DELIVRD"
    return (f"id:{record.id} sub:001 dlvrd:{'001' if delivered else '000'} "
            f"submit date:{_stamp(submitted)} done date:{_stamp(time.time())} "
            f"stat:{record.state} err:{record.error} text:{record.text[:20]}")


class SmscPeer:
    """The SMPP server, its message store and its JSON view."""

    def __init__(self, config: SmscConfig) -> None:
        self.config = config
        self.messages: dict[str, SmsRecord] = {}
        self.sessions: set[Session] = set()
        self.port = config.port
        self.link_checks_answered = 0
        self._ids = itertools.count(1)
        # Client references (TLV 0x1501) seen: a re-submission gets the first message id back.
        self.by_reference: dict[bytes, str] = {}
        self.duplicates = 0
        self._bucket = _Bucket(config.max_submits_per_second) if config.max_submits_per_second else None
        self._held: list[tuple[SmsRecord, float]] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._server: asyncio.Server | None = None
        self.http = HttpServer(self._app(), config.host, config.http_port)

    async def start(self) -> None:
        """Listen for SMPP and HTTP."""
        self._server = await asyncio.start_server(self._accept, self.config.host, self.config.port)
        self.port = int(self._server.sockets[0].getsockname()[1])
        try:
            await self.http.start()
        except BaseException:
            self._server.close()
            raise

    async def stop(self) -> None:
        """Close every session and both listeners."""
        if self._server is not None:
            self._server.close()
        for session in list(self.sessions):
            session.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)
        await self.http.stop()

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        session = Session(self, reader, writer)
        self.sessions.add(session)
        try:
            await session.run()
        finally:
            self.sessions.discard(session)

    def check_bind(self, bind: smpp.Bind) -> int:
        """The command_status for a bind with these credentials."""
        if bind.system_id != self.config.system_id:
            return smpp.ESME_RINVSYSID
        if bind.password != self.config.password:
            return smpp.ESME_RINVPASWD
        return smpp.ESME_ROK

    def on_bound(self, session: Session) -> None:
        """Hand receipts held for this system to a newly bound receiver."""
        held, self._held = self._held, []
        for record, submitted in held:
            self._spawn(self._send_receipt(record, submitted, 0.0))

    def accept_submit(self, system_id: str, sm: smpp.ShortMessage) -> tuple[int, str]:
        """Decide a submit_sm: (command_status, message_id)."""
        if not sm.destination_addr:
            return smpp.ESME_RINVDSTADR, ""
        if self._bucket is not None and not self._bucket.take():
            return smpp.ESME_RTHROTTLED, ""
        reference = sm.tlvs.get(TLV_CLIENT_REFERENCE)
        if reference and reference in self.by_reference:
            self.duplicates += 1
            return smpp.ESME_ROK, self.by_reference[reference]
        record = SmsRecord(
            id=f"{next(self._ids):010x}", system_id=system_id,
            source=e164(sm.source_addr, sm.source_addr_ton),
            destination=e164(sm.destination_addr, sm.dest_addr_ton),
            text=decode_text(sm.payload, sm.data_coding), data_coding=sm.data_coding,
            received_at=datetime.now(UTC).isoformat(), wants_receipt=bool(sm.registered_delivery & 0x03))
        self.messages[record.id] = record
        if reference:
            self.by_reference[reference] = record.id
        self._spawn(self._finish(record, time.time()))
        return smpp.ESME_ROK, record.id

    async def _finish(self, record: SmsRecord, submitted: float) -> None:
        delay = self.config.receipt_delay
        for pattern, err in self.config.fail_patterns.items():
            if fnmatch.fnmatchcase(record.destination, pattern):
                record.state, record.error = "UNDELIV", err
                break
        else:
            record.state = "DELIVRD"
            if any(fnmatch.fnmatchcase(record.destination, p) for p in self.config.delay_patterns):
                delay = self.config.delayed_receipt_after
        await self._send_receipt(record, submitted, delay)

    async def _send_receipt(self, record: SmsRecord, submitted: float, delay: float) -> None:
        await asyncio.sleep(delay)
        if not record.wants_receipt:
            return
        session = next((s for s in self.sessions if s.can_receive and s.system_id == record.system_id), None)
        if session is None or not await session.deliver_receipt(record, receipt_text(record, submitted)):
            self._held.append((record, submitted))
            return
        record.receipt_sent_at = datetime.now(UTC).isoformat()

    def _app(self) -> Starlette:
        async def listing(request: Request) -> Response:
            if request.method == "DELETE":
                self.messages.clear()
                return Response(status_code=204)
            return JSONResponse([m.as_json() for m in self.messages.values()])

        async def one(request: Request) -> Response:
            record = self.messages.get(request.path_params["id"])
            return JSONResponse(record.as_json()) if record else JSONResponse({"error": "not found"}, 404)

        return Starlette(routes=[Route("/messages", listing, methods=["GET", "DELETE"]),
                                 Route("/messages/{id}", one)])
