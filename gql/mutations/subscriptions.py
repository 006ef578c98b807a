"""purchaseSubscription, updateSubscriptionQuantity, cancelSubscription, setRecurringBilling,
takeOverSubscription (R3, R15, D6, D7, D23).

Each mutation decides on records in memory — the subscription as the change would leave it and
the pool figures before and after — and writes only when it is not a dry run, so a dry run
returns the same payload from a rolled-back snapshot without taking a lock.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import timedelta

import strawberry
from sqlalchemy.ext.asyncio import AsyncConnection
from strawberry.types import Info

from db.records import SubscriptionRecord
from db.repo import licensing, subscriptions
from engine.subscription_lifecycle import (
    SubscriptionStatus,
    SubscriptionTerms,
    first_term,
    roll_forward,
    view,
)
from engine.subscription_pool import PoolFigures
from gql import validation as v
from gql.changes import LicenseChangeSummary, figures_of, seat_changes, summary
from gql.context import Context
from gql.errors import ErrorCode, UserError, refuse
from gql.inputs import (
    PurchaseSubscriptionInput,
    SetRecurringBillingInput,
    SubscriptionIdInput,
    UpdateSubscriptionQuantityInput,
)
from gql.loaders import subscription_terms
from gql.mutations.common import record, run_mutation
from gql.permissions import CanManageSubscriptions, CanPurchase
from gql.resolve import not_found, product_id_arg, uuid_arg
from gql.types import Subscription

Outcome = tuple[SubscriptionRecord, LicenseChangeSummary]


@strawberry.type
class SubscriptionPayload:
    subscription: Subscription | None
    errors: list[UserError]
    changes: LicenseChangeSummary | None


def _window(ctx: Context) -> timedelta:
    return timedelta(days=ctx.settings.cancellation_window_days)


def _label(ctx: Context, sub: SubscriptionRecord) -> str:
    return f"{ctx.catalog.products[sub.product_id].display_name} ({sub.quantity} seats)"


def _with_terms(sub: SubscriptionRecord, terms: SubscriptionTerms) -> SubscriptionRecord:
    return replace(
        sub, term_starts_at=terms.term_starts_at, term_ends_at=terms.term_ends_at, is_trial=terms.is_trial,
        recurring_billing=terms.recurring_billing, cancelled_at=terms.cancelled_at,
    )


class PoolView:
    """The tenant's subscriptions and one product's seat counter, locked for a real run."""

    def __init__(self, ctx: Context, subs: list[SubscriptionRecord], consumed: dict[uuid.UUID, int]) -> None:
        self.ctx, self.subs, self.consumed = ctx, subs, consumed

    @classmethod
    async def load(cls, conn: AsyncConnection, ctx: Context, product_id: uuid.UUID, *, dry_run: bool) -> PoolView:
        if dry_run:
            consumed = await subscriptions.pool_consumed(conn, ctx.tenant_id, [product_id])
        else:
            consumed = await subscriptions.lock_pools(conn, ctx.tenant_id, [product_id])  # D21
        return cls(ctx, await subscriptions.tenant_subscriptions(conn, ctx.tenant_id), consumed)

    def figures(self, product_id: uuid.UUID, changed: SubscriptionRecord | None = None, extra_consumed: int = 0) -> PoolFigures:
        subs = list(self.subs)
        if changed is not None:
            subs = [changed if s.id == changed.id else s for s in subs]
            if all(s.id != changed.id for s in subs):
                subs.append(changed)
        consumed = {product_id: self.consumed.get(product_id, 0) + extra_consumed}
        return figures_of(self.ctx, subs, consumed, [product_id])[product_id]


async def _load(conn: AsyncConnection, info: Info, raw: str, *, dry_run: bool) -> SubscriptionRecord:
    ctx = info.context
    sid = uuid_arg(raw, "Subscription", "input.subscriptionId")
    found = (await subscriptions.subscriptions_by_ids(conn, ctx.tenant_id, [sid], for_update=not dry_run)) if sid else {}
    if sid is None or sid not in found:
        raise not_found("input.subscriptionId", "subscription")
    return found[sid]


def _require_usable(ctx: Context, sub: SubscriptionRecord, what: str) -> SubscriptionStatus:
    status = view(subscription_terms(sub), ctx.services.clock.now(), _window(ctx)).status
    if status in (SubscriptionStatus.DISABLED, SubscriptionStatus.DELETED):
        raise refuse(
            ErrorCode.SUBSCRIPTION_NOT_ACTIVE,
            f"This subscription is {status.value}; its {what} can no longer be changed. Buy a new subscription instead.",
            field="input.subscriptionId",
        )
    return status


async def _refuse_if_seats_in_use(
    conn: AsyncConnection, ctx: Context, before: SubscriptionRecord, after: SubscriptionRecord, pool_after: PoolFigures,
    *, hint: str, field: str,
) -> None:
    """SEATS_IN_USE when the change leaves fewer seats than are assigned (R15, D7)."""
    if before.is_self_service:
        used = await licensing.self_service_seats_used(conn, ctx.tenant_id, before.id)
        status = view(subscription_terms(after), ctx.services.clock.now(), _window(ctx)).status
        remaining = after.quantity if status in (SubscriptionStatus.ACTIVE, SubscriptionStatus.EXPIRED) else 0
    else:
        used, remaining = pool_after.consumed, pool_after.total
    if remaining < used:
        need = used - remaining
        raise refuse(
            ErrorCode.SEATS_IN_USE,
            f"{used} licenses of {ctx.catalog.products[before.product_id].display_name} are assigned and only "
            f"{max(remaining, 0)} would remain: unassign {need} license{'s' if need != 1 else ''} first{hint}.",
            field=field,
        )


async def _finish(info: Info, work: Callable[[AsyncConnection], Awaitable[Outcome]], dry_run: bool) -> SubscriptionPayload:
    result, errors = await run_mutation(info, work, dry_run=dry_run, license_lock=True)
    if result is None:
        return SubscriptionPayload(subscription=None, errors=errors, changes=None)
    sub, changes = result
    return SubscriptionPayload(subscription=Subscription.of(sub, info), errors=[], changes=changes)


async def _recover(conn: AsyncConnection, ctx: Context, product_id: uuid.UUID, dry_run: bool) -> None:
    """New seats let errored group paths take them (R4, D2) — in the same transaction."""
    if not dry_run:
        from gql.mutations.licenses import recover_after_seats_freed

        await recover_after_seats_freed(conn, ctx, [product_id])


def _changes(ctx: Context, product_id: uuid.UUID, before: PoolFigures, after: PoolFigures, dry_run: bool, affected: int = 0) -> LicenseChangeSummary:
    return summary(dry_run=dry_run, affected=affected, products=seat_changes(ctx, {product_id: before}, {product_id: after}))


async def purchase_subscription(info: Info, input: PurchaseSubscriptionInput) -> SubscriptionPayload:
    ctx = info.context
    dry_run = bool(input.dry_run)
    principal = ctx.principal

    async def work(conn: AsyncConnection) -> Outcome:
        product_id = product_id_arg(info, input.product_id, "input.productId")
        if product_id is None:
            raise not_found("input.productId", "product of the catalog")
        quantity = v.quantity(input.quantity, "input.quantity")
        self_service = bool(input.self_service)
        if self_service and principal.user is None:
            raise v.invalid(
                "input.selfService",
                "A self-service purchase is made by a user for themselves; this token names no user of the organisation.",
            )
        now = ctx.services.clock.now()
        starts_at = input.starts_at or now
        if starts_at.tzinfo is None:
            raise v.invalid("input.startsAt", "`input.startsAt` needs a time zone, e.g. 2026-01-31T09:00:00Z.")
        if starts_at > now:
            raise v.invalid("input.startsAt", "`input.startsAt` cannot be in the future; omit it to start now.")
        is_trial = bool(input.is_trial)
        term_start, term_end = first_term(starts_at, is_trial)
        values = {
            "product_id": product_id, "quantity": quantity, "is_trial": is_trial, "is_self_service": self_service,
            "purchased_by": principal.user.id if self_service and principal.user else None,
            "starts_at": starts_at, "term_starts_at": term_start, "term_ends_at": term_end,
            "recurring_billing": True if input.recurring_billing is None else input.recurring_billing,
        }
        pool = await PoolView.load(conn, ctx, product_id, dry_run=dry_run)
        if dry_run:
            sub = SubscriptionRecord(id=uuid.uuid4(), cancelled_at=None, **values)  # type: ignore[arg-type]
        else:
            sub = await subscriptions.insert_subscription(conn, ctx.tenant_id, values)
        before, after = pool.figures(product_id), pool.figures(product_id, sub)
        await _recover(conn, ctx, product_id, dry_run)
        await record(
            conn, ctx, "SUBSCRIPTION_PURCHASED",
            f"Bought {quantity} seats of {ctx.catalog.products[product_id].display_name}"
            + (" (trial)" if is_trial else "") + (" (self-service)" if self_service else ""),
            target_id=Subscription.of(sub, info).id, dry_run=dry_run, seats=quantity,
        )
        return sub, _changes(ctx, product_id, before, after, dry_run)

    return await _finish(info, work, dry_run)


async def update_subscription_quantity(info: Info, input: UpdateSubscriptionQuantityInput) -> SubscriptionPayload:
    ctx = info.context
    dry_run = bool(input.dry_run)

    async def work(conn: AsyncConnection) -> Outcome:
        if input.quantity == 0:
            raise v.invalid("input.quantity", "A quantity of 0 is not allowed: cancel the subscription instead.")
        quantity = v.quantity(input.quantity, "input.quantity")
        sub = await _load(conn, info, input.subscription_id, dry_run=dry_run)
        _require_usable(ctx, sub, "quantity")
        pool = await PoolView.load(conn, ctx, sub.product_id, dry_run=dry_run)
        updated = replace(sub, quantity=quantity)
        before, after = pool.figures(sub.product_id), pool.figures(sub.product_id, updated)
        if quantity < sub.quantity:
            await _refuse_if_seats_in_use(conn, ctx, sub, updated, after, hint=", then lower the quantity", field="input.quantity")
        if not dry_run:
            updated = await subscriptions.update_subscription(conn, ctx.tenant_id, sub.id, {"quantity": quantity})
        if quantity > sub.quantity:
            await _recover(conn, ctx, sub.product_id, dry_run)
        await record(
            conn, ctx, "SUBSCRIPTION_QUANTITY_CHANGED",
            f"Changed {ctx.catalog.products[sub.product_id].display_name} from {sub.quantity} to {quantity} seats",
            target_id=input.subscription_id, dry_run=dry_run, seats_before=sub.quantity, seats_after=quantity,
        )
        return updated, _changes(ctx, sub.product_id, before, after, dry_run)

    return await _finish(info, work, dry_run)


async def cancel_subscription(info: Info, input: SubscriptionIdInput) -> SubscriptionPayload:
    ctx = info.context
    dry_run = bool(input.dry_run)

    async def work(conn: AsyncConnection) -> Outcome:
        sub = await _load(conn, info, input.subscription_id, dry_run=dry_run)
        _require_usable(ctx, sub, "cancellation")
        now = ctx.services.clock.now()
        current = view(subscription_terms(sub), now, _window(ctx))
        if not current.can_cancel:
            raise refuse(
                ErrorCode.CANCELLATION_WINDOW_PASSED,
                f"The cancellation window of {_label(ctx, sub)} ended on {current.cancellation_window_ends_at:%Y-%m-%d}; "
                "turn off recurring billing instead, and the subscription ends at the end of its term "
                f"({current.current_term_ends_at:%Y-%m-%d}).",
                field="input.subscriptionId",
            )
        pool = await PoolView.load(conn, ctx, sub.product_id, dry_run=dry_run)
        # keep the renewals that already happened (a converted trial stays paid), then cancel
        terms = roll_forward(subscription_terms(sub), now)
        updated = _with_terms(sub, replace(terms, cancelled_at=now))
        before, after = pool.figures(sub.product_id), pool.figures(sub.product_id, updated)
        await _refuse_if_seats_in_use(conn, ctx, sub, updated, after, hint=", or turn off recurring billing", field="input.subscriptionId")
        if not dry_run:
            updated = await subscriptions.update_subscription(
                conn, ctx.tenant_id, sub.id,
                {"cancelled_at": now, "term_starts_at": terms.term_starts_at, "term_ends_at": terms.term_ends_at,
                 "is_trial": terms.is_trial, "stored_status": SubscriptionStatus.DISABLED.value},
            )
        await record(conn, ctx, "SUBSCRIPTION_CANCELLED", f"Cancelled {_label(ctx, sub)}", target_id=input.subscription_id, dry_run=dry_run)
        return updated, _changes(ctx, sub.product_id, before, after, dry_run)

    return await _finish(info, work, dry_run)


async def set_recurring_billing(info: Info, input: SetRecurringBillingInput) -> SubscriptionPayload:
    ctx = info.context
    dry_run = bool(input.dry_run)

    async def work(conn: AsyncConnection) -> Outcome:
        sub = await _load(conn, info, input.subscription_id, dry_run=dry_run)
        _require_usable(ctx, sub, "recurring billing")
        now = ctx.services.clock.now()
        pool = await PoolView.load(conn, ctx, sub.product_id, dry_run=dry_run)
        terms = roll_forward(subscription_terms(sub), now)  # renewals that already happened stay
        terms = roll_forward(replace(terms, recurring_billing=input.enabled), now)  # an EXPIRED one renews when turned on
        updated = _with_terms(sub, terms)
        before, after = pool.figures(sub.product_id), pool.figures(sub.product_id, updated)
        if not dry_run:
            updated = await subscriptions.update_subscription(
                conn, ctx.tenant_id, sub.id,
                {"recurring_billing": input.enabled, "term_starts_at": terms.term_starts_at,
                 "term_ends_at": terms.term_ends_at, "is_trial": terms.is_trial},
            )
        if after.total > before.total:
            await _recover(conn, ctx, sub.product_id, dry_run)
        await record(
            conn, ctx, "SUBSCRIPTION_RECURRING_BILLING_CHANGED",
            f"Turned recurring billing {'on' if input.enabled else 'off'} for {_label(ctx, sub)}",
            target_id=input.subscription_id, dry_run=dry_run, enabled=input.enabled,
        )
        return updated, _changes(ctx, sub.product_id, before, after, dry_run)

    return await _finish(info, work, dry_run)


async def take_over_subscription(info: Info, input: SubscriptionIdInput) -> SubscriptionPayload:
    ctx = info.context
    dry_run = bool(input.dry_run)

    async def work(conn: AsyncConnection) -> Outcome:
        sub = await _load(conn, info, input.subscription_id, dry_run=dry_run)
        if not sub.is_self_service:
            raise v.invalid("input.subscriptionId", "This subscription is already managed by the organisation; there is nothing to take over.")
        _require_usable(ctx, sub, "ownership")
        pool = await PoolView.load(conn, ctx, sub.product_id, dry_run=dry_run)
        moved = await licensing.self_service_seats_used(conn, ctx.tenant_id, sub.id)
        updated = replace(sub, is_self_service=False)
        before, after = pool.figures(sub.product_id), pool.figures(sub.product_id, updated, extra_consumed=moved)
        if not dry_run:
            await licensing.take_over_seats(conn, ctx.tenant_id, sub.id, sub.product_id)
            updated = await subscriptions.update_subscription(conn, ctx.tenant_id, sub.id, {"is_self_service": False})
        await _recover(conn, ctx, sub.product_id, dry_run)
        await record(
            conn, ctx, "SUBSCRIPTION_TAKEN_OVER", f"Took over self-service {_label(ctx, sub)}; {moved} license(s) joined the pool",
            target_id=input.subscription_id, dry_run=dry_run, licenses=moved,
        )
        return updated, _changes(ctx, sub.product_id, before, after, dry_run, affected=moved)

    return await _finish(info, work, dry_run)


FIELDS = {
    "purchase_subscription": (purchase_subscription, SubscriptionPayload, [CanPurchase]),
    "update_subscription_quantity": (update_subscription_quantity, SubscriptionPayload, [CanManageSubscriptions]),
    "cancel_subscription": (cancel_subscription, SubscriptionPayload, [CanManageSubscriptions]),
    "set_recurring_billing": (set_recurring_billing, SubscriptionPayload, [CanManageSubscriptions]),
    "take_over_subscription": (take_over_subscription, SubscriptionPayload, [CanManageSubscriptions]),
}
