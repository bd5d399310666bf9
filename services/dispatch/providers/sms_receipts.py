"""SMPP delivery receipts: the de-facto standard text (SMPP 3.4 Appendix B) and the 3.4 TLVs.

"id:IIIIIIIIII sub:SSS dlvrd:DDD submit date:YYMMDDhhmm done date:YYMMDDhhmm
stat:DDDDDDD err:E text:..." -- only the fields before `text:` are read, so
the message excerpt that some SMSCs echo back is never parsed or kept.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

TLV_RECEIPTED_MESSAGE_ID = 0x001E
TLV_MESSAGE_STATE = 0x0427
TLV_NETWORK_ERROR_CODE = 0x0423

_FIELD = re.compile(r"(id|sub|dlvrd|submit date|done date|stat|err):(\S*)", re.IGNORECASE)
_TEXT = re.compile(r"\btext:", re.IGNORECASE)
_DELIVERED = {"DELIVRD", "DELIVERED"}
_FAILED = {"UNDELIV", "UNDELIVERABLE", "EXPIRED", "DELETED", "REJECTD", "REJECTED"}
# message_state TLV values (SMPP 3.4 §5.2.28) as receipt stat words.
_STATE_WORDS = {1: "ENROUTE", 2: "DELIVRD", 3: "EXPIRED", 4: "DELETED", 5: "UNDELIV", 6: "ACCEPTD",
                7: "UNKNOWN", 8: "REJECTD"}


@dataclass(frozen=True)
class Receipt:
    """What a delivery receipt says about one message."""

    message_id: str
    stat: str
    error_code: str | None

    @property
    def outcome(self) -> Literal["delivered", "failed"] | None:
        """'delivered', 'failed', or None for an intermediate state (ENROUTE, ACCEPTD, UNKNOWN)."""
        if self.stat in _DELIVERED:
            return "delivered"
        if self.stat in _FAILED:
            return "failed"
        return None


def _cstring(value: bytes) -> str:
    return value.split(b"\x00", 1)[0].decode("ascii", "replace").strip()


def parse_receipt(short_message: bytes | str, tlvs: Mapping[int, bytes] | None = None) -> Receipt | None:
    """The receipt in a deliver_sm (text and/or TLVs); None if it carries no message id."""
    text = short_message.decode("latin-1") if isinstance(short_message, bytes) else short_message
    head = text[:m.start()] if (m := _TEXT.search(text)) else text
    fields = {k.lower(): v for k, v in _FIELD.findall(head)}
    tlvs = tlvs or {}
    message_id = _cstring(tlvs[TLV_RECEIPTED_MESSAGE_ID]) if TLV_RECEIPTED_MESSAGE_ID in tlvs else ""
    message_id = message_id or fields.get("id", "")
    state = tlvs.get(TLV_MESSAGE_STATE, b"")
    stat = _STATE_WORDS.get(state[0], "UNKNOWN") if len(state) == 1 else fields.get("stat", "UNKNOWN")
    error = fields.get("err")
    if error is None and len(tlvs.get(TLV_NETWORK_ERROR_CODE, b"")) == 3:
        error = str(int.from_bytes(tlvs[TLV_NETWORK_ERROR_CODE][1:], "big"))
    if not message_id:
        return None
    return Receipt(message_id=message_id, stat=stat.upper(), error_code=error)
