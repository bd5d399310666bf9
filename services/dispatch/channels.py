"""The provider clients of a running dispatch service, built from its settings.

`Channels.start()` connects what is configured (SMTP pool, SMPP bind, Web Push
session, the bounce listener) and says in the log which channels are off; a
channel that is off is not an error, its deliveries wait and are retried.
"""
from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Literal

from services.dispatch.providers.bounces import Bounce, BounceListener
from services.dispatch.providers.email import EmailProvider
from services.dispatch.providers.push import PushProvider
from services.dispatch.providers.sms import SmppProvider
from services.dispatch.settings import DispatchSettings

log = logging.getLogger(__name__)

OnReceipt = Callable[[str, Literal["delivered", "failed"], str | None], Awaitable[None]]
OnBounce = Callable[[Bounce], Awaitable[None]]


@dataclass
class Channels:
    """Email, SMS and push clients (None when not configured) and the bounce listener."""

    email: EmailProvider | None = None
    sms: SmppProvider | None = None
    push: PushProvider | None = None
    bounces: BounceListener | None = None
    off: list[str] = field(default_factory=list)

    @classmethod
    def from_settings(cls, s: DispatchSettings, on_receipt: OnReceipt, on_bounce: OnBounce) -> Channels:
        """Build (not connect) every configured client."""
        ch = cls()
        if s.smtp_host:
            ch.email = EmailProvider(
                s.smtp_host, s.smtp_port, sender=s.smtp_sender, starttls=s.smtp_starttls,
                username=s.smtp_username,
                password=s.smtp_password.get_secret_value() if s.smtp_password else None,
                bounce_domain=s.bounce_domain, connections=s.smtp_connections)
        else:
            ch.off.append("email")
        if s.smpp_host:
            ch.sms = SmppProvider(s.smpp_host, s.smpp_port, s.smpp_system_id, s.smpp_password.get_secret_value(),
                                  source_addr=s.smpp_source, rate_per_second=s.sms_rate_per_second,
                                  on_receipt=on_receipt)
        else:
            ch.off.append("sms")
        if s.vapid_private_key_file:
            ch.push = PushProvider(s.vapid_private_key_file.read_bytes(), s.vapid_subject)
        else:
            ch.off.append("push")
        if s.bounce_listen_port is not None:
            ch.bounces = BounceListener(s.bounce_listen_host, s.bounce_listen_port, on_bounce)
        return ch

    async def start(self) -> None:
        """Connect: bind to the SMSC (without waiting for ever) and listen for bounces."""
        if self.off:
            log.warning("dispatch channels not configured (deliveries wait for them): %s", ", ".join(self.off))
        if self.sms is not None:
            await self.sms.start()
        if self.bounces is not None:
            await self.bounces.start()

    async def stop(self) -> None:
        """Disconnect everything (safe to call twice)."""
        if self.bounces is not None:
            await self.bounces.stop()
        if self.sms is not None:
            await self.sms.stop()
        if self.email is not None:
            await self.email.aclose()
        if self.push is not None:
            await self.push.aclose()
