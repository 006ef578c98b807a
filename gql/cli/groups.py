"""`licensing groups create|preview`: dynamic groups from scripts (R22–R24)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape

from db.repo import dynamic_groups as rule_rows
from db.session import Database
from gql.cli.common import cli_runtime, console, run_with_db, settings
from services import dynamic_groups, groups
from services.ids import to_global_id

groups_app = typer.Typer(help="Groups, with or without a membership rule.", no_args_is_help=True)

TENANT = Annotated[str, typer.Option("--tenant", help="The tenant id.")]
RULE_HELP = 'A membership rule, e.g. user.department -eq "Sales" -and user.usageLocation -in ["NO","SE"].'


def caret(rule: str, position: int, message: str) -> str:
    """The rule with a caret under the 0-based position, and what was expected there."""
    line_start = rule.rfind("\n", 0, position) + 1
    line_end = rule.find("\n", position)
    line = rule[line_start : line_end if line_end >= 0 else len(rule)]
    return f"  {line}\n  {' ' * (position - line_start)}^\n{message} (position {position})"


def _checked(rule: str) -> dynamic_groups.RuleCheck:
    check = dynamic_groups.RuleCheck.of(rule)
    if check.error is not None:
        raise typer.Exit(_rule_error(rule, check.error.position, check.error.message))
    return check


def _rule_error(rule: str, position: int, message: str) -> int:
    console.print(f"[red]error:[/] the membership rule is not valid:\n{escape(caret(rule, position, message))}", highlight=False)
    return 2


@groups_app.command("create")
def groups_create(
    tenant_id: TENANT,
    name: Annotated[str, typer.Option("--name", help="The group's display name.")],
    rule: Annotated[str | None, typer.Option("--rule", help=RULE_HELP + " Without it: an assigned group.")] = None,
    description: Annotated[str | None, typer.Option("--description")] = None,
) -> None:
    """Create a group; with --rule, a dynamic group whose members are the matching users."""
    if rule is not None:
        _checked(rule)
    config = settings()

    async def work(db: Database) -> tuple[str, int]:
        rt, actor = await cli_runtime(db, config, tenant_id)
        group = await groups.create_group(rt, actor, groups.CreateGroup(name, description, membership_rule=rule))
        async with db.read() as conn:
            members = await rule_rows.member_count(conn, tenant_id, group.id)
        return to_global_id("Group", group.id), members

    gid, members = run_with_db(config, work, flags={
        "input.displayName": "--name", "input.description": "--description", "input.membershipRule": "--rule",
    })
    members_said = f" with {members:,} member(s)" if rule else ""
    console.print(f"[green]Created {'dynamic ' if rule else ''}group[/] {escape(name)}{members_said} (id {gid}).", highlight=False)


@groups_app.command("preview")
def groups_preview(
    tenant_id: TENANT,
    rule: Annotated[str, typer.Option("--rule", help=RULE_HELP)],
    sample: Annotated[int, typer.Option("--sample", min=0, max=100, help="How many matching users to list.")] = 20,
) -> None:
    """Check a membership rule: how many users match tenant-wide, and the first of them."""
    check = _checked(rule)
    assert check.rule is not None
    parsed = check.rule
    config = settings()

    async def work(db: Database) -> tuple[int, list[tuple[str, str]]]:
        rt, _actor = await cli_runtime(db, config, tenant_id)
        async with db.read() as conn:
            count = await dynamic_groups.matching_count(rt, conn, tenant_id, parsed)
            ids = await dynamic_groups.matching_sample(rt, conn, tenant_id, parsed, sample)
            users = await rule_rows.users_named(conn, tenant_id, ids)
        return count, users

    count, users = run_with_db(config, work)
    console.print(f"The rule is valid; [bold]{count:,}[/] user(s) of {tenant_id} match.", highlight=False)
    for upn, display_name in users:
        console.print(escape(f"  {upn}  {display_name}"), highlight=False)
