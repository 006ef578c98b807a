"""The `licensing` command against the test database: tenants, tokens, errors in the admin's words."""

from __future__ import annotations

import jwt
import pytest
from typer.testing import CliRunner

from db.config import get_settings
from gql.cli import app

SECRET = "cli-test-secret-0123456789-0123456789-0123456789"


@pytest.fixture
def cli(database_url: str, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("LICENSING_JWT_SECRET", SECRET)
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


def test_tenants_create_then_token(cli: CliRunner) -> None:
    created = cli.invoke(app, ["tenants", "create", "fabrikam", "--name", "Fabrikam", "--default-usage-location", "no"])
    assert created.exit_code == 0, created.output
    again = cli.invoke(app, ["tenants", "create", "fabrikam", "--name", "Fabrikam"])
    assert again.exit_code == 1
    assert "already exists" in again.output
    issued = cli.invoke(app, ["token", "--tenant", "fabrikam", "--role", "GlobalReader", "--role", "BillingAdministrator"])
    assert issued.exit_code == 0, issued.output
    claims = jwt.decode(issued.output.strip(), SECRET, algorithms=["HS256"])
    assert claims["tid"] == "fabrikam"
    assert claims["roles"] == ["GlobalReader", "BillingAdministrator"]
    assert claims["sub"] == "admin@fabrikam.example"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["token", "--tenant", "nope-nope"], "no tenant"),
        (["token", "--tenant", "fabrikam", "--role", "Boss"], "unknown role"),
        (["tenants", "create", "Bad Id!", "--name", "x"], "tenant ID"),
        (["tenants", "create", "okid", "--name", "x", "--default-usage-location", "Norway"], "ISO 3166-1"),
        (["tenants", "create", "okid", "--name", "x", "--domain", "not a domain"], "domain"),
    ],
)
def test_bad_arguments_are_explained_without_a_traceback(cli: CliRunner, args: list[str], message: str) -> None:
    result = cli.invoke(app, args)
    assert result.exit_code != 0
    assert message in result.output
    assert "Traceback" not in result.output


def test_unreachable_database_is_explained(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["db", "upgrade"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 1
    assert "DATABASE_URL" in result.output
    assert "Traceback" not in result.output


def test_serve_refuses_a_bad_rules_file_in_plain_words(cli: CliRunner, monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "rules.csv"
    bad.write_text("rule,service_plan,other_service_plans,note\nexcludes,A,B,x\n")
    monkeypatch.setenv("LICENSING_SERVICE_PLAN_RULES", str(bad))
    get_settings.cache_clear()
    result = cli.invoke(app, ["serve", "--port", "1"])
    assert result.exit_code == 1
    assert "line 2: unknown rule 'excludes'" in result.output
    assert "Traceback" not in result.output
