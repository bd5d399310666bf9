"""One ESME connection to the local SMS centre: the SMPP 3.4 session state machine."""
from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from typing import TYPE_CHECKING

from pupilpost.peers import smpp

if TYPE_CHECKING:
    from pupilpost.peers.smsc import SmscPeer, SmsRecord

log = logging.getLogger(__name__)

RESPONSE_TIMEOUT = 5.0
WINDOW = 10  # outstanding requests per session (SMPP 3.4 §2.6 windowing)
_STATE_TLV = {"DELIVRD": 2, "EXPIRED": 3, "DELETED": 4, "UNDELIV": 5, "ACCEPTD": 6, "REJECTD": 8}


class Session:
    """Reads PDUs, answers them, and pushes deliver_sm receipts to a bound receiver."""

    def __init__(self, smsc: SmscPeer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.smsc, self.reader, self.writer = smsc, reader, writer
        self.bind_kind: int | None = None
        self.system_id = ""
        self._seq = itertools.count(1)
        self._waiting: dict[int, asyncio.Future[smpp.Pdu]] = {}
        self._keepalive: asyncio.Task[None] | None = None
        # Like a real SMSC, at most WINDOW deliver_sm unacknowledged at once on one session.
        self._window = asyncio.Semaphore(WINDOW)

    @property
    def can_receive(self) -> bool:
        """True once bound as receiver or transceiver."""
        return self.bind_kind in (smpp.BIND_RECEIVER, smpp.BIND_TRANSCEIVER)

    def close(self) -> None:
        """Drop the connection (the read loop then ends)."""
        self.writer.close()

    async def run(self) -> None:
        """Serve this connection until the ESME unbinds or goes away."""
        interval = self.smsc.config.enquire_link_interval
        if interval:
            self._keepalive = asyncio.create_task(self._enquire_links(interval))
        try:
            while not self.writer.is_closing():
                try:
                    pdu = await smpp.read_pdu(self.reader)
                except smpp.PduError as exc:
                    self._send(smpp.GENERIC_NACK, exc.status, 0)
                    break
                await self._dispatch(pdu)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            if self._keepalive is not None:
                self._keepalive.cancel()
            for waiter in self._waiting.values():
                if not waiter.done():
                    waiter.set_exception(ConnectionResetError("session closed"))
            self.bind_kind = None
            self.writer.close()

    def _send(self, command_id: int, status: int, sequence: int, body: bytes = b"") -> None:
        if not self.writer.is_closing():
            self.writer.write(smpp.Pdu(command_id, status, sequence, body).encode())

    async def _dispatch(self, pdu: smpp.Pdu) -> None:
        log.debug("smsc got command 0x%08x status 0x%02x seq %d", pdu.command_id, pdu.status, pdu.sequence)
        if pdu.command_id & smpp.RESP:
            if pdu.command_id == smpp.ENQUIRE_LINK | smpp.RESP:
                self.smsc.link_checks_answered += 1
            waiter = self._waiting.pop(pdu.sequence, None)
            if waiter is not None and not waiter.done():
                waiter.set_result(pdu)
            return
        resp = pdu.command_id | smpp.RESP
        try:
            if pdu.command_id in smpp.BINDS:
                self._bind(pdu)
            elif pdu.command_id == smpp.ENQUIRE_LINK:
                self._send(resp, smpp.ESME_ROK, pdu.sequence)
            elif pdu.command_id == smpp.UNBIND:
                self._send(resp, smpp.ESME_ROK, pdu.sequence)
                await self.writer.drain()
                self.writer.close()
            elif pdu.command_id == smpp.SUBMIT_SM:
                self._submit(pdu)
            else:
                self._send(smpp.GENERIC_NACK, smpp.ESME_RINVCMDID, pdu.sequence)
        except smpp.PduError as exc:
            self._send(resp, exc.status, pdu.sequence)
        await self.writer.drain()

    def _bind(self, pdu: smpp.Pdu) -> None:
        resp = pdu.command_id | smpp.RESP
        if self.bind_kind is not None:
            self._send(resp, smpp.ESME_RALYBND, pdu.sequence)
            return
        bind = smpp.decode_bind(pdu.body)
        status = self.smsc.check_bind(bind)
        if status != smpp.ESME_ROK:
            log.info("smsc refused a bind (status 0x%02x)", status)
            self._send(resp, status, pdu.sequence)
            self.writer.close()  # as real SMSCs do: a refused bind ends the session
            return
        self.bind_kind, self.system_id = pdu.command_id, bind.system_id
        self._send(resp, smpp.ESME_ROK, pdu.sequence, smpp.encode_bind_resp(self.smsc.config.system_id))
        if self.can_receive:
            self.smsc.on_bound(self)

    def _submit(self, pdu: smpp.Pdu) -> None:
        resp = pdu.command_id | smpp.RESP
        if self.bind_kind not in (smpp.BIND_TRANSMITTER, smpp.BIND_TRANSCEIVER):
            self._send(resp, smpp.ESME_RINVBNDSTS, pdu.sequence)
            return
        status, message_id = self.smsc.accept_submit(self.system_id, smpp.decode_short_message(pdu.body))
        body = smpp.encode_message_id(message_id) if status == smpp.ESME_ROK else b""
        self._send(resp, status, pdu.sequence, body)

    async def request(self, command_id: int, body: bytes = b"") -> smpp.Pdu:
        """Send a request PDU and wait for its response."""
        sequence = next(self._seq)
        waiter: asyncio.Future[smpp.Pdu] = asyncio.get_running_loop().create_future()
        self._waiting[sequence] = waiter
        self._send(command_id, smpp.ESME_ROK, sequence, body)
        try:
            await self.writer.drain()
            return await asyncio.wait_for(waiter, RESPONSE_TIMEOUT)
        finally:
            self._waiting.pop(sequence, None)

    async def deliver_receipt(self, record: SmsRecord, text: str) -> bool:
        """Send one delivery receipt; True once the ESME acknowledged it."""
        source, destination = record.destination.lstrip("+"), record.source.lstrip("+")
        sm = smpp.ShortMessage(
            source_addr=source, destination_addr=destination,
            source_addr_ton=1 if record.destination.startswith("+") else 0, source_addr_npi=1,
            dest_addr_ton=1 if record.source.startswith("+") else 5,
            esm_class=smpp.ESM_CLASS_DELIVERY_RECEIPT,
            short_message=text.encode("ascii", "replace")[:254],
            tlvs={smpp.TLV_RECEIPTED_MESSAGE_ID: record.id.encode("ascii") + b"\x00",
                  smpp.TLV_MESSAGE_STATE: bytes([_STATE_TLV.get(record.state, 7)])})
        try:
            async with self._window:
                resp = await self.request(smpp.DELIVER_SM, smpp.encode_short_message(sm))
        except (TimeoutError, ConnectionError):
            return False
        return resp.status == smpp.ESME_ROK

    async def _enquire_links(self, interval: float) -> None:
        while not self.writer.is_closing():
            await asyncio.sleep(interval)
            if self.bind_kind is None:
                continue
            with contextlib.suppress(TimeoutError, ConnectionError):
                await self.request(smpp.ENQUIRE_LINK)
