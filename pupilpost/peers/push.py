"""A local Web Push service (an RFC 8030 subset) that decrypts what it receives.

`POST /subscribe` plays the browser: it makes the P-256 key pair and auth
secret a user agent would and returns `{endpoint, keys}`. `POST /push/{id}`
checks the VAPID Authorization (RFC 8292), decrypts the aes128gcm body
(RFC 8188/8291) with the subscription's private key, keeps it, and answers 201
with a Location. Unknown or deleted subscriptions get 410 Gone.
"""
from __future__ import annotations

import itertools
import json
import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import http_ece
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from pupilpost.peers.http import HttpServer
from pupilpost.peers.vapid import VapidError, b64url, b64url_decode, verify_vapid

URGENCIES = ("very-low", "low", "normal", "high")
MAX_BODY = 4096


@dataclass(frozen=True)
class PushConfig:
    """Where the push service listens."""

    host: str = "127.0.0.1"
    port: int = 2527


@dataclass
class Subscription:
    """One user agent's subscription: the keys only a browser would hold."""

    id: str
    private_key: ec.EllipticCurvePrivateKey
    auth: bytes
    server_key: str | None
    scripted: list[int] = field(default_factory=list)  # statuses to answer the next pushes with

    def public(self, origin: str) -> dict[str, Any]:
        """The PushSubscription JSON a browser hands to the application."""
        raw = self.private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
        return {"endpoint": f"{origin}/push/{self.id}", "keys": {"p256dh": b64url(raw), "auth": b64url(self.auth)}}


@dataclass(frozen=True)
class PushRecord:
    """One push message as the user agent would see it, decrypted."""

    id: str
    subscription_id: str
    received_at: str
    ttl: int
    urgency: str
    topic: str | None
    sender: str
    payload: Any


def _origin(request: Request) -> str:
    return f"{request.url.scheme}://{request.headers.get('host', request.url.netloc)}"


class PushPeer:
    """The push service: subscriptions, received messages, and its HTTP API."""

    def __init__(self, config: PushConfig) -> None:
        self.config = config
        self.subscriptions: dict[str, Subscription] = {}
        self.messages: dict[str, PushRecord] = {}
        self._ids = itertools.count(1)
        self.http = HttpServer(self._app(), config.host, config.port)

    async def start(self) -> None:
        """Listen."""
        await self.http.start()

    async def stop(self) -> None:
        """Stop listening."""
        await self.http.stop()

    async def _subscribe(self, request: Request) -> Response:
        body = await request.json() if await request.body() else {}
        sub = Subscription(id=secrets.token_urlsafe(16), private_key=ec.generate_private_key(ec.SECP256R1()),
                           auth=secrets.token_bytes(16), server_key=body.get("applicationServerKey"))
        self.subscriptions[sub.id] = sub
        return JSONResponse({"id": sub.id, **sub.public(_origin(request))}, status_code=201)

    async def _unsubscribe(self, request: Request) -> Response:
        self.subscriptions.pop(request.path_params["id"], None)
        return Response(status_code=204)

    async def _script(self, request: Request) -> Response:
        sub = self.subscriptions.get(request.path_params["id"])
        if sub is None:
            return Response(status_code=404)
        body = await request.json()
        sub.scripted.extend([int(body["status"])] * int(body.get("times", 1)))
        return Response(status_code=204)

    async def _push(self, request: Request) -> Response:
        sub = self.subscriptions.get(request.path_params["id"])
        if sub is None:
            return JSONResponse({"error": "subscription gone"}, 410)
        try:
            signer = verify_vapid(request.headers.get("authorization"), _origin(request), time.time())
        except VapidError as exc:
            return JSONResponse({"error": str(exc)}, exc.status)
        if sub.server_key and b64url_decode(sub.server_key) != b64url_decode(signer.key):
            return JSONResponse({"error": "vapid key differs from the subscription's"}, 403)
        if sub.scripted:
            return JSONResponse({"error": "scripted failure"}, sub.scripted.pop(0), headers={"Retry-After": "1"})
        ttl, urgency = request.headers.get("ttl", ""), request.headers.get("urgency", "normal")
        if not ttl.isdigit() or urgency not in URGENCIES:
            return JSONResponse({"error": "TTL required; Urgency must be one of " + ", ".join(URGENCIES)}, 400)
        if request.headers.get("content-encoding", "").lower() != "aes128gcm":
            return JSONResponse({"error": "Content-Encoding must be aes128gcm"}, 415)
        body = await request.body()
        if len(body) > MAX_BODY:
            return JSONResponse({"error": "payload too large"}, 413)
        try:
            plain = http_ece.decrypt(body, private_key=sub.private_key, auth_secret=sub.auth, version="aes128gcm")
        except Exception:  # noqa: BLE001 - any decryption failure is the sender's fault
            return JSONResponse({"error": "cannot decrypt payload"}, 400)
        record = PushRecord(id=f"{next(self._ids):06d}", subscription_id=sub.id,
                            received_at=datetime.now(UTC).isoformat(), ttl=int(ttl), urgency=urgency,
                            topic=request.headers.get("topic"), sender=signer.subject, payload=_decode(plain))
        self.messages[record.id] = record
        return Response(status_code=201, headers={"Location": f"{_origin(request)}/messages/{record.id}"})

    def _app(self) -> Starlette:
        async def listing(request: Request) -> Response:
            if request.method == "DELETE":
                self.messages.clear()
                return Response(status_code=204)
            return JSONResponse([m.__dict__ for m in self.messages.values()])

        async def one(request: Request) -> Response:
            record = self.messages.get(request.path_params["id"])
            return JSONResponse(record.__dict__) if record else JSONResponse({"error": "not found"}, 404)

        return Starlette(routes=[
            Route("/subscribe", self._subscribe, methods=["POST"]),
            Route("/subscriptions/{id}", self._unsubscribe, methods=["DELETE"]),
            Route("/subscriptions/{id}/fail", self._script, methods=["POST"]),
            Route("/push/{id}", self._push, methods=["POST"]),
            Route("/messages", listing, methods=["GET", "DELETE"]),
            Route("/messages/{id}", one),
        ])


def _decode(plain: bytes) -> Any:
    try:
        return json.loads(plain)
    except ValueError:
        return plain.decode("utf-8", "replace")
