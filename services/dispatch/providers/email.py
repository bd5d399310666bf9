"""Email over SMTP (aiosmtplib): one recipient per message, VERP return path, classified failures.

Every delivery is its own SMTP transaction with exactly one RCPT, so no parent
ever sees another parent's address (no To/CC/BCC lists). The envelope sender is
`bounces+<delivery_id>@<bounce domain>` (VERP), so a bounce names the delivery
it belongs to, and the Message-ID `<delivery_id@sender domain>` is the
provider id.
"""
from __future__ import annotations

import asyncio
import contextlib
import html
import logging
import re
import ssl
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, getaddresses, parseaddr

import aiosmtplib

from services.dispatch.providers.base import PermanentFailure, TransientFailure

log = logging.getLogger(__name__)

_DELIVERY_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_ENHANCED = re.compile(r"^\s*([245]\.\d{1,3}\.\d{1,3})\b")
# An addr-spec the email package writes into a header exactly as given (dot-atom local part).
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_PLAIN_ADDRESS = re.compile(rf"{_ATOM}(\.{_ATOM})*@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*")
VERP_PREFIX = "bounces+"


@dataclass(frozen=True)
class OutboundEmail:
    """One email to one recipient for one delivery; `footer` is the school's disclaimer."""

    delivery_id: str
    to: str
    subject: str
    text: str
    html: str | None = None
    footer: str = ""
    from_name: str | None = None
    reply_to: str | None = None


def verp_address(delivery_id: str, bounce_domain: str) -> str:
    """The envelope sender that routes bounces of this delivery back to us."""
    return f"{VERP_PREFIX}{delivery_id}@{bounce_domain}"


def delivery_id_from_verp(address: str) -> str | None:
    """The delivery id in a VERP address like bounces+<id>@domain, else None."""
    local = parseaddr(address)[1].rpartition("@")[0]
    if not local.lower().startswith(VERP_PREFIX):
        return None
    found = local[len(VERP_PREFIX):]
    return found if _DELIVERY_ID.match(found) else None


# An address that is sent exactly as written (no parsing needed): an ASCII dot-atom local part and a hostname.
_PLAIN_ADDRESS = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}@[A-Za-z0-9.-]{1,253}")


def _single_recipient(to: str) -> str:
    """The one address in `to`; refuses lists (the No bulk CC/BCC rule)."""
    if _PLAIN_ADDRESS.fullmatch(to):
        return to
    pairs = getaddresses([to])
    if len(pairs) != 1 or "," in to or ";" in to or not pairs[0][1] or "@" not in pairs[0][1]:
        raise ValueError("an email goes to exactly one recipient")
    return pairs[0][1]


def with_footer_text(text: str, footer: str) -> str:
    """The plain-text body with the school's footer after a signature separator."""
    return f"{text.rstrip()}\n\n-- \n{footer.strip()}\n" if footer.strip() else text


def with_footer_html(body: str, footer: str) -> str:
    """The HTML body with the footer (escaped) before </body>, or appended."""
    if not footer.strip():
        return body
    block = "<hr><p>" + html.escape(footer.strip()).replace("\n", "<br>") + "</p>"
    at = body.lower().rfind("</body>")
    return body[:at] + block + body[at:] if at >= 0 else body + block


def build_message(msg: OutboundEmail, sender: str, now: datetime | None = None) -> EmailMessage:
    """The MIME message for one delivery (text, optional HTML alternative, footer appended)."""
    if not _DELIVERY_ID.match(msg.delivery_id):
        raise ValueError("delivery_id must be a short token of letters, digits, '.', '_' or '-'")
    recipient = _single_recipient(msg.to)
    domain = sender.rpartition("@")[2]
    email = EmailMessage()
    email["From"] = Address(msg.from_name or "", addr_spec=sender) if msg.from_name else sender
    email["To"] = recipient
    email["Subject"] = msg.subject
    email["Date"] = format_datetime(now or datetime.now(UTC))
    email["Message-ID"] = f"<{msg.delivery_id}@{domain}>"
    if msg.reply_to:
        email["Reply-To"] = _single_recipient(msg.reply_to)
    email.set_content(with_footer_text(msg.text, msg.footer))
    if msg.html is not None:
        email.add_alternative(with_footer_html(msg.html, msg.footer), subtype="html")
    assert email.get_all("To") == [recipient] and not email.get_all("Cc") and not email.get_all("Bcc")
    return email


class MessageCache:
    """The bytes of build_message, built once per content and reused for each recipient.

    A snow-day message goes to thousands of parents with the same sender, subject, text and
    footer; only To, Date and Message-ID differ. The email package's header parsing and
    folding cost milliseconds per message, so the content is built once and the three
    per-recipient lines are written here, where and as build_message writes them. An
    address or id those lines might need to fold or quote goes through build_message itself.
    """

    def __init__(self, sender: str, size: int = 64) -> None:
        self.sender, self.size = sender, size
        self.domain = sender.rpartition("@")[2]
        self._templates: dict[tuple, tuple[bytes, bytes, bytes]] = {}

    def build(self, msg: OutboundEmail, now: datetime | None = None) -> tuple[bytes, str, str]:
        """(message bytes, recipient, Message-ID) for one delivery: the bytes build_message gives."""
        now = now or datetime.now(UTC)
        if not _DELIVERY_ID.match(msg.delivery_id):
            raise ValueError("delivery_id must be a short token of letters, digits, '.', '_' or '-'")
        recipient = _single_recipient(msg.to)
        message_id = f"<{msg.delivery_id}@{self.domain}>"
        if not (_PLAIN_ADDRESS.fullmatch(recipient) and len(recipient) <= 70 and len(message_id) <= 64):
            email = build_message(msg, self.sender, now)
            return email.as_bytes(), str(email["To"]), str(email["Message-ID"])
        from_, subject, rest = self._template(msg)
        varying = f"Date: {format_datetime(now)}\nMessage-ID: {message_id}\n".encode()
        return b"".join((from_, f"To: {recipient}\n".encode(), subject, varying, rest)), recipient, message_id

    def _template(self, msg: OutboundEmail) -> tuple[bytes, bytes, bytes]:
        key = (msg.subject, msg.text, msg.html, msg.footer, msg.from_name, msg.reply_to)
        found = self._templates.get(key)
        if found is None:
            if len(self._templates) >= self.size:
                self._templates.pop(next(iter(self._templates)))  # the oldest content
            placeholder = OutboundEmail(delivery_id="template", to="template@example.invalid", subject=msg.subject,
                                        text=msg.text, html=msg.html, footer=msg.footer, from_name=msg.from_name,
                                        reply_to=msg.reply_to)
            found = self._templates[key] = _split_template(build_message(placeholder, self.sender).as_bytes())
        return found


def _split_template(raw: bytes) -> tuple[bytes, bytes, bytes]:
    """(From, Subject, the rest) of a built message, without its To, Date and Message-ID.

    build_message writes From, To, Subject, Date, Message-ID, then the rest; From and
    Subject may be folded over several lines.
    """
    head, _, body = raw.partition(b"\n\n")
    fields: list[list[bytes]] = []
    for line in head.split(b"\n"):
        if line[:1] in (b" ", b"\t"):
            fields[-1].append(line)
        else:
            fields.append([line])
    names = [f[0].split(b":", 1)[0].lower() for f in fields]
    if names[:5] != [b"from", b"to", b"subject", b"date", b"message-id"]:
        raise RuntimeError(f"unexpected header order from build_message: {names[:5]!r}")
    block = lambda fs: b"".join(b"\n".join(f) + b"\n" for f in fs)
    return block(fields[:1]), block(fields[2:3]), block(fields[5:]) + b"\n" + body


def _enhanced(message: str) -> str | None:
    found = _ENHANCED.match(message or "")
    return found.group(1) if found else None


def classify(exc: Exception, stage: str = "smtp") -> TransientFailure | PermanentFailure:
    """Map an aiosmtplib error to a safe failure: 5xx permanent, everything else transient."""
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused) and exc.recipients:
        exc = exc.recipients[0]
    if isinstance(exc, aiosmtplib.SMTPAuthenticationError):
        return TransientFailure("smtp authentication failed", code=str(exc.code))
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        code = f"{exc.code} {_enhanced(exc.message) or ''}".strip()
        what = {aiosmtplib.SMTPRecipientRefused: "recipient refused", aiosmtplib.SMTPSenderRefused:
                "sender refused", aiosmtplib.SMTPDataError: "message refused"}.get(type(exc), "server error")
        failure = PermanentFailure if 500 <= exc.code < 600 else TransientFailure
        return failure(f"{stage} {what}", code=code)
    if isinstance(exc, (aiosmtplib.SMTPTimeoutError, TimeoutError)):
        return TransientFailure(f"{stage} timed out")
    if isinstance(exc, (aiosmtplib.SMTPServerDisconnected, ConnectionError, OSError)):
        return TransientFailure(f"{stage} connection failed")
    return TransientFailure(f"{stage} error {type(exc).__name__}")


class _Client(aiosmtplib.SMTP):
    """aiosmtplib's client with a lean path for one mail to one plain address.

    `sendmail` parses every address with `email.utils.parseaddr` four to five times per mail (about
    150 us of pure Python; a tenth of dispatch's CPU on a snow day). An address that is a plain
    dot-atom needs no parsing: it goes on the command line as it is. Anything else takes the
    library's own path. The replies are checked as `sendmail` checks them, with the same errors.
    """

    async def send_one(self, sender: str, recipient: str, message: bytes) -> None:
        if not (_PLAIN_ADDRESS.fullmatch(sender) and _PLAIN_ADDRESS.fullmatch(recipient)):
            await self.sendmail(sender, [recipient], message)
            return
        if self.last_ehlo_response is None and self.last_helo_response is None:
            await self.ehlo()
        options = []
        if self.supports_extension("size"):  # RFC 1870: octets as sent, with CRLF line ends
            options.append(b"SIZE=%d" % (len(message) + message.count(b"\n") - message.count(b"\r\n")))
        try:
            reply = await self.execute_command(b"MAIL", b"FROM:<" + sender.encode("ascii") + b">", *options)
            if reply.code != 250:
                raise aiosmtplib.SMTPSenderRefused(reply.code, reply.message, sender)
            reply = await self.execute_command(b"RCPT", b"TO:<" + recipient.encode("ascii") + b">")
            if reply.code not in (250, 251):
                raise aiosmtplib.SMTPRecipientRefused(reply.code, reply.message, recipient)
            await self.data(message)
        except aiosmtplib.SMTPResponseException:
            with contextlib.suppress(ConnectionError, aiosmtplib.SMTPException):
                await self.rset()  # clear the envelope for the connection's next mail
            raise


class EmailProvider:
    """Sends each delivery as its own SMTP transaction, over a few reused connections."""

    def __init__(self, host: str, port: int, *, sender: str, starttls: bool = False,
                 username: str | None = None, password: str | None = None,
                 bounce_domain: str | None = None, connections: int = 4, urgent_connections: int = 2,
                 timeout: float = 30.0, idle_timeout: float = 30.0,
                 tls_context: ssl.SSLContext | None = None) -> None:
        if "@" not in sender:
            raise ValueError("sender must be an email address")
        self.host, self.port, self.sender = host, port, sender
        self.bounce_domain = bounce_domain or sender.rpartition("@")[2]
        self._options = {"hostname": host, "port": port, "start_tls": starttls, "username": username,
                         "password": password, "timeout": timeout, "tls_context": tls_context}
        self._idle_timeout = idle_timeout
        self._slots = asyncio.Semaphore(connections)
        self._urgent_slots = asyncio.Semaphore(urgent_connections)
        self._idle: list[tuple[_Client, float]] = []
        self._messages = MessageCache(sender)

    async def send(self, msg: OutboundEmail, *, urgent: bool = False) -> str:
        """Send one email; returns its Message-ID, raises Transient/PermanentFailure.

        Urgent mail has connections of its own, so it never queues behind a bulk send's backlog.
        """
        raw, recipient, message_id = self._messages.build(msg)
        envelope_from = verp_address(msg.delivery_id, self.bounce_domain)
        async with self._urgent_slots if urgent else self._slots:
            client = await self._checkout()
            try:
                await client.send_one(envelope_from, recipient, raw)
            except ValueError:
                self._idle.append((client, time.monotonic()))
                raise PermanentFailure("smtp cannot carry this address") from None
            except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
                answered = isinstance(exc, (aiosmtplib.SMTPResponseException, aiosmtplib.SMTPRecipientsRefused))
                if answered and client.is_connected:
                    self._idle.append((client, time.monotonic()))  # the server said no; the line is fine
                else:
                    await _quietly_close(client)
                failure = classify(exc)
                log.info("email delivery %s failed: %s", msg.delivery_id, failure)
                raise failure from None
            self._idle.append((client, time.monotonic()))
        return message_id

    async def _checkout(self) -> _Client:
        while self._idle:
            client, since = self._idle.pop()
            if client.is_connected and time.monotonic() - since < self._idle_timeout:
                return client
            await _quietly_close(client)
        client = _Client(**self._options)  # type: ignore[arg-type]
        try:
            await client.connect()
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            await _quietly_close(client)
            raise classify(exc, "smtp connect") from None
        return client

    async def aclose(self) -> None:
        """Close pooled connections politely (QUIT)."""
        idle, self._idle = self._idle, []
        for client, _ in idle:
            try:
                await asyncio.wait_for(client.quit(), 2)
            except (aiosmtplib.SMTPException, OSError, TimeoutError):
                await _quietly_close(client)


async def _quietly_close(client: aiosmtplib.SMTP) -> None:
    with contextlib.suppress(Exception):  # closing a broken connection must not mask the real failure
        client.close()
