"""`licensing import users|members FILE.csv`: the commands, their progress bars and reports.
The reading, checking and writing are the use cases of `services.imports`."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from db.session import Database
from gql.cli.common import cli_runtime, console, err, fail, run_with_db, settings
from services import imports
from services.imports import (
    MEMBER_COLUMNS,
    NOT_STORED,
    USER_COLUMNS,
    FileError,
    ImportRefused,
    MembersImported,
    RowProblem,
)

import_app = typer.Typer(
    help="Bulk intake from CSV files in the Microsoft 365 admin center's bulk-add style.", no_args_is_help=True
)


class Phases:
    """One progress bar per phase of an import."""

    def __init__(self, console: Console, names: Sequence[str]) -> None:
        self.progress = Progress(
            TextColumn("{task.description:<9}"), BarColumn(), TaskProgressColumn(), TimeElapsedColumn(), console=console
        )
        self.tasks = {name: self.progress.add_task(name, total=None, start=False) for name in names}

    def __enter__(self) -> Phases:
        self.progress.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.progress.stop()

    def update(self, name: str, done: float, total: float) -> None:
        task = self.tasks[name]
        self.progress.start_task(task)
        self.progress.update(task, completed=done, total=max(total, 1))


def report_problems(console: Console, file_name: str, problems: list[RowProblem]) -> str:
    table = Table(title=f"{file_name}: rows that cannot be imported", title_justify="left")
    table.add_column("Line", justify="right", style="bold")
    table.add_column("Column")
    table.add_column("Problem", overflow="fold")
    for p in problems:
        table.add_row(str(p.line), p.column, p.message)
    console.print(table)
    lines = sorted({p.line for p in problems})
    shown = ", ".join(str(n) for n in lines[:30]) + (f", … ({len(lines) - 30} more)" if len(lines) > 30 else "")
    return (f"{len(lines):,} bad row(s) in {file_name} (line{'s' if len(lines) > 1 else ''} {shown}); "
            "nothing was imported. Fix them and run the import again.")


FileArg = Annotated[Path, typer.Argument(metavar="FILE", exists=True, dir_okay=False, readable=True, help="A CSV file (UTF-8).")]
TenantOpt = Annotated[str, typer.Option("--tenant", help="Tenant id (the `tid` claim).")]
DryRunOpt = Annotated[bool, typer.Option("--dry-run", help="Check every row against the tenant and report; store nothing.")]


@import_app.command("users")
def import_users(file: FileArg, tenant: TenantOpt, dry_run: DryRunOpt = False) -> None:
    """Create users from a CSV: the admin center's bulk-add template (User name, First name, Last name,
    Display name, Job title, Department, …, Country or region) or a header with Usage location.
    User name and Display name (or First and Last name) are required; Mail and Employee ID are
    optional. First name, Last name and Employee ID are stored as the user's givenName, surname
    and employeeId (at most 64, 64 and 16 characters)."""
    config = settings()
    started = time.perf_counter()
    tid = tenant.strip().lower()
    try:
        with Phases(console, ("read", "validate", "write")) as phases:
            parsed = imports.read_csv(path=file, meanings=USER_COLUMNS, required="upn", other_columns=NOT_STORED,
                                      on_progress=lambda d, t: phases.update("read", d, t))
            rows = len(parsed.rows)
            users, problems = imports.validate_users(parsed, lambda d: phases.update("validate", d, 2 * rows))

            async def work(db: Database) -> int:
                runtime, actor = await cli_runtime(db, config, tid)
                return await imports.import_users(runtime, actor, parsed, users, problems, dry_run=dry_run, progress=phases.update)

            count = run_with_db(config, work)
    except FileError as exc:
        raise fail(str(exc)) from exc
    except ImportRefused as exc:
        raise fail(report_problems(err, file.name, exc.problems)) from exc
    seconds = time.perf_counter() - started
    verb = "All rows are valid: would import" if dry_run else "Imported"
    console.print(f"[green]{verb}[/] {count:,} user(s) into {tid} from {file.name} in {seconds:.1f} s.")
    if parsed.not_stored:
        console.print(f"Not stored (no such user property here): {', '.join(parsed.not_stored)}.", soft_wrap=True)


@import_app.command("members")
def import_members(
    file: FileArg,
    tenant: TenantOpt,
    group: Annotated[str, typer.Option("--group", help="The group's display name (any case), or its id.")],
    dry_run: DryRunOpt = False,
) -> None:
    """Add users to a group from a CSV with a 'User name' (or 'Member') column of user principal
    names; other columns are ignored, so a users file works too. Group licenses reach the new
    members in the same transaction."""
    config = settings()
    started = time.perf_counter()
    tid = tenant.strip().lower()
    try:
        with Phases(console, ("read", "validate", "write")) as phases:
            parsed = imports.read_csv(path=file, meanings=MEMBER_COLUMNS, required="upn", other_columns=None,
                                      on_progress=lambda d, t: phases.update("read", d, t))
            rows = len(parsed.rows)
            members, problems = imports.validate_members(parsed, lambda d: phases.update("validate", d, 2 * rows))

            async def work(db: Database) -> MembersImported:
                runtime, actor = await cli_runtime(db, config, tid)
                return await imports.import_members(
                    runtime, actor, group, parsed, members, problems, dry_run=dry_run, progress=phases.update
                )

            result = run_with_db(config, work)
    except FileError as exc:
        raise fail(str(exc)) from exc
    except ImportRefused as exc:
        raise fail(report_problems(err, file.name, exc.problems)) from exc
    seconds = time.perf_counter() - started
    if dry_run:
        console.print(f"[green]All rows are valid:[/] would add {result.added:,} member(s) to {result.group} "
                      f"({result.already:,} already members). Licenses are worked out when you import for real.")
        return
    console.print(f"[green]Added[/] {result.added:,} member(s) to {result.group} ({result.already:,} already members) "
                  f"in {seconds:.1f} s; {result.tally.affected:,} user(s) had their licenses changed.")
    for line in result.license_lines():
        console.print(f"  {line}")
