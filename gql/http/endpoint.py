"""``GET`` and ``POST /graphql`` per the GraphQL-over-HTTP specification (SPEC §5, §6, D9).

Strawberry's own view answers only ``application/json``, with status 200 for every GraphQL
error and plain-text bodies for malformed requests; it cannot negotiate
``application/graphql-response+json`` (406 when neither type is acceptable), tell request
errors (400) from execution errors (200), refuse other content types with 415, or answer 401
with ``WWW-Authenticate: Bearer``. Those are what this endpoint adds; parsing, validation and
execution are Strawberry's (``schema.execute``), as are the request-data shape
(``GraphQLRequestData``), result formatting (``process_result``) and the GraphiQL page.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
import strawberry
from graphql import GraphQLError
from starlette.datastructures import Headers
from starlette.requests import ClientDisconnect, Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.types import Receive, Scope, Send
from strawberry.exceptions import MissingQueryError
from strawberry.http import GraphQLRequestData, process_result
from strawberry.http.ides import get_graphql_ide_html
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types.graphql import OperationType

from db.availability import is_database_unavailable
from gql.auth import AuthError
from gql.errors import DATABASE_RETRY_AFTER_SECONDS, DATABASE_UNAVAILABLE, DATABASE_UNAVAILABLE_MESSAGE
from gql.graphiql import offline_graphiql_html
from gql.http.limits import Refusal
from gql.http.negotiation import (
    APPLICATION_JSON,
    GRAPHQL_RESPONSE_JSON,
    UNEXPECTED_ERROR,
    ExecutionStartedMarker,
    RequestProblem,
    accepts_html,
    check_content_type,
    has_marker,
    is_request_error,
    negotiate_media_type,
    watch_execution,
)

logger = logging.getLogger(__name__)


# --------------------------------------------------------------------------------------------
# Request parameters
# --------------------------------------------------------------------------------------------


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


def _params_from_mapping(data: Any, *, where: str) -> GraphQLRequestData:
    """Strawberry's request data, with an admin-readable 400 for each way the shape is wrong."""
    if not isinstance(data, dict):
        raise RequestProblem(
            400,
            f"{where} must be a JSON object with a `query` string (and optional `variables`, "
            "`operationName`, `extensions`).",
        )
    query = data.get("query")
    if query is None:
        raise RequestProblem(400, f"{where} has no `query`: send the GraphQL document as a `query` string.")
    if not isinstance(query, str):
        raise RequestProblem(
            400, f"`query` must be a string containing a GraphQL document; got {_json_kind(query)}."
        )
    if not query.strip():
        raise RequestProblem(400, "`query` is empty: send a GraphQL document.")
    operation_name = data.get("operationName")
    if operation_name is not None and not isinstance(operation_name, str):
        raise RequestProblem(
            400, f"`operationName` must be a string or null; got {_json_kind(operation_name)}."
        )
    variables = data.get("variables")
    if variables is not None and not isinstance(variables, dict):
        raise RequestProblem(
            400,
            f"`variables` must be a JSON object (a map of variable names to values) or null; got "
            f"{_json_kind(variables)}.",
        )
    extensions = data.get("extensions")
    if extensions is not None and not isinstance(extensions, dict):
        raise RequestProblem(
            400, f"`extensions` must be a JSON object or null; got {_json_kind(extensions)}."
        )
    return GraphQLRequestData(
        query=query, variables=variables, operation_name=operation_name or None, extensions=extensions
    )


def loads_json(raw: str, where: str) -> Any:
    """``json.loads``, with a 400 naming ``where`` for text that is not JSON or nests too deeply."""
    try:
        return json.loads(raw)
    except RecursionError as exc:  # the C decoder recurses once per level of nesting
        raise RequestProblem(400, f"{where} nests JSON too deeply: keep it to a few hundred levels.") from exc
    except ValueError as exc:
        raise RequestProblem(400, f"{where} is not valid JSON: {exc.args[0]}.") from exc


def _decode_json_param(raw: str | None, name: str) -> Any:
    if raw is None or raw == "":
        return None
    return loads_json(raw, f"the `{name}` URL parameter")


def _params_from_query_string(request: Request) -> GraphQLRequestData:
    qp = request.query_params
    data = {
        "query": qp.get("query"),
        "operationName": qp.get("operationName") or None,
        "variables": _decode_json_param(qp.get("variables"), "variables"),
        "extensions": _decode_json_param(qp.get("extensions"), "extensions"),
    }
    return _params_from_mapping(data, where="the GET request")


# --------------------------------------------------------------------------------------------
# Responses
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


def json_response(
    payload: Any, status: int, media_type: str, headers: Mapping[str, str] | None = None
) -> Response:
    body = orjson.dumps(payload)  # UTF-8, compact; several times faster than json for a 50-user page
    return Response(
        body, status_code=status, headers=dict(headers or {}), media_type=f"{media_type}; charset=utf-8"
    )


def error_response(
    message: str,
    status: int,
    media_type: str = APPLICATION_JSON,
    *,
    code: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """A GraphQL response with one top-level error (and ``extensions.code`` when given)."""
    error: dict[str, Any] = {"message": message}
    if code is not None:
        error["extensions"] = {"code": code}
    return json_response({"errors": [error]}, status, media_type, headers=headers)


_RETRY_LATER = {"Retry-After": str(DATABASE_RETRY_AFTER_SECONDS)}


def _lost_the_database(error: GraphQLError) -> bool:
    """A field failed because PostgreSQL could not be reached (masked or not yet)."""
    code = (error.extensions or {}).get("code")
    return code == DATABASE_UNAVAILABLE or is_database_unavailable(error.original_error)


def _unauthenticated(exc: AuthError, media_type: str) -> Response:
    return error_response(
        str(exc), 401, media_type, code="UNAUTHENTICATED", headers={"WWW-Authenticate": "Bearer"}
    )


def refusal_response(scope: Scope, refusal: Refusal) -> Response:
    """A limit's refusal (``gql.http.limits``) as a GraphQL error, in the type the client accepts."""
    accept = Headers(scope=scope).get("accept")
    media_type = negotiate_media_type(accept) or APPLICATION_JSON
    return error_response(refusal.message, refusal.status, media_type, code=refusal.code, headers=refusal.headers)


class _ThenClose(Response):
    """`response`, then `close` once it is sent — or sending failed, or was cancelled: the
    request's context is always closed, its connection never left out of the pool."""

    def __init__(self, response: Response, close: Callable[[], Awaitable[None]]) -> None:
        self.status_code, self.body, self.background = response.status_code, response.body, response.background
        self.raw_headers = response.raw_headers
        self._close_context = close

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            await self._close_context()


@dataclass
class _Outcome:
    body: dict[str, Any]
    status_graphql_response: int
    status_json: int
    headers: dict[str, str] = field(default_factory=dict)
    database_unavailable: bool = False  # then the whole response is 503

    def status(self, media_type: str) -> int:
        return self.status_graphql_response if media_type == GRAPHQL_RESPONSE_JSON else self.status_json


# --------------------------------------------------------------------------------------------
# The endpoint
# --------------------------------------------------------------------------------------------


class GraphQLHTTP:
    """ASGI/Starlette endpoint for GET and POST /graphql per the GraphQL-over-HTTP spec.

    * ``authenticate(request)`` returns an opaque principal or raises ``AuthError`` (HTTP 401,
      ``WWW-Authenticate: Bearer``); ``make_context(request, principal)`` builds a context
      per operation (its document in ``request.state.graphql_query``) — each operation of a batch gets its own (it may raise ``AuthError`` too,
      e.g. for an unknown tenant); ``close_context(ctx)`` is always awaited once the operation
      is done, whatever happened — for a single operation for which ``close_after_answer(ctx)``
      says so (nothing closing could report would change the answer: a read snapshot's
      rollback), once its answer is sent, so the client does not wait for it; a failure then is
      logged.
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
    * When PostgreSQL cannot be reached (``db.availability``), whether while authenticating or
      in a resolver, the answer is 503 with ``Retry-After`` and ``DATABASE_UNAVAILABLE``.
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
        close_after_answer: Callable[[Any], bool] | None = None,
    ) -> None:
        if not has_marker(schema):
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
        self.close_after_answer = close_after_answer
        self._graphiql_page = _graphiql_html() if graphiql else ""

    async def handle(self, request: Request) -> Response:
        try:
            return await self._handle(request)
        except Exception as exc:
            if is_database_unavailable(exc):  # e.g. while resolving the caller
                logger.warning("database unavailable: %s", " ".join(str(exc).split()))
                media_type = negotiate_media_type(request.headers.get("accept")) or APPLICATION_JSON
                return error_response(
                    DATABASE_UNAVAILABLE_MESSAGE, 503, media_type, code=DATABASE_UNAVAILABLE, headers=_RETRY_LATER
                )
            logger.exception("unexpected failure while serving %s %s", request.method, request.url.path)
            return error_response(UNEXPECTED_ERROR, 500)

    async def _handle(self, request: Request) -> Response:
        method = request.method
        if method not in ("GET", "POST"):
            return error_response(
                f"{method} is not supported: use POST (or GET for queries).", 405, headers={"Allow": "GET, POST"}
            )
        accept = request.headers.get("accept")
        if method == "GET" and "query" not in request.query_params and accepts_html(accept):
            if self.graphiql:
                return HTMLResponse(self._graphiql_page)
            return PlainTextResponse(
                "GraphiQL is disabled on this server. Send GraphQL requests with POST to this URL.", 404
            )

        media_type = negotiate_media_type(accept)
        if media_type is None:
            return error_response(
                f"cannot respond in any type the Accept header allows ({accept!r}): "
                f"accept {GRAPHQL_RESPONSE_JSON} or {APPLICATION_JSON}.",
                406,
            )

        try:
            if method == "GET":
                batch, params_list = False, [_params_from_query_string(request)]
            else:
                check_content_type(request.headers.get("content-type"))
        except RequestProblem as problem:
            return error_response(problem.message, problem.status, media_type, headers=problem.headers)

        # The token is checked before a byte of the body is read: a caller without one never
        # gets the server to receive (let alone buffer) what it sends.
        try:
            principal = await self.authenticate(request)
        except AuthError as exc:
            return _unauthenticated(exc, media_type)

        if method == "POST":
            try:
                batch, params_list = self._params_from_body(await request.body())
            except RequestProblem as problem:
                return error_response(problem.message, problem.status, media_type, headers=problem.headers)
            except ClientDisconnect:
                # Gone, or refused by a limit (RequestBodyLimit) that has answered already.
                return Response(status_code=400)

        allowed = (OperationType.QUERY,) if method == "GET" else (OperationType.QUERY, OperationType.MUTATION)
        outcomes: list[_Outcome] = []
        for params in params_list:
            # one context per operation: each batched operation reads its own snapshot, after
            # the changes of the ones before it
            try:
                request.state.graphql_query = params.query  # what make_context may read ahead for
                context = await self.make_context(request, principal)
            except AuthError as exc:
                return _unauthenticated(exc, media_type)
            later = False
            try:
                outcome = await self._execute(params, context, allowed, method)
                outcomes.append(outcome)
                # one operation, answered: its context (a read snapshot's ROLLBACK, the connection
                # back to the pool) is closed once the answer is sent, not before
                later = (
                    not batch and not outcome.database_unavailable and self.close_context is not None
                    and self.close_after_answer is not None and self.close_after_answer(context)
                )
            finally:
                if not later:
                    await self._close(context, database_lost=any(o.database_unavailable for o in outcomes))

        if any(outcome.database_unavailable for outcome in outcomes):
            body = [o.body for o in outcomes] if batch else outcomes[0].body
            return json_response(body, 503, media_type, headers=_RETRY_LATER)
        if batch:
            return json_response([outcome.body for outcome in outcomes], 200, media_type)
        outcome = outcomes[0]
        response = json_response(outcome.body, outcome.status(media_type), media_type, headers=outcome.headers)
        return _ThenClose(response, lambda: self._close_after_answer(context)) if later else response

    async def _close_after_answer(self, context: Any) -> None:
        """Close a context whose answer has been sent: a failure can no longer change the answer
        (the change, if any, is committed), so it is logged."""
        try:
            await self._close(context, database_lost=False)
        except Exception:
            logger.exception("closing a request's context after its answer failed")

    async def _close(self, context: Any, *, database_lost: bool) -> None:
        if self.close_context is None:
            return
        try:
            await self.close_context(context)
        except Exception as exc:
            # Closing a connection the server dropped fails too (SQLAlchemy: "Can't reconnect
            # until invalid transaction is rolled back"). The answer is computed, and a change
            # may have been committed: keep it.
            if not (database_lost or is_database_unavailable(exc)):
                raise
            logger.warning("database lost while closing a request's context: %s", " ".join(str(exc).split()))

    def _params_from_body(self, raw: bytes) -> tuple[bool, list[GraphQLRequestData]]:
        if not raw.strip():
            raise RequestProblem(400, "the request body is empty: send a JSON object with a `query` string.")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise RequestProblem(400, "the request body is not UTF-8: send UTF-8 encoded JSON.") from exc
        data = loads_json(text, "the request body")
        if isinstance(data, list):
            if not self.allow_batching:
                raise RequestProblem(
                    400,
                    "batching is not enabled on this server: send one operation per request (a JSON object, "
                    "not an array).",
                )
            if not data:
                raise RequestProblem(400, "the batch is empty: send at least one operation.")
            return True, [_params_from_mapping(item, where=f"batch item {i}") for i, item in enumerate(data)]
        return False, [_params_from_mapping(data, where="the request body")]

    async def _execute(
        self, params: GraphQLRequestData, context: Any, allowed: tuple[OperationType, ...], method: str
    ) -> _Outcome:
        """Run one operation and say which status each response media type gets."""
        with watch_execution() as state:
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

        body: dict[str, Any] = dict(process_result(result))
        request_error = is_request_error(result, state)
        if request_error:
            del body["data"]
        # A request error is 400 under graphql-response+json; application/json stays 200.
        outcome = _Outcome(body, 400 if request_error else 200, 200)
        outcome.database_unavailable = any(_lost_the_database(error) for error in result.errors or ())
        return outcome
