"""The local gateway: one base URL in front of every service, with no logic of its own.

It forwards each request to the service that serves its path (longest prefix in
`pupilpost.routes`), passing method, path, query, headers (W3C `traceparent`
included) and body through, minus hop-by-hop headers. In production the ingress
in deploy/ does the same from the same table.
"""
from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from pupilpost import eventloop
from pupilpost.routes import service_for

HOP_BY_HOP = frozenset({
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "proxy-connection",
    "te", "trailer", "trailers", "transfer-encoding", "upgrade",
})
METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
PROXY_TIMEOUT = httpx.Timeout(120.0, connect=2.0)
READY_TIMEOUT = 2.0


def forwardable(headers: Iterable[tuple[str, str]], *, drop: Iterable[str] = ()) -> list[tuple[str, str]]:
    """Headers minus hop-by-hop ones, those named in Connection, and `drop`."""
    pairs = list(headers)
    named = {t.strip().lower() for k, v in pairs if k.lower() == "connection" for t in v.split(",")}
    skip = HOP_BY_HOP | named | {d.lower() for d in drop}
    return [(k, v) for k, v in pairs if k.lower() not in skip]


def _plain_client(transport: httpx.AsyncBaseTransport | None) -> httpx.AsyncClient:
    """An httpx client that adds no headers of its own (the caller's pass through as sent)."""
    client = httpx.AsyncClient(timeout=PROXY_TIMEOUT, follow_redirects=False, trust_env=False,
                               transport=transport)
    for name in ("accept", "accept-encoding", "user-agent"):
        del client.headers[name]
    return client


def build_app(upstreams: dict[str, str], *, transport: httpx.AsyncBaseTransport | None = None) -> Starlette:
    """The gateway ASGI app; `upstreams` maps service name to base URL (`transport`: for tests)."""
    state: dict[str, httpx.AsyncClient] = {}

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        async with _plain_client(transport) as client:
            state["client"] = client
            yield

    async def healthz(_: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(_: Request) -> Response:
        services = await _readiness(state["client"], upstreams)
        ready = all(services.values())
        return JSONResponse({"ready": ready, "services": services}, status_code=200 if ready else 503)

    async def proxy(request: Request) -> Response:
        return await _forward(state["client"], upstreams, request)

    routes = [Route("/healthz", healthz, methods=["GET"]), Route("/readyz", readyz, methods=["GET"]),
              Route("/{path:path}", proxy, methods=METHODS)]
    return Starlette(routes=routes, lifespan=lifespan)


async def _readiness(client: httpx.AsyncClient, upstreams: dict[str, str]) -> dict[str, bool]:
    """Each service's /readyz, asked concurrently with a short timeout."""
    async def ready(base: str) -> bool:
        try:
            resp = await client.get(f"{base.rstrip('/')}/readyz", timeout=READY_TIMEOUT)
        except httpx.HTTPError:
            return False
        return resp.status_code == 200

    names = sorted(upstreams)
    results = await asyncio.gather(*(ready(upstreams[n]) for n in names))
    return dict(zip(names, results, strict=True))


async def _forward(client: httpx.AsyncClient, upstreams: dict[str, str], request: Request) -> Response:
    """Send `request` to its service and stream the answer back."""
    path = request.url.path
    service = service_for(path)
    if service is None:
        return JSONResponse({"detail": f"no service serves {path}"}, status_code=404)
    base = upstreams.get(service)
    if base is None:
        return JSONResponse({"detail": f"{service} is not configured"}, status_code=502)
    upstream = client.build_request(request.method, base.rstrip("/") + _raw_target(request),
                                    headers=_request_headers(request), content=await request.body() or None)
    try:
        resp = await client.send(upstream, stream=True)
    except httpx.TimeoutException:
        return JSONResponse({"detail": f"{service} did not answer in time"}, status_code=504)
    except httpx.TransportError:
        return JSONResponse({"detail": f"{service} is not reachable"}, status_code=502)
    answer = StreamingResponse(resp.aiter_raw(), status_code=resp.status_code,
                               background=BackgroundTask(resp.aclose))
    answer.raw_headers = [(k.encode("latin-1"), v.encode("latin-1"))
                          for k, v in forwardable(resp.headers.multi_items())]
    return answer


def _raw_target(request: Request) -> str:
    """The path and query exactly as the caller sent them (no re-encoding)."""
    raw = request.scope.get("raw_path")
    path = raw.decode("latin-1") if raw else request.url.path
    query = request.scope.get("query_string", b"").decode("latin-1")
    return f"{path}?{query}" if query else path


def _request_headers(request: Request) -> list[tuple[str, str]]:
    """The caller's headers (Host kept, so redirects point at the gateway), with X-Forwarded-* set."""
    drop = ("content-length", "x-forwarded-for", "x-forwarded-proto", "x-forwarded-host")
    headers = forwardable(request.headers.items(), drop=drop)
    client_host = request.client.host if request.client else ""
    headers += [("x-forwarded-for", client_host), ("x-forwarded-proto", request.url.scheme),
                ("x-forwarded-host", request.headers.get("host", ""))]
    return headers


async def serve_gateway(host: str, port: int, upstreams: dict[str, str]) -> None:
    """Serve the gateway with uvicorn until it is told to stop (SIGINT/SIGTERM)."""
    config = uvicorn.Config(build_app(upstreams), host=host, port=port, log_level="warning",
                            access_log=False, lifespan="on")
    await uvicorn.Server(config).serve()


def _main() -> None:
    """Entry point for `python -m pupilpost.gateway` (configuration from env)."""
    host = os.environ.get("PUPILPOST_GATEWAY_HOST", "127.0.0.1")
    port = int(os.environ.get("PUPILPOST_GATEWAY_PORT", "8000"))
    upstreams = json.loads(os.environ.get("PUPILPOST_UPSTREAMS", "{}"))
    eventloop.run(serve_gateway(host, port, upstreams))


if __name__ == "__main__":
    _main()
