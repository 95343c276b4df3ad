"""Run the app with uvicorn inside the caller's event loop (`mtq up`, `mtq api run`, tests).

The socket is bound before uvicorn starts, so a taken port is one clear error; uvicorn's own
signal handling is off: the caller owns SIGINT/SIGTERM. The access log shows method, path and
status only (tokens travel in the Authorization header, which is never logged).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Generator

import uvicorn

from mtq.http.app import create_app
from mtq.http.state import ApiSettings


class ApiBindError(OSError):
    """The address cannot be listened on; the message names it and why."""


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield  # the process that embeds the API handles signals


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ApiBindError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.set_inheritable(False)
    return sock


class ApiServer:
    """The HTTP API on `settings.host:settings.port` (port 0: a free one)."""

    def __init__(
        self,
        settings: ApiSettings,
        *,
        access_log: bool = False,
        sock: socket.socket | None = None,
    ) -> None:
        """`sock`: a socket bound already (`mtq up` binds it and hands it to its API child)."""
        self.settings = settings
        self.app = create_app(settings)
        self.access_log = access_log
        self.port = settings.port if sock is None else int(sock.getsockname()[1])
        self._server: _Server | None = None
        self._task: asyncio.Task[None] | None = None
        self._sock: socket.socket | None = sock

    @property
    def address(self) -> str:
        host = f"[{self.settings.host}]" if ":" in self.settings.host else self.settings.host
        return f"http://{host}:{self.port}"

    def bind(self) -> None:
        """Take the port now (ApiBindError if it cannot be had); `start` serves on it."""
        if self._sock is None:
            self._sock = bind(self.settings.host, self.settings.port)
            self.port = int(self._sock.getsockname()[1])

    async def start(self) -> None:
        self.bind()
        sock = self._sock
        assert sock is not None
        config = uvicorn.Config(
            self.app,
            log_level="info" if self.access_log else "warning",
            access_log=self.access_log,
            lifespan="on",
            timeout_graceful_shutdown=3,
            loop="none",
            http="httptools",
        )
        self._server = _Server(config)
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]), name="http-api")
        while not self._server.started:
            if self._task.done():
                self._task.result()  # raises why uvicorn stopped
                raise ApiBindError(f"the HTTP API on {self.address} did not start")
            await asyncio.sleep(0.02)

    @property
    def done(self) -> asyncio.Future[None]:
        assert self._task is not None
        return self._task

    async def stop(self) -> None:
        self.app.state.api.hub.close()  # end the event streams, or shutdown waits for them
        if self._server is not None:
            self._server.should_exit = True
        if self._task is not None:
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(asyncio.shield(self._task), 15)
