"""Subscriptions through the API: pooling, self-service, the lifecycle in time (R2, R3, R15, D6, D7, D13, D23).

The app reads the session's ManualClock; tests that move it use the `clock_now` fixture, which
sets it to the real time before the test and puts it back afterwards.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text

from engine.subscription_lifecycle import add_years
from tests.support import Tenant

SUBSCRIPTIONS = """
query {
  subscriptions {
    id quantity status isTrial isSelfService purchasedBy { id } startsAt currentTermEndsAt recurringBilling
    cancellationWindowEndsAt canCancel product { skuPartNumber }
  }
}"""
PRODUCTS = """
query {
  products {
    id skuPartNumber displayName totalUnits consumedUnits availableUnits
    prepaidUnits { enabled warning suspended }
    subscriptions { id quantity isSelfService status }
  }
}"""
AUDIT_COUNT = "{ auditLog(first: 0) { totalCount } }"
PAYLOAD = """
  subscription { id quantity status isTrial isSelfService recurringBilling startsAt currentTermEndsAt cancellationWindowEndsAt canCancel }
  errors { code field message }
  changes { dryRun affectedUserCount products { product { skuPartNumber } totalUnits consumedBefore consumedAfter } }
"""
PURCHASE = "mutation($i: PurchaseSubscriptionInput!) { purchaseSubscription(input: $i) { " + PAYLOAD + " } }"
QUANTITY = "mutation($i: UpdateSubscriptionQuantityInput!) { updateSubscriptionQuantity(input: $i) { " + PAYLOAD + " } }"
CANCEL = "mutation($i: SubscriptionIdInput!) { cancelSubscription(input: $i) { " + PAYLOAD + " } }"
RECURRING = "mutation($i: SetRecurringBillingInput!) { setRecurringBilling(input: $i) { " + PAYLOAD + " } }"
TAKE_OVER = "mutation($i: SubscriptionIdInput!) { takeOverSubscription(input: $i) { " + PAYLOAD + " } }"


@pytest.fixture
def clock_now(clock: Any) -> Iterator[Any]:
    """The app's clock at the real time; restored to the real time after the test."""
    clock.set(datetime.now(UTC))
    yield clock
    clock.set(datetime.now(UTC))


def ts(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value is not None else None


async def product_id(tenant: Tenant, sku: str) -> str:
    return (await tenant.ok("query($s: String!) { product(skuPartNumber: $s) { id } }", {"s": sku}))["product"]["id"]


async def purchase(tenant: Tenant, sku: str, quantity: int, *, token: str | None = None, **extra: Any) -> dict[str, Any]:
    pid = await product_id(tenant, sku)
    return await tenant.mutate("purchaseSubscription", PURCHASE, {"i": {"productId": pid, "quantity": quantity, **extra}}, token=token)


async def subscription(tenant: Tenant, sid: str) -> dict[str, Any]:
    rows = {s["id"]: s for s in (await tenant.ok(SUBSCRIPTIONS))["subscriptions"]}
    return rows[sid]


async def pool(tenant: Tenant, sku: str) -> dict[str, Any]:
    rows = {p["skuPartNumber"]: p for p in (await tenant.ok(PRODUCTS))["products"]}
    return rows[sku]


def figures(row: dict[str, Any]) -> tuple[int, int, int, int]:
    """(enabled, warning, suspended, totalUnits)."""
    p = row["prepaidUnits"]
    return p["enabled"], p["warning"], p["suspended"], row["totalUnits"]


async def refused(tenant: Tenant, query: str, variables: dict[str, Any], code: str) -> dict[str, Any]:
    body = await tenant.gql(query, variables)
    assert "errors" not in body, body["errors"]
    (payload,) = body["data"].values()
    assert [e["code"] for e in payload["errors"]] == [code], payload["errors"]
    assert payload["subscription"] is None and payload["changes"] is None
    return payload["errors"][0]


async def self_service_buyer(tenant: Tenant, name: str = "Sam Self") -> tuple[str, str]:
    """A user with no admin role, and a token naming them."""
    uid = await tenant.create_user(name)
    upn = f"{name.lower().replace(' ', '.')}@{tenant.domain}"
    return uid, tenant.token(sub=upn)


# ---------------------------------------------------------------------------- pooling (R2, D13)


async def test_r2_two_subscriptions_of_one_product_pool_into_one_row(tenant: Tenant, clock_now: Any) -> None:
    five = await purchase(tenant, "SPB", 5)
    eight = await purchase(tenant, "SPB", 8)
    assert [(c["product"]["skuPartNumber"], c["totalUnits"]) for c in eight["changes"]["products"]] == [("SPB", 13)]
    products = (await tenant.ok(PRODUCTS))["products"]
    assert len(products) == 1
    spb = products[0]
    assert spb["displayName"] == "Microsoft 365 Business Premium"
    assert figures(spb) == (13, 0, 0, 13)
    assert spb["consumedUnits"] == 0 and spb["availableUnits"] == 13
    assert sorted(s["quantity"] for s in spb["subscriptions"]) == [5, 8]
    rows = (await tenant.ok(SUBSCRIPTIONS))["subscriptions"]
    assert sorted((s["id"], s["quantity"]) for s in rows) == sorted(
        [(five["subscription"]["id"], 5), (eight["subscription"]["id"], 8)]
    )
    assert all(s["status"] == "ACTIVE" and s["product"]["skuPartNumber"] == "SPB" for s in rows)


async def test_d13_products_lists_only_owned_products_by_display_name(tenant: Tenant, clock_now: Any) -> None:
    assert (await tenant.ok(PRODUCTS))["products"] == []
    for sku in ("SPE_E5", "POWER_BI_PRO", "SPB", "EXCHANGESTANDARD"):
        await purchase(tenant, sku, 1)
    names = [p["displayName"] for p in (await tenant.ok(PRODUCTS))["products"]]
    assert names == ["Exchange Online (Plan 1)", "Microsoft 365 Business Premium", "Microsoft 365 E5", "Power BI Pro"]
    # a product not owned still resolves, with zero figures
    e3 = await tenant.ok('{ product(skuPartNumber: "ENTERPRISEPACK") { totalUnits prepaidUnits { enabled } subscriptions { id } } }')
    assert e3["product"] == {"totalUnits": 0, "prepaidUnits": {"enabled": 0}, "subscriptions": []}


async def test_d7_a_paid_subscription_has_a_one_year_term_and_a_seven_day_window(tenant: Tenant, clock_now: Any) -> None:
    now = clock_now.now()
    sub = (await purchase(tenant, "SPB", 5))["subscription"]
    assert ts(sub["startsAt"]) == now
    assert ts(sub["currentTermEndsAt"]) == add_years(now, 1)
    assert ts(sub["cancellationWindowEndsAt"]) == now + timedelta(days=7)
    assert sub["recurringBilling"] is True and sub["isTrial"] is False and sub["canCancel"] is True
    listed = await subscription(tenant, sub["id"])
    assert listed["purchasedBy"] is None and listed["isSelfService"] is False


# ---------------------------------------------------------------------------- self-service (R3, D6)


async def test_r3_self_service_subscriptions_are_listed_but_not_pooled(tenant: Tenant, clock_now: Any) -> None:
    sam, token = await self_service_buyer(tenant)
    await purchase(tenant, "SPB", 5)
    own = await purchase(tenant, "SPB", 3, token=token, selfService=True)
    assert own["subscription"]["isSelfService"] is True
    row = await subscription(tenant, own["subscription"]["id"])
    assert row["isSelfService"] is True
    assert row["purchasedBy"] == {"id": sam}
    spb = await pool(tenant, "SPB")
    assert figures(spb) == (5, 0, 0, 5)
    assert sorted((s["quantity"], s["isSelfService"]) for s in spb["subscriptions"]) == [(3, True), (5, False)]


async def test_d13_a_product_with_only_self_service_seats_is_listed_with_zero_pool(tenant: Tenant, clock_now: Any) -> None:
    _, token = await self_service_buyer(tenant)
    await purchase(tenant, "POWER_BI_PRO", 2, token=token, selfService=True)
    row = await pool(tenant, "POWER_BI_PRO")
    assert figures(row) == (0, 0, 0, 0)
    assert [s["quantity"] for s in row["subscriptions"]] == [2]


async def test_d6_a_caller_without_admin_role_may_only_buy_self_service(tenant: Tenant, clock_now: Any) -> None:
    _, token = await self_service_buyer(tenant)
    pid = await product_id(tenant, "SPB")
    body = await tenant.gql(PURCHASE, {"i": {"productId": pid, "quantity": 2}}, token=token)
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert (await tenant.ok(SUBSCRIPTIONS))["subscriptions"] == []


async def test_d22_an_admin_principal_with_no_user_cannot_buy_self_service(tenant: Tenant, clock_now: Any) -> None:
    pid = await product_id(tenant, "SPB")
    error = await refused(tenant, PURCHASE, {"i": {"productId": pid, "quantity": 2, "selfService": True}}, "INVALID_INPUT")
    assert error["field"] == "input.selfService"
    assert (await tenant.ok(SUBSCRIPTIONS))["subscriptions"] == []


async def test_r3_take_over_moves_self_service_seats_into_the_pool(tenant: Tenant, clock_now: Any) -> None:
    _, token = await self_service_buyer(tenant)
    await purchase(tenant, "SPB", 5)
    own = (await purchase(tenant, "SPB", 3, token=token, selfService=True))["subscription"]
    taken = await tenant.mutate("takeOverSubscription", TAKE_OVER, {"i": {"subscriptionId": own["id"]}})
    assert taken["subscription"]["isSelfService"] is False
    assert [(c["product"]["skuPartNumber"], c["totalUnits"]) for c in taken["changes"]["products"]] == [("SPB", 8)]
    assert (await subscription(tenant, own["id"]))["isSelfService"] is False
    assert figures(await pool(tenant, "SPB")) == (8, 0, 0, 8)


async def test_d6_taking_over_an_organisation_subscription_is_invalid_input(tenant: Tenant, clock_now: Any) -> None:
    org = (await purchase(tenant, "SPB", 5))["subscription"]
    audit = await tenant.ok(AUDIT_COUNT)
    error = await refused(tenant, TAKE_OVER, {"i": {"subscriptionId": org["id"]}}, "INVALID_INPUT")
    assert error["field"] == "input.subscriptionId"
    assert (await subscription(tenant, org["id"]))["isSelfService"] is False
    assert await tenant.ok(AUDIT_COUNT) == audit


async def test_d23_an_expired_self_service_subscription_can_be_taken_over(tenant: Tenant, clock_now: Any) -> None:
    _, token = await self_service_buyer(tenant)
    own = (await purchase(tenant, "SPB", 3, token=token, selfService=True, recurringBilling=False))["subscription"]
    clock_now.set(ts(own["currentTermEndsAt"]) + timedelta(days=5))
    assert (await subscription(tenant, own["id"]))["status"] == "EXPIRED"
    taken = await tenant.mutate("takeOverSubscription", TAKE_OVER, {"i": {"subscriptionId": own["id"]}})
    assert taken["subscription"]["isSelfService"] is False
    assert figures(await pool(tenant, "SPB")) == (0, 3, 0, 3)


# ---------------------------------------------------------------------------- cancellation (R15, D7)


async def test_r15_cancelling_inside_the_window_disables_at_once_and_seats_leave_the_pool(tenant: Tenant, clock_now: Any) -> None:
    await purchase(tenant, "SPB", 5)
    eight = (await purchase(tenant, "SPB", 8))["subscription"]
    clock_now.advance(timedelta(days=6))
    cancelled = await tenant.mutate("cancelSubscription", CANCEL, {"i": {"subscriptionId": eight["id"]}})
    assert cancelled["subscription"]["status"] == "DISABLED"
    assert cancelled["subscription"]["canCancel"] is False
    assert [(c["product"]["skuPartNumber"], c["totalUnits"]) for c in cancelled["changes"]["products"]] == [("SPB", 5)]
    assert (await subscription(tenant, eight["id"]))["status"] == "DISABLED"
    assert figures(await pool(tenant, "SPB")) == (5, 0, 8, 5)


async def test_r15_cancelling_after_the_window_is_refused_pointing_to_recurring_billing(tenant: Tenant, clock_now: Any) -> None:
    sub = (await purchase(tenant, "SPB", 5))["subscription"]
    clock_now.advance(timedelta(days=8))
    row = await subscription(tenant, sub["id"])
    assert row["canCancel"] is False and row["status"] == "ACTIVE"
    audit = await tenant.ok(AUDIT_COUNT)
    error = await refused(tenant, CANCEL, {"i": {"subscriptionId": sub["id"]}}, "CANCELLATION_WINDOW_PASSED")
    assert "recurring billing" in error["message"].lower()
    assert (await subscription(tenant, sub["id"]))["status"] == "ACTIVE"
    assert figures(await pool(tenant, "SPB")) == (5, 0, 0, 5)
    assert await tenant.ok(AUDIT_COUNT) == audit


async def test_d7_a_trial_can_be_cancelled_any_time_and_has_no_window(tenant: Tenant, clock_now: Any) -> None:
    now = clock_now.now()
    trial = (await purchase(tenant, "SPB", 25, isTrial=True))["subscription"]
    assert trial["isTrial"] is True
    assert trial["cancellationWindowEndsAt"] is None and trial["canCancel"] is True
    assert ts(trial["currentTermEndsAt"]) == now + timedelta(days=30)
    clock_now.advance(timedelta(days=20))
    row = await subscription(tenant, trial["id"])
    assert row["cancellationWindowEndsAt"] is None and row["canCancel"] is True
    cancelled = await tenant.mutate("cancelSubscription", CANCEL, {"i": {"subscriptionId": trial["id"]}})
    assert cancelled["subscription"]["status"] == "DISABLED"
    assert figures(await pool(tenant, "SPB")) == (0, 0, 25, 0)


# ---------------------------------------------------------------------------- lifecycle in time (R15, D7)


async def test_r15_without_recurring_billing_a_subscription_expires_then_is_disabled_then_deleted(
    tenant: Tenant, clock_now: Any
) -> None:
    sub = (await purchase(tenant, "SPB", 5))["subscription"]
    off = await tenant.mutate("setRecurringBilling", RECURRING, {"i": {"subscriptionId": sub["id"], "enabled": False}})
    assert off["subscription"]["recurringBilling"] is False
    assert off["subscription"]["currentTermEndsAt"] == sub["currentTermEndsAt"]
    end = ts(sub["currentTermEndsAt"])

    clock_now.set(end - timedelta(seconds=1))
    assert (await subscription(tenant, sub["id"]))["status"] == "ACTIVE"

    clock_now.set(end + timedelta(days=1))
    row = await subscription(tenant, sub["id"])
    assert row["status"] == "EXPIRED"
    assert row["currentTermEndsAt"] == sub["currentTermEndsAt"]  # no renewal
    assert figures(await pool(tenant, "SPB")) == (0, 5, 0, 5)  # in grace: still usable

    clock_now.set(end + timedelta(days=31))
    assert (await subscription(tenant, sub["id"]))["status"] == "DISABLED"
    assert figures(await pool(tenant, "SPB")) == (0, 0, 5, 0)

    clock_now.set(end + timedelta(days=30 + 91))
    assert (await subscription(tenant, sub["id"]))["status"] == "DELETED"
    rows = (await tenant.ok(SUBSCRIPTIONS))["subscriptions"]
    assert [(r["id"], r["status"]) for r in rows] == [(sub["id"], "DELETED")]
    spb = (await tenant.ok('{ product(skuPartNumber: "SPB") { totalUnits prepaidUnits { enabled warning suspended } } }'))["product"]
    assert spb == {"totalUnits": 0, "prepaidUnits": {"enabled": 0, "warning": 0, "suspended": 0}}


async def test_d7_with_recurring_billing_a_paid_subscription_renews_with_a_new_window(tenant: Tenant, clock_now: Any) -> None:
    sub = (await purchase(tenant, "SPB", 5))["subscription"]
    end = ts(sub["currentTermEndsAt"])
    clock_now.set(end + timedelta(days=2))
    row = await subscription(tenant, sub["id"])
    assert row["status"] == "ACTIVE"
    assert ts(row["currentTermEndsAt"]) == add_years(end, 1)
    assert ts(row["cancellationWindowEndsAt"]) == end + timedelta(days=7)
    assert row["canCancel"] is True
    assert ts(row["startsAt"]) == ts(sub["startsAt"])
    assert figures(await pool(tenant, "SPB")) == (5, 0, 0, 5)
    # the renewal's window is a real one: cancelling inside it works
    cancelled = await tenant.mutate("cancelSubscription", CANCEL, {"i": {"subscriptionId": sub["id"]}})
    assert cancelled["subscription"]["status"] == "DISABLED"


async def test_d7_cancelling_in_a_renewed_term_keeps_that_term(tenant: Tenant, clock_now: Any) -> None:
    sub = (await purchase(tenant, "SPB", 5))["subscription"]
    end = ts(sub["currentTermEndsAt"])
    clock_now.set(end + timedelta(days=2))
    cancelled = (await tenant.mutate("cancelSubscription", CANCEL, {"i": {"subscriptionId": sub["id"]}}))["subscription"]
    assert cancelled["status"] == "DISABLED"
    row = await subscription(tenant, sub["id"])
    assert row["status"] == "DISABLED"
    # the renewal happened before the cancellation: the subscription does not fall back to the year before
    assert ts(row["currentTermEndsAt"]) == add_years(end, 1), row
    assert ts(row["cancellationWindowEndsAt"]) == end + timedelta(days=7), row


async def test_d23_a_converted_trial_still_reads_paid_after_it_is_cancelled(tenant: Tenant, clock_now: Any) -> None:
    trial = (await purchase(tenant, "SPB", 25, isTrial=True))["subscription"]
    end = ts(trial["currentTermEndsAt"])
    clock_now.set(end + timedelta(days=1))
    assert (await subscription(tenant, trial["id"]))["isTrial"] is False
    cancelled = (await tenant.mutate("cancelSubscription", CANCEL, {"i": {"subscriptionId": trial["id"]}}))["subscription"]
    assert cancelled["status"] == "DISABLED"
    row = await subscription(tenant, trial["id"])
    assert row["status"] == "DISABLED"
    assert row["isTrial"] is False, "a converted trial reads isTrial: false, also once cancelled"
    assert ts(row["currentTermEndsAt"]) == add_years(end, 1), row


async def test_d13_a_subscription_is_a_node_of_its_tenant_only(tenant: Tenant, clock_now: Any) -> None:
    sub = (await purchase(tenant, "SPB", 5))["subscription"]
    query = "query($id: ID!) { node(id: $id) { __typename ... on Subscription { quantity product { skuPartNumber } } } }"
    node = await tenant.ok(query, {"id": sub["id"]})
    assert node["node"] == {"__typename": "Subscription", "quantity": 5, "product": {"skuPartNumber": "SPB"}}
    other = await tenant.api.new_tenant()
    assert (await other.ok(query, {"id": sub["id"]}))["node"] is None
    error = await refused(other, CANCEL, {"i": {"subscriptionId": sub["id"]}}, "NOT_FOUND")
    assert error["field"] == "input.subscriptionId"
    assert (await subscription(tenant, sub["id"]))["status"] == "ACTIVE"


async def test_d7_turning_recurring_billing_off_after_a_renewal_keeps_the_renewed_term(tenant: Tenant, clock_now: Any) -> None:
    sub = (await purchase(tenant, "SPB", 5))["subscription"]
    end = ts(sub["currentTermEndsAt"])
    clock_now.set(end + timedelta(days=10))
    off = await tenant.mutate("setRecurringBilling", RECURRING, {"i": {"subscriptionId": sub["id"], "enabled": False}})
    assert ts(off["subscription"]["currentTermEndsAt"]) == add_years(end, 1)
    clock_now.set(add_years(end, 1) + timedelta(days=1))
    assert (await subscription(tenant, sub["id"]))["status"] == "EXPIRED"


async def test_d7_a_trial_with_recurring_billing_converts_to_paid_at_30_days(tenant: Tenant, clock_now: Any) -> None:
    trial = (await purchase(tenant, "SPB", 25, isTrial=True))["subscription"]
    end = ts(trial["currentTermEndsAt"])
    clock_now.set(end + timedelta(days=1))
    row = await subscription(tenant, trial["id"])
    assert row["status"] == "ACTIVE"
    assert row["isTrial"] is False
    assert ts(row["currentTermEndsAt"]) == add_years(end, 1)
    assert ts(row["cancellationWindowEndsAt"]) == end + timedelta(days=7)
    assert figures(await pool(tenant, "SPB")) == (25, 0, 0, 25)


async def test_d7_a_trial_without_recurring_billing_expires(tenant: Tenant, clock_now: Any) -> None:
    trial = (await purchase(tenant, "SPB", 25, isTrial=True, recurringBilling=False))["subscription"]
    end = ts(trial["currentTermEndsAt"])
    clock_now.set(end + timedelta(days=1))
    row = await subscription(tenant, trial["id"])
    assert row["status"] == "EXPIRED"
    assert row["currentTermEndsAt"] == trial["currentTermEndsAt"]
    assert figures(await pool(tenant, "SPB")) == (0, 25, 0, 25)


async def test_r15_importing_an_existing_subscription_derives_its_status(tenant: Tenant, clock_now: Any) -> None:
    now = clock_now.now()
    start = now - timedelta(days=400)
    renewed = (await purchase(tenant, "SPB", 5, startsAt=start.isoformat()))["subscription"]
    assert ts(renewed["startsAt"]) == start
    assert renewed["status"] == "ACTIVE"
    assert ts(renewed["currentTermEndsAt"]) == add_years(start, 2)
    assert ts(renewed["cancellationWindowEndsAt"]) == add_years(start, 1) + timedelta(days=7)
    assert renewed["canCancel"] is False

    expired = (await purchase(tenant, "SPB", 7, startsAt=(now - timedelta(days=380)).isoformat(), recurringBilling=False))
    assert expired["subscription"]["status"] == "EXPIRED"
    disabled = (await purchase(tenant, "SPB", 11, startsAt=start.isoformat(), recurringBilling=False))
    assert disabled["subscription"]["status"] == "DISABLED"
    assert [(c["product"]["skuPartNumber"], c["totalUnits"]) for c in disabled["changes"]["products"]] == [("SPB", 12)]
    assert figures(await pool(tenant, "SPB")) == (5, 7, 11, 12)


async def test_r15_a_start_in_the_future_is_invalid_input(tenant: Tenant, clock_now: Any) -> None:
    pid = await product_id(tenant, "SPB")
    later = (clock_now.now() + timedelta(days=3)).isoformat()
    error = await refused(tenant, PURCHASE, {"i": {"productId": pid, "quantity": 2, "startsAt": later}}, "INVALID_INPUT")
    assert error["field"] == "input.startsAt"
    assert (await tenant.ok(SUBSCRIPTIONS))["subscriptions"] == []


async def test_d23_quantity_and_recurring_billing_of_a_disabled_subscription_cannot_change(tenant: Tenant, clock_now: Any) -> None:
    sub = (await purchase(tenant, "SPB", 5))["subscription"]
    await tenant.mutate("cancelSubscription", CANCEL, {"i": {"subscriptionId": sub["id"]}})
    audit = await tenant.ok(AUDIT_COUNT)
    await refused(tenant, QUANTITY, {"i": {"subscriptionId": sub["id"], "quantity": 9}}, "SUBSCRIPTION_NOT_ACTIVE")
    await refused(tenant, RECURRING, {"i": {"subscriptionId": sub["id"], "enabled": False}}, "SUBSCRIPTION_NOT_ACTIVE")
    row = await subscription(tenant, sub["id"])
    assert (row["quantity"], row["recurringBilling"], row["status"]) == (5, True, "DISABLED")
    assert await tenant.ok(AUDIT_COUNT) == audit


async def test_d23_a_deleted_subscription_cannot_change_either(tenant: Tenant, clock_now: Any) -> None:
    sub = (await purchase(tenant, "SPB", 5, recurringBilling=False))["subscription"]
    clock_now.set(ts(sub["currentTermEndsAt"]) + timedelta(days=200))
    assert (await subscription(tenant, sub["id"]))["status"] == "DELETED"
    await refused(tenant, QUANTITY, {"i": {"subscriptionId": sub["id"], "quantity": 9}}, "SUBSCRIPTION_NOT_ACTIVE")
    await refused(tenant, RECURRING, {"i": {"subscriptionId": sub["id"], "enabled": True}}, "SUBSCRIPTION_NOT_ACTIVE")
    assert (await subscription(tenant, sub["id"]))["status"] == "DELETED"


# ---------------------------------------------------------------------------- quantity and the payload


async def test_r15_a_quantity_increase_is_immediate_and_reported_in_changes(tenant: Tenant, clock_now: Any) -> None:
    await purchase(tenant, "SPB", 4)
    sub = (await purchase(tenant, "SPB", 5))["subscription"]
    more = await tenant.mutate("updateSubscriptionQuantity", QUANTITY, {"i": {"subscriptionId": sub["id"], "quantity": 12}})
    assert more["subscription"]["quantity"] == 12
    changes = more["changes"]
    assert changes["dryRun"] is False
    assert changes["products"] == [
        {"product": {"skuPartNumber": "SPB"}, "totalUnits": 16, "consumedBefore": 0, "consumedAfter": 0}
    ]
    assert figures(await pool(tenant, "SPB")) == (16, 0, 0, 16)
    assert (await subscription(tenant, sub["id"]))["quantity"] == 12
    fewer = await tenant.mutate("updateSubscriptionQuantity", QUANTITY, {"i": {"subscriptionId": sub["id"], "quantity": 2}})
    assert fewer["changes"]["products"][0]["totalUnits"] == 6
    assert figures(await pool(tenant, "SPB")) == (6, 0, 0, 6)


async def test_r15_purchase_reports_the_pool_after_the_change(tenant: Tenant, clock_now: Any) -> None:
    first = await purchase(tenant, "SPB", 5)
    assert first["changes"] == {
        "dryRun": False, "affectedUserCount": 0,
        "products": [{"product": {"skuPartNumber": "SPB"}, "totalUnits": 5, "consumedBefore": 0, "consumedAfter": 0}],
    }


async def test_r19_dry_runs_return_the_payload_and_store_nothing(tenant: Tenant, clock_now: Any) -> None:
    _, token = await self_service_buyer(tenant)
    sub = (await purchase(tenant, "SPB", 5))["subscription"]
    own = (await purchase(tenant, "SPB", 3, token=token, selfService=True))["subscription"]
    before = await tenant.ok(SUBSCRIPTIONS)
    pool_before = await tenant.ok(PRODUCTS)
    audit = await tenant.ok(AUDIT_COUNT)
    pid = await product_id(tenant, "SPB")

    bought = await tenant.mutate("purchaseSubscription", PURCHASE, {"i": {"productId": pid, "quantity": 8, "dryRun": True}})
    assert bought["subscription"]["quantity"] == 8
    assert bought["changes"]["dryRun"] is True
    assert bought["changes"]["products"][0]["totalUnits"] == 13

    more = await tenant.mutate(
        "updateSubscriptionQuantity", QUANTITY, {"i": {"subscriptionId": sub["id"], "quantity": 20, "dryRun": True}}
    )
    assert more["subscription"]["quantity"] == 20
    assert (more["changes"]["dryRun"], more["changes"]["products"][0]["totalUnits"]) == (True, 20)

    cancelled = await tenant.mutate("cancelSubscription", CANCEL, {"i": {"subscriptionId": sub["id"], "dryRun": True}})
    assert cancelled["subscription"]["status"] == "DISABLED"
    assert (cancelled["changes"]["dryRun"], cancelled["changes"]["products"][0]["totalUnits"]) == (True, 0)

    off = await tenant.mutate("setRecurringBilling", RECURRING, {"i": {"subscriptionId": sub["id"], "enabled": False, "dryRun": True}})
    assert off["subscription"]["recurringBilling"] is False and off["changes"]["dryRun"] is True

    taken = await tenant.mutate("takeOverSubscription", TAKE_OVER, {"i": {"subscriptionId": own["id"], "dryRun": True}})
    assert taken["subscription"]["isSelfService"] is False
    assert (taken["changes"]["dryRun"], taken["changes"]["products"][0]["totalUnits"]) == (True, 8)

    assert await tenant.ok(SUBSCRIPTIONS) == before
    assert await tenant.ok(PRODUCTS) == pool_before
    assert await tenant.ok(AUDIT_COUNT) == audit


async def test_d21_a_dry_run_takes_no_lock(tenant: Tenant, clock_now: Any, database_url: str) -> None:
    """A dry run reads a snapshot: it answers while another change of the tenant holds the license lock."""
    from db.session import TENANT_LOCK_NAMESPACE, Database

    pid = await product_id(tenant, "SPB")
    other = Database(database_url)
    try:
        async with other.write() as conn:
            await conn.execute(
                text("SELECT pg_advisory_xact_lock(:ns, hashtext(:tid))"), {"ns": TENANT_LOCK_NAMESPACE, "tid": tenant.id}
            )
            started = time.monotonic()
            body = await asyncio.wait_for(
                tenant.gql(PURCHASE, {"i": {"productId": pid, "quantity": 2, "dryRun": True}}), timeout=30
            )
            elapsed = time.monotonic() - started
        payload = body["data"]["purchaseSubscription"]
        assert payload["errors"] == [], payload["errors"]
        assert payload["changes"]["dryRun"] is True
        assert elapsed < 3, f"the dry run waited {elapsed:.1f}s for the tenant lock"
    finally:
        await other.dispose()
