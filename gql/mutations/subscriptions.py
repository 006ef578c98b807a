"""purchaseSubscription, updateSubscriptionQuantity, cancelSubscription, setRecurringBilling,
takeOverSubscription (R3, R15, D6, D7, D23)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import strawberry
from sqlalchemy.ext.asyncio import AsyncConnection
from strawberry.types import Info

from db.records import SubscriptionRecord
from db.repo import licensing, subscriptions
from engine.subscription_lifecycle import SubscriptionStatus, first_term, roll_forward, view
from gql import validation as v
from gql.changes import LicenseChangeSummary, pool_snapshot, seat_changes, summary
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


@strawberry.type
class SubscriptionPayload:
    subscription: Subscription | None
    errors: list[UserError]
    changes: LicenseChangeSummary | None


def _window(ctx: Context) -> timedelta:
    return timedelta(days=ctx.settings.cancellation_window_days)


def _label(ctx: Context, sub: SubscriptionRecord) -> str:
    return f"{ctx.catalog.products[sub.product_id].display_name} ({sub.quantity} seats)"


async def _load(conn: AsyncConnection, info: Info, raw: str) -> SubscriptionRecord:
    ctx = info.context
    sid = uuid_arg(raw, "Subscription", "input.subscriptionId")
    found = (await subscriptions.subscriptions_by_ids(conn, ctx.tenant_id, [sid], for_update=True)) if sid else {}
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


async def _check_seats(
    conn: AsyncConnection, ctx: Context, sub: SubscriptionRecord, seats_removed: int, *, hint: str, field: str
) -> None:
    """Refuse (SEATS_IN_USE) when removing `seats_removed` seats would leave fewer than are consumed."""
    if seats_removed <= 0:
        return
    if sub.is_self_service:
        used = await licensing.self_service_seats_used(conn, ctx.tenant_id, sub.id)
        remaining = sub.quantity - seats_removed
    else:
        figures = (await pool_snapshot(conn, ctx, [sub.product_id]))[sub.product_id]
        used = figures.consumed
        remaining = figures.total - seats_removed
    if remaining < used:
        need = used - remaining
        raise refuse(
            ErrorCode.SEATS_IN_USE,
            f"{used} licenses of {ctx.catalog.products[sub.product_id].display_name} are assigned and only {max(remaining, 0)} "
            f"would remain: unassign {need} license{'s' if need != 1 else ''} first{hint}.",
            field=field,
        )


async def _finish(
    info: Info, work: Any, dry_run: bool
) -> SubscriptionPayload:
    result, errors = await run_mutation(info, work, dry_run=dry_run, license_lock=True)
    if result is None:
        return SubscriptionPayload(subscription=None, errors=errors, changes=None)
    sub, changes = result
    return SubscriptionPayload(subscription=Subscription.of(sub, info), errors=[], changes=changes)


async def purchase_subscription(info: Info, input: PurchaseSubscriptionInput) -> SubscriptionPayload:
    ctx = info.context
    dry_run = bool(input.dry_run)
    principal = ctx.principal

    async def work(conn: AsyncConnection) -> tuple[SubscriptionRecord, LicenseChangeSummary]:
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
        before = await pool_snapshot(conn, ctx, [product_id])
        sub = await subscriptions.insert_subscription(
            conn, ctx.tenant_id,
            {
                "product_id": product_id, "quantity": quantity, "is_trial": is_trial, "is_self_service": self_service,
                "purchased_by": principal.user.id if self_service and principal.user else None,
                "starts_at": starts_at, "term_starts_at": term_start, "term_ends_at": term_end,
                "recurring_billing": True if input.recurring_billing is None else input.recurring_billing,
            },
        )
        await subscriptions.lock_pools(conn, ctx.tenant_id, [product_id])
        from gql.mutations.licenses import recover_after_seats_freed

        await recover_after_seats_freed(conn, ctx, [product_id])
        after = await pool_snapshot(conn, ctx, [product_id])
        await record(
            conn, ctx, "SUBSCRIPTION_PURCHASED",
            f"Bought {quantity} seats of {ctx.catalog.products[product_id].display_name}"
            + (" (trial)" if is_trial else "") + (" (self-service)" if self_service else ""),
            target_id=Subscription.of(sub, info).id, seats=quantity,
        )
        return sub, summary(dry_run=dry_run, products=seat_changes(ctx, before, after))

    return await _finish(info, work, dry_run)


async def update_subscription_quantity(info: Info, input: UpdateSubscriptionQuantityInput) -> SubscriptionPayload:
    ctx = info.context
    dry_run = bool(input.dry_run)

    async def work(conn: AsyncConnection) -> tuple[SubscriptionRecord, LicenseChangeSummary]:
        if input.quantity == 0:
            raise v.invalid("input.quantity", "A quantity of 0 is not allowed: cancel the subscription instead.")
        quantity = v.quantity(input.quantity, "input.quantity")
        sub = await _load(conn, info, input.subscription_id)
        status = _require_usable(ctx, sub, "quantity")
        await subscriptions.lock_pools(conn, ctx.tenant_id, [sub.product_id])
        before = await pool_snapshot(conn, ctx, [sub.product_id])
        if status is SubscriptionStatus.ACTIVE or status is SubscriptionStatus.EXPIRED:
            await _check_seats(conn, ctx, sub, sub.quantity - quantity, hint=", then lower the quantity", field="input.quantity")
        updated = await subscriptions.update_subscription(conn, ctx.tenant_id, sub.id, {"quantity": quantity})
        from gql.mutations.licenses import recover_after_seats_freed

        if quantity > sub.quantity:
            await recover_after_seats_freed(conn, ctx, [sub.product_id])
        after = await pool_snapshot(conn, ctx, [sub.product_id])
        await record(
            conn, ctx, "SUBSCRIPTION_QUANTITY_CHANGED",
            f"Changed {ctx.catalog.products[sub.product_id].display_name} from {sub.quantity} to {quantity} seats",
            target_id=input.subscription_id, seats_before=sub.quantity, seats_after=quantity,
        )
        return updated, summary(dry_run=dry_run, products=seat_changes(ctx, before, after))

    return await _finish(info, work, dry_run)


async def cancel_subscription(info: Info, input: SubscriptionIdInput) -> SubscriptionPayload:
    ctx = info.context
    dry_run = bool(input.dry_run)

    async def work(conn: AsyncConnection) -> tuple[SubscriptionRecord, LicenseChangeSummary]:
        sub = await _load(conn, info, input.subscription_id)
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
        await subscriptions.lock_pools(conn, ctx.tenant_id, [sub.product_id])
        before = await pool_snapshot(conn, ctx, [sub.product_id])
        await _check_seats(conn, ctx, sub, sub.quantity, hint=", or turn off recurring billing", field="input.subscriptionId")
        updated = await subscriptions.update_subscription(conn, ctx.tenant_id, sub.id, {"cancelled_at": now, "stored_status": "DISABLED"})
        after = await pool_snapshot(conn, ctx, [sub.product_id])
        await record(conn, ctx, "SUBSCRIPTION_CANCELLED", f"Cancelled {_label(ctx, sub)}", target_id=input.subscription_id)
        return updated, summary(dry_run=dry_run, products=seat_changes(ctx, before, after))

    return await _finish(info, work, dry_run)


async def set_recurring_billing(info: Info, input: SetRecurringBillingInput) -> SubscriptionPayload:
    ctx = info.context
    dry_run = bool(input.dry_run)

    async def work(conn: AsyncConnection) -> tuple[SubscriptionRecord, LicenseChangeSummary]:
        sub = await _load(conn, info, input.subscription_id)
        _require_usable(ctx, sub, "recurring billing")
        now = ctx.services.clock.now()
        await subscriptions.lock_pools(conn, ctx.tenant_id, [sub.product_id])
        before = await pool_snapshot(conn, ctx, [sub.product_id])
        terms = roll_forward(subscription_terms(sub), now)  # renewals that already happened stay
        terms = roll_forward(
            type(terms)(terms.term_starts_at, terms.term_ends_at, terms.is_trial, input.enabled, terms.cancelled_at), now
        )
        updated = await subscriptions.update_subscription(
            conn, ctx.tenant_id, sub.id,
            {
                "recurring_billing": input.enabled, "term_starts_at": terms.term_starts_at,
                "term_ends_at": terms.term_ends_at, "is_trial": terms.is_trial,
            },
        )
        after = await pool_snapshot(conn, ctx, [sub.product_id])
        if after[sub.product_id].total > before[sub.product_id].total:
            from gql.mutations.licenses import recover_after_seats_freed

            await recover_after_seats_freed(conn, ctx, [sub.product_id])
            after = await pool_snapshot(conn, ctx, [sub.product_id])
        await record(
            conn, ctx, "SUBSCRIPTION_RECURRING_BILLING_CHANGED",
            f"Turned recurring billing {'on' if input.enabled else 'off'} for {_label(ctx, sub)}",
            target_id=input.subscription_id, enabled=input.enabled,
        )
        return updated, summary(dry_run=dry_run, products=seat_changes(ctx, before, after))

    return await _finish(info, work, dry_run)


async def take_over_subscription(info: Info, input: SubscriptionIdInput) -> SubscriptionPayload:
    ctx = info.context
    dry_run = bool(input.dry_run)

    async def work(conn: AsyncConnection) -> tuple[SubscriptionRecord, LicenseChangeSummary]:
        sub = await _load(conn, info, input.subscription_id)
        if not sub.is_self_service:
            raise v.invalid("input.subscriptionId", "This subscription is already managed by the organisation; there is nothing to take over.")
        _require_usable(ctx, sub, "ownership")
        await subscriptions.lock_pools(conn, ctx.tenant_id, [sub.product_id])
        before = await pool_snapshot(conn, ctx, [sub.product_id])
        moved = await licensing.take_over_seats(conn, ctx.tenant_id, sub.id, sub.product_id)
        updated = await subscriptions.update_subscription(conn, ctx.tenant_id, sub.id, {"is_self_service": False})
        from gql.mutations.licenses import recover_after_seats_freed

        await recover_after_seats_freed(conn, ctx, [sub.product_id])
        after = await pool_snapshot(conn, ctx, [sub.product_id])
        await record(
            conn, ctx, "SUBSCRIPTION_TAKEN_OVER", f"Took over self-service {_label(ctx, sub)}; {moved} license(s) joined the pool",
            target_id=input.subscription_id, licenses=moved,
        )
        return updated, summary(dry_run=dry_run, affected=moved, products=seat_changes(ctx, before, after))

    return await _finish(info, work, dry_run)


FIELDS = {
    "purchase_subscription": (purchase_subscription, SubscriptionPayload, [CanPurchase]),
    "update_subscription_quantity": (update_subscription_quantity, SubscriptionPayload, [CanManageSubscriptions]),
    "cancel_subscription": (cancel_subscription, SubscriptionPayload, [CanManageSubscriptions]),
    "set_recurring_billing": (set_recurring_billing, SubscriptionPayload, [CanManageSubscriptions]),
    "take_over_subscription": (take_over_subscription, SubscriptionPayload, [CanManageSubscriptions]),
}


