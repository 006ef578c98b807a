"""The HTTP server: uvicorn, with a timeout for reading request headers (SPEC D36).

uvicorn 0.55 has a keep-alive timeout (idle between requests) but none for a request whose
headers never finish: a client that opens a connection and trickles a header byte now and then
keeps it open for good. No ASGI middleware can help, since the app is called only once the
headers are complete, so the server's HTTP protocol does it: ``HeaderTimeoutProtocol`` (the
httptools protocol uvicorn picks by default) gives each request ``header_timeout`` seconds from
the connection's opening, or from the request's first byte on a kept-alive connection, to
complete its headers; then it answers 408 and closes.

The body timeout and the limit on requests in flight are ASGI middleware in the app
(``gql.http.limits``), which leave WebSockets alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import threading
from collections.abc import Callable
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from db.config import Settings

logger = logging.getLogger(__name__)

_REQUEST_TIMEOUT = (
    b"HTTP/1.1 408 Request Timeout\r\n"
    b"content-type: text/plain; charset=utf-8\r\n"
    b"content-length: 42\r\n"
    b"connection: close\r\n"
    b"\r\n"
    b"The request headers took too long to send."
)


class HeaderTimeoutProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, closing a connection whose request headers are too slow."""

    header_timeout: float = 10.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_header_timer()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._header_timer is None:
            self._arm_header_timer()

    def on_headers_complete(self) -> None:
        self._disarm_header_timer()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_header_timer()
        super().connection_lost(exc)

    def _arm_header_timer(self) -> None:
        self._header_timer = self.loop.call_later(self.header_timeout, self._headers_timed_out)

    def _disarm_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_timed_out(self) -> None:
        self._header_timer = None
        if self.transport.is_closing():
            return
        if self.cycle is not None and not self.cycle.response_complete:
            self.cycle.keep_alive = False  # a pipelined request behind a response under way: close after it
            return
        logger.info("closing a connection from %s: request headers not complete in %ss", self.client, self.header_timeout)
        self.transport.write(_REQUEST_TIMEOUT)
        self.transport.close()


def build_server(app: Any, host: str, port: int, settings: Settings, **options: Any) -> uvicorn.Server:
    """A uvicorn server for ``app`` with the HTTP limits of ``settings``; ``options`` go to uvicorn."""
    protocol = type("HeaderTimeoutProtocol", (HeaderTimeoutProtocol,), {"header_timeout": settings.header_timeout_seconds})
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        http=protocol,
        ws_max_size=settings.max_body_bytes,  # a WebSocket message is a request too
        **{"log_level": "info", **options},
    )
    return uvicorn.Server(config)


def _stopped(signum: int, _frame: Any) -> None:
    raise SystemExit(0)


def run_server(app: Any, host: str, port: int, settings: Settings) -> None:
    """Serve until SIGINT or SIGTERM. uvicorn shuts down gracefully on either, then raises the
    signal again: SIGTERM's default action would end the process on the spot, past every
    `finally` and `atexit` — leaving the embedded PostgreSQL running. Handled here, it unwinds
    the process like Ctrl-C does, and `serve` stops the embedded server on the way out."""
    main = threading.current_thread() is threading.main_thread()
    previous = signal.getsignal(signal.SIGTERM) if main else None
    if main:
        signal.signal(signal.SIGTERM, _stopped)
    try:
        build_server(app, host, port, settings).run()
    finally:
        if main and previous is not None:
            signal.signal(signal.SIGTERM, previous)


def run_workers(make_app: Callable[[], Any], host: str, port: int, settings: Settings, workers: int) -> None:
    """``workers`` processes serving one listening socket (the kernel spreads the connections).

    The parent binds the socket, forks the workers and waits; each worker builds its own app
    (engine, pool, lifecycle job: the job's advisory lock lets one replica at a time run it) and
    serves. The app keeps no state between requests that workers could disagree on. SIGINT or
    SIGTERM to the parent stops every worker; a worker that dies is reported, the others go on."""
    if workers <= 1:
        run_server(make_app(), host, port, settings)
        return
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    children: list[int] = []
    for _ in range(workers):
        pid = os.fork()
        if pid == 0:  # the worker
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            code = 0
            try:
                build_server(make_app(), host, port, settings).run(sockets=[sock])
            except BaseException:  # noqa: BLE001 - a worker must never return into the parent's code
                logger.exception("worker %s failed", os.getpid())
                code = 1
            finally:
                os._exit(code)
        children.append(pid)
    logger.info("serving with %d worker processes: %s", workers, ", ".join(map(str, children)))

    def stop(signum: int, _frame: Any) -> None:
        for child in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGTERM)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    alive = set(children)
    while alive:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            break
        alive.discard(pid)
        if os.waitstatus_to_exitcode(status) != 0:
            logger.warning("worker %s exited with %s", pid, os.waitstatus_to_exitcode(status))
    sock.close()
