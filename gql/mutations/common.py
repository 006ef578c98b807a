"""Running a use case for a mutation: its refusals become the payload's `errors` (one mapping,
gql.errors.user_errors); the request's read snapshot is dropped afterwards, so the payload is
read as the change left things."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from strawberry.types import Info

from gql.errors import UserError, user_errors
from services.context import Actor, Runtime
from services.errors import Refused
from services.licenses import LicenseRequest

T = TypeVar("T")
R = TypeVar("R")

Field = tuple[Callable[..., Awaitable[Any]], type, list[type]]  # (resolver, payload type, permission classes)


async def run(info: Info, use_case: Callable[[Runtime, Actor, R], Awaitable[T]], request: R) -> tuple[T | None, list[UserError]]:
    """Call `use_case(runtime, actor, request)`: (result, []) or (None, errors). The request's
    read snapshot (opened to resolve the caller) is given back first: a change never holds one
    connection while it waits for another."""
    ctx = info.context
    await ctx.reset_snapshot()
    try:
        return await use_case(ctx.runtime, ctx.actor, request), []
    except Refused as exc:
        return None, user_errors(exc)
    finally:
        await ctx.reset_snapshot()


def licenses_of(inputs: list[Any] | None) -> list[LicenseRequest]:
    """LicenseInput objects as the services' LicenseRequest."""
    return [LicenseRequest(i.product_id, list(i.disabled_service_plan_ids or []), i.subscription_id) for i in inputs or []]
