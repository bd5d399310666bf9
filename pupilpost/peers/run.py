"""Start every stand-in together (what `make up` runs): SMTP, SMSC, Web Push and one HTML page.

Default failure behaviour, so a developer can try each path by address alone:
mail to *@reject.example.org is refused (550), to *@bounce.example.org bounces (DSN to the
bounce target), to *@delay.example.org gets a "delayed" DSN, to *@greylist.example.org is
deferred (451) on the first attempt; SMS to +44770090099x
fails (UNDELIV err:001) and to +44770090098x is delivered late. Those are
Ofcom's drama numbers and reserved test domains, never real people.
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass, field, replace
from typing import Any, Self

from pupilpost.peers.http import HttpServer
from pupilpost.peers.page import index_app
from pupilpost.peers.push import PushConfig, PushPeer
from pupilpost.peers.smsc import SmscConfig, SmscPeer
from pupilpost.peers.smtp import SmtpConfig, SmtpPeer

DEFAULT_SMTP = SmtpConfig(port=2525, http_port=8026, reject_patterns=("*@reject.example.org",),
                          bounce_patterns=("*@bounce.example.org",), delay_patterns=("*@delay.example.org",),
                          greylist_patterns=("*@greylist.example.org",),
                          bounce_target=("127.0.0.1", 2526))
DEFAULT_SMSC = SmscConfig(port=2775, http_port=8027, fail_patterns={"+44770090099?": "001"},
                          delay_patterns=("+44770090098?",))
DEFAULT_PUSH = PushConfig(port=8028)


@dataclass(frozen=True)
class PeersConfig:
    """Ports and behaviour of all stand-ins; `host` overrides each peer's own host."""

    host: str = "127.0.0.1"
    index_port: int = 8025
    smtp: SmtpConfig = DEFAULT_SMTP
    smsc: SmscConfig = DEFAULT_SMSC
    push: PushConfig = DEFAULT_PUSH

    def any_ports(self) -> PeersConfig:
        """The same behaviour on ports the OS picks (port 0 everywhere), for tests."""
        return replace(self, index_port=0, smtp=replace(self.smtp, port=0, http_port=0),
                       smsc=replace(self.smsc, port=0, http_port=0), push=replace(self.push, port=0))


@dataclass
class PeersHandle:
    """The running stand-ins; `stop()` (or leaving `async with`) shuts them all down."""

    smtp: SmtpPeer
    smsc: SmscPeer
    push: PushPeer
    index: HttpServer | None = None
    host: str = "127.0.0.1"
    _started: list[Any] = field(default_factory=list)

    def api_urls(self) -> dict[str, str]:
        """The JSON views."""
        return {"mail": f"{self.smtp.http.url}/mails", "sms": f"{self.smsc.http.url}/messages",
                "push": f"{self.push.http.url}/messages"}

    def urls(self) -> dict[str, str]:
        """Where everything listens: protocol endpoints, JSON views and the page."""
        return {"page": self.index.url + "/" if self.index else "",
                "smtp": f"smtp://{self.host}:{self.smtp.port}",
                "smpp": f"smpp://{self.host}:{self.smsc.port}",
                "push_subscribe": f"{self.push.http.url}/subscribe", **self.api_urls()}

    async def stop(self) -> None:
        """Stop everything that was started (together: each HTTP server takes a tick to notice)."""
        started, self._started = self._started, []
        results = await asyncio.gather(*(peer.stop() for peer in reversed(started)), return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


async def serve_peers(config: PeersConfig | None = None) -> PeersHandle:
    """Start all stand-ins and the page; if one cannot start, stop the others and raise."""
    config = config or PeersConfig()
    handle = PeersHandle(smtp=SmtpPeer(replace(config.smtp, host=config.host)),
                         smsc=SmscPeer(replace(config.smsc, host=config.host)),
                         push=PushPeer(replace(config.push, host=config.host)), host=config.host)
    try:
        for peer in (handle.smtp, handle.smsc, handle.push):
            await peer.start()
            handle._started.append(peer)
        handle.index = HttpServer(index_app(handle), config.host, config.index_port)
        await handle.index.start()
        handle._started.append(handle.index)
    except BaseException:
        await handle.stop()
        raise
    return handle
