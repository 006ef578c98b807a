"""`licensing webhooks deliver-once`: deliver every webhook batch that is due, once, and say
what happened (the app processes do this continuously)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape

from db.clock import SystemClock
from db.session import Database
from gql.cli.common import console, run_with_db, settings
from services.context import Actor, Runtime, tenant_actor
from services.webhook_delivery import Attempt, deliver_due

webhooks_app = typer.Typer(help="Webhooks: license events POSTed to your endpoints.", no_args_is_help=True)


def describe(a: Attempt) -> str:
    where = f"{a.tenant_id} {a.url}"
    if a.ok:
        return f"[green]delivered[/] {escape(where)}: {a.event_count} event(s) through {a.last_cursor} (HTTP {a.status})"
    if a.disabled:
        return f"[red]disabled[/] {escape(where)}: {escape(a.reason or '')}"
    when = f" Next attempt at {a.retry_at:%Y-%m-%d %H:%M:%S} UTC." if a.retry_at else ""
    return f"[yellow]failed[/] {escape(where)}: {escape(a.reason or '')}{when}"


@webhooks_app.command("deliver-once")
def deliver_once(
    tenant_id: Annotated[str | None, typer.Option("--tenant", help="Only this tenant's webhooks.")] = None,
) -> None:
    """Deliver everything due now (batches of up to 100 events per request), then exit; exits 1
    when a delivery failed."""
    config = settings()

    async def work(db: Database) -> list[Attempt]:
        if tenant_id is not None:
            await tenant_actor(db, tenant_id, Actor.cli)  # an unknown tenant is said as such
        rt = await Runtime.load(db, SystemClock(), config)
        return await deliver_due(rt, tenant_id=tenant_id, until_caught_up=True)

    with console.status("Delivering webhooks…"):
        attempts = run_with_db(config, work)
    for a in attempts:
        console.print(describe(a), highlight=False)
    delivered = sum(a.event_count for a in attempts if a.ok)
    failed = [a for a in attempts if not a.ok]
    if not attempts:
        console.print("Nothing to deliver: every enabled webhook is up to date or waiting to retry.")
        return
    console.print(
        f"{delivered} event(s) delivered in {sum(1 for a in attempts if a.ok)} request(s); "
        f"{len(failed)} failed request(s).", highlight=False,
    )
    if failed:
        raise typer.Exit(1)
