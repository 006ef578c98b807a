"""LicenseChangeSummary: what a (dry-run or real) mutation did to seats and paths (R19, D16)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from datetime import timedelta

import strawberry
from sqlalchemy.ext.asyncio import AsyncConnection
from strawberry.types import Info

from db.records import SubscriptionRecord
from db.repo import subscriptions
from engine.subscription_pool import PoolFigures, SubscriptionFacts, pool_figures
from gql.context import Context
from gql.errors import ErrorCode, LicenseError, bad_user_input
from gql.loaders import subscription_terms
from gql.types import AssignmentState, Group, Product, User

MAX_OUTCOMES = 1000


@strawberry.type
class ProductSeatChange:
    product: Product
    consumed_before: int
    consumed_after: int
    total_units: int


@strawberry.type
class LicenseOutcome:
    state: AssignmentState
    error: LicenseError | None
    removed: bool
    user_id: strawberry.Private[uuid.UUID]
    product_id: strawberry.Private[uuid.UUID]
    group_id: strawberry.Private[uuid.UUID | None]

    @strawberry.field
    async def user(self, info: Info) -> User:
        rec = await info.context.loaders.user_by_id.load(self.user_id)
        if rec is None:  # the user of a dry-run createUser, or one this change deleted
            rec = info.context.loaders.unsaved_users[self.user_id]
        return User.of(rec)

    @strawberry.field
    def product(self, info: Info) -> Product:
        return Product.of(info.context.catalog.products[self.product_id])

    @strawberry.field
    async def assigned_by_group(self, info: Info) -> Group | None:
        if self.group_id is None:
            return None
        rec = await info.context.loaders.group_by_id.load(self.group_id)
        return Group.of(rec) if rec else None


@strawberry.type
class ErrorCount:
    product: Product
    code: ErrorCode
    count: int


@strawberry.type
class LicenseChangeSummary:
    dry_run: bool
    affected_user_count: int
    products: list[ProductSeatChange]
    error_counts: list[ErrorCount]
    outcomes_: strawberry.Private[list[LicenseOutcome]]

    @strawberry.field
    def outcomes(self, first: int | None = 100) -> list[LicenseOutcome]:
        first = 100 if first is None else first
        if first < 0 or first > MAX_OUTCOMES:
            raise bad_user_input(f"`outcomes(first:)` must be between 0 and {MAX_OUTCOMES}; got {first}.")
        return self.outcomes_[:first]


async def pool_snapshot(conn: AsyncConnection, ctx: Context, product_ids: list[uuid.UUID]) -> dict[uuid.UUID, PoolFigures]:
    """Pool figures of some products, read inside the mutation's own transaction."""
    subs = await subscriptions.tenant_subscriptions(conn, ctx.tenant_id)
    consumed = await subscriptions.pool_consumed(conn, ctx.tenant_id, product_ids)
    return figures_of(ctx, subs, consumed, product_ids)


def figures_of(
    ctx: Context, subs: list[SubscriptionRecord], consumed: dict[uuid.UUID, int], product_ids: list[uuid.UUID]
) -> dict[uuid.UUID, PoolFigures]:
    """Pool figures from given subscriptions and counters (a dry run passes what the change would make)."""
    now = ctx.services.clock.now()
    window = timedelta(days=ctx.settings.cancellation_window_days)
    result = {}
    for pid in product_ids:
        facts = [SubscriptionFacts(s.quantity, s.is_self_service, subscription_terms(s)) for s in subs if s.product_id == pid]
        result[pid] = pool_figures(facts, consumed.get(pid, 0), now, window)
    return result


def seat_changes(
    ctx: Context, before: dict[uuid.UUID, PoolFigures], after: dict[uuid.UUID, PoolFigures]
) -> list[ProductSeatChange]:
    return [
        ProductSeatChange(
            product=Product.of(ctx.catalog.products[pid]),
            consumed_before=before[pid].consumed,
            consumed_after=after[pid].consumed,
            total_units=after[pid].total,
        )
        for pid in sorted(before, key=lambda p: ctx.catalog.products[p].display_name.lower())
    ]


def pool_moves(
    ctx: Context, products: Iterable[uuid.UUID], before: Mapping[uuid.UUID, PoolFigures], delta: Mapping[uuid.UUID, int]
) -> list[ProductSeatChange]:
    """Seats before and after per product a change touched (sorted by display name): the pool's
    figures before and how many seats the change takes (+) or frees (−)."""
    name = ctx.catalog.products
    return [
        ProductSeatChange(
            product=Product.of(name[p]), consumed_before=before[p].consumed,
            consumed_after=before[p].consumed + delta.get(p, 0), total_units=before[p].total,
        )
        for p in sorted(set(products), key=lambda p: (name[p].display_name.lower(), str(p)))
        if p in before
    ]


def error_totals(ctx: Context, counts: Mapping[tuple[uuid.UUID, str], int]) -> list[ErrorCount]:
    """Per-product, per-code error totals (D16), sorted by product display name and code."""
    name = ctx.catalog.products
    return [
        ErrorCount(product=Product.of(name[p]), code=ErrorCode(code), count=n)
        for (p, code), n in sorted(counts.items(), key=lambda item: (name[item[0][0]].display_name.lower(), item[0][1]))
    ]


def summary(
    *, dry_run: bool, affected: int = 0, products: list[ProductSeatChange] | None = None,
    outcomes: list[LicenseOutcome] | None = None, error_counts: list[ErrorCount] | None = None,
) -> LicenseChangeSummary:
    return LicenseChangeSummary(
        dry_run=dry_run,
        affected_user_count=affected,
        products=products or [],
        error_counts=error_counts or [],
        outcomes_=outcomes or [],
    )
