"""GraphQL over HTTP and over WebSocket (SPEC §5, §6, §7, D9, D23, D36).

* ``negotiation``: media types (``Accept``, ``Content-Type``) and the status codes of D9.
* ``endpoint``: ``GraphQLHTTP.handle``, a Starlette endpoint for ``GET`` and ``POST /graphql``
  (checked in CI by the ``graphql-http`` server audits, ``.ci/graphql-http-audit``).
* ``limits``: ASGI middleware for the limits of D36 (body size and read time, requests in
  flight), shared by every endpoint; ``refusal_response`` words their refusals as GraphQL errors.
* ``server``: uvicorn with a timeout for request headers (``run_server``), and ``run_workers`` for several processes on one port.
* ``websocket``: ``GraphQLWebSocket``, Strawberry's ASGI view serving only WebSocket traffic
  (``graphql-transport-ws``), authenticating in ``connection_init`` (4401 otherwise).

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

from gql.http.endpoint import GraphQLHTTP, error_response, refusal_response
from gql.http.limits import ConcurrencyLimit, Refusal, RequestBodyLimit
from gql.http.negotiation import (
    APPLICATION_JSON,
    GRAPHQL_RESPONSE_JSON,
    UNEXPECTED_ERROR,
    ExecutionStartedMarker,
    negotiate_media_type,
)
from gql.http.websocket import GraphQLWebSocket, WebSocketConnection

__all__ = [
    "APPLICATION_JSON",
    "ConcurrencyLimit",
    "GRAPHQL_RESPONSE_JSON",
    "UNEXPECTED_ERROR",
    "ExecutionStartedMarker",
    "GraphQLHTTP",
    "GraphQLWebSocket",
    "Refusal",
    "RequestBodyLimit",
    "WebSocketConnection",
    "error_response",
    "negotiate_media_type",
    "refusal_response",
]
