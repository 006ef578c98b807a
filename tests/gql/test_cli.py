"""The `licensing` command against the test database: tenants, tokens, errors in the admin's words."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import jwt
import psutil
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
        (["token", "--tenant", "fabrikam", "--sub", "  "], "--sub must name the caller"),
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


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("excludes,A,B,x", "line 2: unknown rule 'excludes'"),
        # refused by the strict parser only: the lax one serve used before let these through
        ("mutually_exclusive,A,A,x", "line 2: A cannot name itself"),
        ("prohibited_location,SPE_E3,JJ,x", "line 2:"),
    ],
)
def test_serve_refuses_a_bad_rules_file_in_plain_words(
    cli: CliRunner, monkeypatch: pytest.MonkeyPatch, tmp_path, row: str, message: str  # type: ignore[no-untyped-def]
) -> None:
    bad = tmp_path / "rules.csv"
    bad.write_text(f"rule,service_plan,other_service_plans,note\n{row}\n")
    monkeypatch.setenv("LICENSING_SERVICE_PLAN_RULES", str(bad))
    get_settings.cache_clear()
    result = cli.invoke(app, ["serve", "--port", "1"])
    assert result.exit_code == 1
    assert message in " ".join(result.output.split())
    assert "Traceback" not in result.output


# ------------------------------------------------------------------------------ no database here

USERS_CSV = str(Path(__file__).resolve().parents[1] / "fixtures" / "users-admin-center.csv")
NEEDS_A_DATABASE = [
    ["token", "--tenant", "contoso", "--role", "GlobalAdministrator"],
    ["tenants", "create", "contoso", "--name", "Contoso"],
    ["seed", "--tenant", "contoso", "--users", "5"],
    ["import", "users", USERS_CSV, "--tenant", "contoso"],
    ["import", "members", USERS_CSV, "--tenant", "contoso", "--group", "Staff"],
]


def _postgres_under(folder: Path) -> list[int]:
    found = []
    for proc in psutil.process_iter(["name"]):
        try:
            if (proc.info["name"] or "").startswith("postgres") and Path(proc.cwd()).is_relative_to(folder):
                found.append(proc.pid)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
    return found


@pytest.fixture
def elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Another folder, no DATABASE_URL, the default LICENSING_DATA_DIR (.licensing)."""
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("LICENSING_DATA_DIR", raising=False)
    monkeypatch.setenv("LICENSING_JWT_SECRET", SECRET)
    monkeypatch.chdir(tmp_path)
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


@pytest.mark.parametrize("args", NEEDS_A_DATABASE, ids=lambda a: " ".join(a[:2]))
def test_s7_commands_run_where_there_is_no_database_say_so_and_create_nothing(elsewhere: Path, args: list[str]) -> None:
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1, result.output
    output = " ".join(result.output.split())
    assert f"there is no database in {elsewhere / '.licensing'}" in output
    assert "from the folder where you ran `licensing serve`" in output
    assert "LICENSING_DATA_DIR" in output and "DATABASE_URL" in output
    assert "Traceback" not in output
    assert list(elsewhere.iterdir()) == [], "nothing is created"
    assert _postgres_under(elsewhere) == [], "no server is started"


def test_s7_the_message_names_the_configured_data_dir(elsewhere: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LICENSING_DATA_DIR", str(elsewhere / "srv" / "licensing-data"))
    get_settings.cache_clear()
    result = CliRunner().invoke(app, ["token", "--tenant", "contoso"])
    assert result.exit_code == 1
    assert f"there is no database in {elsewhere / 'srv' / 'licensing-data'}" in " ".join(result.output.split())
    assert list(elsewhere.iterdir()) == []


@pytest.mark.embedded
def test_s7_db_upgrade_creates_the_embedded_database_that_the_other_commands_then_use(elsewhere: Path) -> None:
    try:
        created = CliRunner().invoke(app, ["db", "upgrade"])
        assert created.exit_code == 0, created.output
        assert (elsewhere / ".licensing" / "pgdata" / "PG_VERSION").is_file()
        tenant = CliRunner().invoke(app, ["tenants", "create", "contoso", "--name", "Contoso"])
        assert tenant.exit_code == 0, tenant.output
        issued = CliRunner().invoke(app, ["token", "--tenant", "contoso"])
        assert issued.exit_code == 0, issued.output
        assert jwt.decode(issued.stdout.strip(), SECRET, algorithms=["HS256"])["tid"] == "contoso"
    finally:
        for pid in _postgres_under(elsewhere):  # the commands stop their server; never leave one behind
            psutil.Process(pid).kill()


def test_the_banner_names_the_command_as_the_admin_can_type_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """After the README's first command `licensing` is not on PATH: the banner's token hint
    names `.venv/bin/licensing`, as it was started; on PATH, plain `licensing`."""
    from gql.cli import _invoked_as

    started = tmp_path / ".venv" / "bin" / "licensing"
    started.parent.mkdir(parents=True)
    started.write_text("")
    monkeypatch.setattr("sys.argv", [str(started), "serve"])
    monkeypatch.setattr("shutil.which", lambda _name: None)
    assert _invoked_as() == str(started)
    monkeypatch.setattr("shutil.which", lambda _name: str(started))
    assert _invoked_as() == "licensing"
    monkeypatch.setattr("sys.argv", ["/usr/lib/python3/site-packages/pytest/__main__.py"])  # not the command
    assert _invoked_as() == "licensing"


@pytest.mark.parametrize("port", ["0", "65536", "99999", "-1"])
def test_serve_refuses_a_port_outside_1_to_65535(cli: CliRunner, port: str) -> None:
    result = cli.invoke(app, ["serve", "--port", port])
    assert result.exit_code == 2, result.output
    assert "--port" in result.output
    assert "Traceback" not in result.output
