"""What every `licensing` command shares: the consoles, the admin-facing failure, the settings,
and running a piece of work against the database (embedded unless DATABASE_URL is set)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import TypeVar

import typer
from rich.console import Console

from db import embedded, migrate
from db.clock import SystemClock
from db.config import Settings, get_settings
from db.secrets import JwtSecretError, configured_jwt_secret, jwt_secret
from db.session import Database
from services.context import Actor, Runtime, tenant_actor
from services.errors import Refused

T = TypeVar("T")
console = Console()
err = Console(stderr=True)


class CliError(Exception):
    """An error to show the admin as is (no traceback)."""


def fail(message: str) -> typer.Exit:
    err.print(f"[bold red]Error:[/] {message}", soft_wrap=True)
    return typer.Exit(code=1)


def settings() -> Settings:
    try:
        return get_settings()
    except Exception as exc:  # pydantic's ValidationError: name the setting
        raise fail(f"the configuration is not valid: {exc}") from exc


def check_jwt_secret(config: Settings) -> None:
    """Refuse a short or published LICENSING_JWT_SECRET before anything starts (SPEC §5)."""
    try:
        configured_jwt_secret(config)
    except JwtSecretError as exc:
        raise fail(str(exc)) from exc


async def stored_jwt_secret(db: Database, config: Settings) -> str:
    """The token secret: the setting, or the one generated and kept in the database."""
    async with db.write() as conn:
        return await jwt_secret(conn, config)


def _no_database(config: Settings) -> str | None:
    """Why there is no database to work on, when DATABASE_URL is unset and no embedded one exists."""
    if config.database_url or embedded.cluster_exists(config.data_dir):
        return None
    folder = Path(config.data_dir).expanduser().resolve()
    return (
        f"there is no database in {folder}: DATABASE_URL is not set and no embedded PostgreSQL has been created "
        f"there (LICENSING_DATA_DIR is {config.data_dir}, relative to the folder you run the command in). "
        "Run this command from the folder where you ran `licensing serve`, or set LICENSING_DATA_DIR to the data "
        "folder of that database (e.g. /path/to/that/folder/.licensing), or DATABASE_URL to your PostgreSQL. "
        "`licensing serve` and `licensing db upgrade` create a new database."
    )


def in_flags(message: str, flags: Mapping[str, str]) -> str:
    """A use case's message with its input fields named as the command's options
    (`input.displayName` → `--name`)."""
    for field, flag in flags.items():
        message = message.replace(f"`{field}`", f"`{flag}`")
    return message


def run_with_db(
    config: Settings, work: Callable[[Database], Awaitable[T]], *, upgrade: bool = True, create: bool = False,
    flags: Mapping[str, str] | None = None,
) -> T:
    """Run `work` on the database (migrated first); refusals and database trouble become an
    admin-facing error, never a traceback. Without DATABASE_URL, only `create` may start a new
    embedded PostgreSQL in LICENSING_DATA_DIR: other commands need an existing one. `flags`:
    the command's options by the input fields a refusal may name."""
    if not create and (missing := _no_database(config)):
        raise fail(missing)
    try:
        with embedded.database_url(config) as url:
            if upgrade:
                migrate.upgrade(url)

            async def main() -> T:
                db = Database(url)
                try:
                    return await work(db)
                finally:
                    await db.dispose()

            return asyncio.run(main())
    except (CliError, embedded.EmbeddedPostgresError) as exc:
        raise fail(str(exc)) from exc
    except Refused as exc:
        raise fail(in_flags(" ".join(p.message for p in exc.problems), flags or {})) from exc
    except OSError as exc:
        raise fail(f"could not reach the database: {exc}. Check DATABASE_URL.") from exc
    except Exception as exc:
        if exc.__class__.__module__.startswith(("sqlalchemy", "asyncpg", "psycopg2")):
            raise fail(f"database error: {str(exc).splitlines()[0]}. Check DATABASE_URL and that PostgreSQL is running.") from exc
        raise


async def cli_runtime(db: Database, config: Settings, tenant_id: str) -> tuple[Runtime, Actor]:
    """The runtime and the actor (`cli`, Global Administrator) of a command acting on a tenant."""
    actor = await tenant_actor(db, tenant_id, Actor.cli)
    return await Runtime.load(db, SystemClock(), config), actor
