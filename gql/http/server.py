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
import logging
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


def run_server(app: Any, host: str, port: int, settings: Settings) -> None:
    build_server(app, host, port, settings).run()
