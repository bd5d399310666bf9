"""Stand-ins on OS-assigned loopback ports (port 0: no race between picking a port and binding it)."""
from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace

import pytest

from pupilpost.peers.run import PeersConfig, PeersHandle, serve_peers
from services.dispatch.providers.bounces import Bounce, BounceListener


class Bounces:
    """A BounceListener that collects the bounces it parses."""

    def __init__(self) -> None:
        self.received: list[Bounce] = []
        self.listener = BounceListener("127.0.0.1", 0, self._keep)

    async def _keep(self, bounce: Bounce) -> None:
        self.received.append(bounce)


@pytest.fixture
async def bounces() -> AsyncIterator[Bounces]:
    """A running bounce listener."""
    collected = Bounces()
    await collected.listener.start()
    yield collected
    await collected.listener.stop()


@pytest.fixture
async def peers(bounces: Bounces) -> AsyncIterator[PeersHandle]:
    """All stand-ins with their default behaviour, sending DSNs to the `bounces` listener."""
    config = PeersConfig().any_ports()
    config = replace(config, smtp=replace(config.smtp, bounce_target=("127.0.0.1", bounces.listener.port),
                                          bounce_delay=0.0),
                     smsc=replace(config.smsc, receipt_delay=0.05, delayed_receipt_after=1.0))
    handle = await serve_peers(config)
    yield handle
    await handle.stop()
