"""GraphQL over HTTP and over WebSocket (SPEC §5, §6, §7, D9, D23).

Strawberry's own ASGI view cannot answer with ``application/graphql-response+json``, so HTTP is
served here, following the GraphQL-over-HTTP specification (checked in CI by the
``graphql-http`` server audits, ``.ci/graphql-http-audit``):

* ``GraphQLHTTP.handle`` is a Starlette endpoint for ``GET`` and ``POST /graphql``.
* ``GraphQLWebSocket`` is a subclass of strawberry's ASGI view that serves only WebSocket
  traffic (``graphql-transport-ws``), authenticating in ``connection_init`` (4401 otherwise).

Wiring (in the app module)::

    schema = strawberry.Schema(..., extensions=[..., ExecutionStartedMarker])
    http = GraphQLHTTP(schema, authenticate=..., make_context=..., close_context=...,
                       graphiql=settings.graphiql, allow_batching=settings.allow_batching)
    ws = GraphQLWebSocket(schema, authenticate_token=..., make_context=..., close_context=...)
    routes = [
        Route("/graphql", http.handle, methods=["GET", "POST"]),
        WebSocketRoute("/graphql", ws),
    ]

``ExecutionStartedMarker`` tells "the request failed before execution" (a request error:
document parse or validation failure, limits implemented as parse options or validation rules,
variable coercion, unknown operation) from "execution ran" (field errors). Only the former is
HTTP 400 under ``application/graphql-response+json`` and has no ``data`` entry. If the schema
lacks the marker, ``GraphQLHTTP`` appends it to ``schema.extensions`` itself (with a warning);
list it explicitly in the schema instead.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import strawberry
import strawberry.asgi
from graphql import GraphQLError
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.types import Receive, Scope, Send
from strawberry.exceptions import MissingQueryError
from strawberry.extensions import SchemaExtension
from strawberry.http.ides import get_graphql_ide_html
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)
from strawberry.types.execution import ExecutionResult
from strawberry.types.graphql import OperationType

from gql.auth import AuthError
from gql.graphiql import offline_graphiql_html

__all__ = [
    "GRAPHQL_RESPONSE_JSON",
    "APPLICATION_JSON",
    "ExecutionStartedMarker",
    "GraphQLHTTP",
    "GraphQLWebSocket",
    "WebSocketConnection",
    "negotiate_media_type",
]

logger = logging.getLogger(__name__)

GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"
APPLICATION_JSON = "application/json"
UNEXPECTED_ERROR = "Unexpected error."
WS_UNAUTHORIZED = 4401


# --------------------------------------------------------------------------------------------
# Did execution start?
# --------------------------------------------------------------------------------------------


@dataclass
class _ExecutionState:
    started: bool = False


_EXECUTION_STATE: ContextVar[_ExecutionState | None] = ContextVar("gql_http_execution_state", default=None)


class ExecutionStartedMarker(SchemaExtension):
    """Records, for the HTTP request being served, that the execution phase was entered.

    Add the class (not an instance) to the schema's extensions:
    ``strawberry.Schema(query=..., mutation=..., extensions=[..., ExecutionStartedMarker])``.
    Its position among the extensions does not matter. It reads and writes only a context
    variable that ``GraphQLHTTP`` sets around each ``schema.execute`` call, so it does nothing
    for WebSocket operations, tests calling ``schema.execute`` directly, or other callers.

    Strawberry enters ``on_execute`` only after parsing (including token limits, which are a
    parse option) and validation (including depth/alias limits and any custom rule) have
    passed, so a parse or validation failure never marks the request. graphql-core may still
    refuse the request inside the execute phase before any resolver runs (variable coercion,
    unknown operation name); ``GraphQLHTTP`` recognises those results as having no ``data``
    and only errors without a ``path``.
    """

    def on_execute(self) -> Iterator[None]:
        state = _EXECUTION_STATE.get()
        if state is not None:
            state.started = True
        yield


def _has_marker(schema: strawberry.Schema) -> bool:
    return any(
        ext is ExecutionStartedMarker
        or isinstance(ext, ExecutionStartedMarker)
        or (isinstance(ext, type) and issubclass(ext, ExecutionStartedMarker))
        for ext in getattr(schema, "extensions", ())
    )


def _is_request_error(result: ExecutionResult, state: _ExecutionState) -> bool:
    """True when the operation failed before any field was resolved (no ``data`` entry)."""
    if not state.started:
        return True
    if result.data is None and result.errors:
        # Field errors always carry a path (even when masked: MaskErrors keeps it); errors
        # raised by graphql-core before resolving (variable coercion, operation selection) or
        # by a pre-execution check in an extension do not.
        return all(getattr(error, "path", None) is None for error in result.errors)
    return False


# --------------------------------------------------------------------------------------------
# Media types
# --------------------------------------------------------------------------------------------


def _parse_media_ranges(accept: str) -> list[tuple[str, float]]:
    ranges: list[tuple[str, float]] = []
    for part in accept.split(","):
        media, *params = (piece.strip() for piece in part.split(";"))
        if not media:
            continue
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value.strip())
                except ValueError:
                    q = 0.0
        ranges.append((media.lower(), max(0.0, min(q, 1.0))))
    return ranges


def _quality(candidate: str, ranges: list[tuple[str, float]]) -> tuple[float, int]:
    """(q, specificity) of the most specific range matching ``candidate``; (0, 0) if none."""
    type_, _, _subtype = candidate.partition("/")
    best: tuple[float, int] = (0.0, 0)
    for media, q in ranges:
        if media == candidate:
            specificity = 3
        elif media == f"{type_}/*":
            specificity = 2
        elif media == "*/*":
            specificity = 1
        else:
            continue
        if specificity > best[1]:
            best = (q, specificity)
    return best


def negotiate_media_type(accept: str | None) -> str | None:
    """Pick the response media type for an ``Accept`` header; ``None`` means 406.

    No (or an empty) ``Accept`` means ``application/json``. The highest q-value wins, a
    type named explicitly beats one reached through a wildcard, and on a tie
    ``application/graphql-response+json`` wins when both are named explicitly while
    ``application/json`` wins when both come from a wildcard (``*/*``, ``application/*``).
    """
    if accept is None or not accept.strip():
        return APPLICATION_JSON
    ranges = _parse_media_ranges(accept)
    scored = []
    for candidate in (GRAPHQL_RESPONSE_JSON, APPLICATION_JSON):
        q, specificity = _quality(candidate, ranges)
        if q <= 0:
            continue
        preferred = (candidate == GRAPHQL_RESPONSE_JSON) == (specificity == 3)
        scored.append(((q, specificity, preferred), candidate))
    if not scored:
        return None
    return max(scored)[1]


def _accepts_html(accept: str | None) -> bool:
    if not accept:
        return False
    return any(media == "text/html" and q > 0 for media, q in _parse_media_ranges(accept))


# --------------------------------------------------------------------------------------------
# Requests
# --------------------------------------------------------------------------------------------


class _RequestProblem(Exception):
    """The HTTP request is not a well-formed GraphQL-over-HTTP request."""

    def __init__(self, status: int, message: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = dict(headers or {})


@dataclass(frozen=True)
class _GraphQLParams:
    query: str
    variables: dict[str, Any] | None
    operation_name: str | None
    extensions: dict[str, Any] | None


def _params_from_mapping(data: Any, *, where: str) -> _GraphQLParams:
    if not isinstance(data, dict):
        raise _RequestProblem(
            400,
            f"{where} must be a JSON object with a `query` string (and optional `variables`, "
            "`operationName`, `extensions`).",
        )
    query = data.get("query")
    if query is None:
        raise _RequestProblem(400, f"{where} has no `query`: send the GraphQL document as a `query` string.")
    if not isinstance(query, str):
        raise _RequestProblem(
            400, f"`query` must be a string containing a GraphQL document; got {_json_kind(query)}."
        )
    if not query.strip():
        raise _RequestProblem(400, "`query` is empty: send a GraphQL document.")
    operation_name = data.get("operationName")
    if operation_name is not None and not isinstance(operation_name, str):
        raise _RequestProblem(
            400, f"`operationName` must be a string or null; got {_json_kind(operation_name)}."
        )
    variables = data.get("variables")
    if variables is not None and not isinstance(variables, dict):
        raise _RequestProblem(
            400,
            f"`variables` must be a JSON object (a map of variable names to values) or null; got "
            f"{_json_kind(variables)}.",
        )
    extensions = data.get("extensions")
    if extensions is not None and not isinstance(extensions, dict):
        raise _RequestProblem(
            400, f"`extensions` must be a JSON object or null; got {_json_kind(extensions)}."
        )
    return _GraphQLParams(query, variables, operation_name or None, extensions)


def _json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return "null"


def _decode_json_param(raw: str | None, name: str) -> Any:
    if raw is None or raw == "":
        return None
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise _RequestProblem(400, f"the `{name}` URL parameter is not valid JSON: {exc.args[0]}.") from exc


def _params_from_query_string(request: Request) -> _GraphQLParams:
    qp = request.query_params
    data = {
        "query": qp.get("query"),
        "operationName": qp.get("operationName") or None,
        "variables": _decode_json_param(qp.get("variables"), "variables"),
        "extensions": _decode_json_param(qp.get("extensions"), "extensions"),
    }
    return _params_from_mapping(data, where="the GET request")


def _check_content_type(request: Request) -> None:
    raw = request.headers.get("content-type")
    if not raw:
        raise _RequestProblem(
            415,
            "the POST request has no Content-Type: "
            "send the body as JSON with `Content-Type: application/json`.",
        )
    media, *params = (piece.strip() for piece in raw.split(";"))
    if media.lower() != APPLICATION_JSON:
        raise _RequestProblem(
            415,
            f"unsupported Content-Type {media!r}: "
            "send the body as JSON with `Content-Type: application/json`.",
        )
    for param in params:
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset" and value.strip().strip('"').lower() not in ("utf-8", "utf8"):
            raise _RequestProblem(415, f"unsupported charset {value.strip()!r}: the body must be UTF-8 JSON.")


# --------------------------------------------------------------------------------------------
# HTTP endpoint
# --------------------------------------------------------------------------------------------

_DEFAULT_HEADERS_JS = '"{\\n  \\"Authorization\\": \\"Bearer <paste a token from `licensing token`>\\"\\n}"'


def _graphiql_html() -> str:
    """Strawberry's GraphiQL page, with an Authorization header template in the headers editor.

    Its scripts and style sheets load from this server (gql/graphiql.py), not from a CDN.
    """

    html = offline_graphiql_html(get_graphql_ide_html("graphiql"))
    anchor = "isHeadersEditorEnabled: true,"
    if anchor in html:
        html = html.replace(anchor, f"{anchor}\n          defaultHeaders: {_DEFAULT_HEADERS_JS},", 1)
    return html.replace("<title>Strawberry GraphiQL</title>", "<title>Licensing GraphiQL</title>", 1)


@dataclass
class _Outcome:
    body: dict[str, Any]
    status_graphql_response: int
    status_json: int
    headers: dict[str, str] = field(default_factory=dict)


class GraphQLHTTP:
    """ASGI/Starlette endpoint for GET and POST /graphql per the GraphQL-over-HTTP spec.

    * ``authenticate(request)`` returns an opaque principal or raises ``AuthError`` (HTTP 401,
      ``WWW-Authenticate: Bearer``); ``make_context(request, principal)`` builds the context
      (it may raise ``AuthError`` too, e.g. for an unknown tenant); ``close_context(ctx)`` is
      always awaited once the response is computed, whatever happened.
    * ``GET`` runs queries only (a mutation is 405 with ``Allow: POST``); ``GET`` without
      ``query`` from a browser (``Accept`` names ``text/html``) serves GraphiQL, no token needed.
    * ``POST`` takes ``application/json`` (UTF-8). Other content types are 415; a body that is
      not JSON, lacks ``query`` or has ill-typed parameters is 400; a JSON array (batch) is 400
      unless ``allow_batching``.
    * Responses are ``application/graphql-response+json`` or ``application/json`` as the
      ``Accept`` header asks (406 when neither is acceptable). Under the former, a request
      error (parse, validation including limits, variable coercion, unknown operation) is 400
      with no ``data``; errors during execution are 200. Under ``application/json`` every
      GraphQL error is 200.
    """

    def __init__(
        self,
        schema: strawberry.Schema,
        *,
        authenticate: Callable[[Request], Awaitable[Any]],
        make_context: Callable[[Request, Any], Awaitable[Any]],
        graphiql: bool = True,
        allow_batching: bool = False,
        close_context: Callable[[Any], Awaitable[None]] | None = None,
    ) -> None:
        if not _has_marker(schema):
            logger.warning(
                "the schema has no ExecutionStartedMarker extension; adding it. List it in the schema's "
                "extensions so application/graphql-response+json status codes do not depend on this."
            )
            schema.extensions = (*schema.extensions, ExecutionStartedMarker)
        self.schema = schema
        self.authenticate = authenticate
        self.make_context = make_context
        self.graphiql = graphiql
        self.allow_batching = allow_batching
        self.close_context = close_context
        self._graphiql_page = _graphiql_html() if graphiql else ""

    async def handle(self, request: Request) -> Response:
        try:
            return await self._handle(request)
        except Exception:
            logger.exception("unexpected failure while serving %s %s", request.method, request.url.path)
            return _json_response({"errors": [{"message": UNEXPECTED_ERROR}]}, 500, APPLICATION_JSON)

    async def _handle(self, request: Request) -> Response:
        method = request.method
        if method not in ("GET", "POST"):
            return _json_response(
                {"errors": [{"message": f"{method} is not supported: use POST (or GET for queries)."}]},
                405,
                APPLICATION_JSON,
                headers={"Allow": "GET, POST"},
            )
        accept = request.headers.get("accept")
        if method == "GET" and "query" not in request.query_params and _accepts_html(accept):
            if self.graphiql:
                return HTMLResponse(self._graphiql_page)
            return PlainTextResponse(
                "GraphiQL is disabled on this server. Send GraphQL requests with POST to this URL.", 404
            )

        media_type = negotiate_media_type(accept)
        if media_type is None:
            return _json_response(
                {
                    "errors": [
                        {
                            "message": f"cannot respond in any type the Accept header allows ({accept!r}): "
                            f"accept {GRAPHQL_RESPONSE_JSON} or {APPLICATION_JSON}."
                        }
                    ]
                },
                406,
                APPLICATION_JSON,
            )

        try:
            batch, params_list = await self._read_params(request)
        except _RequestProblem as problem:
            return _json_response(
                {"errors": [{"message": problem.message}]},
                problem.status,
                media_type,
                headers=problem.headers,
            )

        try:
            principal = await self.authenticate(request)
            context = await self.make_context(request, principal)
        except AuthError as exc:
            return _json_response(
                {"errors": [{"message": str(exc), "extensions": {"code": "UNAUTHENTICATED"}}]},
                401,
                media_type,
                headers={"WWW-Authenticate": "Bearer"},
            )

        try:
            allowed = (
                (OperationType.QUERY,) if method == "GET" else (OperationType.QUERY, OperationType.MUTATION)
            )
            outcomes = [await self._execute(params, context, allowed, method) for params in params_list]
        finally:
            if self.close_context is not None:
                await self.close_context(context)

        if batch:
            return _json_response([outcome.body for outcome in outcomes], 200, media_type)
        outcome = outcomes[0]
        status = (
            outcome.status_graphql_response if media_type == GRAPHQL_RESPONSE_JSON else outcome.status_json
        )
        return _json_response(outcome.body, status, media_type, headers=outcome.headers)

    async def _read_params(self, request: Request) -> tuple[bool, list[_GraphQLParams]]:
        if request.method == "GET":
            return False, [_params_from_query_string(request)]
        _check_content_type(request)
        raw = await request.body()
        if not raw.strip():
            raise _RequestProblem(400, "the request body is empty: send a JSON object with a `query` string.")
        try:
            data = json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise _RequestProblem(400, "the request body is not UTF-8: send UTF-8 encoded JSON.") from exc
        except ValueError as exc:
            raise _RequestProblem(400, f"the request body is not valid JSON: {exc.args[0]}.") from exc
        if isinstance(data, list):
            if not self.allow_batching:
                raise _RequestProblem(
                    400,
                    "batching is not enabled on this server: send one operation per request (a JSON object, "
                    "not an array).",
                )
            if not data:
                raise _RequestProblem(400, "the batch is empty: send at least one operation.")
            return True, [_params_from_mapping(item, where=f"batch item {i}") for i, item in enumerate(data)]
        return False, [_params_from_mapping(data, where="the request body")]

    async def _execute(
        self, params: _GraphQLParams, context: Any, allowed: tuple[OperationType, ...], method: str
    ) -> _Outcome:
        """Run one operation and say which status each response media type gets."""
        state = _ExecutionState()
        token = _EXECUTION_STATE.set(state)
        try:
            result = await self.schema.execute(
                params.query,
                variable_values=params.variables,
                context_value=context,
                operation_name=params.operation_name,
                allowed_operation_types=allowed,
                operation_extensions=params.extensions,
            )
        except MissingQueryError:
            return _Outcome({"errors": [{"message": "`query` is empty: send a GraphQL document."}]}, 400, 400)
        except InvalidOperationTypeError as exc:
            if exc.operation_type is OperationType.SUBSCRIPTION:
                message = "subscriptions are served over WebSocket (graphql-transport-ws) at this URL."
                return _Outcome({"errors": [{"message": message}]}, 400, 400)
            message = f"{exc.operation_type.value}s are not allowed with {method}: send them with POST."
            return _Outcome({"errors": [{"message": message}]}, 405, 405, {"Allow": "POST"})
        except CannotGetOperationTypeError as exc:
            message = exc.as_http_error_reason()
            if exc.operation_name is None:
                message += (
                    ": the document must contain exactly one operation, or name one with `operationName`."
                )
            # A GraphQL request error in a well-formed HTTP request: 200 under application/json.
            return _Outcome({"errors": [{"message": message}]}, 400, 200)
        finally:
            _EXECUTION_STATE.reset(token)

        body: dict[str, Any] = {}
        request_error = _is_request_error(result, state)
        if not request_error:
            body["data"] = result.data
        if result.errors:
            body["errors"] = [_format_error(error) for error in result.errors]
        if result.extensions:
            body["extensions"] = result.extensions
        # A request error is 400 under graphql-response+json; application/json stays 200.
        return _Outcome(body, 400 if request_error else 200, 200)


def _format_error(error: Any) -> dict[str, Any]:
    if isinstance(error, GraphQLError):
        return dict(error.formatted)
    return {"message": UNEXPECTED_ERROR}


def _json_response(
    payload: Any, status: int, media_type: str, headers: Mapping[str, str] | None = None
) -> Response:
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return Response(
        body, status_code=status, headers=dict(headers or {}), media_type=f"{media_type}; charset=utf-8"
    )


# --------------------------------------------------------------------------------------------
# WebSocket (graphql-transport-ws)
# --------------------------------------------------------------------------------------------


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


class _AuthenticatingTransportWSHandler(BaseGraphQLTransportWSHandler):
    """graphql-transport-ws with authentication in ``connection_init`` (close 4401 on failure)
    and one app context per operation."""

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
        except _Unauthenticated as exc:
            await self.websocket.close(code=WS_UNAUTHORIZED, reason=_close_reason(exc.message))
        except Exception:
            logger.exception("unexpected failure while authenticating a WebSocket connection")
            await self.websocket.close(code=4500, reason="Internal server error")

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
