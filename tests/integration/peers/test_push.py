"""Web Push over real HTTP: PushProvider (pywebpush, VAPID, aes128gcm) -> the local push service."""
from __future__ import annotations

import base64
import json
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from pupilpost.embedded import free_port
from pupilpost.peers.run import PeersHandle
from services.dispatch.providers.base import (
    PermanentFailure,
    SubscriptionGone,
    TransientFailure,
)
from services.dispatch.providers.push import VAPID_LIFETIME, VAPID_REUSE, PushProvider

SUBJECT = "mailto:ops@pupilpost.test"
PAYLOAD = {"title": "Oakfield Primary", "body": "You have a new message in Pupilpost", "url": "/inbox/m-1"}


def vapid_pem() -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


@pytest.fixture
async def push() -> AsyncIterator[PushProvider]:
    provider = PushProvider(vapid_pem(), SUBJECT)
    yield provider
    await provider.aclose()


async def subscribe(peers: PeersHandle, server_key: str | None = None) -> dict[str, Any]:
    async with httpx.AsyncClient() as http:
        resp = await http.post(f"{peers.push.http.url}/subscribe",
                               json={"applicationServerKey": server_key} if server_key else None)
    assert resp.status_code == 201
    return resp.json()


async def test_the_push_service_decrypts_exactly_the_payload_sent(peers: PeersHandle, push: PushProvider) -> None:
    subscription = await subscribe(peers, push.application_server_key)
    assert set(subscription["keys"]) == {"p256dh", "auth"}

    location = await push.send(subscription, PAYLOAD, ttl=3600, urgency="high", topic="inbox")

    async with httpx.AsyncClient() as http:
        received = (await http.get(location)).json()
    assert received["payload"] == PAYLOAD
    assert (received["ttl"], received["urgency"], received["topic"], received["sender"]) == (
        3600, "high", "inbox", SUBJECT)


def _claims(headers: dict[str, str]) -> dict[str, Any]:
    token = headers["Authorization"].removeprefix("vapid t=").split(",")[0]
    body = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))


async def test_a_vapid_token_is_reused_per_push_service_until_half_its_lifetime(
        peers: PeersHandle, push: PushProvider) -> None:
    subscription = await subscribe(peers, push.application_server_key)
    start = time.time()
    push.clock = lambda: start
    first = push._headers(subscription["endpoint"], 60, "normal", None)
    await push.send(subscription, PAYLOAD, ttl=60)
    push.clock = lambda: start + VAPID_REUSE - 1
    assert push._headers(subscription["endpoint"], 60, "high", "t")["Authorization"] == first["Authorization"]
    await push.send(subscription, PAYLOAD, ttl=60)  # the reused token is still accepted
    other = push._headers("https://push.example.net/x", 60, "normal", None)
    assert _claims(other)["aud"] == "https://push.example.net" != _claims(first)["aud"]

    push.clock = lambda: start + VAPID_REUSE + 1
    renewed = push._headers(subscription["endpoint"], 60, "normal", None)
    assert renewed["Authorization"] != first["Authorization"]
    assert _claims(renewed)["exp"] == int(start + VAPID_REUSE + 1) + VAPID_LIFETIME
    await push.send(subscription, PAYLOAD, ttl=60)
    assert len(peers.push.messages) == 3


async def test_a_bad_vapid_signature_is_refused(peers: PeersHandle, push: PushProvider) -> None:
    subscription = await subscribe(peers)
    headers = push._headers(subscription["endpoint"], 60, "normal", None)
    token, key = headers["Authorization"].removeprefix("vapid ").split(",")
    head, claims, signature = token.removeprefix("t=").split(".")
    forged = f"vapid t={head}.{claims}.{signature[::-1]},{key}"
    async with httpx.AsyncClient() as http:
        resp = await http.post(subscription["endpoint"], content=b"\x00" * 100, headers={
            "Authorization": forged, "TTL": "60", "Content-Encoding": "aes128gcm"})
        missing = await http.post(subscription["endpoint"], content=b"\x00" * 100, headers={
            "TTL": "60", "Content-Encoding": "aes128gcm"})
    assert resp.status_code in (401, 403) and missing.status_code == 401
    assert not peers.push.messages


async def test_a_token_for_another_audience_is_refused(peers: PeersHandle, push: PushProvider) -> None:
    subscription = await subscribe(peers)
    headers = push._headers("https://push.example.net/x", 60, "normal", None)
    async with httpx.AsyncClient() as http:
        resp = await http.post(subscription["endpoint"], content=b"\x00" * 100,
                               headers={**headers, "TTL": "60", "Content-Encoding": "aes128gcm"})
    assert resp.status_code == 401


async def test_a_key_other_than_the_subscriptions_is_forbidden(peers: PeersHandle, push: PushProvider) -> None:
    subscription = await subscribe(peers, push.application_server_key)
    stranger = PushProvider(vapid_pem(), SUBJECT)
    with pytest.raises(PermanentFailure) as err:
        await stranger.send(subscription, PAYLOAD, ttl=60)
    await stranger.aclose()
    assert err.value.code == "403" and not isinstance(err.value, SubscriptionGone)


async def test_a_deleted_subscription_is_gone(peers: PeersHandle, push: PushProvider,
                                              caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    subscription = await subscribe(peers)
    async with httpx.AsyncClient() as http:
        assert (await http.delete(f"{peers.push.http.url}/subscriptions/{subscription['id']}")).status_code == 204
    with pytest.raises(SubscriptionGone) as err:
        await push.send(subscription, PAYLOAD, ttl=60)
    assert isinstance(err.value, PermanentFailure) and err.value.code == "410"
    ours = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("services."))
    assert "push subscription gone" in ours
    assert subscription["id"] not in str(err.value) and subscription["id"] not in ours


@pytest.mark.parametrize("status", [429, 503])
async def test_busy_push_services_are_transient(peers: PeersHandle, push: PushProvider, status: int) -> None:
    subscription = await subscribe(peers)
    async with httpx.AsyncClient() as http:
        await http.post(f"{peers.push.http.url}/subscriptions/{subscription['id']}/fail", json={"status": status})
    with pytest.raises(TransientFailure) as err:
        await push.send(subscription, PAYLOAD, ttl=60)
    assert err.value.code == str(status) and err.value.retry_after == 1.0
    assert await push.send(subscription, PAYLOAD, ttl=60)  # the next attempt goes through


async def test_an_unreachable_push_service_is_transient(push: PushProvider, peers: PeersHandle) -> None:
    subscription = await subscribe(peers)
    subscription["endpoint"] = f"http://127.0.0.1:{free_port()}/push/{subscription['id']}"
    with pytest.raises(TransientFailure):
        await push.send(subscription, PAYLOAD, ttl=60)


async def test_a_payload_too_large_for_one_record_is_permanent(peers: PeersHandle, push: PushProvider) -> None:
    with pytest.raises(PermanentFailure, match="too large"):
        await push.send(await subscribe(peers), {"body": "x" * 5000}, ttl=60)
