"""`licensing scim tokens create|list|revoke`: the bearer tokens of SCIM clients (D34)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape

from db.clock import SystemClock
from db.repo.scim_tokens import ScimTokenRecord
from db.session import Database
from gql.cli.common import console, run_with_db, settings
from services import scim_tokens

scim_app = typer.Typer(help="SCIM 2.0 provisioning (/scim/v2).", no_args_is_help=True)
tokens_app = typer.Typer(help="Bearer tokens of identity providers' SCIM clients.", no_args_is_help=True)
scim_app.add_typer(tokens_app, name="tokens")

TENANT = Annotated[str, typer.Option("--tenant", help="The tenant id.")]


@tokens_app.command("create")
def tokens_create(
    tenant_id: TENANT,
    name: Annotated[str | None, typer.Option("--name", help="A name for the token (audited as scim:<name>).")] = None,
    days: Annotated[int | None, typer.Option("--days", help="Days until it expires (default: never).")] = None,
) -> None:
    """Create a token and print it once: paste it into the identity provider as the secret token."""
    config = settings()

    async def work(db: Database) -> scim_tokens.CreatedToken:
        return await scim_tokens.create_token(db, SystemClock(), tenant_id, name, days)

    created = run_with_db(config, work)
    token = created.token
    expires = f"expires {token.expires_at:%Y-%m-%d %H:%M} UTC" if token.expires_at else "does not expire"
    console.print(f"Created SCIM token {escape(token.name)} (id {token.id}, {expires}). It is shown only now:", highlight=False)
    print(created.secret)


def _state(token: ScimTokenRecord) -> str:
    if token.revoked_at is not None:
        return f"revoked {token.revoked_at:%Y-%m-%d %H:%M}"
    if scim_tokens.is_expired(token, SystemClock().now()):
        return "expired"
    return "active"


@tokens_app.command("list")
def tokens_list(tenant_id: TENANT) -> None:
    """The tenant's SCIM tokens (never their secrets)."""
    config = settings()

    async def work(db: Database) -> list[ScimTokenRecord]:
        return await scim_tokens.list_tokens(db, tenant_id)

    tokens = run_with_db(config, work)
    if not tokens:
        console.print(f"{tenant_id} has no SCIM tokens.", highlight=False)
    for t in tokens:
        expires = f"{t.expires_at:%Y-%m-%d}" if t.expires_at else "never"
        used = f"{t.last_used_at:%Y-%m-%d %H:%M}" if t.last_used_at else "never"
        console.print(
            escape(f"{t.id}  {t.name}  {_state(t)}  created {t.created_at:%Y-%m-%d}  expires {expires}  last used {used}"),
            highlight=False, soft_wrap=True,
        )


@tokens_app.command("revoke")
def tokens_revoke(tenant_id: TENANT, token_id: Annotated[str, typer.Argument(help="The token's id (from `list`).")]) -> None:
    """Revoke one token; SCIM requests with it answer 401 from now on."""
    config = settings()

    async def work(db: Database) -> ScimTokenRecord:
        return await scim_tokens.revoke_token(db, SystemClock(), tenant_id, token_id)

    token = run_with_db(config, work)
    console.print(f"Revoked SCIM token {escape(token.name)} ({token.id}).", highlight=False)
