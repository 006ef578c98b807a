"""Limits on HTTP requests, as ASGI middleware shared by every endpoint (SPEC D36).

``RequestBodyLimit`` caps a request body at ``max_bytes``: a ``Content-Length`` announcing
more is refused before a byte is read, a body that grows past the cap while streaming is cut
off there (413). It never buffers: it only counts what the endpoint reads, chunk by chunk, so
an endpoint that answers before reading (a 401 for a missing token) never receives the body.
With ``read_timeout``, the body must arrive in full within that many seconds of the endpoint
starting to read it (408), however it trickles in.

``ConcurrencyLimit`` lets at most ``max_requests`` HTTP requests in flight (503 with
``Retry-After`` past it). WebSockets are never counted, timed or capped here. The request
headers' timeout needs the server: ``gql.http.server``.

What the client sees is the endpoint's business (a GraphQL error, a SCIM error): each limit
calls ``error_response(scope, refusal)`` for the response to send. Once a refusal is sent, the
endpoint gets ``http.disconnect`` from ``receive`` and whatever it sends is dropped.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Refusal:
    """Why a request is refused before its endpoint could answer it."""

    status: int
    code: str  # e.g. PAYLOAD_TOO_LARGE
    message: str
    headers: dict[str, str] = field(default_factory=dict)


ErrorResponse = Callable[[Scope, Refusal], Response]


def plain_error_response(scope: Scope, refusal: Refusal) -> Response:
    """The default body: ``{"error": {"code": …, "message": …}}``."""
    body = json.dumps({"error": {"code": refusal.code, "message": refusal.message}})
    return Response(body, refusal.status, headers=refusal.headers, media_type="application/json")


def _announced_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def too_large(max_bytes: int) -> Refusal:
    return Refusal(
        413,
        "PAYLOAD_TOO_LARGE",
        f"the request body is larger than this server accepts ({max_bytes:,} bytes): send a smaller "
        "request (large lists of ids belong in several calls).",
    )


def body_too_slow(read_timeout: float) -> Refusal:
    return Refusal(
        408,
        "REQUEST_TIMEOUT",
        f"the request body did not arrive within {read_timeout:g} seconds: send it at once, or check the "
        "connection.",
    )


def too_busy(max_requests: int, retry_after: int) -> Refusal:
    return Refusal(
        503,
        "SERVER_BUSY",
        f"the server is serving as many requests as it takes at once ({max_requests}): try again in "
        f"{retry_after} second{'s' if retry_after != 1 else ''}.",
        {"Retry-After": str(retry_after)},
    )


class _Exchange:
    """One HTTP request passing through a limit.

    Sends a refusal at most once, then drops what the endpoint sends and tells it the client is
    gone. A response that starts before the request body was read in full closes the
    connection: the rest of the body is never read, so the connection cannot carry another
    request (and the server does not go on receiving a body nobody wants).
    """

    def __init__(self, scope: Scope, send: Send, error_response: ErrorResponse) -> None:
        self.scope = scope
        self._send = send
        self.error_response = error_response
        self.response_started = False
        self.refused = False
        self.body_read = False
        headers = dict(scope.get("headers", ()))
        self.body_pending = b"transfer-encoding" in headers or _announced_length(scope) not in (None, 0)

    def received(self, message: Message) -> None:
        if message["type"] != "http.request" or not message.get("more_body", False):
            self.body_read = True
            self.body_pending = False

    async def send(self, message: Message) -> None:
        if self.refused:
            return
        if message["type"] == "http.response.start":
            self.response_started = True
            if self.body_pending:
                headers = [(k, v) for k, v in message.get("headers", ()) if k.lower() != b"connection"]
                message = {**message, "headers": [*headers, (b"connection", b"close")]}
        await self._send(message)

    async def refuse(self, refusal: Refusal) -> Message:
        if not self.response_started and not self.refused:
            logger.info(
                "refused %s %s: %s", self.scope.get("method"), self.scope.get("path"), refusal.message
            )
            response = self.error_response(self.scope, refusal)
            await response(self.scope, _no_body, self.send)
        self.refused = True
        return {"type": "http.disconnect"}


async def _no_body() -> Message:
    return {"type": "http.disconnect"}


class RequestBodyLimit:
    """ASGI middleware: at most ``max_bytes`` of request body, read within ``read_timeout``
    seconds (HTTP only; WebSockets pass)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_bytes: int,
        read_timeout: float | None = None,
        error_response: ErrorResponse = plain_error_response,
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.read_timeout = read_timeout
        self.error_response = error_response

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        exchange = _Exchange(scope, send, self.error_response)
        received = 0
        announced = _announced_length(scope)
        deadline: float | None = None
        loop = asyncio.get_running_loop()

        async def limited_receive() -> Message:
            nonlocal received, deadline
            if exchange.refused:
                return {"type": "http.disconnect"}
            if exchange.body_read:  # what follows is the disconnect: not timed
                return await receive()
            if announced is not None and announced > self.max_bytes:
                return await exchange.refuse(too_large(self.max_bytes))
            if self.read_timeout is None:
                message = await receive()
            else:
                if deadline is None:
                    deadline = loop.time() + self.read_timeout
                try:
                    message = await asyncio.wait_for(receive(), max(deadline - loop.time(), 0))
                except TimeoutError:
                    return await exchange.refuse(body_too_slow(self.read_timeout))
            exchange.received(message)
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    return await exchange.refuse(too_large(self.max_bytes))
            return message

        await self.app(scope, limited_receive, exchange.send)


class ConcurrencyLimit:
    """ASGI middleware: at most ``max_requests`` HTTP requests in flight in this process.

    Past it, the request is refused at once (503, ``Retry-After``) rather than queued: a
    client or load balancer can retry elsewhere. A request waiting for its client to send the
    body does not hold its place meanwhile (so slow clients cannot starve the others; the body
    timeout ends them), and takes it back when the body arrives, or is refused then if the
    server is full. ``exempt_paths`` (the liveness probe) are not counted, so the process
    still looks alive while it is saturated.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_requests: int,
        retry_after: int = 1,
        exempt_paths: frozenset[str] = frozenset(),
        error_response: ErrorResponse = plain_error_response,
    ) -> None:
        self.app = app
        self.max_requests = max_requests
        self.retry_after = retry_after
        self.exempt_paths = exempt_paths
        self.error_response = error_response
        self.in_flight = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") in self.exempt_paths:
            await self.app(scope, receive, send)
            return
        exchange = _Exchange(scope, send, self.error_response)
        if self.in_flight >= self.max_requests:
            await exchange.refuse(too_busy(self.max_requests, self.retry_after))
            return
        self.in_flight += 1
        counted = True

        async def receive_uncounted() -> Message:
            nonlocal counted
            if exchange.body_read or exchange.refused:
                return await receive()
            self.in_flight -= 1
            counted = False
            try:
                message = await receive()
            except BaseException:  # cancelled by the body timeout: the refusal follows at once
                self.in_flight += 1
                counted = True
                raise
            exchange.received(message)
            if self.in_flight >= self.max_requests:
                return await exchange.refuse(too_busy(self.max_requests, self.retry_after))
            self.in_flight += 1
            counted = True
            return message

        try:
            await self.app(scope, receive_uncounted, exchange.send)
        finally:
            if counted:
                self.in_flight -= 1
