"""The local gateway forwards by longest prefix and adds no logic of its own."""
from __future__ import annotations

import json
from contextlib import asynccontextmanager

import httpx
import pytest

from pupilpost.gateway import build_app, forwardable
from pupilpost.routes import ROUTES

UPSTREAMS = {name: f"http://{name}.test" for name in ("ingest", "classifier", "dispatch", "audit", "retention")}


async def echo(scope, receive, send) -> None:
    """An upstream that answers with what it received (and readiness per host)."""
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    headers = {k.decode(): v.decode() for k, v in scope["headers"]}
    upstream = scope["server"][0]
    if scope["path"] == "/readyz":
        status = 503 if upstream.startswith("dispatch.") else 200
        await _reply(send, status, b"{}", [])
        return
    seen = {"upstream": upstream, "method": scope["method"], "path": scope["raw_path"].decode(),
            "query": scope["query_string"].decode(), "headers": headers, "body": body.decode()}
    extra = [(b"set-cookie", b"a=1"), (b"set-cookie", b"b=2"), (b"connection", b"close"), (b"x-up", b"yes")]
    await _reply(send, 201, json.dumps(seen).encode(), extra)


async def _reply(send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), *headers]})
    await send({"type": "http.response.body", "body": body})


@asynccontextmanager
async def gateway(upstreams: dict[str, str], transport: httpx.AsyncBaseTransport | None = None):
    """A client of the gateway app, with the app's lifespan running."""
    app = build_app(upstreams, transport=transport)
    transport_in = httpx.ASGITransport(app=app)
    async with app.router.lifespan_context(app), httpx.AsyncClient(transport=transport_in,
                                                                   base_url="http://gw") as client:
        yield client


@pytest.fixture
async def client():
    async with gateway(UPSTREAMS, httpx.ASGITransport(app=echo)) as test_client:
        yield test_client


@pytest.mark.parametrize(("path", "service"), [
    ("/v1/ops/schools", "ingest"),
    ("/v1/ops/audit/records", "audit"),
    ("/v1/ops/retention/schools/x", "retention"),
    ("/v1/inbox/messages", "dispatch"),
    ("/v1/classify", "classifier"),
])
async def test_forwards_by_longest_prefix(client: httpx.AsyncClient, path: str, service: str) -> None:
    resp = await client.post(f"{path}?a=1&b=%20x", content=b'{"k": 1}', headers={
        "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        "authorization": "Bearer t", "content-type": "application/json", "keep-alive": "5"})
    assert resp.status_code == 201
    seen = resp.json()
    assert seen["upstream"] == f"{service}.test"
    assert seen["headers"]["host"] == "gw"
    assert seen["headers"]["x-forwarded-host"] == "gw"
    assert (seen["method"], seen["path"], seen["query"], seen["body"]) == ("POST", path, "a=1&b=%20x", '{"k": 1}')
    assert seen["headers"]["traceparent"].startswith("00-0af7651916cd43dd")
    assert seen["headers"]["authorization"] == "Bearer t"
    assert "keep-alive" not in seen["headers"]
    assert resp.headers.get_list("set-cookie") == ["a=1", "b=2"]
    assert resp.headers["x-up"] == "yes"


def test_every_route_has_an_upstream() -> None:
    assert {service for _, service in ROUTES} <= set(UPSTREAMS)


async def test_unknown_prefix_is_404(client: httpx.AsyncClient) -> None:
    resp = await client.get("/v2/nothing")
    assert resp.status_code == 404
    assert resp.json() == {"detail": "no service serves /v2/nothing"}


async def test_upstream_down_is_502() -> None:
    async with gateway({"ingest": "http://127.0.0.1:9"}) as client:
        resp = await client.get("/v1/ops/schools")
    assert resp.status_code == 502
    assert resp.json() == {"detail": "ingest is not reachable"}


async def test_health_and_readiness(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    resp = await client.get("/readyz")
    assert resp.status_code == 503
    assert resp.json()["services"] == {name: name != "dispatch" for name in sorted(UPSTREAMS)}
    assert resp.json()["ready"] is False


def test_hop_by_hop_and_connection_named_headers_are_dropped() -> None:
    pairs = [("Connection", "close, X-Secret"), ("X-Secret", "1"), ("TE", "trailers"), ("Accept", "*/*")]
    assert forwardable(pairs) == [("Accept", "*/*")]
