"""A tenant with a SCIM token, and a client that speaks application/scim+json to /scim/v2."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from db.clock import SystemClock
from services.scim_tokens import create_token
from tests.support import Tenant

MEDIA = "application/scim+json"
USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


@dataclass
class Scim:
    tenant: Tenant
    token: str

    @property
    def client(self) -> httpx.AsyncClient:
        return self.tenant.api.client  # type: ignore[no-any-return]

    async def request(self, method: str, path: str, body: Any = None, *, token: str | None = None, **params: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token or self.token}", "Accept": MEDIA}
        if body is not None:
            headers["Content-Type"] = MEDIA
        return await self.client.request(
            method, f"/scim/v2{path}", json=body, headers=headers, params={k: v for k, v in params.items() if v is not None}
        )

    async def ok(self, method: str, path: str, body: Any = None, status: int = 200, **params: Any) -> Any:
        response = await self.request(method, path, body, **params)
        assert response.status_code == status, response.text
        if status != 204:
            assert response.headers["content-type"].startswith(MEDIA)
            return response.json()
        return None

    async def error(self, method: str, path: str, body: Any = None, status: int = 400, scim_type: str | None = None, **params: Any) -> dict[str, Any]:
        response = await self.request(method, path, body, **params)
        assert response.status_code == status, response.text
        error = response.json()
        assert error["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"] and error["status"] == str(status), error
        assert error.get("scimType") == scim_type, error
        return error  # type: ignore[no-any-return]

    async def create_user(self, user_name: str, **extra: Any) -> dict[str, Any]:
        body = {"schemas": [USER_SCHEMA], "userName": user_name, **extra}
        return await self.ok("POST", "/Users", body, 201)  # type: ignore[no-any-return]

    async def create_group(self, name: str, members: list[str] = (), **extra: Any) -> dict[str, Any]:  # type: ignore[assignment]
        body = {"schemas": [GROUP_SCHEMA], "displayName": name, "members": [{"value": m} for m in members], **extra}
        return await self.ok("POST", "/Groups", body, 201)  # type: ignore[no-any-return]

    async def patch(self, path: str, *operations: dict[str, Any], status: int = 200) -> Any:
        return await self.ok("PATCH", path, {"schemas": [PATCH_OP], "Operations": list(operations)}, status)


async def new_token(tenant: Tenant, name: str = "entra", days: int | None = None) -> str:
    created = await create_token(tenant.api.database(), SystemClock(), tenant.id, name, days)
    return created.secret


@pytest.fixture
async def scim(tenant: Tenant) -> Scim:
    return Scim(tenant, await new_token(tenant))


@pytest.fixture
async def scim_no_default(api: Any) -> Scim:
    """A tenant without a default usage location: a user's own location decides (R8)."""
    tenant = await api.new_tenant(default_usage_location=None)
    return Scim(tenant, await new_token(tenant))
