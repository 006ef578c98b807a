"""Test helpers: a GraphQL client with tokens, and tenants created through the real code paths."""

from __future__ import annotations

import json
import socket
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx

from gql.auth import Role, issue_token


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])

ALL_ROLES = list(Role)


class Api:
    def __init__(self, client: httpx.AsyncClient, settings: Any, app: Any) -> None:
        self.client = client
        self.settings = settings
        self.app = app

    @property
    def jwt_secret(self) -> str:
        """The secret the app signs and checks tokens with (resolved when it started)."""
        return str(self.app.state.jwt_secret)

    def token(self, tenant_id: str, roles: list[Role], sub: str = "admin@test.example", ttl: int = 600) -> str:
        return issue_token(self.jwt_secret, tenant_id, sub, roles, ttl_seconds=ttl)

    async def post(self, query: str, variables: dict[str, Any] | None = None, *, token: str | None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        # ASCII JSON, as json.dumps writes it: "\ud800" escapes reach the server as a client sent them
        body = json.dumps({"query": query, "variables": variables or {}})
        return await self.client.post("/graphql", content=body, headers={**headers, "Content-Type": "application/json"})

    async def new_tenant(self, default_usage_location: str | None = "US") -> Tenant:
        from db.repo import tenants

        tid = f"t{uuid.uuid4().hex[:12]}"
        db = self.database()
        async with db.write() as conn:
            await tenants.create_tenant(conn, tid, f"Tenant {tid}", f"{tid}.example", default_usage_location)
        return Tenant(self, tid)

    def database(self) -> Any:
        from db.session import Database

        if not hasattr(self, "_db"):
            self._db = Database(self.app.state.database_url)
        return self._db


@dataclass
class Tenant:
    api: Api
    id: str
    tokens: dict[str, str] = field(default_factory=dict)

    @property
    def domain(self) -> str:
        return f"{self.id}.example"

    def token(self, *roles: Role, sub: str | None = None) -> str:
        return self.api.token(self.id, list(roles), sub or f"admin@{self.domain}")

    @property
    def admin(self) -> str:
        return self.token(Role.GLOBAL_ADMINISTRATOR)

    async def gql(self, query: str, variables: dict[str, Any] | None = None, *, token: str | None = None) -> dict[str, Any]:
        """Run a query (as Global Administrator unless `token`), expecting HTTP 200; returns the JSON body."""
        response = await self.api.post(query, variables, token=token or self.admin)
        assert response.status_code == 200, response.text
        return response.json()

    async def ok(self, query: str, variables: dict[str, Any] | None = None, *, token: str | None = None) -> dict[str, Any]:
        """Run a query expecting no top-level errors; returns `data`."""
        body = await self.gql(query, variables, token=token)
        assert "errors" not in body, body["errors"]
        return body["data"]

    async def mutate(self, field_name: str, query: str, variables: dict[str, Any], *, token: str | None = None) -> dict[str, Any]:
        """A mutation expected to succeed: returns its payload, asserting `errors` is empty."""
        data = await self.ok(query, variables, token=token)
        payload = data[field_name]
        assert payload["errors"] == [], payload["errors"]
        return payload

    # ------------------------------------------------------------------ builders through the API
    async def create_user(self, name: str, *, location: str | None = "US", **extra: Any) -> str:
        local = name.lower().replace(" ", ".")
        payload = await self.mutate(
            "createUser",
            "mutation($i: CreateUserInput!) { createUser(input: $i) { user { id } errors { code message } } }",
            {"i": {"userPrincipalName": f"{local}@{self.domain}", "displayName": name, "usageLocation": location, **extra}},
        )
        return payload["user"]["id"]

    async def create_group(self, name: str, members: list[str] | None = None, *, security: bool = True) -> str:
        payload = await self.mutate(
            "createGroup",
            "mutation($i: CreateGroupInput!) { createGroup(input: $i) { group { id } errors { code message } } }",
            {"i": {"displayName": name, "memberIds": members or [], "securityEnabled": security}},
        )
        return payload["group"]["id"]

    async def buy(self, sku: str, quantity: int, **extra: Any) -> str:
        product = await self.ok("query($s: String!) { product(skuPartNumber: $s) { id } }", {"s": sku})
        payload = await self.mutate(
            "purchaseSubscription",
            "mutation($i: PurchaseSubscriptionInput!) { purchaseSubscription(input: $i) { subscription { id } errors { code message } } }",
            {"i": {"productId": product["product"]["id"], "quantity": quantity, **extra}},
        )
        return payload["subscription"]["id"]
