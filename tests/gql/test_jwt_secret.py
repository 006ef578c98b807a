"""The token secret of a deployment (SPEC §5): no default anyone knows, refused when weak,
generated and kept in the database when not set, shared by the app and `licensing token`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import jwt
import pytest
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from db.config import Settings, get_settings
from db.secrets import JwtSecretError
from db.urls import sync_url
from gql.app import create_app
from gql.auth import Role, issue_token
from gql.cli import app as cli_app
from tests.support import Api, Tenant

# The development default that releases before migration 0003 signed with when the setting was
# missing (it was written in db/config.py), and docker-compose.yml's old default.
OLD_SOURCE_SECRET = "licensing-development-secret-do-not-use-in-production"
OLD_COMPOSE_SECRET = "change-me"
QUERY = "{ viewer { tenant { tenantId } roles } }"


def unset() -> Settings:
    return Settings(DATABASE_URL=None, LICENSING_JWT_SECRET=None, LICENSING_LIFECYCLE_INTERVAL_SECONDS=3600)


@pytest.fixture
def no_stored_secret(database_url: str) -> Iterator[str]:
    """No stored secret before and after the test; returns a reader of the stored one."""
    engine = create_engine(sync_url(database_url))
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM service_secrets"))
    yield database_url
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM service_secrets"))
    engine.dispose()


def stored_secret(database_url: str) -> str | None:
    engine = create_engine(sync_url(database_url))
    try:
        with engine.connect() as conn:
            return conn.execute(text("SELECT value FROM service_secrets WHERE name = 'jwt_secret'")).scalar_one_or_none()
    finally:
        engine.dispose()


@asynccontextmanager
async def deployment(database_url: str, settings: Settings) -> AsyncIterator[Api]:
    """Another replica of the service on the test database, with its own settings."""
    application = create_app(settings, database_url, run_lifecycle_job=False)
    async with application.router.lifespan_context(application):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=application), base_url="http://test") as client:
            yield Api(client, settings, application)


async def status(api: Api, token: str) -> int:
    return (await api.post(QUERY, token=token)).status_code


async def test_s5_without_the_setting_tokens_signed_with_the_old_defaults_are_401(
    no_stored_secret: str, tenant: Tenant
) -> None:
    async with deployment(no_stored_secret, unset()) as replica:
        for published in (OLD_SOURCE_SECRET, OLD_COMPOSE_SECRET):
            forged = issue_token(published, tenant.id, f"admin@{tenant.domain}", [Role.GLOBAL_ADMINISTRATOR])
            assert await status(replica, forged) == 401, published
        # the deployment's own secret works: the 401s are the secret's doing
        assert await status(replica, replica.token(tenant.id, [Role.GLOBAL_ADMINISTRATOR])) == 200
        assert replica.jwt_secret not in (OLD_SOURCE_SECRET, OLD_COMPOSE_SECRET)


async def test_s5_replicas_without_the_setting_share_the_secret_stored_in_the_database(
    no_stored_secret: str, tenant: Tenant
) -> None:
    async with deployment(no_stored_secret, unset()) as first, deployment(no_stored_secret, unset()) as second:
        assert first.jwt_secret == second.jwt_secret == stored_secret(no_stored_secret)
        assert len(bytes.fromhex(first.jwt_secret)) >= 32
        token = first.token(tenant.id, [Role.GLOBAL_READER])
        assert (await second.post(QUERY, token=token)).json()["data"]["viewer"]["tenant"] == {"tenantId": tenant.id}
    # a restart keeps it: tokens already handed out stay valid
    async with deployment(no_stored_secret, unset()) as restarted:
        assert restarted.jwt_secret == stored_secret(no_stored_secret)
        assert await status(restarted, token) == 200


async def test_s5_a_configured_secret_is_used_and_the_stored_one_is_not(no_stored_secret: str, tenant: Tenant) -> None:
    mine = "an-operator-chosen-secret-of-48-bytes-0123456789"
    async with deployment(no_stored_secret, Settings(LICENSING_JWT_SECRET=mine)) as replica:
        assert replica.jwt_secret == mine
        assert await status(replica, issue_token(mine, tenant.id, "ops", [Role.GLOBAL_READER])) == 200
    assert stored_secret(no_stored_secret) is None


@pytest.mark.parametrize("secret", ["too-short-0123456789", OLD_COMPOSE_SECRET, OLD_SOURCE_SECRET])
async def test_s5_the_app_does_not_start_with_a_short_or_published_secret(database_url: str, secret: str) -> None:
    with pytest.raises(JwtSecretError, match="openssl rand -hex 32"):
        async with deployment(database_url, Settings(LICENSING_JWT_SECRET=secret)):
            pass


# ------------------------------------------------------------------------------ the command line


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    monkeypatch.delenv("LICENSING_JWT_SECRET", raising=False)
    get_settings.cache_clear()
    yield monkeypatch
    get_settings.cache_clear()


@pytest.mark.parametrize("command", [["token", "--tenant", "contoso"], ["serve", "--port", "1"]])
@pytest.mark.parametrize("secret", ["too-short-0123456789", OLD_COMPOSE_SECRET, OLD_SOURCE_SECRET])
def test_s5_serve_and_token_refuse_a_short_or_published_secret_before_anything_starts(
    cli_env: pytest.MonkeyPatch, command: list[str], secret: str
) -> None:
    # an unreachable database: the secret is refused before any connection is tried
    cli_env.setenv("DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")
    cli_env.setenv("LICENSING_JWT_SECRET", secret)
    result = CliRunner().invoke(cli_app, command)
    assert result.exit_code == 1, result.output
    output = " ".join(result.output.split())
    assert "LICENSING_JWT_SECRET" in output
    assert "openssl rand -hex 32" in output
    assert 'python -c "import secrets; print(secrets.token_hex(32))"' in output
    assert "could not reach the database" not in output
    assert "Traceback" not in output


async def test_s5_licensing_token_signs_with_the_secret_stored_in_the_database(
    cli_env: pytest.MonkeyPatch, no_stored_secret: str, api: Any
) -> None:
    import asyncio

    cli_env.setenv("DATABASE_URL", no_stored_secret)
    tenant = await api.new_tenant()
    issued = await asyncio.to_thread(CliRunner().invoke, cli_app, ["token", "--tenant", tenant.id, "--role", "GlobalReader"])
    assert issued.exit_code == 0, issued.output
    token = issued.stdout.strip()
    stored = stored_secret(no_stored_secret)
    assert stored is not None, "the token command generated the secret and kept it"
    claims = jwt.decode(token, stored, algorithms=["HS256"])
    assert claims["tid"] == tenant.id and claims["roles"] == ["GlobalReader"]
    async with deployment(no_stored_secret, unset()) as replica:
        assert replica.jwt_secret == stored
        assert await status(replica, token) == 200
    # a second token uses the same secret
    again = await asyncio.to_thread(CliRunner().invoke, cli_app, ["token", "--tenant", tenant.id])
    assert again.exit_code == 0, again.output
    jwt.decode(again.stdout.strip(), stored, algorithms=["HS256"])
