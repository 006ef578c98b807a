"""OpenID Connect access tokens against a real local provider (R31, D35): RS256/PS256/ES256
tokens of the issuer a tenant trusts, the caller and roles they name, every refusal as its own
401, key rotation, provider downtime and the 30 s refresh limit. No verifier is mocked: the
provider (tests/oidc_provider.py) serves discovery and JWKS over HTTP on 127.0.0.1."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
import pytest

from db.config import Settings
from db.records import OidcTrust
from db.repo import tenants
from gql import oidc
from gql.app import create_app
from gql.auth import Role
from tests.oidc_provider import OpenIdProvider, Realm, SigningKey, new_key
from tests.support import Api, Tenant

SECRET = "oidc-test-secret-for-the-licensing-service-0123456789"
VIEWER = "{ viewer { tenant { tenantId } roles user { userPrincipalName } } }"
AUDIENCE = "api://licensing-test"


@pytest.fixture(scope="module")
def provider() -> Iterator[OpenIdProvider]:
    server = OpenIdProvider()
    server.start()
    yield server
    server.stop()


def oidc_settings() -> Settings:
    return Settings(
        DATABASE_URL=None, LICENSING_JWT_SECRET=SECRET, LICENSING_OIDC_ALLOW_HTTP_LOOPBACK=True,
        LICENSING_LIFECYCLE_INTERVAL_SECONDS=3600,
    )


@pytest.fixture(scope="module")
async def oidc_api(database_url: str) -> AsyncIterator[Api]:
    settings = oidc_settings()
    application = create_app(settings, database_url, run_lifecycle_job=False)
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield Api(client, settings, application)


@dataclass
class Trusting:
    """A tenant that trusts a realm of the provider."""

    tenant: Tenant
    realm: Realm
    key: SigningKey

    def token(self, key: SigningKey | None = None, *, audience: Any = AUDIENCE, **claims: Any) -> str:
        return self.realm.token(key or self.key, audience=audience, **claims)

    async def viewer(self, token: str) -> httpx.Response:
        return await self.tenant.api.post(VIEWER, token=token)


async def trust(api: Api, tenant_id: str, realm: Realm, roles_claim: str = "roles") -> None:
    async with api.database().write() as conn:
        await tenants.update_tenant(conn, tenant_id, tenants.oidc_values(OidcTrust(realm.issuer, AUDIENCE, roles_claim)))


async def trusting(api: Api, provider: OpenIdProvider, alg: str = "RS256", roles_claim: str = "roles") -> Trusting:
    tenant = await api.new_tenant()
    key = new_key(alg)
    realm = provider.realm(key)
    await trust(api, tenant.id, realm, roles_claim)
    return Trusting(tenant, realm, key)


@pytest.fixture
async def rs(oidc_api: Api, provider: OpenIdProvider) -> Trusting:
    return await trusting(oidc_api, provider)


def viewer_of(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body
    return body["data"]["viewer"]


def refused(response: httpx.Response, category: str) -> str:
    assert response.status_code == 401, response.text
    assert '"data"' not in response.text
    message = response.json()["errors"][0]["message"]
    assert category in message, message
    return message


# -- accepted tokens ---------------------------------------------------------------------------

@pytest.mark.parametrize("alg", ["RS256", "PS256", "ES256"])
async def test_r31_a_token_of_the_trusted_issuer_is_accepted(oidc_api: Api, provider: OpenIdProvider, alg: str) -> None:
    t = await trusting(oidc_api, provider, alg)
    viewer = viewer_of(await t.viewer(t.token(roles=["GlobalReader", "LicenseAdministrator"])))
    assert viewer["tenant"] == {"tenantId": t.tenant.id}
    assert sorted(viewer["roles"]) == ["GLOBAL_READER", "LICENSE_ADMINISTRATOR"]
    assert t.realm.discovery_requests == 1 and t.realm.jwks_requests == 1
    viewer_of(await t.viewer(t.token(roles=["GlobalReader"])))  # the keys are cached
    assert t.realm.jwks_requests == 1


async def test_d36_the_tenant_caller_and_trust_are_read_in_one_statement_per_request(oidc_api: Api, rs: Trusting) -> None:
    """No issuer settings are cached between requests: each request reads them, with the caller,
    in one statement of its own snapshot (the same count as an HS256 token)."""
    database = oidc_api.app.state.runtime.db
    counts = []
    for token in (rs.token(), rs.token(), rs.tenant.token(Role.GLOBAL_READER)):
        before = database.statement_count
        viewer_of(await oidc_api.post("{ viewer { roles } }", token=token))
        counts.append(database.statement_count - before)
    assert counts == [1, 1, 1]


async def test_r31_aud_may_be_a_list_containing_the_audience(rs: Trusting) -> None:
    viewer_of(await rs.viewer(rs.token(audience=["other-api", AUDIENCE], roles=["GlobalReader"])))


async def test_r31_roles_come_from_a_dotted_path(oidc_api: Api, provider: OpenIdProvider) -> None:
    t = await trusting(oidc_api, provider, roles_claim="realm_access.roles")
    token = t.token(realm_access={"roles": ["UserAdministrator", "offline_access"]}, roles=["GlobalAdministrator"])
    assert viewer_of(await t.viewer(token))["roles"] == ["USER_ADMINISTRATOR"]


async def test_r31_unknown_roles_are_ignored_and_no_roles_is_the_viewer_only(rs: Trusting) -> None:
    assert viewer_of(await rs.viewer(rs.token(roles=["Nope", 3])))["roles"] == []
    assert viewer_of(await rs.viewer(rs.token()))["roles"] == []


async def test_d5_the_caller_is_preferred_username_then_upn_then_email(rs: Trusting) -> None:
    await rs.tenant.create_user("Ann Lee")
    await rs.tenant.create_user("Bob Ray")
    ann, bob = f"ann.lee@{rs.tenant.domain}", f"bob.ray@{rs.tenant.domain}"
    cases = [
        ({"preferred_username": ann.upper(), "upn": bob, "email": bob}, ann),
        ({"preferred_username": "nobody@else.example", "upn": bob, "email": ann}, bob),
        ({"upn": "nobody@else.example", "email": ann}, ann),
    ]
    for claims, upn in cases:
        viewer = viewer_of(await rs.viewer(rs.token(**claims)))
        assert viewer["user"] == {"userPrincipalName": upn}, claims


async def test_d5_else_the_caller_is_an_admin_principal_named_by_sub(rs: Trusting) -> None:
    token = rs.token(sub="entra-object-4711", preferred_username="nobody@else.example", roles=["GlobalAdministrator"])
    assert viewer_of(await rs.viewer(token))["user"] is None
    body = (await rs.tenant.api.post(
        'mutation { createGroup(input: { displayName: "By sub" }) { group { id } errors { code } } }', token=token
    )).json()
    assert body["data"]["createGroup"]["errors"] == [], body
    audit = await rs.tenant.ok("{ auditLog(first: 5) { edges { node { actor action } } } }")
    assert {"actor": "entra-object-4711", "action": "GROUP_CREATED"} in [e["node"] for e in audit["auditLog"]["edges"]]


async def test_d11_a_caller_matched_to_a_user_is_audited_by_the_tokens_sub(rs: Trusting, oidc_api: Api) -> None:
    """The caller is the user (D5: their own seats, `viewer`), but the audit's actor stays the
    token's `sub` (D11), on GraphQL and on SCIM (scim:<sub>, R30)."""
    await rs.tenant.create_user("Ann Lee")
    token = rs.token(sub="entra-object-99", preferred_username=f"ann.lee@{rs.tenant.domain}", roles=["GlobalAdministrator"])
    assert viewer_of(await rs.viewer(token))["user"] == {"userPrincipalName": f"ann.lee@{rs.tenant.domain}"}
    body = (await rs.tenant.api.post(
        'mutation { createGroup(input: { displayName: "By Ann" }) { group { id } errors { code } } }', token=token
    )).json()
    assert body["data"]["createGroup"]["errors"] == [], body
    scim = {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": f"via-ann@{rs.tenant.domain}"}
    assert (await _scim(oidc_api, "POST", "/Users", token, scim)).status_code == 201
    audit = [e["node"] for e in (await rs.tenant.ok("{ auditLog(first: 5) { edges { node { actor action } } } }"))["auditLog"]["edges"]]
    assert {"actor": "entra-object-99", "action": "GROUP_CREATED"} in audit
    assert {"actor": "scim:entra-object-99", "action": "USER_CREATED"} in audit


async def test_r31_hs256_tokens_keep_working_for_a_tenant_that_trusts_an_issuer(rs: Trusting) -> None:
    viewer = viewer_of(await rs.viewer(rs.tenant.token(Role.GLOBAL_READER)))
    assert viewer["roles"] == ["GLOBAL_READER"]


async def test_r31_an_hs256_token_with_any_iss_is_checked_against_the_secret_only(rs: Trusting, oidc_api: Api) -> None:
    now = int(time.time())
    payload = {"tid": rs.tenant.id, "sub": "script", "roles": ["GlobalReader"], "exp": now + 600, "iss": rs.realm.issuer}
    viewer_of(await rs.viewer(jwt.encode(payload, SECRET, algorithm="HS256")))
    assert rs.realm.jwks_requests == 0  # no key of the issuer was looked at


# -- refusals: each its own 401 naming the category ----------------------------------------------

async def test_r31_an_expired_token_is_401(rs: Trusting) -> None:
    refused(await rs.viewer(rs.token(exp=int(time.time()) - 61 - 5)), "has expired")


async def test_r31_exp_has_60_s_leeway(rs: Trusting) -> None:
    viewer_of(await rs.viewer(rs.token(exp=int(time.time()) - 30)))


async def test_r31_a_token_not_valid_yet_is_401(rs: Trusting) -> None:
    refused(await rs.viewer(rs.token(nbf=int(time.time()) + 120)), "not valid yet")
    viewer_of(await rs.viewer(rs.token(nbf=int(time.time()) + 30)))  # within the leeway


async def test_r31_a_bad_signature_is_401(rs: Trusting) -> None:
    forged = SigningKey(rs.key.kid, "RS256", new_key("RS256").private)  # same kid, another key
    message = refused(await rs.viewer(rs.token(forged)), "bad signature")
    assert rs.key.kid not in message  # details go to the log only


async def test_r31_a_tampered_payload_is_401(rs: Trusting) -> None:
    header, _, signature = rs.token(roles=["GlobalReader"]).split(".")
    _, payload, _ = rs.token(roles=["GlobalAdministrator"]).split(".")
    refused(await rs.viewer(f"{header}.{payload}.{signature}"), "bad signature")


async def test_r31_an_untrusted_issuer_is_401_and_nothing_is_fetched_for_it(oidc_api: Api, provider: OpenIdProvider) -> None:
    tenant = await oidc_api.new_tenant()
    stranger = provider.realm(key := new_key())
    token = stranger.token(key, audience=AUDIENCE, tid=tenant.id, roles=["GlobalAdministrator"])
    refused(await oidc_api.post(VIEWER, token=token), "not trusted by any tenant")
    assert stranger.discovery_requests == 0 and stranger.jwks_requests == 0  # no SSRF through tokens


async def test_r31_a_wrong_audience_is_401(rs: Trusting) -> None:
    refused(await rs.viewer(rs.token(audience="api://another")), "another audience")
    refused(await rs.viewer(rs.token(audience=["api://a", "api://b"])), "another audience")
    refused(await rs.viewer(rs.token(audience=None)), "another audience")  # no aud at all (D35's category)


async def test_r31_an_unknown_kid_after_the_refresh_is_401(rs: Trusting) -> None:
    viewer_of(await rs.viewer(rs.token()))
    stray = new_key("RS256", kid="never-published")
    message = refused(await rs.viewer(rs.token(stray)), "bad signature")
    assert "never-published" not in message


async def test_r31_alg_none_is_401(rs: Trusting) -> None:
    now = int(time.time())
    payload = {"iss": rs.realm.issuer, "aud": AUDIENCE, "sub": "x", "exp": now + 600, "roles": ["GlobalAdministrator"]}
    token = jwt.encode(payload, None, algorithm="none")
    refused(await rs.viewer(token), "algorithm is not accepted")
    assert rs.realm.jwks_requests == 0


def _hmac_token(header: dict[str, Any], payload: dict[str, Any], secret: bytes) -> str:
    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}"
    digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}[header["alg"]]
    return f"{signing_input}.{b64(hmac.new(secret, signing_input.encode(), digest).digest())}"


@pytest.mark.parametrize("alg", ["HS256", "HS384", "HS512"])
async def test_r31_an_hs_token_signed_with_the_providers_public_key_is_401(rs: Trusting, alg: str) -> None:
    """Algorithm confusion: the public key as an HMAC secret is never accepted."""
    now = int(time.time())
    payload = {"iss": rs.realm.issuer, "aud": AUDIENCE, "sub": "x", "tid": rs.tenant.id, "exp": now + 600,
               "roles": ["GlobalAdministrator"]}
    for secret in (json.dumps(rs.key.public_jwk()).encode(), rs.key.public_jwk()["n"].encode()):
        token = _hmac_token({"alg": alg, "typ": "JWT", "kid": rs.key.kid}, payload, secret)
        refused(await rs.viewer(token), "algorithm is not accepted" if alg != "HS256" else "bad signature")


async def test_r31_a_removed_trust_takes_effect_on_the_next_request(oidc_api: Api, rs: Trusting) -> None:
    token = rs.token(roles=["GlobalReader"])
    viewer_of(await rs.viewer(token))
    async with oidc_api.database().write() as conn:
        await tenants.update_tenant(conn, rs.tenant.id, tenants.oidc_values(None))
    refused(await rs.viewer(token), "not trusted by any tenant")


# -- keys: rotation, downtime, the refresh limit -------------------------------------------------

async def test_r31_a_rotated_key_is_accepted_after_the_refresh_at_most_once_per_interval(
    rs: Trusting, monkeypatch: pytest.MonkeyPatch
) -> None:
    viewer_of(await rs.viewer(rs.token()))
    assert rs.realm.jwks_requests == 1
    rotated = rs.realm.publish(new_key("RS256"))
    # within 30 s of the last keys request nothing is fetched again, whatever asks
    refused(await rs.viewer(rs.token(rotated)), "bad signature")
    assert rs.realm.jwks_requests == 1
    monkeypatch.setattr(oidc, "REFRESH_INTERVAL_SECONDS", 0.0)
    viewer_of(await rs.viewer(rs.token(rotated)))
    assert rs.realm.jwks_requests == 2
    rs.realm.keys.remove(rs.key)
    viewer_of(await rs.viewer(rs.token(rs.key)))  # a key still cached keeps working
    assert rs.realm.jwks_requests == 2


async def test_r31_concurrent_unknown_kids_cause_one_keys_request(rs: Trusting, monkeypatch: pytest.MonkeyPatch) -> None:
    viewer_of(await rs.viewer(rs.token()))
    monkeypatch.setattr(oidc, "REFRESH_INTERVAL_SECONDS", 30.0)
    stray = [new_key("RS256") for _ in range(3)]
    responses = await asyncio.gather(*(rs.viewer(rs.token(k)) for k in stray for _ in range(3)))
    assert {r.status_code for r in responses} == {401}
    assert rs.realm.jwks_requests == 1


async def test_r31_cached_keys_keep_working_while_the_provider_is_down(
    oidc_api: Api, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    down = OpenIdProvider()
    down.start()
    try:
        t = await trusting(oidc_api, down, "ES256")
        viewer_of(await t.viewer(t.token()))
        down.stop()
        monkeypatch.setattr(oidc, "REFRESH_INTERVAL_SECONDS", 0.0)
        viewer_of(await t.viewer(t.token()))
        with caplog.at_level(logging.WARNING, logger="licensing.oidc"):
            refused(await t.viewer(t.token(new_key("ES256", kid="after-the-outage"))), "bad signature")
        logged = caplog.text
        assert "after-the-outage" in logged and "refreshing the keys failed" in logged
        viewer_of(await t.viewer(t.token()))  # a failed refresh keeps the cached keys
    finally:
        down.stop()


async def test_r31_a_token_without_iss_or_with_a_malformed_header_is_401(rs: Trusting) -> None:
    refused(await rs.viewer(rs.token(iss=None)), "not trusted")
    refused(await rs.viewer("eyJ!!.e30.x"), "malformed")


async def test_r31_a_token_without_kid_uses_the_only_key(oidc_api: Api, provider: OpenIdProvider) -> None:
    t = await trusting(oidc_api, provider)
    now = int(time.time())
    payload = {"iss": t.realm.issuer, "aud": AUDIENCE, "sub": "no-kid", "exp": now + 600, "roles": ["GlobalReader"]}
    token = jwt.encode(payload, t.key.private, algorithm="RS256")  # no kid header
    assert viewer_of(await t.viewer(token))["roles"] == ["GLOBAL_READER"]
    two = await trusting(oidc_api, provider)
    two.realm.publish(new_key("RS256"))
    payload["iss"] = two.realm.issuer
    refused(await two.viewer(jwt.encode(payload, two.key.private, algorithm="RS256")), "bad signature")  # which one?


async def test_r31_a_key_is_used_only_for_its_own_algorithm(oidc_api: Api, provider: OpenIdProvider) -> None:
    t = await trusting(oidc_api, provider)
    t.key.published_alg = "RS256"
    ec_key = t.realm.publish(new_key("ES256"))
    viewer_of(await t.viewer(t.token()))
    as_ps256 = SigningKey(t.key.kid, "PS256", t.key.private)  # the JWK says RS256
    refused(await t.viewer(t.token(as_ps256)), "bad signature")
    rsa_under_ec_kid = SigningKey(ec_key.kid, "RS256", t.key.private)
    refused(await t.viewer(t.token(rsa_under_ec_kid)), "bad signature")


async def test_r31_a_hung_provider_does_not_hold_requests(
    oidc_api: Api, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    slow = OpenIdProvider()
    slow.start()
    try:
        t = await trusting(oidc_api, slow)
        slow.delay = 3.0
        monkeypatch.setattr(oidc, "FETCH_DEADLINE_SECONDS", 0.5)
        started = time.monotonic()
        with caplog.at_level(logging.WARNING, logger="licensing.oidc"):
            refused(await t.viewer(t.token()), "bad signature")
        assert time.monotonic() - started < 2.5
        assert "within 0.5 s" in caplog.text
    finally:
        slow.delay = 0.0
        slow.stop()


def test_r31_the_refresh_interval_is_30_s() -> None:
    assert oidc.REFRESH_INTERVAL_SECONDS == 30.0 and oidc.LEEWAY_SECONDS == 60


async def test_r31_http_issuers_are_fetched_only_when_allowed(database_url: str, oidc_api: Api, provider: OpenIdProvider) -> None:
    """An app without LICENSING_OIDC_ALLOW_HTTP_LOOPBACK fetches nothing from an http issuer."""
    settings = Settings(DATABASE_URL=None, LICENSING_JWT_SECRET=SECRET)
    application = create_app(settings, database_url, run_lifecycle_job=False)
    t = await trusting(oidc_api, provider)
    async with application.router.lifespan_context(application):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=application), base_url="http://test") as client:
            response = await client.post("/graphql", json={"query": VIEWER}, headers={"Authorization": f"Bearer {t.token()}"})
    refused(response, "bad signature")
    assert t.realm.discovery_requests == 0


# -- SCIM (/scim/v2) takes the same tokens as /graphql (D30, R31, D35) -------------------------

async def _scim(api: Api, method: str, path: str, token: str, body: Any = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/scim+json"}
    return await api.client.request(method, f"/scim/v2{path}", json=body, headers=headers)


@pytest.mark.parametrize("alg", ["RS256", "PS256", "ES256"])
async def test_d30_an_oidc_administrator_token_works_on_scim(oidc_api: Api, provider: OpenIdProvider, alg: str) -> None:
    t = await trusting(oidc_api, provider, alg)
    for role in ("GlobalAdministrator", "UserAdministrator"):
        response = await _scim(oidc_api, "GET", "/Users", t.token(roles=[role]))
        assert response.status_code == 200, response.text
        assert response.json()["totalResults"] == 0


async def test_d30_scim_writes_by_an_oidc_token_are_audited_as_scim_and_the_caller(rs: Trusting, oidc_api: Api) -> None:
    token = rs.token(sub="entra-object-42", preferred_username="nobody@else.example", roles=["UserAdministrator"])
    body = {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": f"via-oidc@{rs.tenant.domain}"}
    response = await _scim(oidc_api, "POST", "/Users", token, body)
    assert response.status_code == 201, response.text
    audit = await rs.tenant.ok("{ auditLog(first: 5) { edges { node { actor action } } } }")
    assert {"actor": "scim:entra-object-42", "action": "USER_CREATED"} in [e["node"] for e in audit["auditLog"]["edges"]]


@pytest.mark.parametrize("roles", [["GlobalReader"], ["LicenseAdministrator", "BillingAdministrator"], []])
async def test_d30_an_oidc_token_of_another_role_is_403_on_scim(rs: Trusting, oidc_api: Api, roles: list[str]) -> None:
    response = await _scim(oidc_api, "GET", "/Users", rs.token(roles=roles))
    assert response.status_code == 403, response.text
    assert response.json()["status"] == "403"


async def test_r31_scim_refuses_bad_oidc_tokens_with_401_as_graphql_does(rs: Trusting, oidc_api: Api, provider: OpenIdProvider) -> None:
    forged = SigningKey(rs.key.kid, "RS256", new_key("RS256").private)
    stranger = provider.realm(key := new_key())
    cases = {
        "another audience": rs.token(audience="api://another", roles=["GlobalAdministrator"]),
        "bad signature": rs.token(forged, roles=["GlobalAdministrator"]),
        "has expired": rs.token(exp=int(time.time()) - 120, roles=["GlobalAdministrator"]),
        "not trusted by any tenant": stranger.token(key, audience=AUDIENCE, roles=["GlobalAdministrator"]),
    }
    for category, token in cases.items():
        response = await _scim(oidc_api, "GET", "/Users", token)
        assert response.status_code == 401, (category, response.text)
        assert category in response.json()["detail"], response.text
        assert "Bearer" in response.headers["www-authenticate"]
    assert stranger.discovery_requests == 0 and stranger.jwks_requests == 0


async def test_d35_an_hs256_token_with_an_aud_claim_is_checked_against_the_secret_only(rs: Trusting, oidc_api: Api) -> None:
    """`aud` is not verified on the HS256 path (D35: the secret decides), over /graphql and /scim."""
    now = int(time.time())
    for aud in ("api://anything", ["a", "b"], AUDIENCE):
        payload = {"tid": rs.tenant.id, "sub": "script", "roles": ["UserAdministrator"], "exp": now + 600, "aud": aud}
        token = jwt.encode(payload, SECRET, algorithm="HS256")
        assert viewer_of(await rs.viewer(token))["roles"] == ["USER_ADMINISTRATOR"]
        response = await _scim(oidc_api, "GET", "/Users", token)
        assert response.status_code == 200, response.text
    payload = {"tid": rs.tenant.id, "sub": "script", "roles": ["UserAdministrator"], "exp": now + 600, "aud": "x"}
    assert (await rs.viewer(jwt.encode(payload, "another-secret-of-at-least-32-bytes!!", algorithm="HS256"))).status_code == 401


@pytest.mark.parametrize("sub", ["", "  "], ids=["empty", "blank"])
async def test_s5_an_oidc_token_whose_sub_names_nobody_is_401(rs: Trusting, sub: str) -> None:
    refused(await rs.viewer(rs.token(sub=sub, roles=["GlobalAdministrator"])), "sub claim is empty")
    viewer_of(await rs.viewer(rs.token(roles=["GlobalAdministrator"])))
