"""`licensing import users` stores First name, Last name and Employee ID as the users' givenName,
surname and employeeId (D31), checked like createUser's; a bad value is a bad row of its column."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from services import imports
from tests.gql.test_import_cli import AUDIT, FIXTURES, bad_lines, cli, new_tenant, run, write
from tests.support import Tenant

__all__ = ["cli"]  # the fixture, used by name

USERS = "query { users(first: 100) { edges { node { userPrincipalName displayName givenName surname employeeId externalId } } } }"


async def users_of(tenant: Tenant) -> dict[str, dict[str, Any]]:
    return {e["node"]["userPrincipalName"]: e["node"] for e in (await tenant.ok(USERS))["users"]["edges"]}


def problems_of(path: Path) -> list[tuple[int, str, str]]:
    parsed = imports.read_csv(path, imports.USER_COLUMNS, required="upn", other_columns=imports.NOT_STORED, on_progress=lambda *_: None)
    _, problems = imports.validate_users(parsed, lambda _: None)
    return sorted((p.line, p.column, p.message) for p in problems)


async def test_d31_the_admin_center_template_fills_given_name_and_surname(cli: CliRunner, api: Any) -> None:
    tenant = await new_tenant(cli, api)
    result = await run(cli, "import", "users", str(FIXTURES / "users-admin-center.csv"), "--tenant", tenant.id)
    assert result.exit_code == 0, result.output
    users = await users_of(tenant)
    assert {upn: (u["givenName"], u["surname"], u["employeeId"]) for upn, u in users.items()} == {
        "ada.lovelace@contoso.example": ("Ada", "Lovelace", None),
        "grace.hopper@contoso.example": ("Grace", "Hopper", None),
        "alan.turing@contoso.example": ("Alan", "Turing", None),
        "linus.t@contoso.example": ("Linus", "Torvalds", None),
    }
    assert users["grace.hopper@contoso.example"]["displayName"] == "Grace Hopper"


async def test_d31_first_last_name_and_employee_id_any_case_and_spacing(cli: CliRunner, api: Any, tmp_path: Path) -> None:
    tenant = await new_tenant(cli, api)
    at_limits = ("g" * 64, "s" * 64, "e" * 16)
    path = write(
        tmp_path, "staff.csv",
        " user NAME ,FIRST  name,last_name,Display name,EMPLOYEE ID\n"
        "kim@x.example,  Kim ,\" Kong \",,  K-0001  \n"
        "lea@x.example,,,Lea,\n"
        f"max@x.example,{at_limits[0]},{at_limits[1]},Max,{at_limits[2]}\n"
        "noe@x.example,   ,Noé,,   \n",
    )
    result = await run(cli, "import", "users", str(path), "--tenant", tenant.id)
    assert result.exit_code == 0, result.output
    assert "Imported 4 user(s)" in result.output
    assert "Not stored" not in result.output  # Employee ID is stored now
    users = await users_of(tenant)
    got = {upn: (u["displayName"], u["givenName"], u["surname"], u["employeeId"], u["externalId"]) for upn, u in users.items()}
    assert got == {
        "kim@x.example": ("Kim Kong", "Kim", "Kong", "K-0001", None),  # trimmed; Display name from First + Last name
        "lea@x.example": ("Lea", None, None, None, None),  # empty: null
        "max@x.example": ("Max", *at_limits, None),  # 64, 64 and 16 characters are allowed
        "noe@x.example": ("Noé", None, "Noé", None, None),
    }


async def test_d31_the_employee_id_header_without_a_space(cli: CliRunner, api: Any, tmp_path: Path) -> None:
    tenant = await new_tenant(cli, api)
    path = write(tmp_path, "ids.csv", "UserPrincipalName,Display name,EmployeeId\nzed@x.example,Zed,Z9\n")
    result = await run(cli, "import", "users", str(path), "--tenant", tenant.id)
    assert result.exit_code == 0, result.output
    assert (await users_of(tenant))["zed@x.example"]["employeeId"] == "Z9"


async def test_d31_bad_values_are_reported_per_row_and_column_and_nothing_is_imported(
    cli: CliRunner, api: Any, tmp_path: Path
) -> None:
    tenant = await new_tenant(cli, api)
    path = write(
        tmp_path, "bad.csv",
        "User name,First name,Last name,Display name,Employee ID\n"
        "ok@x.example,Ok,Fine,Ok Fine,OK-1\n"
        f"long.first@x.example,{'g' * 65},Last,,\n"
        f"long.last@x.example,First,{'s' * 65},Long Last,\n"
        f"long.id@x.example,First,Last,Long Id,{'e' * 17}\n"
        "nul@x.example,Nu\x00l,Last,Nul,E\x00\n"
        "ok2@x.example,,,Ok Two,\n",
    )
    assert problems_of(path) == [
        (3, "First name", "`First name` is 65 characters long; the limit is 64: shorten it."),
        (4, "Last name", "`Last name` is 65 characters long; the limit is 64: shorten it."),
        (5, "Employee ID", "`Employee ID` is 17 characters long; the limit is 16: shorten it."),
        (6, "Employee ID", "`Employee ID` contains a NUL character (U+0000), which text cannot hold; remove it."),
        (6, "First name", "`First name` contains a NUL character (U+0000), which text cannot hold; remove it."),
    ]
    result = await run(cli, "import", "users", str(path), "--tenant", tenant.id)
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert bad_lines(result) == "lines 3, 4, 5, 6"
    assert "nothing was imported" in result.output
    assert await users_of(tenant) == {}
    assert (await tenant.ok(AUDIT))["auditLog"]["edges"] == []
