"""Email over real SMTP: EmailProvider -> SMTP stand-in, and DSNs back to the BounceListener."""
from __future__ import annotations

import ipaddress
import logging
import mailbox
import ssl
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from pupilpost.embedded import free_port
from pupilpost.peers.run import PeersHandle
from pupilpost.peers.smtp import SmtpConfig, SmtpPeer
from services.dispatch.providers.base import PermanentFailure, TransientFailure
from services.dispatch.providers.bounces import parse_dsn
from services.dispatch.providers.email import EmailProvider, OutboundEmail
from tests.conftest import eventually
from tests.integration.peers.conftest import Bounces

SENDER = "noreply@mail.pupilpost.test"


def provider(peers: PeersHandle, **kw: object) -> EmailProvider:
    return EmailProvider("127.0.0.1", peers.smtp.port, sender=SENDER, **kw)  # type: ignore[arg-type]


def email(delivery_id: str, to: str, **kw: object) -> OutboundEmail:
    return OutboundEmail(delivery_id=delivery_id, to=to, subject="Trip to the farm",
                         text="The trip is on Friday.", footer="Oakfield Primary, data controller.", **kw)  # type: ignore[arg-type]


async def test_mail_arrives_with_one_recipient_its_message_id_and_the_footer(peers: PeersHandle) -> None:
    smtp = provider(peers)
    message_id = await smtp.send(email("d-1001", "parent.one@example.org", html="<html><body><p>Farm</p></body></html>"))
    await smtp.aclose()

    assert message_id == "<d-1001@mail.pupilpost.test>"
    async with httpx.AsyncClient() as http:
        listing = (await http.get(f"{peers.smtp.http.url}/mails")).json()
        assert len(listing) == 1
        mail = (await http.get(f"{peers.smtp.http.url}/mails/{listing[0]['id']}")).json()
    assert mail["rcpt_tos"] == ["parent.one@example.org"]
    assert mail["mail_from"] == "bounces+d-1001@mail.pupilpost.test"
    assert mail["message_id"] == message_id
    headers = {k.lower(): v for k, v in mail["headers"]}
    assert headers["to"] == "parent.one@example.org" and "cc" not in headers and "bcc" not in headers
    assert headers["return-path"] == "<bounces+d-1001@mail.pupilpost.test>"
    assert mail["text"].startswith("The trip is on Friday.")
    assert mail["text"].rstrip().endswith("Oakfield Primary, data controller.")
    assert "Oakfield Primary, data controller.</p>" in mail["html"]


async def test_each_delivery_is_its_own_transaction(peers: PeersHandle) -> None:
    smtp = provider(peers)
    for n, to in enumerate(["a@example.org", "b@example.org", "c@example.org"]):
        await smtp.send(email(f"d-{n}", to))
    await smtp.aclose()
    assert [m.rcpt_tos for m in peers.smtp.mails.values()] == [["a@example.org"], ["b@example.org"], ["c@example.org"]]


async def test_a_resubmitted_message_id_is_accepted_but_kept_once(peers: PeersHandle) -> None:
    """Like a sending API with idempotency keys: the stand-in keys mails by Message-ID (what the
    kill -9 test counts on), however the header is written."""
    smtp = provider(peers)
    first = await smtp.send(email("d-7", "a@example.org"))
    assert await smtp.send(email("d-7", "a@example.org")) == first
    await smtp.send(email("d-8", "a@example.org"))
    await smtp.aclose()
    folded = b"From: x@example.org\r\nmessage-id:\r\n  " + first.encode() + b"\r\n\r\nbody\r\n"
    peers.smtp.keep("bounces@example.org", ["a@example.org"], folded)
    assert len(peers.smtp.mails) == 2 and peers.smtp.duplicates == 2
    assert [m.outcome for m in peers.smtp.mails.values()] == [{"a@example.org": "delivered"}] * 2


@pytest.mark.parametrize("to", ["a@example.org, b@example.org", "a@example.org; b@example.org", "not-an-address"])
async def test_a_list_of_recipients_is_refused_before_anything_is_sent(peers: PeersHandle, to: str) -> None:
    with pytest.raises(ValueError) as err:
        await provider(peers).send(email("d-2", to))
    assert "example.org" not in str(err.value)
    assert not peers.smtp.mails


async def test_a_refused_address_is_a_permanent_failure_with_no_address_in_it(
        peers: PeersHandle, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    smtp = provider(peers)
    with pytest.raises(PermanentFailure) as err:
        await smtp.send(email("d-3", "nobody@reject.example.org"))
    assert err.value.code == "550 5.1.1"
    assert "reject.example.org" not in str(err.value) and err.value.__cause__ is None
    assert "nobody@reject.example.org" not in caplog.text
    # the connection survives a refusal: the next delivery goes through
    assert await smtp.send(email("d-4", "parent@example.org")) == "<d-4@mail.pupilpost.test>"
    await smtp.aclose()


async def test_an_accepted_then_bounced_address_comes_back_as_a_bounce(peers: PeersHandle, bounces: Bounces) -> None:
    smtp = provider(peers)
    await smtp.send(email("d-5", "gone@bounce.example.org"))
    await smtp.aclose()

    await eventually(lambda: _some(bounces.received), timeout=5)
    bounce = bounces.received[0]
    assert (bounce.delivery_id, bounce.action, bounce.status, bounce.permanent) == ("d-5", "failed", "5.1.1", True)
    assert bounce.message_id == "<d-5@mail.pupilpost.test>"
    assert bounce.diagnostic and "bounce.example.org" not in bounce.diagnostic


async def test_a_delayed_dsn_is_reported_as_delayed(peers: PeersHandle, bounces: Bounces) -> None:
    smtp = provider(peers)
    await smtp.send(email("d-6", "slow@delay.example.org"))
    await smtp.aclose()
    await eventually(lambda: _some(bounces.received), timeout=5)
    assert (bounces.received[0].action, bounces.received[0].status, bounces.received[0].permanent) == (
        "delayed", "4.4.1", False)


async def test_an_unreachable_server_is_a_transient_failure() -> None:
    smtp = EmailProvider("127.0.0.1", free_port(), sender=SENDER, timeout=2)
    with pytest.raises(TransientFailure):
        await smtp.send(email("d-7", "parent@example.org"))


async def test_smtp_auth() -> None:
    peer = SmtpPeer(SmtpConfig(port=0, http_port=0, credentials=("school", "s3cret")))
    await peer.start()
    try:
        with pytest.raises(TransientFailure) as err:
            await EmailProvider("127.0.0.1", peer.port, sender=SENDER, username="school",
                                password="wrong").send(email("d-8", "parent@example.org"))
        assert err.value.reason == "smtp authentication failed"
        good = EmailProvider("127.0.0.1", peer.port, sender=SENDER, username="school", password="s3cret")
        await good.send(email("d-9", "parent@example.org"))
        await good.aclose()
        assert len(peer.mails) == 1
    finally:
        await peer.stop()


async def test_starttls_then_auth_against_a_private_ca(tmp_path: Path) -> None:
    server_ctx, client_ctx = tls_pair(tmp_path)
    peer = SmtpPeer(SmtpConfig(port=0, http_port=0, credentials=("school", "s3cret"), tls_context=server_ctx))
    await peer.start()
    try:
        plain = EmailProvider("127.0.0.1", peer.port, sender=SENDER, username="school", password="s3cret")
        with pytest.raises(TransientFailure):  # no AUTH offered before STARTTLS: a set-up problem, not the parent's
            await plain.send(email("d-10", "parent@example.org"))
        secure = EmailProvider("127.0.0.1", peer.port, sender=SENDER, starttls=True, username="school",
                               password="s3cret", tls_context=client_ctx)
        await secure.send(email("d-11", "parent@example.org"))
        await secure.aclose()
        assert [m.rcpt_tos for m in peer.mails.values()] == [["parent@example.org"]]
    finally:
        await peer.stop()


def test_the_peer_can_keep_mail_in_a_maildir(tmp_path: Path) -> None:
    peer = SmtpPeer(SmtpConfig(port=0, http_port=0, maildir=tmp_path / "Maildir"))
    peer.keep("bounces+d-12@mail.pupilpost.test", ["parent@example.org"], b"Subject: hi\r\n\r\nbody\r\n")
    stored = list(mailbox.Maildir(tmp_path / "Maildir", create=False))
    assert len(stored) == 1 and stored[0]["Return-Path"] == "<bounces+d-12@mail.pupilpost.test>"


def tls_pair(tmp_path: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A self-signed certificate for 127.0.0.1: the server's context and a client context trusting it."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pupilpost test")])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(minutes=1))
            .not_valid_after(now + timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    (tmp_path / "cert.pem").write_bytes(cert_pem)
    (tmp_path / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                         serialization.NoEncryption()))
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    return server, ssl.create_default_context(cadata=cert_pem.decode())


def test_parse_dsn_ignores_mail_that_is_not_a_failure_report() -> None:
    assert parse_dsn(b"From: a@example.org\r\nSubject: out of office\r\n\r\nAway.\r\n") is None


async def _some(items: list[object]) -> bool:
    return bool(items)
