"""R19 for seat increases: a dry run of buying seats shows who would get them.

Buying more seats (updateSubscriptionQuantity up, purchaseSubscription, takeOverSubscription,
turning recurring billing back on) hands the new seats to the group members waiting for them
(R4, D2). The dry run must show the same outcomes and the same consumedAfter as the real run.
"""

from __future__ import annotations

from typing import Any

from tests.gql.test_assign_licenses import product
from tests.gql.test_group_licenses import license_group, states
from tests.support import Tenant

CHANGES = """
changes {
  dryRun affectedUserCount
  products { product { skuPartNumber } consumedBefore consumedAfter totalUnits }
  outcomes(first: 1000) { user { displayName } product { skuPartNumber } assignedByGroup { displayName } state error { code } removed }
  errorCounts { product { skuPartNumber } code count }
}"""
QUANTITY = f"""
mutation($i: UpdateSubscriptionQuantityInput!) {{
  updateSubscriptionQuantity(input: $i) {{ subscription {{ quantity }} errors {{ code message }} {CHANGES} }}
}}"""
PURCHASE = f"""
mutation($i: PurchaseSubscriptionInput!) {{
  purchaseSubscription(input: $i) {{ subscription {{ quantity }} errors {{ code message }} {CHANGES} }}
}}"""


async def queue(tenant: Tenant, seats: int, waiting: int) -> tuple[str, list[str]]:
    """EMS with `seats` seats and a licensed group of seats + waiting members (created in order)."""
    sub = await tenant.buy("EMS", seats)
    users = [await tenant.create_user(f"Member {i}") for i in range(seats + waiting)]
    group = await tenant.create_group("Queue", users)
    await license_group(tenant, group, [{"productId": (await product(tenant, "EMS"))["id"]}])
    return sub, users


def without_dry_run(changes: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in changes.items() if k != "dryRun"}


async def test_r19_a_dry_run_of_more_seats_shows_the_waiting_members_who_get_them(tenant: Tenant) -> None:
    sub, users = await queue(tenant, seats=1, waiting=3)
    request = {"subscriptionId": sub, "quantity": 3}
    dry = (await tenant.ok(QUANTITY, {"i": {**request, "dryRun": True}}))["updateSubscriptionQuantity"]
    assert dry["errors"] == [] and dry["changes"]["dryRun"] is True
    assert dry["changes"]["products"] == [
        {"product": {"skuPartNumber": "EMS"}, "consumedBefore": 1, "consumedAfter": 3, "totalUnits": 3}
    ]
    # the next two in line (D2: creation order) get the seats; the last one still waits
    assert [(o["user"]["displayName"], o["state"], o["error"]) for o in dry["changes"]["outcomes"]] == [
        ("Member 1", "ACTIVE", None), ("Member 2", "ACTIVE", None)
    ]
    assert dry["changes"]["affectedUserCount"] == 2
    assert (await product(tenant, "EMS"))["consumedUnits"] == 1  # the dry run stored nothing
    assert [(await states(tenant, u))[0][2] for u in users] == ["ACTIVE", "ERROR", "ERROR", "ERROR"]

    real = (await tenant.ok(QUANTITY, {"i": request}))["updateSubscriptionQuantity"]
    assert real["changes"]["dryRun"] is False
    assert without_dry_run(real["changes"]) == without_dry_run(dry["changes"])
    assert [(await states(tenant, u))[0][2] for u in users] == ["ACTIVE", "ACTIVE", "ACTIVE", "ERROR"]


async def test_r19_a_dry_run_of_a_purchase_shows_who_gets_the_new_seats(tenant: Tenant) -> None:
    _, users = await queue(tenant, seats=1, waiting=2)
    ems = (await product(tenant, "EMS"))["id"]
    request = {"productId": ems, "quantity": 5}
    dry = (await tenant.ok(PURCHASE, {"i": {**request, "dryRun": True}}))["purchaseSubscription"]
    real = (await tenant.ok(PURCHASE, {"i": request}))["purchaseSubscription"]
    assert dry["changes"]["products"][0]["consumedAfter"] == 3
    assert [o["user"]["displayName"] for o in dry["changes"]["outcomes"]] == ["Member 1", "Member 2"]
    assert without_dry_run(real["changes"]) == without_dry_run(dry["changes"])
    assert [(await states(tenant, u))[0][2] for u in users] == ["ACTIVE"] * 3


async def test_r19_a_dry_run_of_seats_nobody_waits_for_shows_no_outcomes(tenant: Tenant) -> None:
    sub, _ = await queue(tenant, seats=2, waiting=0)
    dry = (await tenant.ok(QUANTITY, {"i": {"subscriptionId": sub, "quantity": 4, "dryRun": True}}))["updateSubscriptionQuantity"]
    assert dry["changes"]["outcomes"] == [] and dry["changes"]["affectedUserCount"] == 0
    assert dry["changes"]["products"][0] | {"product": None} == {
        "product": None, "consumedBefore": 2, "consumedAfter": 2, "totalUnits": 4
    }
