"""Running a mutation: one write transaction, business refusals as `errors`, audit on success."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection
from strawberry.types import Info

from db.repo import audit
from db.session import lock_tenant_licenses
from gql.context import Context
from gql.errors import ErrorCode, Refused, UserError
from gql.resolve import ArgError

T = TypeVar("T")
log = logging.getLogger("licensing.mutations")

LOCK_NOT_AVAILABLE = "55P03"
UNIQUE_VIOLATION = "23505"


def _sqlstate(exc: DBAPIError) -> str | None:
    orig = getattr(exc, "orig", None)
    return getattr(orig, "sqlstate", None) or getattr(getattr(orig, "__cause__", None), "sqlstate", None)


async def run_mutation(
    info: Info,
    work: Callable[[AsyncConnection], Awaitable[T]],
    *,
    dry_run: bool = False,
    license_lock: bool = False,
    already_exists_message: str = "That already exists.",
) -> tuple[T | None, list[UserError]]:
    """Run `work` in one write transaction. Returns (result, errors).

    A dry run (R19, D21) runs the same `work` in one snapshot that is always rolled back and
    takes no locks: the work decides exactly as for real and skips its writes.
    """
    ctx: Context = info.context
    try:
        async with ctx.db.scratch() if dry_run else ctx.write(dry_run=False) as conn:
            if license_lock and not dry_run:
                await lock_tenant_licenses(conn, ctx.tenant_id)
            result = await work(conn)
    except ArgError as exc:
        return None, exc.as_refusal().errors
    except Refused as exc:
        return None, exc.errors
    except IntegrityError as exc:
        if _sqlstate(exc) == UNIQUE_VIOLATION:
            return None, [UserError(code=ErrorCode.ALREADY_EXISTS, message=already_exists_message)]
        raise
    except DBAPIError as exc:
        if _sqlstate(exc) == LOCK_NOT_AVAILABLE:
            return None, [
                UserError(
                    code=ErrorCode.OTHER,
                    message="Another license change for this organisation is still running; nothing was changed. Try again in a moment.",
                )
            ]
        raise
    finally:
        await ctx.reset_snapshot()
    return result, []


async def record(
    conn: AsyncConnection, ctx: Context, action: str, summary: str, *, target_id: str | None = None,
    dry_run: bool = False, **details: Any,
) -> None:
    """R21: append the audit event inside the mutation's transaction (D11: never for a dry run)."""
    if dry_run:
        return
    await audit.append(
        conn, ctx.tenant_id, actor=ctx.principal.sub, action=action, target_id=target_id, summary=summary,
        details=details, occurred_at=ctx.services.clock.now(),
    )
