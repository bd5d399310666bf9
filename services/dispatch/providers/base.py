"""What every provider client shares: failure types and a send-rate limiter.

Failure messages are safe to log: they name the stage and the provider's code,
never an address, a number, a subscription or a message body. The original
exception is deliberately not chained (`raise ... from None`), because its
text often quotes the recipient.
"""
from __future__ import annotations

import asyncio
import time


class ProviderFailure(Exception):
    """A delivery attempt failed; `reason` and `code` contain no personal data."""

    def __init__(self, reason: str, *, code: str | None = None, retry_after: float | None = None) -> None:
        super().__init__(f"{reason} ({code})" if code else reason)
        self.reason = reason
        self.code = code
        self.retry_after = retry_after


class TransientFailure(ProviderFailure):
    """The attempt may succeed later (4xx, throttling, connection trouble): retry with backoff."""


class PermanentFailure(ProviderFailure):
    """The attempt will fail again (5xx, invalid recipient): do not retry this delivery."""


class SubscriptionGone(PermanentFailure):
    """The push subscription no longer exists (404/410): forget it."""


class TokenBucket:
    """Allows `rate` operations a second on average, bursts of at most `burst`."""

    def __init__(self, rate: float, burst: float | None = None) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self.capacity = burst if burst is not None else max(1.0, rate)
        self._tokens = self.capacity
        self._at = time.monotonic()
        self._lock = asyncio.Lock()

    def _refill(self) -> None:
        now = time.monotonic()
        self._tokens = min(self.capacity, self._tokens + (now - self._at) * self.rate)
        self._at = now

    async def acquire(self) -> None:
        """Wait until one operation is allowed (callers are served in arrival order)."""
        async with self._lock:
            self._refill()
            while self._tokens < 1.0:
                await asyncio.sleep((1.0 - self._tokens) / self.rate)
                self._refill()
            self._tokens -= 1.0
