"""The combined runner: all stand-ins up together, one page listing what they received."""
from __future__ import annotations

import httpx

from pupilpost.embedded import accepts_connections
from pupilpost.peers.run import PeersConfig, serve_peers
from services.dispatch.providers.email import EmailProvider, OutboundEmail
from services.dispatch.providers.push import PushProvider
from services.dispatch.providers.sms import SmppProvider
from tests.integration.peers.test_push import vapid_pem


async def test_the_page_lists_mail_sms_and_pushes() -> None:
    peers = await serve_peers(PeersConfig().any_ports())
    try:
        urls = peers.urls()
        email = EmailProvider("127.0.0.1", peers.smtp.port, sender="noreply@mail.pupilpost.test")
        await email.send(OutboundEmail("d-1", "parent@example.org", "Sports <day>", "Bring trainers."))
        await email.aclose()
        sms = SmppProvider("127.0.0.1", peers.smsc.port, "pupilpost", "secret", source_addr="Oakfield",
                           rate_per_second=10)
        await sms.start()
        await sms.submit("+447700900123", "Sports day is on", "d-2")
        await sms.stop()
        push = PushProvider(vapid_pem(), "mailto:ops@pupilpost.test")
        async with httpx.AsyncClient() as http:
            subscription = (await http.post(urls["push_subscribe"])).json()
            await push.send(subscription, {"body": "New message"}, ttl=60)
            await push.aclose()
            page = (await http.get(urls["page"])).text
            assert (await http.get(urls["mail"])).json()[0]["subject"] == "Sports <day>"
        assert "Sports &lt;day&gt;" in page and "parent@example.org" in page
        assert "+447700900123" in page and "Sports day is on" in page
        assert "New message" in page
    finally:
        await peers.stop()
    assert not accepts_connections(peers.smtp.port) and not accepts_connections(peers.smsc.port)
