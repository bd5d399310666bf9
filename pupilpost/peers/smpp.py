"""A small SMPP 3.4 PDU codec: the handful of PDUs an SMSC simulator needs.

Wire format (SMPP 3.4 §3.2): a 16-octet header of four big-endian unsigned
integers (command_length, command_id, command_status, sequence_number) and a
body of C-octet strings (NUL-terminated), single octets and optional TLVs
(tag, length, value). Unknown TLVs are kept and otherwise ignored.
"""
from __future__ import annotations

import asyncio
import struct
from dataclasses import dataclass, field

HEADER = struct.Struct(">IIII")
MAX_PDU = 64 * 1024
RESP = 0x80000000

GENERIC_NACK = 0x80000000
BIND_RECEIVER = 0x00000001
BIND_TRANSMITTER = 0x00000002
QUERY_SM = 0x00000003
SUBMIT_SM = 0x00000004
DELIVER_SM = 0x00000005
UNBIND = 0x00000006
BIND_TRANSCEIVER = 0x00000009
ENQUIRE_LINK = 0x00000015
BINDS = (BIND_RECEIVER, BIND_TRANSMITTER, BIND_TRANSCEIVER)

ESME_ROK = 0x00
ESME_RINVMSGLEN = 0x01
ESME_RINVCMDLEN = 0x02
ESME_RINVCMDID = 0x03
ESME_RINVBNDSTS = 0x04
ESME_RALYBND = 0x05
ESME_RSYSERR = 0x08
ESME_RINVDSTADR = 0x0B
ESME_RBINDFAIL = 0x0D
ESME_RINVPASWD = 0x0E
ESME_RINVSYSID = 0x0F
ESME_RTHROTTLED = 0x58

TLV_RECEIPTED_MESSAGE_ID = 0x001E
TLV_MESSAGE_PAYLOAD = 0x0424
TLV_MESSAGE_STATE = 0x0427
TLV_SC_INTERFACE_VERSION = 0x0210

ESM_CLASS_DELIVERY_RECEIPT = 0x04


class PduError(ValueError):
    """A PDU that cannot be decoded; `status` is the command_status to answer with."""

    def __init__(self, reason: str, status: int = ESME_RINVCMDLEN) -> None:
        super().__init__(reason)
        self.status = status


@dataclass(frozen=True)
class Pdu:
    """One PDU: header fields plus the undecoded body."""

    command_id: int
    status: int
    sequence: int
    body: bytes = b""

    def encode(self) -> bytes:
        """The PDU on the wire."""
        return HEADER.pack(HEADER.size + len(self.body), self.command_id, self.status,
                           self.sequence) + self.body


@dataclass(frozen=True)
class Bind:
    """The body of a bind_transmitter / bind_receiver / bind_transceiver."""

    system_id: str
    password: str
    system_type: str
    interface_version: int


@dataclass(frozen=True)
class ShortMessage:
    """The body of a submit_sm or deliver_sm (same layout, SMPP 3.4 §4.4.1 / §4.6.1)."""

    source_addr: str
    destination_addr: str
    short_message: bytes = b""
    service_type: str = ""
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    dest_addr_ton: int = 0
    dest_addr_npi: int = 0
    esm_class: int = 0
    protocol_id: int = 0
    priority_flag: int = 0
    schedule_delivery_time: str = ""
    validity_period: str = ""
    registered_delivery: int = 0
    replace_if_present_flag: int = 0
    data_coding: int = 0
    sm_default_msg_id: int = 0
    tlvs: dict[int, bytes] = field(default_factory=dict)

    @property
    def payload(self) -> bytes:
        """The message octets: short_message, or the message_payload TLV when that is used."""
        return self.tlvs.get(TLV_MESSAGE_PAYLOAD, self.short_message)


class _Reader:
    """Reads body fields in order, refusing to run past the end."""

    def __init__(self, body: bytes) -> None:
        self.body, self.pos = body, 0

    def cstring(self, max_len: int) -> str:
        end = self.body.find(b"\x00", self.pos, self.pos + max_len)
        if end < 0:
            raise PduError("unterminated or over-long C-octet string")
        text = self.body[self.pos:end].decode("ascii", "replace")
        self.pos = end + 1
        return text

    def octet(self) -> int:
        if self.pos >= len(self.body):
            raise PduError("body too short")
        self.pos += 1
        return self.body[self.pos - 1]

    def octets(self, n: int) -> bytes:
        if self.pos + n > len(self.body):
            raise PduError("body too short", ESME_RINVMSGLEN)
        self.pos += n
        return self.body[self.pos - n:self.pos]

    def tlvs(self) -> dict[int, bytes]:
        found: dict[int, bytes] = {}
        while self.pos < len(self.body):
            if self.pos + 4 > len(self.body):
                raise PduError("truncated TLV")
            tag, length = struct.unpack_from(">HH", self.body, self.pos)
            self.pos += 4
            found[tag] = self.octets(length)
        return found


def _cstr(value: str) -> bytes:
    return value.encode("ascii") + b"\x00"


def decode_bind(body: bytes) -> Bind:
    """Decode a bind_* body (SMPP 3.4 §4.1)."""
    r = _Reader(body)
    system_id, password, system_type = r.cstring(16), r.cstring(9), r.cstring(13)
    version = r.octet()
    r.octet(), r.octet(), r.cstring(41)  # addr_ton, addr_npi, address_range
    return Bind(system_id, password, system_type, version)


def encode_bind(bind: Bind) -> bytes:
    """Encode a bind_* body."""
    return (_cstr(bind.system_id) + _cstr(bind.password) + _cstr(bind.system_type)
            + bytes([bind.interface_version, 0, 0]) + _cstr(""))


def encode_bind_resp(system_id: str) -> bytes:
    """A bind_*_resp body: the SMSC's system_id and its sc_interface_version TLV."""
    return _cstr(system_id) + struct.pack(">HHB", TLV_SC_INTERFACE_VERSION, 1, 0x34)


def decode_short_message(body: bytes) -> ShortMessage:
    """Decode a submit_sm / deliver_sm body (TLVs kept, unknown ones ignored)."""
    r = _Reader(body)
    service_type = r.cstring(6)
    src_ton, src_npi, src = r.octet(), r.octet(), r.cstring(21)
    dst_ton, dst_npi, dst = r.octet(), r.octet(), r.cstring(21)
    esm_class, protocol_id, priority = r.octet(), r.octet(), r.octet()
    schedule, validity = r.cstring(17), r.cstring(17)
    registered, replace, coding, default_id = r.octet(), r.octet(), r.octet(), r.octet()
    text = r.octets(r.octet())
    return ShortMessage(src, dst, text, service_type, src_ton, src_npi, dst_ton, dst_npi, esm_class,
                        protocol_id, priority, schedule, validity, registered, replace, coding,
                        default_id, r.tlvs())


def encode_short_message(sm: ShortMessage) -> bytes:
    """Encode a submit_sm / deliver_sm body."""
    if len(sm.short_message) > 254:
        raise PduError("short_message over 254 octets", ESME_RINVMSGLEN)
    head = (_cstr(sm.service_type) + bytes([sm.source_addr_ton, sm.source_addr_npi])
            + _cstr(sm.source_addr) + bytes([sm.dest_addr_ton, sm.dest_addr_npi])
            + _cstr(sm.destination_addr) + bytes([sm.esm_class, sm.protocol_id, sm.priority_flag])
            + _cstr(sm.schedule_delivery_time) + _cstr(sm.validity_period)
            + bytes([sm.registered_delivery, sm.replace_if_present_flag, sm.data_coding,
                     sm.sm_default_msg_id, len(sm.short_message)]) + sm.short_message)
    return head + b"".join(struct.pack(">HH", tag, len(v)) + v for tag, v in sm.tlvs.items())


def decode_message_id(body: bytes) -> str:
    """The message_id of a submit_sm_resp / deliver_sm_resp body ('' when absent)."""
    return _Reader(body).cstring(65) if body else ""


def encode_message_id(message_id: str) -> bytes:
    """A submit_sm_resp body."""
    return _cstr(message_id)


async def read_pdu(reader: asyncio.StreamReader) -> Pdu:
    """Read one PDU; raises IncompleteReadError at EOF and PduError on a bad length."""
    header = await reader.readexactly(HEADER.size)
    length, command_id, status, sequence = HEADER.unpack(header)
    if length < HEADER.size or length > MAX_PDU:
        raise PduError("bad command_length")
    return Pdu(command_id, status, sequence, await reader.readexactly(length - HEADER.size))
