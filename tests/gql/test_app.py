"""The HTTP surface of the real app: GraphiQL, health, readiness, CORS, WebSocket auth (SPEC §7, D23)."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from db.config import Settings
from gql.app import create_app
from gql.auth import Role, issue_token
from tests.support import Tenant

SECRET = "test-secret-for-the-licensing-service-0123456789"


async def test_graphiql_page_loads_without_a_token(api: Any) -> None:
    response = await api.client.get("/graphql", headers={"Accept": "text/html"})
    assert response.status_code == 200
    assert "graphiql" in response.text.lower()


async def test_healthz_and_readyz(api: Any) -> None:
    assert (await api.client.get("/healthz")).json() == {"status": "ok"}
    ready = await api.client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["database"] == "ok"


async def test_missing_token_is_401(api: Any) -> None:
    response = await api.client.post("/graphql", json={"query": "{ viewer { roles } }"})
    assert response.status_code == 401
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


def test_readyz_is_503_when_the_database_is_unreachable() -> None:
    settings = Settings(LICENSING_JWT_SECRET=SECRET)
    app = create_app(settings, "postgresql://nobody@127.0.0.1:1/none", run_lifecycle_job=False)
    # the catalog cannot load without a database, so the app cannot start at all
    with pytest.raises(OSError), TestClient(app):
        pass


def test_cors_preflight_for_configured_origins(database_url: str) -> None:
    settings = Settings(LICENSING_JWT_SECRET=SECRET, LICENSING_CORS_ORIGINS="https://admin.example")
    app = create_app(settings, database_url, run_lifecycle_job=False)
    with TestClient(app) as client:
        ok = client.options(
            "/graphql",
            headers={"Origin": "https://admin.example", "Access-Control-Request-Method": "POST",
                     "Access-Control-Request-Headers": "authorization,content-type"},
        )
        assert ok.status_code == 200
        assert ok.headers["access-control-allow-origin"] == "https://admin.example"
        other = client.options(
            "/graphql", headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}
        )
        assert "access-control-allow-origin" not in other.headers


def test_websocket_authenticates_in_connection_init(database_url: str, tenant: Tenant) -> None:
    settings = Settings(LICENSING_JWT_SECRET=SECRET)
    app = create_app(settings, database_url, run_lifecycle_job=False)
    token = issue_token(SECRET, tenant.id, "admin@x.example", [Role.GLOBAL_READER])
    with TestClient(app) as client:
        with client.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as ws:
            ws.send_json({"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}})
            assert ws.receive_json()["type"] == "connection_ack"
            ws.send_json({"type": "subscribe", "id": "1", "payload": {"query": "{ viewer { tenant { tenantId } roles } }"}})
            message = ws.receive_json()
            assert message["type"] == "next"
            assert message["payload"]["data"]["viewer"] == {"tenant": {"tenantId": tenant.id}, "roles": ["GLOBAL_READER"]}
            assert ws.receive_json()["type"] == "complete"
        with client.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as ws:
            ws.send_json({"type": "connection_init", "payload": {"Authorization": "Bearer not-a-token"}})
            with pytest.raises(WebSocketDisconnect) as closed:
                ws.receive_json()
            assert closed.value.code == 4401


async def test_abuse_limits_refuse_deep_aliased_and_huge_documents(tenant: Tenant) -> None:
    deep = "{ users { edges { node { memberOf { edges { node { transitiveMembers { edges { node { memberOf { edges { node { transitiveMembers { edges { node { id } } } } } } } } } } } } } } } }"
    body = await tenant.gql(deep)
    assert "exceeds maximum operation depth" in body["errors"][0]["message"]
    aliases = "{ " + " ".join(f"a{i}: viewer {{ roles }}" for i in range(51)) + " }"
    body = await tenant.gql(aliases)
    assert "aliases" in body["errors"][0]["message"].lower()
    huge = "{ viewer { " + " ".join("roles" for _ in range(10_001)) + " } }"
    body = await tenant.gql(huge)
    assert "token" in body["errors"][0]["message"].lower()
    assert "data" not in body or body["data"] is None


async def test_graphql_response_json_makes_validation_failures_400(tenant: Tenant, api: Any) -> None:
    response = await api.client.post(
        "/graphql",
        json={"query": "{ nope }"},
        headers={"Authorization": f"Bearer {tenant.admin}", "Accept": "application/graphql-response+json"},
    )
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/graphql-response+json")


async def test_several_operations_without_an_operation_name_run_nothing(tenant: Tenant, api: Any) -> None:
    """GraphQL's GetOperation: a document with several operations needs `operationName`; without
    it the request is an error (400 under graphql-response+json, 200 and no data under JSON) and
    nothing runs — not even the first operation, a mutation here."""
    document = (
        'mutation M { updateTenant(input: { defaultUsageLocation: "SE" }) { errors { code } } } '
        "query Q { viewer { tenant { defaultUsageLocation } } }"
    )
    headers = {"Authorization": f"Bearer {tenant.admin}"}
    for accept, status in (("application/graphql-response+json", 400), ("application/json", 200)):
        for _ in range(2):  # the second time from the cache of checked documents
            response = await api.client.post("/graphql", json={"query": document}, headers={**headers, "Accept": accept})
            body = response.json()
            assert response.status_code == status, body
            assert body.get("data") is None and "operationName" in body["errors"][0]["message"]
    viewer = await tenant.ok("{ viewer { tenant { defaultUsageLocation } } }")
    assert viewer["viewer"]["tenant"]["defaultUsageLocation"] == "US"
    named = await api.client.post("/graphql", json={"query": document, "operationName": "Q"}, headers=headers)
    assert named.json()["data"] == {"viewer": {"tenant": {"defaultUsageLocation": "US"}}}
