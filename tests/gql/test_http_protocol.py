"""GraphQL over HTTP / WebSocket transport (gql/http.py), against a self-contained toy schema."""

from __future__ import annotations

import json
import warnings
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import strawberry
from graphql import GraphQLError, ValidationRule
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocketDisconnect
from strawberry.extensions import AddValidationRules

from gql.auth import AuthError
from gql.http import (
    APPLICATION_JSON,
    GRAPHQL_RESPONSE_JSON,
    ExecutionStartedMarker,
    GraphQLHTTP,
    GraphQLWebSocket,
    negotiate_media_type,
)

with warnings.catch_warnings():  # starlette warns that its TestClient still runs on httpx
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

GR = GRAPHQL_RESPONSE_JSON
AUTH = {"Authorization": "Bearer good"}


class NoForbiddenAlias(ValidationRule):
    """A toy limit implemented as a validation rule: the alias `forbidden` is refused."""

    def enter_field(self, node: Any, *_args: Any) -> None:
        if node.alias is not None and node.alias.value == "forbidden":
            self.report_error(GraphQLError("alias limit exceeded", node))


@strawberry.type
class Query:
    @strawberry.field
    def hello(self, info: strawberry.Info, name: str = "world") -> str:
        return f"hello {name} from {info.context['principal']}"

    @strawberry.field
    def boom(self) -> str | None:
        raise ValueError("resolver failed")

    @strawberry.field
    def boom_non_null(self) -> str:
        raise ValueError("resolver failed")


@strawberry.type
class Mutation:
    @strawberry.mutation
    def bump(self, info: strawberry.Info) -> int:
        info.context["bumps"].append(1)
        return len(info.context["bumps"])


@strawberry.type
class Subscription:
    @strawberry.subscription
    async def ticks(self, info: strawberry.Info) -> AsyncIterator[str]:
        yield f"tick for {info.context['principal']}"


schema = strawberry.Schema(
    query=Query,
    mutation=Mutation,
    subscription=Subscription,
    extensions=[ExecutionStartedMarker, lambda: AddValidationRules([NoForbiddenAlias])],
)


def _principal_from(authorization: str | None) -> str:
    if authorization != "Bearer good":
        raise AuthError("bad token: send `Authorization: Bearer good`")
    return "alice"


async def authenticate(request: Request) -> str:
    return _principal_from(request.headers.get("authorization"))


async def authenticate_token(authorization: str | None) -> str:
    return _principal_from(authorization)


class Recorder:
    def __init__(self) -> None:
        self.made: list[dict[str, Any]] = []
        self.closed: list[dict[str, Any]] = []

    async def make_context(self, request: Any, principal: Any) -> dict[str, Any]:
        ctx = {"request": request, "principal": principal, "bumps": []}
        self.made.append(ctx)
        return ctx

    async def close_context(self, ctx: Any) -> None:
        self.closed.append(ctx)


def make_app(recorder: Recorder, *, graphiql: bool = True, allow_batching: bool = False) -> Starlette:
    http = GraphQLHTTP(
        schema,
        authenticate=authenticate,
        make_context=recorder.make_context,
        close_context=recorder.close_context,
        graphiql=graphiql,
        allow_batching=allow_batching,
    )
    ws = GraphQLWebSocket(
        schema,
        authenticate_token=authenticate_token,
        make_context=recorder.make_context,
        close_context=recorder.close_context,
    )
    return Starlette(
        routes=[Route("/graphql", http.handle, methods=["GET", "POST"]), WebSocketRoute("/graphql", ws)]
    )


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
async def client(recorder: Recorder) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=make_app(recorder))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        yield c


async def post(
    client: httpx.AsyncClient, body: Any, *, accept: str | None = None, auth: bool = True
) -> httpx.Response:
    headers = {"Content-Type": "application/json"}
    if accept is not None:
        headers["Accept"] = accept
    if auth:
        headers.update(AUTH)
    return await client.post("/graphql", content=json.dumps(body), headers=headers)


# --- authentication ---------------------------------------------------------------------------


async def test_missing_token_is_401(client: httpx.AsyncClient, recorder: Recorder) -> None:
    res = await post(client, {"query": "{ hello }"}, auth=False)
    assert res.status_code == 401
    assert res.headers["www-authenticate"] == "Bearer"
    assert res.json() == {
        "errors": [
            {
                "message": "bad token: send `Authorization: Bearer good`",
                "extensions": {"code": "UNAUTHENTICATED"},
            }
        ]
    }
    assert recorder.made == []


async def test_bad_token_is_401(client: httpx.AsyncClient) -> None:
    res = await client.post("/graphql", json={"query": "{ hello }"}, headers={"Authorization": "Bearer bad"})
    assert res.status_code == 401
    assert res.headers["www-authenticate"] == "Bearer"
    assert res.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_auth_error_from_make_context_is_401(recorder: Recorder) -> None:
    async def refusing_context(request: Request, principal: Any) -> Any:
        raise AuthError("unknown tenant")

    http = GraphQLHTTP(schema, authenticate=authenticate, make_context=refusing_context)
    app = Starlette(routes=[Route("/graphql", http.handle, methods=["GET", "POST"])])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as c:
        res = await c.post("/graphql", json={"query": "{ hello }"}, headers=AUTH)
    assert res.status_code == 401
    assert res.json()["errors"][0]["message"] == "unknown tenant"


async def test_good_token_runs_and_context_is_closed(client: httpx.AsyncClient, recorder: Recorder) -> None:
    res = await post(client, {"query": "{ hello }"})
    assert res.status_code == 200
    assert res.headers["content-type"].startswith(APPLICATION_JSON)
    assert res.json() == {"data": {"hello": "hello world from alice"}}
    assert len(recorder.made) == 1 and recorder.closed == recorder.made


# --- GraphiQL -------------------------------------------------------------------------------


async def test_graphiql_page_needs_no_token(client: httpx.AsyncClient, recorder: Recorder) -> None:
    res = await client.get("/graphql", headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
    assert res.status_code == 200
    assert res.headers["content-type"].startswith("text/html")
    assert "graphiql" in res.text.lower()
    assert "isHeadersEditorEnabled: true" in res.text
    assert "Authorization" in res.text  # the headers editor starts with a template
    assert recorder.made == []


async def test_graphiql_disabled(recorder: Recorder) -> None:
    app = make_app(recorder, graphiql=False)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as c:
        res = await c.get("/graphql", headers={"Accept": "text/html"})
        assert res.status_code == 404
        res = await c.get("/graphql", headers={"Accept": "application/json", **AUTH})
        assert res.status_code == 400


async def test_get_without_query_for_api_clients_is_400(client: httpx.AsyncClient) -> None:
    res = await client.get("/graphql", headers={"Accept": GR, **AUTH})
    assert res.status_code == 400
    assert "query" in res.json()["errors"][0]["message"]


# --- status codes per media type ------------------------------------------------------------


async def test_application_json_validation_error_is_200(client: httpx.AsyncClient) -> None:
    res = await post(client, {"query": "{ nope }"}, accept=APPLICATION_JSON)
    assert res.status_code == 200
    body = res.json()
    assert "data" not in body
    assert "nope" in body["errors"][0]["message"]


async def test_application_json_syntax_error_is_200(client: httpx.AsyncClient) -> None:
    res = await post(client, {"query": "{"})
    assert res.status_code == 200
    assert "data" not in res.json() and res.json()["errors"]


async def test_graphql_response_json_syntax_error_is_400(client: httpx.AsyncClient) -> None:
    res = await post(client, {"query": "{"}, accept=GR)
    assert res.status_code == 400
    assert res.headers["content-type"].startswith(GR)
    body = res.json()
    assert "data" not in body
    assert "Syntax Error" in body["errors"][0]["message"]


async def test_graphql_response_json_validation_error_is_400(client: httpx.AsyncClient) -> None:
    res = await post(client, {"query": "{ nope }"}, accept=GR)
    assert res.status_code == 400
    assert "data" not in res.json()


async def test_graphql_response_json_limit_rule_is_400(client: httpx.AsyncClient) -> None:
    res = await post(client, {"query": "{ forbidden: hello }"}, accept=GR)
    assert res.status_code == 400
    assert res.json() == {
        "errors": [{"message": "alias limit exceeded", "locations": [{"line": 1, "column": 3}]}]
    }


async def test_graphql_response_json_variable_coercion_is_400(client: httpx.AsyncClient) -> None:
    body = {"query": "query Q($n: String!) { hello(name: $n) }", "variables": {"n": None}}
    res = await post(client, body, accept=GR)
    assert res.status_code == 400
    assert "data" not in res.json()
    res = await post(client, body, accept=APPLICATION_JSON)
    assert res.status_code == 200
    assert "data" not in res.json()


async def test_graphql_response_json_unknown_operation_is_400(client: httpx.AsyncClient) -> None:
    res = await post(client, {"query": "query A { hello }", "operationName": "B"}, accept=GR)
    assert res.status_code == 400
    res = await post(client, {"query": "query A { hello }", "operationName": "B"}, accept=APPLICATION_JSON)
    assert res.status_code == 200
    assert "B" in res.json()["errors"][0]["message"]


async def test_graphql_response_json_execution_error_is_200(client: httpx.AsyncClient) -> None:
    res = await post(client, {"query": "{ hello boom }"}, accept=GR)
    assert res.status_code == 200
    assert res.headers["content-type"].startswith(GR)
    body = res.json()
    assert body["data"] == {"hello": "hello world from alice", "boom": None}
    assert body["errors"][0]["path"] == ["boom"]


async def test_graphql_response_json_execution_error_with_null_data_is_200(client: httpx.AsyncClient) -> None:
    res = await post(client, {"query": "{ boomNonNull }"}, accept=GR)
    assert res.status_code == 200
    body = res.json()
    assert "data" in body and body["data"] is None
    assert body["errors"][0]["path"] == ["boomNonNull"]


async def test_graphql_response_json_success(client: httpx.AsyncClient) -> None:
    res = await post(client, {"query": "{ hello }"}, accept=f"{GR}, {APPLICATION_JSON};q=0.9")
    assert res.status_code == 200
    assert res.headers["content-type"] == f"{GR}; charset=utf-8"


async def test_not_acceptable_is_406(client: httpx.AsyncClient) -> None:
    res = await post(client, {"query": "{ hello }"}, accept="text/plain")
    assert res.status_code == 406


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (None, APPLICATION_JSON),
        ("", APPLICATION_JSON),
        ("*/*", APPLICATION_JSON),
        ("application/*", APPLICATION_JSON),
        (APPLICATION_JSON, APPLICATION_JSON),
        (GR, GR),
        (f"{GR}; charset=utf-8", GR),
        (f"{APPLICATION_JSON}, {GR}", GR),
        (f"{GR};q=0.5, {APPLICATION_JSON}", APPLICATION_JSON),
        (f"{GR}, */*;q=0.1", GR),
        (f"{APPLICATION_JSON};q=0, {GR}", GR),
        ("text/html, */*;q=0.8", APPLICATION_JSON),
        ("text/html", None),
        (f"{GR};q=0, {APPLICATION_JSON};q=0", None),
    ],
)
def test_negotiation(accept: str | None, expected: str | None) -> None:
    assert negotiate_media_type(accept) == expected


# --- request shapes -------------------------------------------------------------------------


async def test_unsupported_content_type_is_415(client: httpx.AsyncClient) -> None:
    res = await client.post(
        "/graphql", content="{ hello }", headers={"Content-Type": "application/graphql", **AUTH}
    )
    assert res.status_code == 415
    res = await client.post("/graphql", content=b'{"query":"{ hello }"}', headers=AUTH)
    assert res.status_code == 415


async def test_charset_variants_are_accepted(client: httpx.AsyncClient) -> None:
    for content_type in ("application/json; charset=utf-8", "Application/JSON;charset=UTF-8"):
        res = await client.post(
            "/graphql", content=b'{"query":"{ hello }"}', headers={"Content-Type": content_type, **AUTH}
        )
        assert res.status_code == 200, content_type
    res = await client.post(
        "/graphql",
        content=b'{"query":"{ hello }"}',
        headers={"Content-Type": "application/json; charset=latin-1"},
    )
    assert res.status_code == 415


@pytest.mark.parametrize(
    "raw",
    [
        b'{ "not a JSON',
        b"",
        b'"just a string"',
        b'{"notquery": "{ hello }"}',
        b'{"query": 1}',
        b'{"query": {"obj": "ect"}}',
        b'{"query": "{ hello }", "variables": "{}"}',
        b'{"query": "{ hello }", "variables": ["a"]}',
        b'{"query": "{ hello }", "operationName": 0}',
        b'{"query": "{ hello }", "extensions": false}',
        b'\xff\xfe{"query": "{ hello }"}',
    ],
)
@pytest.mark.parametrize("accept", [APPLICATION_JSON, GR])
async def test_malformed_requests_are_400(client: httpx.AsyncClient, raw: bytes, accept: str) -> None:
    res = await client.post(
        "/graphql", content=raw, headers={"Content-Type": "application/json", "Accept": accept, **AUTH}
    )
    assert res.status_code == 400
    assert res.json()["errors"][0]["message"]
    assert "data" not in res.json()


async def test_null_optional_parameters_are_fine(client: httpx.AsyncClient) -> None:
    body = {"query": "{ hello }", "variables": None, "operationName": None, "extensions": None}
    res = await post(client, body, accept=GR)
    assert res.status_code == 200
    assert res.json() == {"data": {"hello": "hello world from alice"}}


async def test_get_query_with_variables(client: httpx.AsyncClient) -> None:
    params = {"query": "query Q($n: String!) { hello(name: $n) }", "variables": json.dumps({"n": "bob"})}
    res = await client.get("/graphql", params=params, headers={"Accept": GR, **AUTH})
    assert res.status_code == 200
    assert res.json() == {"data": {"hello": "hello bob from alice"}}


async def test_get_with_bad_variables_is_400(client: httpx.AsyncClient) -> None:
    res = await client.get("/graphql", params={"query": "{ hello }", "variables": "{nope"}, headers=AUTH)
    assert res.status_code == 400


async def test_get_mutation_is_405(client: httpx.AsyncClient, recorder: Recorder) -> None:
    for accept in (GR, APPLICATION_JSON):
        res = await client.get(
            "/graphql", params={"query": "mutation { bump }"}, headers={"Accept": accept, **AUTH}
        )
        assert res.status_code == 405
        assert res.headers["allow"] == "POST"
    assert all(ctx["bumps"] == [] for ctx in recorder.made)
    assert recorder.closed == recorder.made


async def test_post_mutation_runs(client: httpx.AsyncClient) -> None:
    res = await post(client, {"query": "mutation { bump }"}, accept=GR)
    assert res.status_code == 200
    assert res.json() == {"data": {"bump": 1}}


async def test_subscription_over_http_is_refused(client: httpx.AsyncClient) -> None:
    res = await post(client, {"query": "subscription { ticks }"}, accept=GR)
    assert res.status_code == 400
    assert "WebSocket" in res.json()["errors"][0]["message"]


async def test_other_methods_are_405(client: httpx.AsyncClient) -> None:
    res = await client.put("/graphql", json={"query": "{ hello }"}, headers=AUTH)
    assert res.status_code == 405


async def test_batching_refused_by_default(client: httpx.AsyncClient, recorder: Recorder) -> None:
    res = await post(client, [{"query": "{ hello }"}, {"query": "{ hello }"}])
    assert res.status_code == 400
    assert "batching is not enabled" in res.json()["errors"][0]["message"]
    assert recorder.made == []


async def test_batching_when_allowed(recorder: Recorder) -> None:
    app = make_app(recorder, allow_batching=True)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as c:
        res = await post(c, [{"query": "{ hello }"}, {"query": "mutation { bump }"}, {"query": "{ nope }"}])
    assert res.status_code == 200
    body = res.json()
    assert body[0] == {"data": {"hello": "hello world from alice"}}
    assert body[1] == {"data": {"bump": 1}}
    assert "data" not in body[2] and body[2]["errors"]
    # one context per operation (each its own snapshot), every one closed
    assert len(recorder.made) == 3 and recorder.closed == recorder.made


async def test_unexpected_failure_is_masked_500(recorder: Recorder) -> None:
    async def failing_close(ctx: Any) -> None:
        raise RuntimeError("SELECT secret FROM somewhere")

    http = GraphQLHTTP(
        schema, authenticate=authenticate, make_context=recorder.make_context, close_context=failing_close
    )
    app = Starlette(routes=[Route("/graphql", http.handle, methods=["GET", "POST"])])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as c:
        res = await c.post("/graphql", json={"query": "{ hello }"}, headers=AUTH)
    assert res.status_code == 500
    assert res.json() == {"errors": [{"message": "Unexpected error."}]}


def test_marker_is_added_when_missing() -> None:
    bare = strawberry.Schema(query=Query)
    GraphQLHTTP(bare, authenticate=authenticate, make_context=Recorder().make_context)
    assert ExecutionStartedMarker in bare.extensions


# --- WebSocket (graphql-transport-ws) -------------------------------------------------------


def test_websocket_good_connection_init_is_acked(recorder: Recorder) -> None:
    with TestClient(make_app(recorder)) as tc:
        with tc.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as ws:
            ws.send_json({"type": "connection_init", "payload": {"Authorization": "Bearer good"}})
            assert ws.receive_json() == {"type": "connection_ack"}
            ws.send_json({"id": "1", "type": "subscribe", "payload": {"query": "subscription { ticks }"}})
            assert ws.receive_json() == {
                "id": "1",
                "type": "next",
                "payload": {"data": {"ticks": "tick for alice"}},
            }
            assert ws.receive_json() == {"id": "1", "type": "complete"}
            ws.send_json({"id": "2", "type": "subscribe", "payload": {"query": "{ hello }"}})
            assert ws.receive_json() == {
                "id": "2",
                "type": "next",
                "payload": {"data": {"hello": "hello world from alice"}},
            }
            assert ws.receive_json() == {"id": "2", "type": "complete"}
    # one app context per operation, each closed
    assert len(recorder.made) == 2
    assert recorder.closed == recorder.made


@pytest.mark.parametrize(
    "payload", [{"Authorization": "Bearer bad"}, {"authorization": "Basic x"}, {}, None, "null"]
)
def test_websocket_bad_connection_init_closes_4401(recorder: Recorder, payload: Any) -> None:
    with TestClient(make_app(recorder)) as tc:
        with tc.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as ws:
            message: dict[str, Any] = {"type": "connection_init"}
            if payload == "null":
                message["payload"] = None
            elif payload is not None:
                message["payload"] = payload
            ws.send_json(message)
            with pytest.raises(WebSocketDisconnect) as excinfo:
                ws.receive_json()
    assert excinfo.value.code == 4401
    assert "bad token" in excinfo.value.reason
    assert recorder.made == []


def test_websocket_subscribe_before_init_closes_4401(recorder: Recorder) -> None:
    with TestClient(make_app(recorder)) as tc:
        with tc.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as ws:
            ws.send_json({"id": "1", "type": "subscribe", "payload": {"query": "{ hello }"}})
            with pytest.raises(WebSocketDisconnect) as excinfo:
                ws.receive_json()
    assert excinfo.value.code == 4401


# --- JSON nested too deeply -------------------------------------------------------------------

DEEP = 100_000


@pytest.mark.parametrize("accept", [APPLICATION_JSON, GR])
async def test_deeply_nested_json_body_is_400(client: httpx.AsyncClient, accept: str) -> None:
    raw = b'{"query": "{ hello }", "variables": {"n": ' + b"[" * DEEP + b"]" * DEEP + b"}}"
    res = await client.post(
        "/graphql", content=raw, headers={"Content-Type": "application/json", "Accept": accept, **AUTH}
    )
    assert res.status_code == 400
    assert res.json() == {
        "errors": [{"message": "the request body nests JSON too deeply: keep it to a few hundred levels."}]
    }


async def test_deeply_nested_json_url_parameter_is_400(client: httpx.AsyncClient) -> None:
    deep = 5_000  # deep enough for the decoder's recursion limit, short enough for a URL
    params = {"query": "{ hello }", "variables": '{"n": ' + "[" * deep + "]" * deep + "}"}
    res = await client.get("/graphql", params=params, headers={"Accept": GR, **AUTH})
    assert res.status_code == 400
    assert res.json()["errors"][0]["message"] == (
        "the `variables` URL parameter nests JSON too deeply: keep it to a few hundred levels."
    )


def test_deeply_nested_json_websocket_message_closes_4400(recorder: Recorder) -> None:
    with TestClient(make_app(recorder)) as tc:
        with tc.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as ws:
            ws.send_text('{"type": "connection_init", "payload": {"n": ' + "[" * DEEP + "]" * DEEP + "}}")
            with pytest.raises(WebSocketDisconnect) as excinfo:
                ws.receive_json()
    assert excinfo.value.code == 4400


async def test_a_context_closed_after_its_answer_is_closed_and_its_failure_logged(
    recorder: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    """close_after_answer: the context is closed once the answer is sent; a failure then cannot
    change the answer, and is logged."""
    order: list[str] = []

    async def close(ctx: Any) -> None:
        order.append("closed")
        await recorder.close_context(ctx)
        if ctx["principal"] == "alice" and len(recorder.closed) == 2:
            raise RuntimeError("the rollback failed")

    http = GraphQLHTTP(
        schema, authenticate=authenticate, make_context=recorder.make_context, close_context=close,
        close_after_answer=lambda ctx: True,
    )
    app = Starlette(routes=[Route("/graphql", http.handle, methods=["GET", "POST"])])

    async def sent(scope: Any, receive: Any, send: Any) -> None:
        async def recording_send(message: Any) -> None:
            if message["type"] == "http.response.body":
                order.append("sent")
            await send(message)

        await app(scope, receive, recording_send)

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=sent), base_url="http://test") as c:
        first = await c.post("/graphql", json={"query": "{ hello }"}, headers=AUTH)
        second = await c.post("/graphql", json={"query": "{ hello }"}, headers=AUTH)
    assert first.status_code == second.status_code == 200
    assert second.json() == {"data": {"hello": "hello world from alice"}}
    assert order == ["sent", "closed", "sent", "closed"]
    assert len(recorder.made) == 2 and recorder.closed == recorder.made
    assert "closing a request's context after its answer failed" in caplog.text
