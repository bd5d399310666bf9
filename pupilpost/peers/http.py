"""Serve a small ASGI app (a peer's JSON view) with uvicorn inside the running event loop."""
from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Iterator

import uvicorn
from starlette.types import ASGIApp


class _Server(uvicorn.Server):
    """A uvicorn server that leaves SIGINT/SIGTERM to whoever runs the peers."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening-ready TCP socket on host:port (port 0: the OS picks one)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


class HttpServer:
    """One ASGI app on one port, started and stopped with the peer that owns it."""

    def __init__(self, app: ASGIApp, host: str, port: int) -> None:
        self.host, self.port = host, port
        self._app = app
        self._sock: socket.socket | None = None
        self._server: _Server | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        """The base URL, without a trailing slash."""
        return f"http://{self.host}:{self.port}"

    async def start(self) -> None:
        """Bind (port 0: the OS picks one) and serve; returns once requests are accepted."""
        self._sock = bind_socket(self.host, self.port)
        self.port = int(self._sock.getsockname()[1])
        config = uvicorn.Config(self._app, log_config=None, log_level="warning", lifespan="off", access_log=False,
                                timeout_graceful_shutdown=5)  # a held request never holds a stop
        self._server = _Server(config)
        self._task = asyncio.create_task(self._server.serve(sockets=[self._sock]))
        while not self._server.started:
            if self._task.done():
                self._sock.close()
                self._task.result()
                raise RuntimeError("HTTP server stopped during start-up")
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._task is not None and self._server is not None:
            self._server.should_exit = True
            await self._task
            self._task = None
        if self._sock is not None:
            self._sock.close()
            self._sock = None
