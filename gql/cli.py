"""The `licensing` command: serve, db upgrade, tenants create, token, seed."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

import typer
from rich.console import Console

from db import embedded, migrate
from db.config import Settings, get_settings
from db.session import Database

T = TypeVar("T")
app = typer.Typer(help="Licensing service: Microsoft 365-style license management over GraphQL.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
tenants_app = typer.Typer(help="Tenants (organisations).", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(tenants_app, name="tenants")


def _register_import() -> None:
    from gql.cli_import import import_app

    app.add_typer(import_app, name="import")


_register_import()
console = Console()
err = Console(stderr=True)


class CliError(Exception):
    """An error to show the admin as is (no traceback)."""


def fail(message: str) -> typer.Exit:
    err.print(f"[bold red]Error:[/] {message}", soft_wrap=True)
    return typer.Exit(code=1)


def _settings() -> Settings:
    try:
        return get_settings()
    except Exception as exc:  # pydantic's ValidationError: name the setting
        raise fail(f"the configuration is not valid: {exc}") from exc


def _run_with_db(settings: Settings, work: Callable[[Database], Awaitable[T]], *, upgrade: bool = True) -> T:
    try:
        with embedded.database_url(settings) as url:
            if upgrade:
                migrate.upgrade(url)

            async def main() -> T:
                db = Database(url)
                try:
                    return await work(db)
                finally:
                    await db.dispose()

            return asyncio.run(main())
    except CliError as exc:
        raise fail(str(exc)) from exc
    except embedded.EmbeddedPostgresError as exc:
        raise fail(str(exc)) from exc
    except OSError as exc:
        raise fail(f"could not reach the database: {exc}. Check DATABASE_URL.") from exc
    except Exception as exc:
        if exc.__class__.__module__.startswith(("sqlalchemy", "asyncpg", "psycopg2")):
            raise fail(f"database error: {str(exc).splitlines()[0]}. Check DATABASE_URL and that PostgreSQL is running.") from exc
        raise


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    demo: Annotated[bool, typer.Option("--demo", help="Create the demo tenant 'contoso' and print an admin token.")] = False,
) -> None:
    """Apply migrations and serve GraphQL on http://HOST:PORT/graphql (embedded PostgreSQL unless DATABASE_URL is set)."""
    from gql.app import create_app
    from gql.http.server import run_server

    settings = _settings()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if settings.service_plan_rules:
        from db.catalog_files import RulesFileError, read_rules

        try:
            read_rules(settings.service_plan_rules.read_text(encoding="utf-8-sig"))
        except OSError as exc:
            raise fail(f"LICENSING_SERVICE_PLAN_RULES: cannot read {settings.service_plan_rules}: {exc.strerror}.") from exc
        except RulesFileError as exc:
            raise fail(f"LICENSING_SERVICE_PLAN_RULES ({settings.service_plan_rules}): {exc}") from exc
    try:
        with embedded.database_url(settings) as url:
            migrate.upgrade(url)
            if demo:
                asyncio.run(_create_demo(url))
            shown_host = "localhost" if host in ("0.0.0.0", "127.0.0.1", "::") else host
            console.rule("[bold]Licensing service")
            console.print(f"GraphiQL:  [bold cyan]http://{shown_host}:{port}/graphql[/]")
            if not settings.database_url:
                console.print(f"Database:  embedded PostgreSQL in {settings.data_dir.resolve()}")
            if demo:
                from db.demo import DEMO_ADMIN_UPN, DEMO_TENANT
                from gql.auth import Role, issue_token

                token = issue_token(
                    settings.effective_jwt_secret, DEMO_TENANT, DEMO_ADMIN_UPN, [Role.GLOBAL_ADMINISTRATOR], ttl_seconds=86_400
                )
                console.print(f"Tenant:    {DEMO_TENANT} (demo)")
                console.print("Token (Global Administrator, 24 h) — in GraphiQL's Headers tab put:")
                console.print(f'  {{"Authorization": "Bearer {token}"}}', soft_wrap=True)
            console.print(
                "Another token: [bold]licensing token --tenant contoso --role GlobalAdministrator[/]"
                if demo
                else "Get a token: [bold]licensing tenants create contoso --name Contoso --domain contoso.example[/] then "
                "[bold]licensing token --tenant contoso --role GlobalAdministrator[/]"
            )
            console.rule()
            run_server(create_app(settings, url), host, port, settings)
    except embedded.EmbeddedPostgresError as exc:
        raise fail(str(exc)) from exc


async def _create_demo(url: str) -> None:
    from db.clock import SystemClock
    from db.demo import seed_demo
    from db.repo.catalog import load_catalog

    db = Database(url)
    try:
        async with db.write() as conn:
            catalog = await load_catalog(conn)
            await seed_demo(conn, catalog, SystemClock().now())
    finally:
        await db.dispose()


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply every pending migration (the catalog and rules load with the first one)."""
    settings = _settings()
    _run_with_db(settings, _noop)
    console.print("[green]Database is up to date.[/]")


async def _noop(_: Database) -> None:
    return None


_TENANT_ID = re.compile(r"^[a-z0-9][a-z0-9\-]{1,62}$")
_DOMAIN = re.compile(r"^(?=.{3,253}$)[a-z0-9](?:[a-z0-9\-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9\-]*[a-z0-9])?)+$")


@tenants_app.command("create")
def tenants_create(
    tenant_id: Annotated[str, typer.Argument(metavar="ID", help="The tenant id: the `tid` claim of its tokens (e.g. contoso).")],
    name: Annotated[str, typer.Option("--name", help="Display name, e.g. 'Contoso Ltd'.")],
    domain: Annotated[str | None, typer.Option(help="Primary domain (default ID.example).")] = None,
    default_usage_location: Annotated[
        str | None, typer.Option("--default-usage-location", help="ISO 3166-1 alpha-2 code used for group licenses.")
    ] = None,
) -> None:
    """Create a tenant (organisation)."""
    from engine.countries import normalize_usage_location

    tid = tenant_id.strip().lower()
    if not _TENANT_ID.match(tid):
        raise fail("the tenant ID must be 2–63 characters of lower-case letters, digits and hyphens, e.g. contoso.")
    if not name.strip() or len(name.strip()) > 256:
        raise fail("--name must be 1–256 characters.")
    dom = (domain or f"{tid}.example").strip().lower()
    if not _DOMAIN.match(dom):
        raise fail(f"--domain {dom!r} is not a domain name like contoso.example.")
    location = None
    if default_usage_location:
        try:
            location = normalize_usage_location(default_usage_location)
        except ValueError as exc:
            raise fail(f"--default-usage-location must be an ISO 3166-1 code such as NO or US, not {default_usage_location!r}.") from exc

    async def work(db: Database) -> None:
        from db.repo import tenants

        async with db.write() as conn:
            if await tenants.get_tenant(conn, tid):
                raise CliError(f"a tenant {tid!r} already exists.")
            await tenants.create_tenant(conn, tid, name.strip(), dom, location)

    _run_with_db(_settings(), work)
    console.print(f"[green]Created tenant[/] {tid} ({name.strip()}, {dom}). Next: licensing token --tenant {tid} --role GlobalAdministrator")


@app.command()
def token(
    tenant: Annotated[str, typer.Option("--tenant", help="Tenant id (the `tid` claim).")],
    role: Annotated[
        list[str] | None,
        typer.Option("--role", help="A role claim: GlobalAdministrator, BillingAdministrator, LicenseAdministrator, "
                     "UserAdministrator or GlobalReader. Repeat for several; omit for none."),
    ] = None,
    sub: Annotated[str | None, typer.Option(help="The caller: a user's UPN or id, or an admin principal name.")] = None,
    ttl: Annotated[int, typer.Option(help="Lifetime in seconds.")] = 3600,
) -> None:
    """Print a signed bearer token for a tenant (HS256 with LICENSING_JWT_SECRET)."""
    from gql.auth import CLAIM_ROLES, issue_token

    settings = _settings()
    roles = []
    for r in role or []:
        if r not in CLAIM_ROLES:
            raise fail(f"unknown role {r!r}; use one of {', '.join(CLAIM_ROLES)}.")
        roles.append(CLAIM_ROLES[r])
    if ttl < 1:
        raise fail("--ttl must be a positive number of seconds.")

    async def work(db: Database) -> str | None:
        from db.repo import tenants

        async with db.read() as conn:
            found = await tenants.get_tenant(conn, tenant)
        return found.domain if found else None

    domain = _run_with_db(settings, work)
    if domain is None:
        raise fail(f"no tenant {tenant!r}; create it first: licensing tenants create {tenant} --name …")
    subject = sub or f"admin@{domain}"
    print(issue_token(settings.effective_jwt_secret, tenant, subject, roles, ttl_seconds=ttl))


def main() -> None:
    app()





@app.command()
def seed(
    tenant: Annotated[str, typer.Option("--tenant", help="Tenant id; created when missing, refused when it already has users.")],
    users: Annotated[int, typer.Option("--users", help="How many users (about 1% of them guests).")],
    groups: Annotated[int, typer.Option("--groups", help="How many groups: All Staff, department groups, then teams.")] = 20,
    seed_value: Annotated[int, typer.Option("--seed", help="The same seed gives the same people, groups and licenses.")] = 1,
    add_ons: Annotated[
        int, typer.Option("--add-ons", help="License every member directly with this many more products (0–10; for benchmarks).")
    ] = 0,
) -> None:
    """Create a realistic synthetic tenant: people, departments, nested groups, subscriptions and licenses."""
    import time

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from db.seed import PHASES, SeedError, SeedSummary, seed_tenant

    tid = tenant.strip().lower()
    if not _TENANT_ID.match(tid):
        raise fail("the tenant ID must be 2–63 characters of lower-case letters, digits and hyphens, e.g. contoso.")
    started = time.perf_counter()
    progress = Progress(
        TextColumn("{task.description:<12}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console
    )
    tasks = {phase: progress.add_task(phase, total=users if phase in ("users", "memberships", "licenses") else 1)
             for phase in PHASES}

    def report(phase: str, done: int, _total: int) -> None:
        if not progress.live.is_started:  # only once the checks passed: a refusal shows no bars
            progress.start()
        progress.update(tasks[phase], completed=done)

    async def work(db: Database) -> SeedSummary:
        try:
            return await seed_tenant(db, tid, users, groups, seed_value, report, add_ons=add_ons)
        except SeedError as exc:
            raise CliError(str(exc)) from exc
        finally:
            progress.stop()

    summary = _run_with_db(_settings(), work)
    seconds = time.perf_counter() - started
    console.print(
        f"[green]Seeded tenant[/] {tid}: {summary.users:,} users ({summary.guests:,} guests), {summary.groups:,} groups, "
        f"{summary.memberships:,} memberships, {summary.licenses:,} licenses over {summary.paths:,} paths in {seconds:.1f} s."
    )
    console.print("Seats used: " + ", ".join(f"{sku} {n:,}" for sku, n in summary.consumed.items()), soft_wrap=True)
    console.print(f"Next: licensing token --tenant {tid} --role GlobalAdministrator")
