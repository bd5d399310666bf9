"""Inbound bounces: parse RFC 3464 delivery status notifications and listen for them over SMTP.

A DSN comes back to the VERP return path `bounces+<delivery_id>@...` that
EmailProvider put on the envelope, so the envelope recipient names the
delivery; the original Message-ID (`<delivery_id@...>`) is the fallback.
Diagnostics often quote the failed address: they are redacted here.
"""
from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import Message
from email.parser import HeaderParser
from typing import Literal, Self

from aiosmtpd.smtp import SMTP, Envelope, Session

from services.dispatch.providers.email import delivery_id_from_verp

log = logging.getLogger(__name__)
# aiosmtpd logs every envelope address at INFO; keep addresses out of the logs.
logging.getLogger("mail.log").setLevel(logging.WARNING)

_ADDRESS = re.compile(r"<?[^\s<>@;,]+@[^\s<>;,]+>?")
_STATUS = re.compile(r"^([245])\.(\d{1,3})\.(\d{1,3})")


@dataclass(frozen=True)
class Bounce:
    """One failed or delayed delivery reported by a DSN (no addresses inside)."""

    delivery_id: str | None
    message_id: str | None
    action: Literal["failed", "delayed"]
    status: str
    diagnostic: str | None

    @property
    def permanent(self) -> bool:
        """True for a hard bounce (a failed action with a 5.x.x status)."""
        return self.action == "failed" and self.status.startswith("5")


def redact(text: str) -> str:
    """The text with anything that looks like an email address replaced."""
    return _ADDRESS.sub("<redacted>", text)


def _status_blocks(report: Message) -> list[Message]:
    for part in report.walk():
        if part.get_content_type() == "message/delivery-status":
            payload = part.get_payload()
            return [p for p in payload if isinstance(p, Message)] if isinstance(payload, list) else []
    return []


def _original_headers(report: Message) -> Message | None:
    for part in report.walk():
        kind = part.get_content_type()
        if kind == "message/rfc822":
            inner = part.get_payload()
            return inner[0] if isinstance(inner, list) and inner and isinstance(inner[0], Message) else None
        if kind == "text/rfc822-headers":
            body = part.get_payload(decode=True)
            text = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(part.get_payload())
            return HeaderParser().parsestr(text)
    return None


def _message_id_local(message_id: str | None) -> str | None:
    if not message_id:
        return None
    local = message_id.strip().strip("<>").rpartition("@")[0]
    return local or None


def parse_dsn(raw: bytes, *, envelope_to: str | None = None) -> Bounce | None:
    """The failed/delayed delivery a DSN reports, or None if it is no such DSN."""
    report = message_from_bytes(raw, policy=policy.compat32)
    if report.get_content_type() != "multipart/report":
        return None
    if str(report.get_param("report-type") or "").lower() != "delivery-status":
        return None
    per_recipient = [b for b in _status_blocks(report)[1:] if b.get("Action")]
    chosen = next((b for b in per_recipient
                   if str(b["Action"]).strip().lower() in ("failed", "delayed")), None)
    if chosen is None:
        return None
    action = str(chosen["Action"]).strip().lower()
    found = _STATUS.match(str(chosen.get("Status", "")).strip())
    status = ".".join(found.groups()) if found else ("5.0.0" if action == "failed" else "4.0.0")
    diagnostic = chosen.get("Diagnostic-Code")
    original = _original_headers(report)
    message_id = str(original["Message-ID"]).strip() if original and original["Message-ID"] else None
    delivery_id = (delivery_id_from_verp(envelope_to or "")
                   or delivery_id_from_verp(str(report.get("To", "")))
                   or _message_id_local(message_id))
    return Bounce(delivery_id=delivery_id, message_id=message_id,
                  action=action,  # type: ignore[arg-type]
                  status=status,
                  diagnostic=redact(" ".join(str(diagnostic).split())) if diagnostic else None)


OnBounce = Callable[[Bounce], Awaitable[None]]


class _Handler:
    """aiosmtpd hooks: accept only VERP bounce addresses, hand each DSN to the callback."""

    def __init__(self, on_bounce: OnBounce) -> None:
        self.on_bounce = on_bounce

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope, address: str,
                          rcpt_options: list[str]) -> str:
        if delivery_id_from_verp(address) is None:
            return "550 5.1.1 Not a bounce address"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        for rcpt in envelope.rcpt_tos:
            bounce = parse_dsn(raw, envelope_to=rcpt)
            if bounce is None:
                log.info("bounce listener ignored a message that is not a failure DSN")
                continue
            try:
                await self.on_bounce(bounce)
            except Exception as exc:
                log.error("bounce handler failed for delivery %s: %s", bounce.delivery_id, type(exc).__name__)
                return "451 4.3.0 Bounce not processed, try again later"
        return "250 2.0.0 OK"


class BounceListener:
    """An SMTP server (aiosmtpd) for the bounce domain's MX: DSNs in, Bounce callbacks out."""

    def __init__(self, host: str, port: int, on_bounce: OnBounce, *, hostname: str = "bounces.local",
                 data_size_limit: int = 10 * 1024 * 1024) -> None:
        self.host, self.port = host, port
        self._factory = lambda: SMTP(_Handler(on_bounce), hostname=hostname,
                                     data_size_limit=data_size_limit, ident="pupilpost-bounces")
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        """Start listening (port 0: the OS picks one, then `port` says which)."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._factory, self.host, self.port)
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        """Stop listening."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
