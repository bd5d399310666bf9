"""A local SMTP server (aiosmtpd) that keeps every mail, with a JSON view and scripted failures.

Recipients matching `reject_patterns` get a permanent 550 at RCPT time.
Recipients matching `bounce_patterns` (or `delay_patterns`) are accepted, and a
DSN (multipart/report, RFC 3464) is then sent over SMTP from the null sender to
the message's return path, at `bounce_target`, so the bounce path runs over
real SMTP as it would in production.
"""
from __future__ import annotations

import asyncio
import fnmatch
import itertools
import logging
import mailbox
import re
import ssl
import warnings
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import aiosmtplib
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from pupilpost.peers.dsn import build_dsn
from pupilpost.peers.http import HttpServer
from pupilpost.peers.mail_view import mail_app

log = logging.getLogger(__name__)
# aiosmtpd logs every envelope address at INFO; keep addresses out of the logs.
logging.getLogger("mail.log").setLevel(logging.WARNING)


@dataclass(frozen=True)
class SmtpConfig:
    """How the SMTP stand-in behaves; patterns are case-insensitive globs on addresses."""

    host: str = "127.0.0.1"
    port: int = 2525
    http_port: int = 2526
    hostname: str = "mx.pupilpost.test"
    reject_patterns: tuple[str, ...] = ()
    bounce_patterns: tuple[str, ...] = ()
    delay_patterns: tuple[str, ...] = ()
    greylist_patterns: tuple[str, ...] = ()  # 451 on the first attempt per address, like greylisting
    accept_delay: float = 0.0  # seconds before answering DATA (a slow relay)
    bounce_target: tuple[str, int] | None = None
    bounce_delay: float = 0.05
    maildir: Path | None = None
    credentials: tuple[str, str] | None = None
    tls_context: ssl.SSLContext | None = None  # offer (and require) STARTTLS with this server context


@dataclass
class StoredMail:
    """One accepted message as the server received it (Return-Path added, as on final delivery)."""

    id: str
    mail_from: str
    rcpt_tos: list[str]
    received_at: str
    raw: bytes
    outcome: dict[str, str] = field(default_factory=dict)  # recipient -> delivered/bounced/delayed

    def summary(self) -> dict[str, Any]:
        """The headline fields."""
        msg = message_from_bytes(self.raw, policy=policy.default)
        return {"id": self.id, "mail_from": self.mail_from, "rcpt_tos": self.rcpt_tos,
                "received_at": self.received_at, "outcome": self.outcome,
                "subject": str(msg["Subject"] or ""), "message_id": str(msg["Message-ID"] or "")}


_HEADER_END = re.compile(rb"\r?\n\r?\n")
_MESSAGE_ID = re.compile(rb"^message-id:[ \t]*(.*(?:\r?\n[ \t].*)*)", re.IGNORECASE | re.MULTILINE)


def _message_id(content: bytes) -> str:
    """The Message-ID header's value, unfolded ("" if none): a regex over the header block, where
    the email package's parser cost about 80 us a mail."""
    end = _HEADER_END.search(content)
    found = _MESSAGE_ID.search(content, 0, end.start() if end else len(content))
    return b" ".join(found.group(1).split()).decode("utf-8", "replace") if found else ""


def _matches(address: str, patterns: tuple[str, ...]) -> bool:
    return any(fnmatch.fnmatchcase(address.lower(), p.lower()) for p in patterns)


class _Handler:
    """aiosmtpd hooks for the SMTP stand-in."""

    def __init__(self, peer: SmtpPeer) -> None:
        self.peer = peer

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope, address: str,
                          rcpt_options: list[str]) -> str:
        if _matches(address, self.peer.config.reject_patterns):
            return "550 5.1.1 Mailbox does not exist"
        if _matches(address, self.peer.config.greylist_patterns) and address.lower() not in self.peer.greylisted:
            self.peer.greylisted.add(address.lower())
            return "451 4.7.1 Greylisted, try again later"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.peer.config.accept_delay:
            await asyncio.sleep(self.peer.config.accept_delay)
        self.peer.keep(envelope.mail_from or "", list(envelope.rcpt_tos), envelope.original_content or b"")
        return "250 2.0.0 OK: queued"


class SmtpPeer:
    """The SMTP stand-in: an aiosmtpd server, an in-memory (and optional Maildir) store, a JSON view."""

    def __init__(self, config: SmtpConfig) -> None:
        self.config = config
        self.port = config.port
        self.mails: dict[str, StoredMail] = {}
        # Like a sending API with idempotency keys: a re-submitted Message-ID is accepted, not kept twice.
        self.by_message_id: dict[str, str] = {}
        self.duplicates = 0
        self.greylisted: set[str] = set()
        self.dsns_sent = 0
        self._ids = itertools.count(1)
        self._maildir = mailbox.Maildir(config.maildir, create=True) if config.maildir else None
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.http = HttpServer(mail_app(self), config.host, config.http_port)

    def _protocol(self) -> SMTP:
        creds, tls = self.config.credentials, self.config.tls_context
        with warnings.catch_warnings():  # AUTH without TLS is allowed in a local stand-in
            warnings.simplefilter("ignore")
            return SMTP(_Handler(self), hostname=self.config.hostname, ident="pupilpost-smtp-peer",
                        authenticator=self._authenticate if creds else None, auth_required=bool(creds),
                        auth_require_tls=tls is not None, tls_context=tls, require_starttls=tls is not None)

    def _authenticate(self, server: SMTP, session: Session, envelope: Envelope, mechanism: str,
                      auth_data: Any) -> AuthResult:
        ok = (isinstance(auth_data, LoginPassword) and self.config.credentials is not None
              and (auth_data.login.decode(), auth_data.password.decode()) == self.config.credentials)
        return AuthResult(success=ok, handled=False)

    async def start(self) -> None:
        """Listen for SMTP and HTTP."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._protocol, self.config.host, self.config.port)
        self.port = int(self._server.sockets[0].getsockname()[1])
        try:
            await self.http.start()
        except BaseException:
            self._server.close()
            raise

    async def stop(self) -> None:
        """Stop both listeners and any bounce still being sent."""
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.http.stop()

    def keep(self, mail_from: str, rcpt_tos: list[str], content: bytes) -> StoredMail:
        """Store one accepted message and schedule the bounces its recipients call for."""
        raw = f"Return-Path: <{mail_from}>\r\n".encode() + content
        message_id = _message_id(content)
        if message_id and message_id in self.by_message_id:
            self.duplicates += 1
            return self.mails[self.by_message_id[message_id]]
        mail = StoredMail(id=f"{next(self._ids):06d}", mail_from=mail_from, rcpt_tos=rcpt_tos,
                          received_at=datetime.now(UTC).isoformat(), raw=raw)
        for rcpt in rcpt_tos:
            action = ("bounced" if _matches(rcpt, self.config.bounce_patterns)
                      else "delayed" if _matches(rcpt, self.config.delay_patterns) else "delivered")
            mail.outcome[rcpt] = action
            if action != "delivered" and mail_from:  # never bounce a bounce (null sender)
                task = asyncio.create_task(self._bounce(content, rcpt, mail_from, action))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
        self.mails[mail.id] = mail
        if message_id:
            self.by_message_id[message_id] = mail.id
        if self._maildir is not None:
            self._maildir.add(raw)
        return mail

    async def _bounce(self, original: bytes, rcpt: str, return_path: str, action: str) -> None:
        target = self.config.bounce_target
        if target is None:
            log.warning("smtp peer has no bounce target; a DSN was dropped")
            return
        await asyncio.sleep(self.config.bounce_delay)
        failed = action == "bounced"
        dsn = build_dsn(original, recipient=rcpt, return_path=return_path, reporting_mta=self.config.hostname,
                        action="failed" if failed else "delayed", status="5.1.1" if failed else "4.4.1",
                        diagnostic="smtp; 550 5.1.1 Mailbox does not exist" if failed
                        else "smtp; 451 4.4.1 No answer from host")
        try:
            async with aiosmtplib.SMTP(hostname=target[0], port=target[1], start_tls=False, timeout=10) as smtp:
                await smtp.sendmail("", [return_path], dsn)  # null reverse path: MAIL FROM:<>
            self.dsns_sent += 1
        except (aiosmtplib.SMTPException, OSError) as exc:
            log.warning("smtp peer could not deliver a DSN: %s", type(exc).__name__)
