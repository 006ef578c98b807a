"""Subscriptions: purchaseSubscription, updateSubscriptionQuantity, cancelSubscription,
setRecurringBilling, takeOverSubscription (R3, R15, D6, D7, D23).

Each decides on records in memory — the subscription as the change would leave it and the pool
figures before and after — and writes only when it is not a dry run. Seats that become free
(bought, taken over, billing resumed) go to the paths waiting for them, in queue order, in the
same transaction (R4, D2); the summary shows who gets them, dry run or not (R19).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import datetime

from db.records import SubscriptionRecord
from db.repo import events, licensing, subscriptions
from engine.subscription_lifecycle import (
    SubscriptionStatus,
    SubscriptionTerms,
    first_term,
    roll_forward,
    view,
)
from engine.subscription_pool import PoolFigures
from services import validation as v
from services.change import Change, begin
from services.context import Actor, Runtime
from services.errors import ErrorCode, not_found, refuse
from services.ids import product_id_arg, to_global_id, uuid_arg
from services.license_changes import recover_seats
from services.pools import figures_of
from services.summaries import ChangeSummary, SeatMove


@dataclass(frozen=True)
class SubscriptionChanged:
    subscription: SubscriptionRecord
    changes: ChangeSummary


def _label(change: Change, sub: SubscriptionRecord) -> str:
    return f"{change.catalog.products[sub.product_id].display_name} ({sub.quantity} seats)"


def _with_terms(sub: SubscriptionRecord, terms: SubscriptionTerms) -> SubscriptionRecord:
    return replace(
        sub, term_starts_at=terms.term_starts_at, term_ends_at=terms.term_ends_at, is_trial=terms.is_trial,
        recurring_billing=terms.recurring_billing, cancelled_at=terms.cancelled_at,
    )


class PoolView:
    """The tenant's subscriptions and one product's seat counter, locked for a real run (D21)."""

    def __init__(self, change: Change, subs: list[SubscriptionRecord], consumed: dict[uuid.UUID, int]) -> None:
        self.change, self.subs, self.consumed = change, subs, consumed

    @classmethod
    async def load(cls, change: Change, product_id: uuid.UUID) -> PoolView:
        conn, tid = change.conn, change.tenant_id
        if change.dry_run:
            consumed = await subscriptions.pool_consumed(conn, tid, [product_id])
        else:
            consumed = await subscriptions.lock_pools(conn, tid, [product_id])
        return cls(change, await subscriptions.tenant_subscriptions(conn, tid), consumed)

    def figures(self, product_id: uuid.UUID, changed: SubscriptionRecord | None = None, extra_consumed: int = 0) -> PoolFigures:
        subs = list(self.subs)
        if changed is not None:
            subs = [changed if s.id == changed.id else s for s in subs]
            if all(s.id != changed.id for s in subs):
                subs.append(changed)
        consumed = {product_id: self.consumed.get(product_id, 0) + extra_consumed}
        window = self.change.runtime.cancellation_window
        return figures_of(subs, consumed, [product_id], self.change.now, window)[product_id]


async def _load(change: Change, raw: str) -> SubscriptionRecord:
    sid = uuid_arg(raw, "Subscription", "input.subscriptionId")
    found = (
        await subscriptions.subscriptions_by_ids(change.conn, change.tenant_id, [sid], for_update=not change.dry_run)
        if sid else {}
    )
    if sid is None or sid not in found:
        raise not_found("input.subscriptionId", "subscription")
    return found[sid]


def _status(change: Change, sub: SubscriptionRecord) -> SubscriptionStatus:
    return view(sub.terms, change.now, change.runtime.cancellation_window).status


def _require_usable(change: Change, sub: SubscriptionRecord, what: str) -> SubscriptionStatus:
    status = _status(change, sub)
    if status in (SubscriptionStatus.DISABLED, SubscriptionStatus.DELETED):
        raise refuse(
            ErrorCode.SUBSCRIPTION_NOT_ACTIVE,
            f"This subscription is {status.value}; its {what} can no longer be changed. Buy a new subscription instead.",
            field="input.subscriptionId",
        )
    return status


async def _refuse_if_seats_in_use(
    change: Change, before: SubscriptionRecord, after: SubscriptionRecord, pool_after: PoolFigures, *, hint: str, field: str,
) -> None:
    """SEATS_IN_USE when the change leaves fewer seats than are assigned (R15, D7)."""
    if before.is_self_service:
        used = await licensing.self_service_seats_used(change.conn, change.tenant_id, before.id)
        status = _status(change, after)
        remaining = after.quantity if status in (SubscriptionStatus.ACTIVE, SubscriptionStatus.EXPIRED) else 0
    else:
        used, remaining = pool_after.consumed, pool_after.total
    if remaining < used:
        need = used - remaining
        raise refuse(
            ErrorCode.SEATS_IN_USE,
            f"{used} licenses of {change.catalog.products[before.product_id].display_name} are assigned and only "
            f"{max(remaining, 0)} would remain: unassign {need} license{'s' if need != 1 else ''} first{hint}.",
            field=field,
        )


async def _summary(
    change: Change, product_id: uuid.UUID, before: PoolFigures, after: PoolFigures, *, recover: bool, affected: int = 0,
) -> ChangeSummary:
    """Seats before and after; with `recover`, the new free seats go to whoever waits for them
    (R4, D2), and the summary shows the paths that take them."""
    if not change.dry_run and before != after:  # R27: seatsChanged
        await events.notify_seats(change.conn, change.tenant_id, [product_id])
    summary = ChangeSummary(change.dry_run, affected, [SeatMove(product_id, before.consumed, after.consumed, after.total)])
    if recover and after.available > 0:
        for decision in await recover_seats(change, [product_id], free_seats={product_id: after.available}):
            # the waiting paths that take the seats, and whatever else their users' seats move (R7)
            summary = summary.merged(decision.summary(change), change.catalog)
    # this change sets the product's total (a dry run's later steps read the stored one)
    seats = [replace(s, total_units=after.total) if s.product_id == product_id else s for s in summary.seats]
    return replace(summary, seats=seats)


# ------------------------------------------------------------------------------ purchaseSubscription


@dataclass(frozen=True)
class PurchaseSubscription:
    product_id: str
    quantity: int
    is_trial: bool = False
    self_service: bool = False
    starts_at: datetime | None = None
    recurring_billing: bool | None = None
    dry_run: bool = False


async def purchase_subscription(rt: Runtime, actor: Actor, request: PurchaseSubscription) -> SubscriptionChanged:
    async with begin(rt, actor, dry_run=request.dry_run, license_lock=True) as change:
        product_id = product_id_arg(change.catalog, request.product_id, "input.productId")
        if product_id is None:
            raise not_found("input.productId", "product of the catalog")
        quantity = v.quantity(request.quantity, "input.quantity")
        self_service = bool(request.self_service)
        if self_service and actor.user is None:
            raise v.invalid(
                "input.selfService",
                "A self-service purchase is made by a user for themselves; this token names no user of the organisation.",
            )
        starts_at = request.starts_at or change.now
        if starts_at.tzinfo is None:
            raise v.invalid("input.startsAt", "`input.startsAt` needs a time zone, e.g. 2026-01-31T09:00:00Z.")
        if starts_at > change.now:
            raise v.invalid("input.startsAt", "`input.startsAt` cannot be in the future; omit it to start now.")
        is_trial = bool(request.is_trial)
        term_start, term_end = first_term(starts_at, is_trial)
        values = {
            "product_id": product_id, "quantity": quantity, "is_trial": is_trial, "is_self_service": self_service,
            "purchased_by": actor.user.id if self_service and actor.user else None,
            "starts_at": starts_at, "term_starts_at": term_start, "term_ends_at": term_end,
            "recurring_billing": True if request.recurring_billing is None else request.recurring_billing,
        }
        pool = await PoolView.load(change, product_id)
        if change.dry_run:
            sub = SubscriptionRecord(id=uuid.uuid4(), cancelled_at=None, **values)  # type: ignore[arg-type]
        else:
            sub = await subscriptions.insert_subscription(change.conn, change.tenant_id, values)
        before, after = pool.figures(product_id), pool.figures(product_id, sub)
        changes = await _summary(change, product_id, before, after, recover=not self_service)
        await change.audit(
            "SUBSCRIPTION_PURCHASED",
            f"Bought {quantity} seats of {change.catalog.products[product_id].display_name}"
            + (" (trial)" if is_trial else "") + (" (self-service)" if self_service else ""),
            target_id=to_global_id("Subscription", sub.id), seats=quantity,
        )
        return SubscriptionChanged(sub, changes)


# ------------------------------------------------------------------------------ updateSubscriptionQuantity


@dataclass(frozen=True)
class UpdateSubscriptionQuantity:
    subscription_id: str
    quantity: int
    dry_run: bool = False


async def update_subscription_quantity(rt: Runtime, actor: Actor, request: UpdateSubscriptionQuantity) -> SubscriptionChanged:
    async with begin(rt, actor, dry_run=request.dry_run, license_lock=True) as change:
        if request.quantity == 0:
            raise v.invalid("input.quantity", "A quantity of 0 is not allowed: cancel the subscription instead.")
        quantity = v.quantity(request.quantity, "input.quantity")
        sub = await _load(change, request.subscription_id)
        _require_usable(change, sub, "quantity")
        pool = await PoolView.load(change, sub.product_id)
        updated = replace(sub, quantity=quantity)
        before, after = pool.figures(sub.product_id), pool.figures(sub.product_id, updated)
        if quantity < sub.quantity:
            await _refuse_if_seats_in_use(change, sub, updated, after, hint=", then lower the quantity", field="input.quantity")
        if not change.dry_run:
            updated = await subscriptions.update_subscription(change.conn, change.tenant_id, sub.id, {"quantity": quantity})
        changes = await _summary(change, sub.product_id, before, after, recover=quantity > sub.quantity and not sub.is_self_service)
        if quantity == sub.quantity:  # R21: the same quantity again changes nothing and is not audited
            return SubscriptionChanged(updated, changes)
        await change.audit(
            "SUBSCRIPTION_QUANTITY_CHANGED",
            f"Changed {change.catalog.products[sub.product_id].display_name} from {sub.quantity} to {quantity} seats",
            target_id=request.subscription_id, seats_before=sub.quantity, seats_after=quantity,
        )
        return SubscriptionChanged(updated, changes)


# ------------------------------------------------------------------------------ cancelSubscription


@dataclass(frozen=True)
class SubscriptionRequest:
    subscription_id: str
    dry_run: bool = False


async def cancel_subscription(rt: Runtime, actor: Actor, request: SubscriptionRequest) -> SubscriptionChanged:
    async with begin(rt, actor, dry_run=request.dry_run, license_lock=True) as change:
        sub = await _load(change, request.subscription_id)
        _require_usable(change, sub, "cancellation")
        now = change.now
        current = view(sub.terms, now, rt.cancellation_window)
        if not current.can_cancel:
            raise refuse(
                ErrorCode.CANCELLATION_WINDOW_PASSED,
                f"The cancellation window of {_label(change, sub)} ended on {current.cancellation_window_ends_at:%Y-%m-%d}; "
                "turn off recurring billing instead, and the subscription ends at the end of its term "
                f"({current.current_term_ends_at:%Y-%m-%d}).",
                field="input.subscriptionId",
            )
        pool = await PoolView.load(change, sub.product_id)
        # keep the renewals that already happened (a converted trial stays paid), then cancel
        terms = roll_forward(sub.terms, now)
        updated = _with_terms(sub, replace(terms, cancelled_at=now))
        before, after = pool.figures(sub.product_id), pool.figures(sub.product_id, updated)
        await _refuse_if_seats_in_use(change, sub, updated, after, hint=", or turn off recurring billing", field="input.subscriptionId")
        if not change.dry_run:
            updated = await subscriptions.update_subscription(
                change.conn, change.tenant_id, sub.id,
                {"cancelled_at": now, "term_starts_at": terms.term_starts_at, "term_ends_at": terms.term_ends_at,
                 "is_trial": terms.is_trial, "stored_status": SubscriptionStatus.DISABLED.value},
            )
        await change.audit("SUBSCRIPTION_CANCELLED", f"Cancelled {_label(change, sub)}", target_id=request.subscription_id)
        return SubscriptionChanged(updated, await _summary(change, sub.product_id, before, after, recover=False))


# ------------------------------------------------------------------------------ setRecurringBilling


@dataclass(frozen=True)
class SetRecurringBilling:
    subscription_id: str
    enabled: bool
    dry_run: bool = False


async def set_recurring_billing(rt: Runtime, actor: Actor, request: SetRecurringBilling) -> SubscriptionChanged:
    async with begin(rt, actor, dry_run=request.dry_run, license_lock=True) as change:
        sub = await _load(change, request.subscription_id)
        _require_usable(change, sub, "recurring billing")
        now = change.now
        pool = await PoolView.load(change, sub.product_id)
        terms = roll_forward(sub.terms, now)  # renewals that already happened stay
        terms = roll_forward(replace(terms, recurring_billing=request.enabled), now)  # an EXPIRED one renews when turned on
        updated = _with_terms(sub, terms)
        before, after = pool.figures(sub.product_id), pool.figures(sub.product_id, updated)
        if not change.dry_run:
            updated = await subscriptions.update_subscription(
                change.conn, change.tenant_id, sub.id,
                {"recurring_billing": request.enabled, "term_starts_at": terms.term_starts_at,
                 "term_ends_at": terms.term_ends_at, "is_trial": terms.is_trial},
            )
        changes = await _summary(change, sub.product_id, before, after, recover=after.total > before.total and not sub.is_self_service)
        if terms == sub.terms:  # R21: already so, nothing changed, nothing audited
            return SubscriptionChanged(updated, changes)
        await change.audit(
            "SUBSCRIPTION_RECURRING_BILLING_CHANGED",
            f"Turned recurring billing {'on' if request.enabled else 'off'} for {_label(change, sub)}",
            target_id=request.subscription_id, enabled=request.enabled,
        )
        return SubscriptionChanged(updated, changes)


# ------------------------------------------------------------------------------ takeOverSubscription


async def take_over_subscription(rt: Runtime, actor: Actor, request: SubscriptionRequest) -> SubscriptionChanged:
    async with begin(rt, actor, dry_run=request.dry_run, license_lock=True) as change:
        sub = await _load(change, request.subscription_id)
        if not sub.is_self_service:
            raise v.invalid("input.subscriptionId", "This subscription is already managed by the organisation; there is nothing to take over.")
        _require_usable(change, sub, "ownership")
        pool = await PoolView.load(change, sub.product_id)
        moved = await licensing.self_service_seats_used(change.conn, change.tenant_id, sub.id)
        updated = replace(sub, is_self_service=False)
        before, after = pool.figures(sub.product_id), pool.figures(sub.product_id, updated, extra_consumed=moved)
        if not change.dry_run:
            await licensing.take_over_seats(change.conn, change.tenant_id, sub.id, sub.product_id)
            updated = await subscriptions.update_subscription(change.conn, change.tenant_id, sub.id, {"is_self_service": False})
        # the licenses drawn from it stay as they are (their seats are the pool's now): nobody's
        # licenses or paths change, so no user is affected (D16)
        changes = await _summary(change, sub.product_id, before, after, recover=True)
        await change.audit(
            "SUBSCRIPTION_TAKEN_OVER", f"Took over self-service {_label(change, sub)}; {moved} license(s) joined the pool",
            target_id=request.subscription_id, licenses=moved,
        )
        return SubscriptionChanged(updated, changes)

