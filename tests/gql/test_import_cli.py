"""`licensing import users|members` against the test database: the admin center's CSV, every bad
row reported by line with nothing imported, and members reaching group licenses at once (R11, D2)."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
from click.testing import Result
from typer.testing import CliRunner

import services.imports as cli_import
from db.config import get_settings
from gql.cli import app as main_app
from gql.cli.imports import import_app
from services.errors import Refused
from services.imports import RowProblem as Problem
from services.imports import batches, country_code
from tests.gql.test_assign_licenses import product
from tests.gql.test_group_licenses import GROUP_VIEW, license_group, states
from tests.support import Tenant

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
SECRET = "import-test-secret-0123456789-0123456789-0123456789"

app = typer.Typer()
app.add_typer(main_app, name="main")  # `tenants create` lives on the main app
app.add_typer(import_app, name="import")

USERS = """
query { users(first: 100) { totalCount edges { node {
  id userPrincipalName displayName usageLocation department jobTitle mail userType
} } } }"""
AUDIT = "query { auditLog(first: 10) { edges { node { actor action targetId summary } } } }"


@pytest.fixture
def cli(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("LICENSING_JWT_SECRET", SECRET)
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


async def run(cli: CliRunner, *args: str) -> Result:
    """The command runs its own event loop (asyncio.run): give it a thread of its own."""
    return await asyncio.to_thread(cli.invoke, app, list(args))


async def new_tenant(cli: CliRunner, api: Any, location: str = "US") -> Tenant:
    tid = f"imp-{uuid.uuid4().hex[:10]}"
    created = await run(cli, "main", "tenants", "create", tid, "--name", "Import Test", "--default-usage-location", location)
    assert created.exit_code == 0, created.output
    return Tenant(api, tid)


async def users_of(tenant: Tenant) -> dict[str, dict[str, Any]]:
    data = (await tenant.ok(USERS))["users"]
    return {e["node"]["userPrincipalName"]: e["node"] for e in data["edges"]}


def write(tmp_path: Path, name: str, text: str, encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding=encoding)
    return path


def bad_lines(result: Result) -> str:
    """The summary's line list, e.g. 'lines 3, 5, 7'."""
    summary = " ".join(result.output.split())
    found = re.search(r"bad row\(s\) in \S+ \((lines? [^)]*)\); nothing was imported", summary)
    return found.group(1) if found else summary


# ------------------------------------------------------------------------------------ users


async def test_users_from_the_admin_center_template(cli: CliRunner, api: Any) -> None:
    tenant = await new_tenant(cli, api)
    result = await run(cli, "import", "users", str(FIXTURES / "users-admin-center.csv"), "--tenant", tenant.id)
    assert result.exit_code == 0, result.output
    assert "Imported 4 user(s)" in result.output
    assert "Not stored" in result.output and "Office phone" in result.output
    users = await users_of(tenant)
    assert set(users) == {
        "ada.lovelace@contoso.example", "grace.hopper@contoso.example", "alan.turing@contoso.example", "linus.t@contoso.example"
    }
    ada = users["ada.lovelace@contoso.example"]
    assert (ada["displayName"], ada["usageLocation"], ada["department"], ada["jobTitle"]) == ("Ada Lovelace", "GB", "Research", "Analyst")
    assert ada["userType"] == "MEMBER" and ada["mail"] is None
    assert users["grace.hopper@contoso.example"]["displayName"] == "Grace Hopper"  # from First + Last name
    assert users["grace.hopper@contoso.example"]["usageLocation"] == "US"
    assert users["alan.turing@contoso.example"]["usageLocation"] is None  # empty: the tenant default applies
    assert users["linus.t@contoso.example"]["displayName"] == "Torvalds, Linus"  # quoted comma
    assert users["linus.t@contoso.example"]["usageLocation"] == "NO"  # ISO code in any case
    events = (await tenant.ok(AUDIT))["auditLog"]["edges"]
    assert [(e["node"]["actor"], e["node"]["action"]) for e in events] == [("cli", "USERS_IMPORTED")]

    again = await run(cli, "import", "users", str(FIXTURES / "users-admin-center.csv"), "--tenant", tenant.id)
    assert again.exit_code == 1
    assert bad_lines(again) == "lines 2, 3, 4, 5"
    assert "already exists" in again.output
    assert len(await users_of(tenant)) == 4


async def test_bad_rows_are_reported_by_line_and_nothing_is_imported(cli: CliRunner, api: Any) -> None:
    tenant = await new_tenant(cli, api)
    result = await run(cli, "import", "users", str(FIXTURES / "users-bad.csv"), "--tenant", tenant.id)
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert bad_lines(result) == "lines 3, 5, 7"  # bad name, 'Norway' as a usage location, OK.One twice (line 6 is blank)
    assert "nothing was imported" in result.output
    assert "also on line 2" in result.output
    assert await users_of(tenant) == {}
    assert (await tenant.ok(AUDIT))["auditLog"]["edges"] == []


async def test_simple_header_with_usage_location_and_a_dry_run(cli: CliRunner, api: Any, tmp_path: Path) -> None:
    tenant = await new_tenant(cli, api)
    path = write(tmp_path, "people.csv", "\ufeffUser name,Display name,Usage location,Mail\nkim@x.example,Kim,se,kim@mail.example\n")
    dry = await run(cli, "import", "users", str(path), "--tenant", tenant.id, "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "would import 1 user(s)" in dry.output
    assert await users_of(tenant) == {}
    real = await run(cli, "import", "users", str(path), "--tenant", tenant.id)
    assert real.exit_code == 0, real.output
    kim = (await users_of(tenant))["kim@x.example"]
    assert (kim["usageLocation"], kim["mail"]) == ("SE", "kim@mail.example")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("User name,Shoe size\na@x.example,44\n", "unknown column 'Shoe size'"),
        ("Display name\nAda\n", "no 'User name'"),
        ("User name,Username\na@x.example,a@x.example\n", "are the same column"),
        ("", "is empty"),
        ('User name,Display name\n"a@x.example,Ada\n', "line"),
    ],
)
async def test_a_file_that_cannot_be_read_is_explained(
    cli: CliRunner, api: Any, tmp_path: Path, text: str, message: str
) -> None:
    tenant = await new_tenant(cli, api)
    result = await run(cli, "import", "users", str(write(tmp_path, "f.csv", text)), "--tenant", tenant.id)
    assert result.exit_code == 1
    assert message in " ".join(result.output.split()), result.output
    assert "Traceback" not in result.output


async def test_not_utf8_and_unknown_tenant(cli: CliRunner, api: Any, tmp_path: Path) -> None:
    latin = write(tmp_path, "latin.csv", "User name,Display name\nzoe@x.example,Zoë\n", encoding="latin-1")
    tenant = await new_tenant(cli, api)
    result = await run(cli, "import", "users", str(latin), "--tenant", tenant.id)
    assert result.exit_code == 1 and "line 2: not UTF-8" in result.output
    good = write(tmp_path, "good.csv", "User name,Display name\nzoe@x.example,Zoe\n")
    missing = await run(cli, "import", "users", str(good), "--tenant", "no-such-tenant")
    assert missing.exit_code == 1 and "no tenant 'no-such-tenant'" in missing.output


def test_country_or_region_takes_codes_and_common_names() -> None:
    assert country_code("United States", "Country or region") == "US"
    assert country_code(" the  Netherlands ", "Country or region") == "NL"
    assert country_code("gb", "Country or region") == "GB"
    with pytest.raises(Refused) as refused:
        country_code("Narnia", "Country or region")
    assert "two-letter" in refused.value.problems[0].message


# ------------------------------------------------------------------------------------ members


async def licensed_staff(cli: CliRunner, api: Any, seats: int) -> tuple[Tenant, str]:
    """A tenant with the fixture users, EMS × `seats`, and an 'All Staff' group holding EMS."""
    tenant = await new_tenant(cli, api)
    created = await run(cli, "import", "users", str(FIXTURES / "users-admin-center.csv"), "--tenant", tenant.id)
    assert created.exit_code == 0, created.output
    await tenant.buy("EMS", seats)
    staff = await tenant.create_group("All Staff")
    assert (await license_group(tenant, staff, [{"productId": (await product(tenant, "EMS"))["id"]}]))["errors"] == []
    return tenant, staff


async def test_members_get_the_group_license_in_creation_order(cli: CliRunner, api: Any, tmp_path: Path) -> None:
    tenant, staff = await licensed_staff(cli, api, seats=2)
    # the file lists them newest first; seats still go by user creation order (D2)
    path = write(tmp_path, "m.csv", "User name\nALAN.TURING@contoso.example\ngrace.hopper@contoso.example\nada.lovelace@contoso.example\n")
    result = await run(cli, "import", "members", str(path), "--tenant", tenant.id, "--group", "all staff")
    assert result.exit_code == 0, result.output
    assert "Added 3 member(s) to All Staff" in result.output
    assert "EMS: 2 active, 1 in error (COUNT_VIOLATION)" in result.output
    users = await users_of(tenant)
    assert await states(tenant, users["ada.lovelace@contoso.example"]["id"]) == [("EMS", staff, "ACTIVE", None)]
    assert await states(tenant, users["grace.hopper@contoso.example"]["id"]) == [("EMS", staff, "ACTIVE", None)]
    assert await states(tenant, users["alan.turing@contoso.example"]["id"]) == [("EMS", staff, "ERROR", "COUNT_VIOLATION")]
    assert (await product(tenant, "EMS"))["consumedUnits"] == 2
    view = (await tenant.ok(GROUP_VIEW, {"id": staff}))["group"]
    assert view["licenses"] == [{"product": {"skuPartNumber": "EMS"}, "activeUserCount": 2, "errorUserCount": 1}]
    event = (await tenant.ok(AUDIT))["auditLog"]["edges"][0]["node"]
    assert (event["actor"], event["action"], event["targetId"]) == ("cli", "MEMBERS_IMPORTED", staff)

    again = await run(cli, "import", "members", str(path), "--tenant", tenant.id, "--group", "All Staff")
    assert again.exit_code == 0, again.output
    assert "Added 0 member(s) to All Staff (3 already members)" in again.output  # D17: a no-op


async def test_reconciliation_in_small_batches_gives_the_same_seats(
    cli: CliRunner, api: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cli_import, "PATH_ROWS_PER_BATCH", 1)  # one user per batch
    tenant, staff = await licensed_staff(cli, api, seats=3)
    path = write(tmp_path, "m.csv", "Member\nlinus.t@contoso.example\nalan.turing@contoso.example\n"
                                    "grace.hopper@contoso.example\nada.lovelace@contoso.example\n")
    result = await run(cli, "import", "members", str(path), "--tenant", tenant.id, "--group", "All Staff")
    assert result.exit_code == 0, result.output
    users = await users_of(tenant)
    assert [(await states(tenant, users[u]["id"]))[0][2:] for u in (
        "ada.lovelace@contoso.example", "grace.hopper@contoso.example", "alan.turing@contoso.example", "linus.t@contoso.example"
    )] == [("ACTIVE", None), ("ACTIVE", None), ("ACTIVE", None), ("ERROR", "COUNT_VIOLATION")]
    assert (await product(tenant, "EMS"))["consumedUnits"] == 3


async def test_unknown_members_are_reported_by_line_and_nobody_is_added(cli: CliRunner, api: Any, tmp_path: Path) -> None:
    tenant, staff = await licensed_staff(cli, api, seats=5)
    path = write(tmp_path, "m.csv", "User name,Note\nada.lovelace@contoso.example,ok\nnobody@contoso.example,who?\n"
                                    "grace.hopper@contoso.example,\nnot-a-name,\nada.lovelace@contoso.example,twice\n")
    result = await run(cli, "import", "members", str(path), "--tenant", tenant.id, "--group", "All Staff")
    assert result.exit_code == 1
    assert bad_lines(result) == "lines 3, 5, 6"
    assert "nobody@contoso.example" in result.output and "nothing was imported" in result.output
    members = await tenant.ok("query($id: ID!) { group(id: $id) { members { totalCount } } }", {"id": staff})
    assert members["group"]["members"]["totalCount"] == 0
    assert (await product(tenant, "EMS"))["consumedUnits"] == 0


async def test_the_group_must_be_named_once(cli: CliRunner, api: Any, tmp_path: Path) -> None:
    tenant = await new_tenant(cli, api)
    await tenant.create_group("Sales")
    await tenant.create_group("SALES")
    path = write(tmp_path, "m.csv", "User name\nada@x.example\n")
    ambiguous = await run(cli, "import", "members", str(path), "--tenant", tenant.id, "--group", "sales")
    assert ambiguous.exit_code == 1 and "2 groups are named 'sales'" in ambiguous.output
    missing = await run(cli, "import", "members", str(path), "--tenant", tenant.id, "--group", "Marketing")
    assert missing.exit_code == 1 and "no group named 'Marketing'" in missing.output
    assert "Traceback" not in ambiguous.output + missing.output


def test_batches_keep_creation_order_and_bound_the_rows() -> None:
    from db.imports import ResolvedMember

    people = [ResolvedMember(i, f"u{i}@x", uuid.uuid4(), i, False, i % 3) for i in range(1000)]
    runs = list(batches(people, routes=2))
    assert [m for run_ in runs for m in run_] == people
    assert all(sum(m.path_count + 2 for m in run_) <= cli_import.PATH_ROWS_PER_BATCH for run_ in runs)
    assert Problem(3, "User name", "x") < Problem(10, "", "a")
