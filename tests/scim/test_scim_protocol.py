"""/scim/v2 as a protocol: tokens (D34), roles (D30), discovery, media type, errors and limits."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from services.change import TRY_AGAIN
from services.errors import ErrorCode, refuse
from services.roles import Role
from tests.scim.conftest import ENTERPRISE, MEDIA, USER_SCHEMA, Scim, new_token


async def test_401_for_missing_bad_revoked_and_expired_tokens(scim: Scim) -> None:
    response = await scim.client.get("/scim/v2/Users")
    assert response.status_code == 401 and response.headers["content-type"].startswith(MEDIA)
    assert response.json()["status"] == "401" and "Bearer" in response.headers["www-authenticate"]
    await scim.error("GET", "/Users", None, 401, token="scim_not-a-real-token")
    await scim.error("GET", "/Users", None, 401, token="garbage")
    await scim.error("GET", "/Users", None, 401, token="a.b.c")  # a JWT that does not verify
    revoked = await new_token(scim.tenant, "to-revoke")
    expired = await new_token(scim.tenant, "to-expire", days=1)
    async with scim.tenant.api.database().write() as conn:
        await conn.execute(text("UPDATE scim_tokens SET revoked_at = now() WHERE tenant_id = :t AND name = 'to-revoke'"), {"t": scim.tenant.id})
        await conn.execute(text("UPDATE scim_tokens SET expires_at = now() - interval '1 hour' WHERE tenant_id = :t AND name = 'to-expire'"),
                           {"t": scim.tenant.id})
    assert "revoked" in (await scim.error("GET", "/Users", None, 401, token=revoked))["detail"]
    assert "expired" in (await scim.error("GET", "/Users", None, 401, token=expired))["detail"]
    await scim.ok("GET", "/Users")  # the other token still works: revocation is one by one


async def test_a_token_sees_only_its_tenant(scim: Scim) -> None:
    other = await scim.tenant.api.new_tenant()
    stranger = (await Scim(other, await new_token(other)).create_user("stranger@other.example"))["id"]
    await scim.error("GET", f"/Users/{stranger}", None, 404)
    assert (await scim.ok("GET", "/Users"))["totalResults"] == 0


async def test_the_scim_token_grants_scim_only(scim: Scim) -> None:
    response = await scim.tenant.api.post("query { users(first: 1) { totalCount } }", token=scim.token)
    assert response.status_code == 401, response.text


@pytest.mark.parametrize(("role", "status"), [
    (Role.GLOBAL_ADMINISTRATOR, 200), (Role.USER_ADMINISTRATOR, 200), (Role.LICENSE_ADMINISTRATOR, 403),
    (Role.BILLING_ADMINISTRATOR, 403), (Role.GLOBAL_READER, 403),
])
async def test_d30_admin_tokens_by_role(scim: Scim, role: Role, status: int) -> None:
    response = await scim.request("GET", "/Users", token=scim.tenant.token(role))
    assert response.status_code == status, response.text


async def test_d30_no_role_is_403(scim: Scim) -> None:
    await scim.error("GET", "/Users", None, 403, token=scim.tenant.token())


async def test_writes_by_an_admin_token_are_audited_as_scim_sub(scim: Scim) -> None:
    token = scim.tenant.token(Role.USER_ADMINISTRATOR, sub="provisioner@contoso.example")
    response = await scim.request("POST", "/Users", {"schemas": [USER_SCHEMA], "userName": "via-jwt"}, token=token)
    assert response.status_code == 201, response.text
    log = (await scim.tenant.ok("query { auditLog(first: 5) { edges { node { actor action } } } }"))["auditLog"]["edges"]
    assert {"actor": "scim:provisioner@contoso.example", "action": "USER_CREATED"} in [e["node"] for e in log]


async def test_service_provider_config(scim: Scim) -> None:
    config = await scim.ok("GET", "/ServiceProviderConfig")
    assert config["patch"] == {"supported": True}
    assert config["bulk"]["supported"] is False and config["sort"] == {"supported": False} and config["etag"] == {"supported": False}
    assert config["filter"] == {"supported": True, "maxResults": 100}


async def test_resource_types_and_schemas(scim: Scim) -> None:
    types = await scim.ok("GET", "/ResourceTypes")
    assert {t["id"]: t["endpoint"] for t in types["Resources"]} == {"User": "/Users", "Group": "/Groups"}
    assert (await scim.ok("GET", "/ResourceTypes/User"))["schema"] == USER_SCHEMA
    schemas = await scim.ok("GET", "/Schemas")
    by_id = {s["id"]: s for s in schemas["Resources"]}
    user = by_id[USER_SCHEMA]
    assert [a["name"] for a in user["attributes"]] == ["userName", "name", "displayName", "title", "userType", "active", "emails", "addresses"]
    address = next(a for a in user["attributes"] if a["name"] == "addresses")
    country = next(a for a in address["subAttributes"] if a["name"] == "country")
    assert "NO" in country["canonicalValues"] and len(country["canonicalValues"]) == 249
    one = await scim.ok("GET", f"/Schemas/{USER_SCHEMA}")
    assert one["id"] == USER_SCHEMA
    await scim.error("GET", "/Schemas/urn:nope", None, 404)


async def test_d28_schemas_publish_only_what_a_client_may_fill_from_them(scim: Scim) -> None:
    """employeeNumber (at most 16 characters, D31, which a SCIM schema cannot state) is accepted
    and returned but not published; displayName, userType and active always have a value."""
    by_id = {s["id"]: s for s in (await scim.ok("GET", "/Schemas"))["Resources"]}
    assert [a["name"] for a in by_id[ENTERPRISE]["attributes"]] == ["department"]
    required = {a["name"] for a in by_id[USER_SCHEMA]["attributes"] if a["required"]}
    assert required == {"userName", "displayName", "userType", "active"}
    user = await scim.create_user("pub", schemas=[USER_SCHEMA, ENTERPRISE], **{ENTERPRISE: {"employeeNumber": "E" * 16}})
    assert user[ENTERPRISE]["employeeNumber"] == "E" * 16
    assert user["displayName"] == "pub" and user["userType"] == "Member" and user["active"] is True


@pytest.mark.parametrize("path", ["/ServiceProviderConfig", "/ResourceTypes", "/Schemas"])
@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
async def test_discovery_answers_writes_with_405(scim: Scim, path: str, method: str) -> None:
    await scim.error(method, path, {}, 405)


async def test_unknown_paths_404_and_wrong_methods_405(scim: Scim) -> None:
    await scim.error("GET", "/Nothing", None, 404)
    await scim.error("GET", "/Users/a/b", None, 404)
    await scim.error("DELETE", "/Users", None, 405)
    await scim.error("POST", "/Users/00000000-0000-0000-0000-000000000001", {}, 405)
    await scim.error("GET", "/Users/00000000-0000-0000-0000-000000000001", None, 404)
    await scim.error("GET", "/Groups/not-a-guid", None, 404)


async def test_bad_bodies(scim: Scim) -> None:
    response = await scim.client.post(
        "/scim/v2/Users", content=b"{not json", headers={"Authorization": f"Bearer {scim.token}", "Content-Type": MEDIA}
    )
    assert response.status_code == 400 and response.json()["scimType"] == "invalidSyntax"
    await scim.error("POST", "/Users", [1, 2], 400, "invalidSyntax")
    await scim.error("POST", "/Users", {"schemas": [USER_SCHEMA]}, 400, "invalidValue")


async def test_body_over_the_limit_is_a_scim_413(scim: Scim) -> None:
    limit = scim.tenant.api.settings.max_body_bytes
    body = {"schemas": [USER_SCHEMA], "userName": "big", "displayName": "x" * (limit + 10)}
    response = await scim.request("POST", "/Users", body)
    assert response.status_code == 413 and response.headers["content-type"].startswith(MEDIA)
    assert response.json()["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"]


async def test_a_lock_timeout_is_503_with_retry_after(scim: Scim, monkeypatch: pytest.MonkeyPatch) -> None:
    async def busy(*_: object) -> None:
        raise refuse(ErrorCode.OTHER, TRY_AGAIN)

    monkeypatch.setattr("gql.scim.users.directory.create_user", busy)
    response = await scim.request("POST", "/Users", {"schemas": [USER_SCHEMA], "userName": "later"})
    assert response.status_code == 503 and response.headers["retry-after"] == "1", response.text
