"""`licensing scim tokens create|list|revoke` (D34): printed once, stored hashed, revoked one by one."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from click.testing import Result
from sqlalchemy import text
from typer.testing import CliRunner

from db.config import get_settings
from gql.cli import app

SECRET = "scim-cli-test-secret-0123456789-0123456789-0123456789"


@pytest.fixture
def cli(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("LICENSING_JWT_SECRET", SECRET)
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


async def run(cli: CliRunner, *args: str) -> Result:
    return await asyncio.to_thread(cli.invoke, app, list(args))


async def create_token(cli: CliRunner, tenant_id: str, *extra: str) -> str:
    result = await run(cli, "scim", "tokens", "create", "--tenant", tenant_id, *extra)
    assert result.exit_code == 0, result.output
    return result.output.strip().splitlines()[-1]


async def test_create_prints_a_token_stored_only_as_its_hash(cli: CliRunner, api: Any) -> None:
    tenant = await api.new_tenant()
    secret = await create_token(cli, tenant.id, "--name", "entra", "--days", "30")
    assert secret.startswith("scim_") and len(secret) > 40
    async with api.database().read() as conn:
        rows = (await conn.execute(text("SELECT name, token_hash, expires_at FROM scim_tokens WHERE tenant_id = :t"), {"t": tenant.id})).all()
    assert [(r.name, bytes(r.token_hash)) for r in rows] == [("entra", hashlib.sha256(secret.encode()).digest())]
    assert rows[0].expires_at is not None


async def test_list_and_revoke_one_by_one(cli: CliRunner, api: Any) -> None:
    tenant = await api.new_tenant()
    await create_token(cli, tenant.id, "--name", "first")
    await create_token(cli, tenant.id, "--name", "second")
    listed = await run(cli, "scim", "tokens", "list", "--tenant", tenant.id)
    assert listed.exit_code == 0, listed.output
    lines = [line for line in listed.output.splitlines() if line.strip()]
    assert [line.split()[1] for line in lines] == ["first", "second"] and all("active" in line for line in lines)
    first_id = lines[0].split()[0]
    revoked = await run(cli, "scim", "tokens", "revoke", "--tenant", tenant.id, first_id)
    assert revoked.exit_code == 0 and "Revoked" in revoked.output, revoked.output
    listed = await run(cli, "scim", "tokens", "list", "--tenant", tenant.id)
    lines = [line for line in listed.output.splitlines() if line.strip()]
    assert "revoked" in lines[0] and "active" in lines[1]
    audit = await tenant.ok("{ auditLog(first: 10) { edges { node { actor action summary } } } }")
    assert [(e["node"]["actor"], e["node"]["action"]) for e in audit["auditLog"]["edges"]] == [
        ("cli", "SCIM_TOKEN_REVOKED"), ("cli", "SCIM_TOKEN_CREATED"), ("cli", "SCIM_TOKEN_CREATED"),
    ]
    assert audit["auditLog"]["edges"][0]["node"]["summary"] == "Revoked SCIM token first"


async def test_bad_input_is_refused_without_a_traceback(cli: CliRunner, api: Any) -> None:
    tenant = await api.new_tenant()
    missing = await run(cli, "scim", "tokens", "create", "--tenant", "no-such-tenant")
    assert missing.exit_code == 1 and "no tenant" in missing.output
    days = await run(cli, "scim", "tokens", "create", "--tenant", tenant.id, "--days", "0")
    assert days.exit_code == 1 and "--days" in days.output
    unknown = await run(cli, "scim", "tokens", "revoke", "--tenant", tenant.id, str(uuid.uuid4()))
    assert unknown.exit_code == 1 and "no SCIM token" in unknown.output
