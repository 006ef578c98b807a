"""Limits on HTTP requests, as ASGI middleware shared by every endpoint (SPEC D36).

``RequestBodyLimit`` caps a request body at ``max_bytes``: a ``Content-Length`` announcing
more is refused before a byte is read, a body that grows past the cap while streaming is cut
off there (413). It never buffers: it only counts what the endpoint reads, chunk by chunk, so
an endpoint that answers before reading (a 401 for a missing token) never receives the body.

What the client sees is the endpoint's business (a GraphQL error, a SCIM error): each limit
calls ``error_response(scope, refusal)`` for the response to send. Once a refusal is sent, the
endpoint gets ``http.disconnect`` from ``receive`` and whatever it sends is dropped.
"""

from __future__ import annotations

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
        headers = dict(scope.get("headers", ()))
        self.body_pending = b"transfer-encoding" in headers or _announced_length(scope) not in (None, 0)

    def received(self, message: Message) -> None:
        if message["type"] != "http.request" or not message.get("more_body", False):
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
    """ASGI middleware: at most ``max_bytes`` of request body (HTTP only; WebSockets pass)."""

    def __init__(self, app: ASGIApp, *, max_bytes: int, error_response: ErrorResponse = plain_error_response) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.error_response = error_response

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        exchange = _Exchange(scope, send, self.error_response)
        received = 0
        announced = _announced_length(scope)

        async def limited_receive() -> Message:
            nonlocal received
            if exchange.refused:
                return {"type": "http.disconnect"}
            if announced is not None and announced > self.max_bytes:
                return await exchange.refuse(too_large(self.max_bytes))
            message = await receive()
            exchange.received(message)
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    return await exchange.refuse(too_large(self.max_bytes))
            return message

        await self.app(scope, limited_receive, exchange.send)
