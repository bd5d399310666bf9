"""Web Push (pywebpush over aiohttp): RFC 8291 aes128gcm payload encryption, RFC 8292 VAPID.

The payload (already free of personal data: the lead's notice text) is
encrypted to the subscription's keys and POSTed to its endpoint. The endpoint
is a per-device capability URL, so it is never logged.
"""
from __future__ import annotations

import base64
import json
import logging
import time
from collections.abc import Mapping
from typing import Any, Literal
from urllib.parse import urlsplit

import aiohttp
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid import Vapid02
from pywebpush import WebPusher, WebPushException

from services.dispatch.providers.base import (
    PermanentFailure,
    SubscriptionGone,
    TransientFailure,
)

log = logging.getLogger(__name__)

Urgency = Literal["very-low", "low", "normal", "high"]
# 4096-octet record (RFC 8291 §4) minus the 86-octet aes128gcm header, 16-octet tag and delimiter.
MAX_PAYLOAD = 3993
VAPID_LIFETIME = 12 * 3600
# A signed VAPID token is reused for an audience (a push service's origin) until half its lifetime
# has passed, as RFC 8292 §2 allows: signing is an ECDSA signature per push otherwise.
VAPID_REUSE = VAPID_LIFETIME // 2
VAPID_CACHE_LIMIT = 1024  # audiences are a handful of push services; a bound all the same


def _load_key(pem: str | bytes) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(pem.encode() if isinstance(pem, str) else pem, password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise TypeError("the VAPID key must be an EC P-256 private key")
    return key


def failure_for_status(status: int, retry_after: str | None = None) -> PermanentFailure | TransientFailure:
    """A safe failure for a push service's HTTP status."""
    code = str(status)
    if status in (404, 410):
        return SubscriptionGone("push subscription gone", code=code)
    if status == 413:
        return PermanentFailure("push payload too large", code=code)
    if status == 429 or status >= 500:
        delay = float(retry_after) if retry_after and retry_after.isdigit() else None
        return TransientFailure("push service busy", code=code, retry_after=delay)
    return PermanentFailure("push service refused the request", code=code)


class PushProvider:
    """Sends encrypted Web Push messages signed with the operator's VAPID key."""

    def __init__(self, vapid_private_key_pem: str | bytes, vapid_subject: str, *, timeout: float = 10.0) -> None:
        if not vapid_subject.startswith(("mailto:", "https://")):
            raise ValueError("vapid_subject must be a mailto: or https: URI")
        self._vapid = Vapid02(private_key=_load_key(vapid_private_key_pem))
        self._subject = vapid_subject
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None
        self._tokens: dict[str, tuple[float, dict[str, str]]] = {}  # audience -> (reuse until, headers)
        self.clock = time.time

    @property
    def application_server_key(self) -> str:
        """The VAPID public key (base64url, uncompressed point) that apps subscribe with."""
        raw = self._vapid.private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    def _vapid_headers(self, audience: str) -> dict[str, str]:
        """The Authorization header for `audience`: signed afresh once half its lifetime is gone."""
        now = self.clock()
        cached = self._tokens.get(audience)
        if cached is not None and now < cached[0]:
            return cached[1]
        headers = dict(self._vapid.sign({"sub": self._subject, "aud": audience, "exp": int(now) + VAPID_LIFETIME}))
        if len(self._tokens) >= VAPID_CACHE_LIMIT:
            self._tokens.clear()
        self._tokens[audience] = (now + VAPID_REUSE, headers)
        return headers

    def _headers(self, endpoint: str, ttl: int, urgency: Urgency, topic: str | None) -> dict[str, str]:
        parts = urlsplit(endpoint)
        headers = dict(self._vapid_headers(f"{parts.scheme}://{parts.netloc}"))
        headers["Urgency"] = urgency
        if topic:
            headers["Topic"] = topic
        return headers

    async def send(self, subscription: Mapping[str, Any], payload: Mapping[str, Any], *, ttl: int,
                   urgency: Urgency = "normal", topic: str | None = None) -> str:
        """Deliver one payload to one subscription; returns the push message's Location."""
        data = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
        if len(data) > MAX_PAYLOAD:
            raise PermanentFailure("push payload too large")
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        try:
            pusher = WebPusher(dict(subscription), aiohttp_session=self._session)
            headers = self._headers(str(subscription["endpoint"]), ttl, urgency, topic)
        except (WebPushException, KeyError, ValueError, TypeError):
            raise PermanentFailure("invalid push subscription") from None
        try:
            resp = await pusher.send_async(data, headers, ttl=ttl, content_encoding="aes128gcm",
                                           timeout=self._timeout)
        except (aiohttp.ClientError, TimeoutError, OSError):
            raise TransientFailure("push service unreachable") from None
        except (WebPushException, ValueError):
            raise PermanentFailure("invalid push subscription") from None
        assert isinstance(resp, aiohttp.ClientResponse)
        if resp.status in (200, 201, 202):
            return resp.headers.get("Location", "")
        failure = failure_for_status(resp.status, resp.headers.get("Retry-After"))
        log.info("push failed: %s", failure)
        raise failure

    async def aclose(self) -> None:
        """Close the HTTP connection pool."""
        if self._session is not None:
            await self._session.close()
            self._session = None
