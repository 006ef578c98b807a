"""`licensing tenants create|update|check-oidc` with OpenID Connect issuers (R31, D35), and the
WebSocket closing with 4401 when its connection_init token expires (both kinds of token)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from click.testing import Result
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect
from typer.testing import CliRunner

from db.config import get_settings
from db.records import OidcTrust
from db.repo import tenants
from db.session import Database
from gql.app import create_app
from gql.auth import Role, issue_token
from gql.cli import app
from services import tenant as tenant_service
from tests.gql.test_oidc import AUDIENCE, SECRET, oidc_settings
from tests.oidc_provider import OpenIdProvider, new_key


@pytest.fixture(scope="module")
def provider() -> Iterator[OpenIdProvider]:
    server = OpenIdProvider()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def cli(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("LICENSING_JWT_SECRET", SECRET)
    monkeypatch.setenv("LICENSING_OIDC_ALLOW_HTTP_LOOPBACK", "true")
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


async def run(cli: CliRunner, *args: str) -> Result:
    """The command runs its own event loop (asyncio.run): give it a thread of its own."""
    return await asyncio.to_thread(cli.invoke, app, list(args))


async def stored(database_url: str, tenant_id: str) -> Any:
    db = Database(database_url)
    try:
        return await tenant_service.tenant_oidc(db, tenant_id)
    finally:
        await db.dispose()


def new_id() -> str:
    return f"oidc-{uuid.uuid4().hex[:10]}"


async def test_r31_tenants_create_with_an_issuer(cli: CliRunner, database_url: str, provider: OpenIdProvider) -> None:
    realm, tid = provider.realm(new_key()), new_id()
    result = await run(cli, "tenants", "create", tid, "--name", "Oidc", "--oidc-issuer", realm.issuer,
                       "--oidc-audience", AUDIENCE, "--oidc-roles-claim", "realm_access.roles")
    assert result.exit_code == 0, result.output
    assert realm.issuer in result.output
    _, trust = await stored(database_url, tid)
    assert (trust.issuer, trust.audience, trust.roles_claim) == (realm.issuer, AUDIENCE, "realm_access.roles")
    assert realm.discovery_requests == 0  # create fetches nothing


async def test_r31_a_refused_create_leaves_no_tenant(cli: CliRunner, database_url: str, provider: OpenIdProvider) -> None:
    realm, first, second = provider.realm(new_key()), new_id(), new_id()
    assert (await run(cli, "tenants", "create", first, "--name", "A", "--oidc-issuer", realm.issuer,
                      "--oidc-audience", AUDIENCE)).exit_code == 0
    clash = await run(cli, "tenants", "create", second, "--name", "B", "--oidc-issuer", realm.issuer, "--oidc-audience", "x")
    assert clash.exit_code == 1 and "already trusts" in clash.output, clash.output
    assert await stored(database_url, second) is None
    for args, says in [
        (["--oidc-issuer", "ftp://idp.example"], "https://"),
        (["--oidc-issuer", "http://idp.example/realm", "--oidc-audience", "a"], "loopback"),
        (["--oidc-issuer", "https://idp.example/realm"], "--oidc-audience is required"),
        (["--oidc-audience", "a"], "go with --oidc-issuer"),
        (["--oidc-issuer", "https://idp.example/r", "--oidc-audience", "a", "--oidc-roles-claim", "a..b"], "dotted path"),
    ]:
        result = await run(cli, "tenants", "create", second, "--name", "B", *args)
        assert result.exit_code == 1 and says in result.output, (args, result.output)
        assert await stored(database_url, second) is None


async def test_r31_http_loopback_issuers_need_the_setting(
    cli: CliRunner, database_url: str, provider: OpenIdProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LICENSING_OIDC_ALLOW_HTTP_LOOPBACK", "false")
    get_settings.cache_clear()
    tid = new_id()
    result = await run(cli, "tenants", "create", tid, "--name", "A", "--oidc-issuer", provider.realm().issuer,
                       "--oidc-audience", AUDIENCE)
    assert result.exit_code == 1 and "LICENSING_OIDC_ALLOW_HTTP_LOOPBACK=true" in result.output, result.output
    assert await stored(database_url, tid) is None


async def test_d35_tenants_update_edits_name_domain_location_and_the_issuer(
    cli: CliRunner, database_url: str, provider: OpenIdProvider
) -> None:
    tid, realm, other = new_id(), provider.realm(new_key()), provider.realm(new_key())
    assert (await run(cli, "tenants", "create", tid, "--name", "Before")).exit_code == 0
    result = await run(cli, "tenants", "update", tid, "--name", "After", "--domain", f"{tid}.test",
                       "--default-usage-location", "NO", "--oidc-issuer", realm.issuer, "--oidc-audience", AUDIENCE)
    assert result.exit_code == 0, result.output
    record, trust = await stored(database_url, tid)
    assert (record.display_name, record.domain, record.default_usage_location) == ("After", f"{tid}.test", "NO")
    assert (trust.issuer, trust.roles_claim) == (realm.issuer, "roles")
    assert realm.discovery_requests == 0  # update fetches nothing
    # another tenant may not take the issuer; nothing of that update is kept
    taken, other_tid = await run(cli, "tenants", "create", (o := new_id()), "--name", "O"), o
    assert taken.exit_code == 0
    clash = await run(cli, "tenants", "update", other_tid, "--name", "Renamed", "--oidc-issuer", realm.issuer,
                      "--oidc-audience", AUDIENCE)
    assert clash.exit_code == 1 and "already trusts" in clash.output, clash.output
    assert (await stored(database_url, other_tid))[0].display_name == "O"
    moved = await run(cli, "tenants", "update", tid, "--oidc-issuer", other.issuer, "--oidc-audience", "aud2",
                      "--oidc-roles-claim", "realm_access.roles")
    assert moved.exit_code == 0, moved.output
    assert (await stored(database_url, tid))[1].issuer == other.issuer
    removed = await run(cli, "tenants", "update", tid, "--no-oidc")
    assert removed.exit_code == 0 and "; it trusts no OpenID Connect issuer" in removed.output, removed.output
    assert (await stored(database_url, tid))[1] is None
    cleared = await run(cli, "tenants", "update", tid, "--default-usage-location", "none")
    assert cleared.exit_code == 0, cleared.output
    assert (await stored(database_url, tid))[0].default_usage_location is None
    missing = await run(cli, "tenants", "update", new_id(), "--name", "X")
    assert missing.exit_code == 1 and "no tenant" in missing.output


async def test_d35_tenants_check_oidc_reports_discovery_and_keys(cli: CliRunner, provider: OpenIdProvider) -> None:
    rsa, ec = new_key("RS256"), new_key("ES256")
    realm, tid = provider.realm(rsa, ec), new_id()
    assert (await run(cli, "tenants", "create", tid, "--name", "C", "--oidc-issuer", realm.issuer,
                      "--oidc-audience", AUDIENCE)).exit_code == 0
    result = await run(cli, "tenants", "check-oidc", tid)
    assert result.exit_code == 0, result.output
    assert f"{realm.issuer}/keys" in result.output
    assert rsa.kid in result.output and ec.kid in result.output and "2 signing key(s)" in result.output
    assert realm.discovery_requests == 1 and realm.jwks_requests == 1
    plain = new_id()
    assert (await run(cli, "tenants", "create", plain, "--name", "P")).exit_code == 0
    result = await run(cli, "tenants", "check-oidc", plain)
    assert result.exit_code == 1 and "trusts no OpenID Connect issuer" in result.output


async def test_d35_check_oidc_reports_an_unreachable_provider(cli: CliRunner) -> None:
    down = OpenIdProvider()
    down.start()
    realm, tid = down.realm(new_key()), new_id()
    down.stop()
    assert (await run(cli, "tenants", "create", tid, "--name", "D", "--oidc-issuer", realm.issuer,
                      "--oidc-audience", AUDIENCE)).exit_code == 0
    result = await run(cli, "tenants", "check-oidc", tid)
    assert result.exit_code == 1 and "could not be checked" in result.output, result.output


# -- the WebSocket -------------------------------------------------------------------------------

def _expect_4401_after(client: TestClient, token: str, at_least: float) -> float:
    started = time.monotonic()
    with client.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as ws:
        ws.send_json({"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}})
        assert ws.receive_json()["type"] == "connection_ack"
        ws.send_json({"type": "subscribe", "id": "1", "payload": {"query": "{ viewer { roles } }"}})
        assert ws.receive_json()["type"] == "next"
        assert ws.receive_json()["type"] == "complete"
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
        assert closed.value.code == 4401
        assert "expired" in closed.value.reason
    waited = time.monotonic() - started
    assert waited >= at_least - 0.5, waited
    return waited


async def _new_tenant(database_url: str, trust: OidcTrust | None = None) -> str:
    """A tenant made on a database handle of its own (this test's event loop is asyncio.run's)."""
    db, tid = Database(database_url), new_id()
    try:
        async with db.write() as conn:
            await tenants.create_tenant(conn, tid, "WebSocket", f"{tid}.example", "US", trust)
    finally:
        await db.dispose()
    return tid


def test_r31_the_websocket_closes_with_4401_when_an_oidc_token_expires(database_url: str, provider: OpenIdProvider) -> None:
    realm = provider.realm(key := new_key("ES256"))
    asyncio.run(_new_tenant(database_url, OidcTrust(realm.issuer, AUDIENCE)))
    application = create_app(oidc_settings(), database_url, run_lifecycle_job=False)
    # exp 58 s ago: accepted (60 s leeway), so it expires about 2 s from now
    token = realm.token(key, audience=AUDIENCE, exp=int(time.time()) - 58, roles=["GlobalReader"])
    with TestClient(application) as client:
        assert _expect_4401_after(client, token, 1.0) < 10


def test_r31_the_websocket_closes_with_4401_when_an_hs256_token_expires(database_url: str) -> None:
    tid = asyncio.run(_new_tenant(database_url))
    application = create_app(oidc_settings(), database_url, run_lifecycle_job=False)
    token = issue_token(SECRET, tid, "admin@x.example", [Role.GLOBAL_READER], ttl_seconds=2)
    with TestClient(application) as client:
        assert _expect_4401_after(client, token, 1.0) < 10


def test_r31_the_websocket_refuses_an_untrusted_issuer_in_connection_init(
    database_url: str, provider: OpenIdProvider
) -> None:
    realm = provider.realm(key := new_key())
    application = create_app(oidc_settings(), database_url, run_lifecycle_job=False)
    with TestClient(application) as client:
        with client.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as ws:
            ws.send_json({"type": "connection_init", "payload": {"Authorization": f"Bearer {realm.token(key, audience=AUDIENCE)}"}})
            with pytest.raises(WebSocketDisconnect) as closed:
                ws.receive_json()
            assert closed.value.code == 4401 and "not trusted" in closed.value.reason
