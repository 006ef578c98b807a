"""WebSocket ``/graphql``: graphql-transport-ws, authenticated in ``connection_init`` (SPEC §7, D23).

Strawberry's ASGI view serves the protocol; this subclass adds what it cannot do: check the
``Authorization`` of the ``connection_init`` payload and close with 4401 (Strawberry closes
with 4403 when ``on_ws_connect`` refuses), give every operation its own app context, and end
a subscription whose stream fails with an ``error`` message (R27, D29), not ``next`` + ``complete``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import strawberry
import strawberry.asgi
from graphql import GraphQLError
from starlette.responses import PlainTextResponse
from starlette.types import Receive, Scope, Send
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)
from strawberry.types.execution import ExecutionResult, PreExecutionError
from strawberry.utils.aio import aclosing

from gql.auth import AuthError
from gql.http.negotiation import UNEXPECTED_ERROR

logger = logging.getLogger(__name__)

WS_UNAUTHORIZED = 4401
TOKEN_EXPIRED = "the token has expired: reconnect with a new one"


@dataclass
class WebSocketConnection:
    """Strawberry's connection-level "context" for one socket: not the app context.

    The app context is made per operation (``make_context(websocket, principal)``), so that
    concurrent operations on one socket never share request-scoped state such as a DB
    connection, and closed (``close_context``) when the operation ends.
    """

    websocket: Any
    connection_params: dict[str, Any] | None = None
    principal: Any = None
    authenticated: bool = False


class _Unauthenticated(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


_WS_OPERATION_CONTEXT: ContextVar[Any] = ContextVar("gql_ws_operation_context")
_NO_CONTEXT = object()


def _close_reason(message: str) -> str:
    """A WebSocket close reason is at most 123 bytes of UTF-8."""
    encoded = message.encode("utf-8")
    if len(encoded) <= 123:
        return message
    return encoded[:120].decode("utf-8", errors="ignore") + "..."


def _stream_failed(result: object) -> bool:
    """A result standing for the subscription's source stream failing (an error raised by the
    resolver's generator): no data and no error located at a field. Strawberry would send it
    as a `next` and then `complete`; R27 and D29 end the operation with an `error` message."""
    return (
        isinstance(result, ExecutionResult)
        and not isinstance(result, PreExecutionError)
        and result.data is None
        and bool(result.errors)
        and all(error.path is None for error in result.errors or ())
    )


async def _until_stream_failure(operation: Any, results: AsyncIterator[Any]) -> AsyncGenerator[Any, None]:
    async for result in results:
        if _stream_failed(result):
            await operation.send_initial_errors(result.errors)  # `error`: final, no `complete` follows
            return
        yield result


class _AuthenticatingTransportWSHandler(BaseGraphQLTransportWSHandler):
    """graphql-transport-ws with authentication in ``connection_init`` (close 4401 on failure
    and when the token expires) and one app context per operation."""

    _expiry: asyncio.Task[None] | None = None

    # strawberry reads ``self.context`` when it runs an operation; inside an operation's task
    # that is the operation's own app context, elsewhere the connection object.
    @property
    def context(self) -> Any:
        ctx = _WS_OPERATION_CONTEXT.get(_NO_CONTEXT)
        return self._connection if ctx is _NO_CONTEXT else ctx

    @context.setter
    def context(self, value: Any) -> None:
        self._connection = value

    async def handle_connection_init(self, message: Any) -> None:
        if isinstance(message, dict) and message.get("payload") is None:
            message = {**message, "payload": {}}  # a null payload is no credentials: 4401, not 4400
        try:
            # strawberry checks the payload shape and repeated inits, stores the payload in
            # ``connection_params`` and calls the view's ``on_ws_connect``, which raises
            # _Unauthenticated on a bad token (strawberry itself would close with 4403).
            await super().handle_connection_init(message)
            self._close_on_expiry()
        except _Unauthenticated as exc:
            await self.websocket.close(code=WS_UNAUTHORIZED, reason=_close_reason(exc.message))
        except Exception:
            logger.exception("unexpected failure while authenticating a WebSocket connection")
            await self.websocket.close(code=4500, reason="Internal server error")

    async def _send_result_stream(self, operation: Any, result_source: Any) -> None:
        async with aclosing(_until_stream_failure(operation, result_source)) as results:
            await super()._send_result_stream(operation, results)

    def _close_on_expiry(self) -> None:
        """R31/D35: the socket closes with 4401 when the connection_init token expires (either
        kind: the principal's ``expires_at``, a time.time())."""
        connection: WebSocketConnection = self._connection
        expires_at = getattr(connection.principal, "expires_at", None)
        if connection.authenticated and expires_at is not None and math.isfinite(expires_at) and self._expiry is None:
            self._expiry = asyncio.create_task(self._close_at(float(expires_at)))

    async def _close_at(self, expires_at: float) -> None:
        await asyncio.sleep(max(0.0, expires_at - time.time()))
        with contextlib.suppress(Exception):  # the client may be gone already
            await self.websocket.close(code=WS_UNAUTHORIZED, reason=_close_reason(TOKEN_EXPIRED))

    async def shutdown(self) -> None:
        if self._expiry is not None and self._expiry is not asyncio.current_task():
            self._expiry.cancel()
        await super().shutdown()

    async def run_operation(self, operation: Any) -> None:
        view: GraphQLWebSocket = self.view  # type: ignore[assignment]
        connection: WebSocketConnection = self._connection
        try:
            app_context = await view.make_context(connection.websocket, connection.principal)
        except AuthError as exc:
            await self.websocket.close(code=WS_UNAUTHORIZED, reason=_close_reason(str(exc)))
            return
        except Exception:
            logger.exception("unexpected failure while making the context of a WebSocket operation")
            await operation.send_initial_errors([GraphQLError(UNEXPECTED_ERROR)])
            return
        token = _WS_OPERATION_CONTEXT.set(app_context)
        try:
            await super().run_operation(operation)
        finally:
            _WS_OPERATION_CONTEXT.reset(token)
            if view.close_context is not None:
                await view.close_context(app_context)


def _authorization_from(params: Mapping[str, Any] | None) -> str | None:
    for key, value in (params or {}).items():
        if isinstance(key, str) and key.lower() == "authorization":
            return value if isinstance(value, str) else None
    return None


class GraphQLWebSocket(strawberry.asgi.GraphQL):
    """WebSocket ``/graphql`` (graphql-transport-ws only); route only WebSocket traffic to it.

    ``authenticate_token(authorization)`` receives the ``Authorization`` value of the
    ``connection_init`` payload (``{"Authorization": "Bearer …"}``, key matched
    case-insensitively; ``None`` when absent) and returns a principal or raises ``AuthError``:
    the socket is then closed with 4401 and the error text as reason. A ``subscribe`` before
    ``connection_ack`` is also closed with 4401 (strawberry's behaviour). Each operation gets
    its own ``make_context(websocket, principal)``, closed with ``close_context`` when it ends.
    The principal is checked once, at ``connection_init``.
    """

    graphql_transport_ws_handler_class = _AuthenticatingTransportWSHandler

    def __init__(
        self,
        schema: strawberry.Schema,
        *,
        authenticate_token: Callable[[str | None], Awaitable[Any]],
        make_context: Callable[[Any, Any], Awaitable[Any]],
        close_context: Callable[[Any], Awaitable[None]] | None = None,
        connection_init_wait_timeout: timedelta = timedelta(seconds=30),
        max_subscriptions_per_connection: int | None = 100,
        allowed_origins: tuple[str, ...] = (),
        keep_alive: bool = False,
    ) -> None:
        super().__init__(
            schema,
            graphql_ide=None,
            allow_queries_via_get=False,
            keep_alive=keep_alive,
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
            connection_init_wait_timeout=connection_init_wait_timeout,
            max_subscriptions_per_connection=max_subscriptions_per_connection,
            allowed_origins=allowed_origins,
        )
        self.authenticate_token = authenticate_token
        self.make_context = make_context
        self.close_context = close_context

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            response = PlainTextResponse("This endpoint serves WebSocket (graphql-transport-ws) only.", 404)
            await response(scope, receive, send)
            return
        await super().__call__(scope, receive, send)

    def decode_json(self, data: str | bytes) -> object:
        try:
            return super().decode_json(data)
        except RecursionError as exc:  # nested too deeply: not JSON we accept (close 4400, not 1011)
            raise json.JSONDecodeError("nested too deeply", data if isinstance(data, str) else "", 0) from exc

    async def get_context(self, request: Any, response: Any) -> WebSocketConnection:  # type: ignore[override]
        return WebSocketConnection(websocket=request)

    async def on_ws_connect(self, context: Any) -> Any:
        connection: WebSocketConnection = context
        try:
            connection.principal = await self.authenticate_token(
                _authorization_from(connection.connection_params)
            )
        except AuthError as exc:
            raise _Unauthenticated(str(exc)) from exc
        connection.authenticated = True
        return await super().on_ws_connect(context)
