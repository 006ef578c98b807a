"""purchaseSubscription, updateSubscriptionQuantity, cancelSubscription, setRecurringBilling,
takeOverSubscription (R3, R15, D6, D7, D23)."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from gql.changes import LicenseChangeSummary, changes_of
from gql.errors import UserError
from gql.inputs import (
    PurchaseSubscriptionInput,
    SetRecurringBillingInput,
    SubscriptionIdInput,
    UpdateSubscriptionQuantityInput,
)
from gql.mutations.common import Field, run
from gql.permissions import CanManageSubscriptions, CanPurchase
from gql.types import Subscription
from services import subscriptions


@strawberry.type
class SubscriptionPayload:
    subscription: Subscription | None
    errors: list[UserError]
    changes: LicenseChangeSummary | None


async def _payload(info: Info, use_case: object, request: object) -> SubscriptionPayload:
    done, errors = await run(info, use_case, request)  # type: ignore[arg-type]
    if done is None:
        return SubscriptionPayload(subscription=None, errors=errors, changes=None)
    return SubscriptionPayload(subscription=Subscription.of(done.subscription, info), errors=[], changes=changes_of(done.changes))


async def purchase_subscription(info: Info, input: PurchaseSubscriptionInput) -> SubscriptionPayload:
    request = subscriptions.PurchaseSubscription(
        input.product_id, input.quantity, bool(input.is_trial), bool(input.self_service), input.starts_at,
        input.recurring_billing, dry_run=bool(input.dry_run),
    )
    return await _payload(info, subscriptions.purchase_subscription, request)


async def update_subscription_quantity(info: Info, input: UpdateSubscriptionQuantityInput) -> SubscriptionPayload:
    request = subscriptions.UpdateSubscriptionQuantity(input.subscription_id, input.quantity, dry_run=bool(input.dry_run))
    return await _payload(info, subscriptions.update_subscription_quantity, request)


async def cancel_subscription(info: Info, input: SubscriptionIdInput) -> SubscriptionPayload:
    request = subscriptions.SubscriptionRequest(input.subscription_id, dry_run=bool(input.dry_run))
    return await _payload(info, subscriptions.cancel_subscription, request)


async def set_recurring_billing(info: Info, input: SetRecurringBillingInput) -> SubscriptionPayload:
    request = subscriptions.SetRecurringBilling(input.subscription_id, input.enabled, dry_run=bool(input.dry_run))
    return await _payload(info, subscriptions.set_recurring_billing, request)


async def take_over_subscription(info: Info, input: SubscriptionIdInput) -> SubscriptionPayload:
    request = subscriptions.SubscriptionRequest(input.subscription_id, dry_run=bool(input.dry_run))
    return await _payload(info, subscriptions.take_over_subscription, request)


FIELDS: dict[str, Field] = {
    "purchase_subscription": (purchase_subscription, SubscriptionPayload, [CanPurchase]),
    "update_subscription_quantity": (update_subscription_quantity, SubscriptionPayload, [CanManageSubscriptions]),
    "cancel_subscription": (cancel_subscription, SubscriptionPayload, [CanManageSubscriptions]),
    "set_recurring_billing": (set_recurring_billing, SubscriptionPayload, [CanManageSubscriptions]),
    "take_over_subscription": (take_over_subscription, SubscriptionPayload, [CanManageSubscriptions]),
}
