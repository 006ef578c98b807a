"""`licensing groups create|preview` and `licensing import users` with dynamic groups (R22–R24):
rules from scripts, errors with a caret under the position, imported users joining by rule."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from tests.gql.test_assign_licenses import product
from tests.gql.test_dynamic_groups import dynamic_group, members_of
from tests.gql.test_group_licenses import license_group, states
from tests.gql.test_import_cli import cli as import_cli
from tests.gql.test_import_cli import new_tenant, run, users_of, write

cli = import_cli  # the same fixture: DATABASE_URL and the secret set for the commands


async def test_groups_create_and_preview(cli: CliRunner, api: Any) -> None:
    tenant = await new_tenant(cli, api)
    for name, dept in (("Ann", "Sales"), ("Bob", "Sales"), ("Cid", "Finance")):
        await tenant.create_user(name, department=dept)
    preview = await run(cli, "main", "groups", "preview", "--tenant", tenant.id, "--rule", 'user.department -eq "sales"', "--sample", "1")
    assert preview.exit_code == 0, preview.output
    assert "2 user(s)" in preview.output and "ann@" in preview.output and "bob@" not in preview.output
    created = await run(cli, "main", "groups", "create", "--tenant", tenant.id, "--name", "Sales", "--rule", 'user.department -eq "Sales"')
    assert created.exit_code == 0, created.output
    assert "dynamic group Sales with 2 member(s)" in created.output
    data = await tenant.ok("{ groups(filter: {membershipType: DYNAMIC}) { edges { node { id displayName membershipRule } } } }")
    [group] = [e["node"] for e in data["groups"]["edges"]]
    assert group["membershipRule"] == 'user.department -eq "Sales"'
    assert await members_of(tenant, group["id"]) == ["Ann", "Bob"]
    audit = await tenant.ok("{ auditLog(first: 5) { edges { node { actor action summary } } } }")
    assert audit["auditLog"]["edges"][0]["node"]["actor"] == "cli"
    assert "2 user(s) match" in audit["auditLog"]["edges"][0]["node"]["summary"]


async def test_a_bad_rule_shows_a_caret_under_the_position_and_changes_nothing(cli: CliRunner, api: Any) -> None:
    tenant = await new_tenant(cli, api)
    rule = 'user.department -eq "Sales" -and user.title -eq "x"'
    result = await run(cli, "main", "groups", "create", "--tenant", tenant.id, "--name", "Bad", "--rule", rule)
    assert result.exit_code == 2, result.output
    lines = result.output.splitlines()
    at = next(i for i, line in enumerate(lines) if line.strip() == rule)
    caret = lines[at + 1]
    assert caret.strip() == "^" and caret.index("^") - lines[at].index("u") == rule.index("user.title") + len("user.")
    assert "position 38" in result.output and "Traceback" not in result.output
    assert (await tenant.ok("{ groups { totalCount } }"))["groups"]["totalCount"] == 0
    preview = await run(cli, "main", "groups", "preview", "--tenant", tenant.id, "--rule", '(user.department -eq "x"')
    assert preview.exit_code == 2 and "^" in preview.output


async def test_imported_users_join_dynamic_groups_and_get_their_licenses(cli: CliRunner, api: Any, tmp_path: Path) -> None:
    tenant = await new_tenant(cli, api)
    await tenant.buy("EMS", 5)
    ems = (await product(tenant, "EMS"))["id"]
    sales = await dynamic_group(tenant, "Sales", 'user.department -eq "Sales" -and user.surname -startsWith "L"')
    coded = await dynamic_group(tenant, "Coded", r'user.employeeId -match "^e\d{3}$"')
    assert (await license_group(tenant, sales, [{"productId": ems}]))["errors"] == []
    csv = write(tmp_path, "users.csv", (
        "User name,First name,Last name,Display name,Department,Employee ID,Usage location\n"
        f"ada@{tenant.domain},Ada,Lovelace,Ada Lovelace,Sales,E123,GB\n"
        f"alan@{tenant.domain},Alan,Turing,Alan Turing,Sales,x1,GB\n"
        f"grace@{tenant.domain},Grace,Hopper,Grace Hopper,Research,e999,US\n"
    ))
    result = await run(cli, "import", "users", str(csv), "--tenant", tenant.id)
    assert result.exit_code == 0, result.output
    assert await members_of(tenant, sales) == ["Ada Lovelace"]
    assert await members_of(tenant, coded) == ["Ada Lovelace", "Grace Hopper"]
    ada = (await users_of(tenant))[f"ada@{tenant.domain}"]
    assert await states(tenant, ada["id"]) == [("EMS", sales, "ACTIVE", None)]
    audit = await tenant.ok("{ auditLog(first: 1) { edges { node { action summary } } } }")
    event = audit["auditLog"]["edges"][0]["node"]
    assert event["action"] == "USERS_IMPORTED" and event["summary"].endswith("; dynamic groups: 3 joined, 0 left (Coded: 2 joined; Sales: 1 joined)"), event


async def test_import_members_into_a_dynamic_group_is_refused(cli: CliRunner, api: Any, tmp_path: Path) -> None:
    tenant = await new_tenant(cli, api)
    await tenant.create_user("Ann", department="Sales")
    await dynamic_group(tenant, "Sales", 'user.department -eq "Sales"')
    await tenant.create_user("Bob")
    csv = write(tmp_path, "members.csv", f"User name\nbob@{tenant.domain}\n")
    result = await run(cli, "import", "members", str(csv), "--tenant", tenant.id, "--group", "Sales")
    assert result.exit_code == 1, result.output
    assert "dynamic group" in " ".join(result.output.split())


async def test_refusals_name_the_commands_options_not_the_apis_fields(cli: CliRunner, api: Any) -> None:
    tenant = await new_tenant(cli, api)
    for name, said in (("   ", "`--name` is required"), ("x" * 300, "`--name` is 300 characters long")):
        result = await run(cli, "main", "groups", "create", "--tenant", tenant.id, "--name", name)
        assert result.exit_code == 1, result.output
        output = " ".join(result.output.split())
        assert said in output and "input." not in output and "Traceback" not in output
    assert (await tenant.ok("{ groups { totalCount } }"))["groups"]["totalCount"] == 0
    seeded = await run(cli, "main", "seed", "--tenant", f"{tenant.id}s", "--users", "5")
    assert seeded.exit_code == 1, seeded.output
    assert "--groups 5 or fewer" in " ".join(seeded.output.split())
