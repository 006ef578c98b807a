"""The `licensing` command: serve, db upgrade, tenants create|update|check-oidc, token, seed, import, groups, webhooks."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from db import embedded, migrate
from db.catalog_files import RulesFileError, parse_rules_file
from db.clock import SystemClock
from db.config import Settings
from db.records import OidcTrust, TenantRecord
from db.seed import PHASES, SeedError, SeedSummary, seed_tenant
from db.session import Database
from gql import oidc
from gql.app import create_app
from gql.auth import CLAIM_ROLES, issue_token
from gql.cli.common import (
    CliError,
    check_jwt_secret,
    cli_runtime,
    console,
    fail,
    run_with_db,
    settings,
    stored_jwt_secret,
)
from gql.cli.groups import groups_app
from gql.cli.imports import import_app
from gql.cli.scim import scim_app
from gql.cli.webhooks import webhooks_app
from gql.http.server import run_workers
from services import tenant
from services.context import Runtime
from services.demo import DEMO_ADMIN_UPN, DEMO_TENANT, seed_demo
from services.errors import Refused
from services.roles import Role

app = typer.Typer(help="Licensing service: Microsoft 365-style license management over GraphQL.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
tenants_app = typer.Typer(help="Tenants (organisations).", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(tenants_app, name="tenants")
app.add_typer(import_app, name="import")
app.add_typer(groups_app, name="groups")
app.add_typer(webhooks_app, name="webhooks")
app.add_typer(scim_app, name="scim")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8000,
    demo: Annotated[bool, typer.Option("--demo", help="Create the demo tenant 'contoso' and print an admin token.")] = False,
    workers: Annotated[
        int, typer.Option("--workers", min=1, max=64, help="Worker processes sharing the port (about one per core).")
    ] = 1,
) -> None:
    """Apply migrations and serve GraphQL on http://HOST:PORT/graphql (embedded PostgreSQL unless DATABASE_URL is set)."""
    config = settings()
    check_jwt_secret(config)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if config.service_plan_rules:
        try:  # a bad rules file is refused before anything starts, naming its line
            parse_rules_file(config.service_plan_rules)
        except RulesFileError as exc:
            raise fail(f"LICENSING_SERVICE_PLAN_RULES: {exc}") from exc
    try:
        with embedded.database_url(config) as url:
            migrate.upgrade(url)
            demo_secret = asyncio.run(_create_demo(url, config)) if demo else ""
            shown_host = "localhost" if host in ("0.0.0.0", "127.0.0.1", "::") else host
            console.rule("[bold]Licensing service")
            console.print(f"GraphiQL:  [bold cyan]http://{shown_host}:{port}/graphql[/]")
            if not config.database_url:
                console.print(f"Database:  embedded PostgreSQL in {config.data_dir.resolve()}")
            if demo:
                token = issue_token(demo_secret, DEMO_TENANT, DEMO_ADMIN_UPN, [Role.GLOBAL_ADMINISTRATOR], ttl_seconds=86_400)
                console.print(f"Tenant:    {DEMO_TENANT} (demo)")
                console.print("Token (Global Administrator, 24 h) — in GraphiQL's Headers tab put:")
                console.print(f'  {{"Authorization": "Bearer {token}"}}', soft_wrap=True)
            cli = _invoked_as()
            console.print(
                f"Another token: [bold]{cli} token --tenant contoso --role GlobalAdministrator[/]"
                if demo
                else f"Get a token: [bold]{cli} tenants create contoso --name Contoso --domain contoso.example[/] then "
                f"[bold]{cli} token --tenant contoso --role GlobalAdministrator[/]",
                soft_wrap=True,
            )
            if workers > 1:
                console.print(f"Workers:   {workers} processes on one port")
            console.rule()
            run_workers(lambda: create_app(config, url, tune_gc=True), host, port, config, workers)
    except embedded.EmbeddedPostgresError as exc:
        raise fail(str(exc)) from exc


async def _create_demo(url: str, config: Settings) -> str:
    """Create the demo tenant; returns the token secret, for the demo token."""
    db = Database(url)
    try:
        await seed_demo(await Runtime.load(db, SystemClock(), config))
        return await stored_jwt_secret(db, config)
    finally:
        await db.dispose()


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply every pending migration (the catalog and rules load with the first one)."""
    run_with_db(settings(), _noop, create=True)
    console.print("[green]Database is up to date.[/]")


async def _noop(_: Database) -> None:
    return None


OidcIssuer = Annotated[
    str | None,
    typer.Option("--oidc-issuer", help="Trust this OpenID Connect issuer (the `iss` of its tokens, https://…), e.g. "
                 "https://login.microsoftonline.com/<tenant id>/v2.0."),
]
OidcAudience = Annotated[
    str | None, typer.Option("--oidc-audience", help="The `aud` its tokens must carry (Entra: the API's client id).")
]
OidcRolesClaim = Annotated[
    str | None,
    typer.Option("--oidc-roles-claim", help="Claim (dotted path) holding the roles: roles (default), realm_access.roles (Keycloak)."),
]


def _oidc_option(config: Settings, issuer: str | None, audience: str | None, roles_claim: str | None) -> OidcTrust | None:
    if issuer is None:
        if audience is not None or roles_claim is not None:
            raise fail("--oidc-audience and --oidc-roles-claim go with --oidc-issuer.")
        return None
    try:
        return tenant.oidc_trust(issuer, audience, roles_claim, allow_http_loopback=config.oidc_allow_http_loopback)
    except Refused as exc:
        raise fail(" ".join(p.message for p in exc.problems)) from exc


def _invoked_as() -> str:
    """The command as the admin can type it again: `licensing` when that is on PATH, else the
    path it was started by (`.venv/bin/licensing` after the README's first command)."""
    started = sys.argv[0] if sys.argv and sys.argv[0] else "licensing"
    if Path(started).name != "licensing" or os.sep not in started:
        return "licensing"  # run some other way (python -m, a test runner)
    found = shutil.which("licensing")
    if found and Path(found).resolve() == Path(started).resolve():
        return "licensing"
    return started


def _trust_said(trust: OidcTrust | None) -> str:
    if trust is None:
        return "trusts no OpenID Connect issuer (HS256 tokens only)"
    return f"trusts {trust.issuer} (audience {trust.audience}, roles in {trust.roles_claim})"


@tenants_app.command("create")
def tenants_create(
    tenant_id: Annotated[str, typer.Argument(metavar="ID", help="The tenant id: the `tid` claim of its tokens (e.g. contoso).")],
    name: Annotated[str, typer.Option("--name", help="Display name, e.g. 'Contoso Ltd'.")],
    domain: Annotated[str | None, typer.Option(help="Primary domain (default ID.example).")] = None,
    default_usage_location: Annotated[
        str | None, typer.Option("--default-usage-location", help="ISO 3166-1 alpha-2 code used for group licenses.")
    ] = None,
    oidc_issuer: OidcIssuer = None,
    oidc_audience: OidcAudience = None,
    oidc_roles_claim: OidcRolesClaim = None,
) -> None:
    """Create a tenant (organisation), optionally trusting one OpenID Connect issuer (nothing is fetched)."""
    config = settings()
    trust = _oidc_option(config, oidc_issuer, oidc_audience, oidc_roles_claim)
    request = tenant.CreateTenant(tenant_id, name, domain, default_usage_location, trust)

    async def work(db: Database) -> TenantRecord:
        return await tenant.create_tenant(db, request)

    created = run_with_db(config, work)
    console.print(
        f"[green]Created tenant[/] {created.id} ({created.display_name}, {created.domain}). "
        f"Next: {_invoked_as()} token --tenant {created.id} --role GlobalAdministrator",
        soft_wrap=True,
    )
    if trust is not None:
        console.print(f"It {_trust_said(trust)}. Check the provider: {_invoked_as()} tenants check-oidc {created.id}", soft_wrap=True)


@tenants_app.command("update")
def tenants_update(
    tenant_id: Annotated[str, typer.Argument(metavar="ID", help="The tenant id.")],
    name: Annotated[str | None, typer.Option("--name", help="New display name.")] = None,
    domain: Annotated[str | None, typer.Option("--domain", help="New primary domain.")] = None,
    default_usage_location: Annotated[
        str | None,
        typer.Option("--default-usage-location", help="ISO 3166-1 alpha-2 code used for group licenses; 'none' clears it."),
    ] = None,
    oidc_issuer: OidcIssuer = None,
    oidc_audience: OidcAudience = None,
    oidc_roles_claim: OidcRolesClaim = None,
    no_oidc: Annotated[bool, typer.Option("--no-oidc", help="Trust no OpenID Connect issuer any more.")] = False,
) -> None:
    """Change a tenant's name, domain, default usage location or trusted OpenID Connect issuer (nothing is fetched)."""
    config = settings()
    if no_oidc and oidc_issuer is not None:
        raise fail("--no-oidc and --oidc-issuer exclude each other.")
    trust = _oidc_option(config, oidc_issuer, oidc_audience, oidc_roles_claim)
    location = tenant.KEEP if default_usage_location is None else (
        None if default_usage_location.strip().lower() == "none" else default_usage_location
    )
    request = tenant.EditTenant(
        display_name=tenant.KEEP if name is None else name,
        domain=tenant.KEEP if domain is None else domain,
        default_usage_location=location,
        oidc=None if no_oidc else (trust if trust is not None else tenant.KEEP),
    )

    async def work(db: Database) -> tenant.TenantEdited:
        rt, actor = await cli_runtime(db, config, tenant.tenant_id_arg(tenant_id))
        return await tenant.edit_tenant(rt, actor, request)

    edited = run_with_db(config, work)
    t = edited.tenant
    console.print(
        f"[green]Updated tenant[/] {t.id} ({t.display_name}, {t.domain}, default usage location "
        f"{t.default_usage_location or 'none'}); it {_trust_said(edited.oidc)}.",
        soft_wrap=True,
    )


@tenants_app.command("check-oidc")
def tenants_check_oidc(tenant_id: Annotated[str, typer.Argument(metavar="ID", help="The tenant id.")]) -> None:
    """Fetch the trusted issuer's discovery document and keys, and report what was found."""
    config = settings()

    async def work(db: Database) -> tuple[TenantRecord, OidcTrust | None] | None:
        return await tenant.tenant_oidc(db, tenant.tenant_id_arg(tenant_id))

    found = run_with_db(config, work)
    if found is None:
        raise fail(f"no tenant {tenant_id!r}.")
    record, trust = found
    if trust is None:
        raise fail(f"tenant {record.id} trusts no OpenID Connect issuer: set one with "
                   f"licensing tenants update {record.id} --oidc-issuer URL --oidc-audience AUD")
    console.print(f"Tenant {record.id} {_trust_said(trust)}.", soft_wrap=True)
    try:
        keys = asyncio.run(oidc.fetch_provider_keys(trust.issuer, allow_http_loopback=config.oidc_allow_http_loopback))
    except oidc.FetchError as exc:
        raise fail(f"the provider could not be checked: {exc}") from exc
    console.print(f"Discovery: {trust.issuer.rstrip('/')}{oidc.DISCOVERY_PATH} names this issuer.", soft_wrap=True)
    console.print(f"Keys: {keys.jwks_uri}", soft_wrap=True)
    for kid, key in keys.keys.items():
        console.print(f"  kid {kid or '(none)'}: {key.jwk.key_type} {key.alg or '(alg not given)'}", soft_wrap=True)
    if keys.skipped:
        console.print(f"  ({keys.skipped} key(s) skipped: not RSA or EC signing keys)")
    if not keys.keys:
        raise fail("the provider publishes no RSA or EC signing key: no token of it can be checked.")
    console.print(f"[green]OK:[/] {len(keys.keys)} signing key(s); tokens need aud {trust.audience} and roles in {trust.roles_claim}.",
                  soft_wrap=True)


@app.command()
def token(
    tenant_id: Annotated[str, typer.Option("--tenant", help="Tenant id (the `tid` claim).")],
    role: Annotated[
        list[str] | None,
        typer.Option("--role", help="A role claim: GlobalAdministrator, BillingAdministrator, LicenseAdministrator, "
                     "UserAdministrator or GlobalReader. Repeat for several; omit for none."),
    ] = None,
    sub: Annotated[str | None, typer.Option(help="The caller: a user's UPN or id, or an admin principal name.")] = None,
    ttl: Annotated[int, typer.Option(help="Lifetime in seconds.")] = 3600,
) -> None:
    """Print a signed bearer token for a tenant (HS256 with LICENSING_JWT_SECRET, or the secret kept in the database)."""
    config = settings()
    check_jwt_secret(config)
    roles = []
    for r in role or []:
        if r not in CLAIM_ROLES:
            raise fail(f"unknown role {r!r}; use one of {', '.join(CLAIM_ROLES)}.")
        roles.append(CLAIM_ROLES[r])
    if ttl < 1:
        raise fail("--ttl must be a positive number of seconds.")
    if sub is not None and not sub.strip():
        raise fail("--sub must name the caller (a user's UPN or id, or an admin principal name); omit it for admin@<domain>.")

    async def work(db: Database) -> tuple[str, str] | None:
        found = await tenant.find_tenant(db, tenant_id)
        return (found.domain, await stored_jwt_secret(db, config)) if found else None

    found = run_with_db(config, work)
    if found is None:
        raise fail(f"no tenant {tenant_id!r}; create it first: {_invoked_as()} tenants create {tenant_id} --name …")
    domain, secret = found
    subject = sub or f"admin@{domain}"
    print(issue_token(secret, tenant_id, subject, roles, ttl_seconds=ttl))


def main() -> None:
    app()


@app.command()
def seed(
    tenant_id: Annotated[str, typer.Option("--tenant", help="Tenant id; created when missing, refused when it already has users.")],
    users: Annotated[int, typer.Option("--users", help="How many users (about 1% of them guests).")],
    groups: Annotated[int, typer.Option("--groups", help="How many groups: All Staff, department groups, then teams.")] = 20,
    seed_value: Annotated[int, typer.Option("--seed", help="The same seed gives the same people, groups and licenses.")] = 1,
    add_ons: Annotated[
        int, typer.Option("--add-ons", help="License every member directly with this many more products (0–10; for benchmarks).")
    ] = 0,
) -> None:
    """Create a realistic synthetic tenant: people, departments, nested groups, subscriptions and licenses."""
    tid = tenant_id.strip().lower()
    if not tenant.TENANT_ID.match(tid):
        raise fail("the tenant ID must be 2–63 characters of lower-case letters, digits and hyphens, e.g. contoso.")
    started = time.perf_counter()
    progress = Progress(
        TextColumn("{task.description:<12}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console
    )
    tasks = {phase: progress.add_task(phase, total=users if phase in ("users", "memberships", "licenses", "events") else 1)
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

    summary = run_with_db(settings(), work)
    seconds = time.perf_counter() - started
    console.print(
        f"[green]Seeded tenant[/] {tid}: {summary.users:,} users ({summary.guests:,} guests), {summary.groups:,} groups, "
        f"{summary.memberships:,} memberships, {summary.licenses:,} licenses over {summary.paths:,} paths in {seconds:.1f} s."
    )
    console.print("Seats used: " + ", ".join(f"{sku} {n:,}" for sku, n in summary.consumed.items()), soft_wrap=True)
    console.print(f"Next: {_invoked_as()} token --tenant {tid} --role GlobalAdministrator")
