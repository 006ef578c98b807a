"""Self-service subscriptions through the API: R3, R15, D6, D13, D22.

A user with no admin role (token `sub` = their UPN) buys seats for themselves and hands them to
people with `assignLicenses(addLicenses: [{productId, subscriptionId}])`. Those seats are not in
the organisation's pool; admins cannot touch them until the subscription is taken over.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from gql.auth import Role
from tests.support import Tenant

ASSIGN = """
mutation($i: AssignLicensesInput!) {
  assignLicenses(input: $i) {
    users { id userPrincipalName }
    errors { code message field userId productId }
    changes {
      dryRun affectedUserCount
      products { product { skuPartNumber } consumedBefore consumedAfter totalUnits }
      outcomes(first: 100) { user { id } product { skuPartNumber } state error { code } removed }
    }
  }
}"""

PURCHASE = """
mutation($i: PurchaseSubscriptionInput!) {
  purchaseSubscription(input: $i) {
    subscription { id quantity isSelfService isTrial status purchasedBy { id userPrincipalName } }
    errors { code field message }
    changes { products { product { skuPartNumber } consumedBefore consumedAfter totalUnits } }
  }
}"""

TAKE_OVER = """
mutation($i: SubscriptionIdInput!) {
  takeOverSubscription(input: $i) {
    subscription { id isSelfService quantity status }
    errors { code field message }
    changes { dryRun affectedUserCount products { product { skuPartNumber } consumedBefore consumedAfter totalUnits } }
  }
}"""

UPDATE_PLANS = """
mutation($i: UpdateUserServicePlansInput!) {
  updateUserServicePlans(input: $i) { user { id } errors { code message userId productId } changes { affectedUserCount } }
}"""

POOL = """
query($s: String!) {
  product(skuPartNumber: $s) {
    id totalUnits consumedUnits availableUnits prepaidUnits { enabled warning suspended }
    subscriptions { id quantity isSelfService purchasedBy { id } }
  }
}"""

LICENSES = """
query($id: ID!) {
  user(id: $id) {
    licenses { product { skuPartNumber } state assignedDirectly disabledServicePlans { servicePlanName } }
  }
}"""

HOLDERS = "query($p: ID!) { users(filter: {hasProductId: $p}) { totalCount } }"
AUDIT = "{ auditLog(first: 0) { totalCount } }"


@dataclass
class Shop:
    tenant: Tenant
    e3: str
    ems: str
    ann: str  # the purchaser, no admin role
    bob: str
    carol: str
    dave: str
    guest: str
    org_sub: str  # 2 organisation seats of SPE_E3; Dave holds one

    @property
    def ann_token(self) -> str:
        return self.tenant.token(sub=f"ann@{self.tenant.domain}")

    @property
    def bob_token(self) -> str:
        return self.tenant.token(sub=f"bob@{self.tenant.domain}")

    async def pool(self, sku: str = "SPE_E3") -> dict[str, Any]:
        return (await self.tenant.ok(POOL, {"s": sku}))["product"]

    async def licenses(self, user: str) -> list[dict[str, Any]]:
        return (await self.tenant.ok(LICENSES, {"id": user}))["user"]["licenses"]

    async def assign(self, users: list[str], adds: list[dict[str, Any]] | None = None, *, token: str | None = None,
                     **extra: Any) -> dict[str, Any]:
        return await self.tenant.gql(ASSIGN, {"i": {"userIds": users, "addLicenses": adds or [], **extra}}, token=token)

    async def buy_self_service(self, product: str, quantity: int, *, token: str | None = None, **extra: Any) -> dict[str, Any]:
        data = await self.tenant.ok(
            PURCHASE, {"i": {"productId": product, "quantity": quantity, "selfService": True, **extra}},
            token=token or self.ann_token,
        )
        return data["purchaseSubscription"]


@pytest.fixture
async def shop(tenant: Tenant) -> Shop:
    e3 = (await tenant.ok('{ product(skuPartNumber: "SPE_E3") { id } }'))["product"]["id"]
    ems = (await tenant.ok('{ product(skuPartNumber: "EMS") { id } }'))["product"]["id"]
    org_sub = await tenant.buy("SPE_E3", 2)
    ann = await tenant.create_user("Ann")
    bob = await tenant.create_user("Bob")
    carol = await tenant.create_user("Carol")
    dave = await tenant.create_user("Dave")
    guest = (await tenant.mutate(
        "inviteGuest", "mutation($i: InviteGuestInput!) { inviteGuest(input: $i) { user { id } errors { code } } }",
        {"i": {"email": "gus@partner.example", "displayName": "Gus Guest", "usageLocation": "US"}},
    ))["user"]["id"]
    shop = Shop(tenant, e3, ems, ann, bob, carol, dave, guest, org_sub)
    body = await shop.assign([dave], [{"productId": e3}])
    assert body["data"]["assignLicenses"]["errors"] == []
    return shop


def codes(body: dict[str, Any], field: str = "assignLicenses") -> list[str]:
    assert "errors" not in body, body["errors"]
    return [e["code"] for e in body["data"][field]["errors"]]


def top_level_codes(body: dict[str, Any]) -> list[str | None]:
    return [(e.get("extensions") or {}).get("code") for e in body.get("errors") or []]


async def test_r3_purchaser_assigns_own_seats_outside_the_pool(shop: Shop) -> None:
    t = shop.tenant
    bought = await shop.buy_self_service(shop.e3, 2)
    assert bought["errors"] == []
    sub = bought["subscription"]
    assert (sub["quantity"], sub["isSelfService"]) == (2, True)
    assert sub["purchasedBy"] == {"id": shop.ann, "userPrincipalName": f"ann@{t.domain}"}
    ss = sub["id"]

    # the pool ignores the self-service seats (R2, R3, D13); the Products view lists them (D6)
    pool = await shop.pool()
    assert (pool["totalUnits"], pool["consumedUnits"], pool["availableUnits"]) == (2, 1, 1)
    assert pool["prepaidUnits"] == {"enabled": 2, "warning": 0, "suspended": 0}
    assert sorted((s["quantity"], s["isSelfService"]) for s in pool["subscriptions"]) == [(2, False), (2, True)]
    listed = (await t.ok("{ subscriptions { id isSelfService purchasedBy { id } } }"))["subscriptions"]
    assert {"id": ss, "isSelfService": True, "purchasedBy": {"id": shop.ann}} in listed

    audit_before = (await t.ok(AUDIT))["auditLog"]["totalCount"]
    body = await shop.assign([shop.ann, shop.bob], [{"productId": shop.e3, "subscriptionId": ss}], token=shop.ann_token)
    assert codes(body) == []
    payload = body["data"]["assignLicenses"]
    # D22: the purchaser sees the users they licensed in the payload
    assert {u["id"] for u in payload["users"]} == {shop.ann, shop.bob}
    assert payload["changes"]["dryRun"] is False and payload["changes"]["affectedUserCount"] == 2
    assert sorted((o["user"]["id"], o["state"], o["removed"]) for o in payload["changes"]["outcomes"]) == sorted(
        [(shop.ann, "ACTIVE", False), (shop.bob, "ACTIVE", False)]
    )
    # the pool's seat counts do not move
    for seats in payload["changes"]["products"]:
        assert seats["consumedAfter"] == seats["consumedBefore"], seats
    assert (await t.ok(AUDIT))["auditLog"]["totalCount"] == audit_before + 1

    for user in (shop.ann, shop.bob):
        assert await shop.licenses(user) == [
            {"product": {"skuPartNumber": "SPE_E3"}, "state": "ACTIVE", "assignedDirectly": True, "disabledServicePlans": []}
        ]
    pool = await shop.pool()
    assert (pool["totalUnits"], pool["consumedUnits"], pool["availableUnits"]) == (2, 1, 1)
    assert pool["prepaidUnits"] == {"enabled": 2, "warning": 0, "suspended": 0}
    assert (await t.ok(HOLDERS, {"p": shop.e3}))["users"]["totalCount"] == 3  # Dave (pool), Ann, Bob

    # the pool's free seat is still there for an admin
    body = await shop.assign([shop.carol], [{"productId": shop.e3}])
    assert codes(body) == []
    pool = await shop.pool()
    assert (pool["consumedUnits"], pool["availableUnits"]) == (2, 0)


async def test_d13_purchaser_assigning_more_than_bought_is_count_violation(shop: Shop) -> None:
    ss = (await shop.buy_self_service(shop.e3, 1))["subscription"]["id"]
    # two users for one seat: refused as a whole, even though the pool has a free seat
    body = await shop.assign([shop.ann, shop.bob], [{"productId": shop.e3, "subscriptionId": ss}], token=shop.ann_token)
    payload = body["data"]["assignLicenses"]
    assert [(e["code"], e["productId"], e["userId"]) for e in payload["errors"]] == [("COUNT_VIOLATION", shop.e3, None)]
    assert payload["changes"] is None
    assert await shop.licenses(shop.ann) == [] and await shop.licenses(shop.bob) == []
    # one fits; then the next is refused, and the pool was never drawn on
    assert codes(await shop.assign([shop.ann], [{"productId": shop.e3, "subscriptionId": ss}], token=shop.ann_token)) == []
    over = await shop.assign([shop.bob], [{"productId": shop.e3, "subscriptionId": ss}], token=shop.ann_token)
    assert codes(over) == ["COUNT_VIOLATION"]
    assert over["data"]["assignLicenses"]["changes"] is None
    assert await shop.licenses(shop.bob) == []
    pool = await shop.pool()
    assert (pool["totalUnits"], pool["consumedUnits"], pool["availableUnits"]) == (2, 1, 1)


async def test_r3_admins_cannot_assign_or_unassign_self_service_seats(shop: Shop) -> None:
    t = shop.tenant
    ss = (await shop.buy_self_service(shop.e3, 3))["subscription"]["id"]
    assert codes(await shop.assign([shop.bob], [{"productId": shop.e3, "subscriptionId": ss}], token=shop.ann_token)) == []
    audit = (await t.ok(AUDIT))["auditLog"]["totalCount"]

    # an admin passing the self-service subscriptionId
    for token in (t.admin, t.token(Role.LICENSE_ADMINISTRATOR)):
        body = await shop.assign([shop.carol], [{"productId": shop.e3, "subscriptionId": ss}], token=token)
        assert codes(body) == ["SELF_SERVICE_SUBSCRIPTION"]
        assert body["data"]["assignLicenses"]["changes"] is None
        assert "take" in body["data"]["assignLicenses"]["errors"][0]["message"].lower()
    assert await shop.licenses(shop.carol) == []

    # an admin removing a license drawn from it (also in REPLACE mode)
    removed = await shop.assign([shop.bob], removeProductIds=[shop.e3])
    assert codes(removed) == ["SELF_SERVICE_SUBSCRIPTION"]
    error = removed["data"]["assignLicenses"]["errors"][0]
    assert (error["userId"], error["productId"]) == (shop.bob, shop.e3)
    assert "take" in error["message"].lower() and "over" in error["message"].lower(), error["message"]
    replaced = await shop.assign([shop.bob], [{"productId": shop.ems}], mode="REPLACE")
    assert "SELF_SERVICE_SUBSCRIPTION" in codes(replaced)
    assert replaced["data"]["assignLicenses"]["changes"] is None

    # another user (not the purchaser, no role) cannot spend Ann's seats
    stranger = await shop.assign([shop.carol], [{"productId": shop.e3, "subscriptionId": ss}], token=shop.bob_token)
    assert codes(stranger) == ["SELF_SERVICE_SUBSCRIPTION"]

    assert (await t.ok(AUDIT))["auditLog"]["totalCount"] == audit
    assert [lic["product"]["skuPartNumber"] for lic in await shop.licenses(shop.bob)] == ["SPE_E3"]
    assert await shop.licenses(shop.carol) == []


@pytest.mark.parametrize("operation", ["updateUserServicePlans", "assignLicenses-readd", "assignLicenses-remove"])
@pytest.mark.parametrize("admin", ["principal", "user"])
async def test_r3_admin_cannot_change_a_self_service_license(shop: Shop, admin: str, operation: str) -> None:
    """R3: 'removing or changing a license drawn from one' is SELF_SERVICE_SUBSCRIPTION — for an
    admin principal, and for an admin who is also a user of the tenant (sub = Dave's UPN)."""
    t = shop.tenant
    ss = (await shop.buy_self_service(shop.e3, 1))["subscription"]["id"]
    assert codes(await shop.assign([shop.bob], [{"productId": shop.e3, "subscriptionId": ss}], token=shop.ann_token)) == []
    plans = (await t.ok('{ product(skuPartNumber: "SPE_E3") { servicePlans { id servicePlanName } } }'))["product"]["servicePlans"]
    teams = next(p["id"] for p in plans if p["servicePlanName"] == "TEAMS1")
    token = t.admin if admin == "principal" else t.token(Role.GLOBAL_ADMINISTRATOR, sub=f"dave@{t.domain}")
    audit = (await t.ok(AUDIT))["auditLog"]["totalCount"]
    if operation == "updateUserServicePlans":
        body = await t.gql(UPDATE_PLANS, {"i": {"userId": shop.bob, "productId": shop.e3, "disabledServicePlanIds": [teams]}}, token=token)
        field = "updateUserServicePlans"
    elif operation == "assignLicenses-readd":  # adding it again with a plan turned off edits the license
        body = await shop.assign([shop.bob], [{"productId": shop.e3, "disabledServicePlanIds": [teams]}], token=token)
        field = "assignLicenses"
    else:
        body = await shop.assign([shop.bob], removeProductIds=[shop.e3], token=token)
        field = "assignLicenses"
    assert codes(body, field) == ["SELF_SERVICE_SUBSCRIPTION"]
    assert body["data"][field]["changes"] is None
    message = body["data"][field]["errors"][0]["message"].lower()
    assert "take" in message and "over" in message, message
    assert await shop.licenses(shop.bob) == [
        {"product": {"skuPartNumber": "SPE_E3"}, "state": "ACTIVE", "assignedDirectly": True, "disabledServicePlans": []}
    ]
    assert (await t.ok(AUDIT))["auditLog"]["totalCount"] == audit


async def test_d22_purchaser_may_not_license_a_guest_and_must_name_the_subscription(shop: Shop) -> None:
    t = shop.tenant
    ss = (await shop.buy_self_service(shop.e3, 2))["subscription"]["id"]
    guest = await shop.assign([shop.guest], [{"productId": shop.e3, "subscriptionId": ss}], token=shop.ann_token)
    assert codes(guest) == ["GLOBAL_ADMINISTRATOR_REQUIRED"]
    assert guest["data"]["assignLicenses"]["errors"][0]["userId"] == shop.guest
    assert guest["data"]["assignLicenses"]["changes"] is None
    # a guest among members: the whole request is refused
    mixed = await shop.assign([shop.bob, shop.guest], [{"productId": shop.e3, "subscriptionId": ss}], token=shop.ann_token)
    assert codes(mixed) == ["GLOBAL_ADMINISTRATOR_REQUIRED"]
    assert await shop.licenses(shop.guest) == [] and await shop.licenses(shop.bob) == []

    # without subscriptionId a caller with no role is FORBIDDEN (D22), and so is removing
    for variables in (
        {"userIds": [shop.bob], "addLicenses": [{"productId": shop.e3}]},
        {"userIds": [shop.bob], "addLicenses": [{"productId": shop.e3}], "dryRun": True},
        {"userIds": [shop.dave], "addLicenses": [], "removeProductIds": [shop.e3]},
    ):
        body = await t.gql(ASSIGN, {"i": variables}, token=shop.ann_token)
        assert top_level_codes(body) == ["FORBIDDEN"], body
        assert body.get("data") is None or body["data"].get("assignLicenses") is None
    assert await shop.licenses(shop.bob) == []
    assert (await shop.pool())["consumedUnits"] == 1

    # nor may it REPLACE someone's direct licenses (that would remove the pool seats they hold)
    ems = (await shop.buy_self_service(shop.ems, 1))["subscription"]["id"]
    replacing = await shop.assign([shop.dave], [{"productId": shop.ems, "subscriptionId": ems}], token=shop.ann_token, mode="REPLACE")
    assert top_level_codes(replacing) == ["FORBIDDEN"], replacing
    assert [lic["product"]["skuPartNumber"] for lic in await shop.licenses(shop.dave)] == ["SPE_E3"]

    # D6: a caller with no admin role cannot buy for the organisation
    org = await t.gql(PURCHASE, {"i": {"productId": shop.e3, "quantity": 1}}, token=shop.ann_token)
    assert top_level_codes(org) == ["FORBIDDEN"]
    # D22: an admin principal with no user cannot make a self-service purchase
    nobody = await t.ok(PURCHASE, {"i": {"productId": shop.e3, "quantity": 1, "selfService": True}})
    assert [e["code"] for e in nobody["purchaseSubscription"]["errors"]] == ["INVALID_INPUT"]
    assert (await shop.pool())["prepaidUnits"]["enabled"] == 2
    assert len((await shop.pool())["subscriptions"]) == 2  # the org one and Ann's


async def test_d6_admin_gets_count_violation_naming_self_service_seats(shop: Shop) -> None:
    t = shop.tenant
    bought = await shop.buy_self_service(shop.ems, 3)
    assert bought["errors"] == []
    # the product is listed on the Licenses page with no pool seats (D13)
    products = (await t.ok("{ products { skuPartNumber totalUnits consumedUnits availableUnits prepaidUnits { enabled } } }"))["products"]
    ems_row = next(p for p in products if p["skuPartNumber"] == "EMS")
    assert ems_row == {"skuPartNumber": "EMS", "totalUnits": 0, "consumedUnits": 0, "availableUnits": 0, "prepaidUnits": {"enabled": 0}}

    body = await shop.assign([shop.bob], [{"productId": shop.ems}])
    payload = body["data"]["assignLicenses"]
    assert [(e["code"], e["productId"], e["userId"]) for e in payload["errors"]] == [("COUNT_VIOLATION", shop.ems, None)]
    assert payload["changes"] is None
    message = payload["errors"][0]["message"].lower()
    assert "self-service" in message and "take" in message and "over" in message, message
    assert await shop.licenses(shop.bob) == []

    # after the take-over the same request succeeds from the pool
    taken = await t.ok(TAKE_OVER, {"i": {"subscriptionId": bought["subscription"]["id"]}}, token=t.token(Role.BILLING_ADMINISTRATOR))
    assert taken["takeOverSubscription"]["errors"] == []
    assert codes(await shop.assign([shop.bob], [{"productId": shop.ems}])) == []
    pool = await shop.pool("EMS")
    assert (pool["totalUnits"], pool["consumedUnits"], pool["availableUnits"]) == (3, 1, 2)


@pytest.mark.parametrize(("role", "trial"), [(Role.GLOBAL_ADMINISTRATOR, False), (Role.BILLING_ADMINISTRATOR, True)])
async def test_r3_take_over_moves_seats_and_licenses_into_the_pool(shop: Shop, role: Role, trial: bool) -> None:
    t = shop.tenant
    bought = await shop.buy_self_service(shop.e3, 3, isTrial=trial)
    assert bought["errors"] == [] and bought["subscription"]["isTrial"] is trial
    ss = bought["subscription"]["id"]
    assert codes(await shop.assign([shop.ann, shop.bob], [{"productId": shop.e3, "subscriptionId": ss}], token=shop.ann_token)) == []
    assert (await shop.pool())["consumedUnits"] == 1

    # only Global and Billing administrators take over (and not the purchaser)
    for token in (shop.ann_token, t.token(Role.LICENSE_ADMINISTRATOR), t.token(Role.USER_ADMINISTRATOR)):
        refused = await t.gql(TAKE_OVER, {"i": {"subscriptionId": ss}}, token=token)
        assert top_level_codes(refused) == ["FORBIDDEN"]

    taken = (await t.ok(TAKE_OVER, {"i": {"subscriptionId": ss}}, token=t.token(role)))["takeOverSubscription"]
    assert taken["errors"] == []
    assert taken["subscription"]["isSelfService"] is False
    assert taken["changes"]["products"] == [
        {"product": {"skuPartNumber": "SPE_E3"}, "consumedBefore": 1, "consumedAfter": 3, "totalUnits": 5}
    ]
    # the purchaser's licenses stay as they are, their seats now the pool's: nobody is affected (D16)
    assert taken["changes"]["affectedUserCount"] == 0

    pool = await shop.pool()
    assert (pool["totalUnits"], pool["consumedUnits"], pool["availableUnits"]) == (5, 3, 2)
    assert pool["prepaidUnits"]["enabled"] == 5
    assert sorted((s["quantity"], s["isSelfService"]) for s in pool["subscriptions"]) == [(2, False), (3, False)]
    assert (await t.ok(HOLDERS, {"p": shop.e3}))["users"]["totalCount"] == 3
    for user in (shop.ann, shop.bob):
        assert [(lic["state"], lic["assignedDirectly"]) for lic in await shop.licenses(user)] == [("ACTIVE", True)]

    # taking over twice is INVALID_INPUT (D6)
    again = (await t.ok(TAKE_OVER, {"i": {"subscriptionId": ss}}))["takeOverSubscription"]
    assert [e["code"] for e in again["errors"]] == ["INVALID_INPUT"] and again["changes"] is None

    # admins now manage those licenses: unassigning Bob frees a pool seat
    removed = await shop.assign([shop.bob], removeProductIds=[shop.e3])
    assert codes(removed) == []
    assert removed["data"]["assignLicenses"]["changes"]["products"] == [
        {"product": {"skuPartNumber": "SPE_E3"}, "consumedBefore": 3, "consumedAfter": 2, "totalUnits": 5}
    ]
    assert await shop.licenses(shop.bob) == []
    pool = await shop.pool()
    assert (pool["totalUnits"], pool["consumedUnits"], pool["availableUnits"]) == (5, 2, 3)
    # the seats that joined the pool are assignable by admins
    assert codes(await shop.assign([shop.carol, shop.bob, shop.guest], [{"productId": shop.e3}])) == []
    assert (await shop.pool())["availableUnits"] == 0


async def test_r19_purchaser_dry_run_draws_nothing_and_matches_the_real_run(shop: Shop) -> None:
    t = shop.tenant
    ss = (await shop.buy_self_service(shop.e3, 1))["subscription"]["id"]
    variables = {"userIds": [shop.bob], "addLicenses": [{"productId": shop.e3, "subscriptionId": ss}]}
    audit = (await t.ok(AUDIT))["auditLog"]["totalCount"]
    dry = (await t.ok(ASSIGN, {"i": {**variables, "dryRun": True}}, token=shop.ann_token))["assignLicenses"]
    assert dry["errors"] == [] and dry["changes"]["dryRun"] is True
    assert await shop.licenses(shop.bob) == []
    assert (await t.ok(AUDIT))["auditLog"]["totalCount"] == audit
    # the one seat is still free: a dry run for someone else fits too, and so does the real run
    other = (await t.ok(ASSIGN, {"i": {"userIds": [shop.carol], "addLicenses": variables["addLicenses"], "dryRun": True}},
                        token=shop.ann_token))["assignLicenses"]
    assert other["errors"] == []
    real = (await t.ok(ASSIGN, {"i": variables}, token=shop.ann_token))["assignLicenses"]
    assert real["errors"] == [] and real["changes"].pop("dryRun") is False
    dry["changes"].pop("dryRun")
    assert dry == real
    # now it is used up, dry or not
    for dry_run in (True, False):
        full = (await t.ok(ASSIGN, {"i": {"userIds": [shop.carol], "addLicenses": variables["addLicenses"], "dryRun": dry_run}},
                           token=shop.ann_token))["assignLicenses"]
        assert [e["code"] for e in full["errors"]] == ["COUNT_VIOLATION"] and full["changes"] is None
    assert (await shop.pool())["consumedUnits"] == 1


async def test_d6_a_group_license_reaching_a_self_service_holder_keeps_that_seat(shop: Shop) -> None:
    """Group changes are decided in SQL unless a user of the batch holds a self-service seat of
    a product involved; then the engine decides the batch: the holder keeps the self-service seat
    (D14) and its group path is ACTIVE without taking one of the organisation's seats."""
    t = shop.tenant
    ss = (await shop.buy_self_service(shop.e3, 1))["subscription"]["id"]
    assert codes(await shop.assign([shop.bob], [{"productId": shop.e3, "subscriptionId": ss}], token=shop.ann_token)) == []
    assert (await shop.pool())["consumedUnits"] == 1  # Dave's organisation seat
    group = await t.create_group("Sales", [shop.bob, shop.carol])
    given = await t.ok(
        "mutation($i: AssignGroupLicensesInput!) { assignGroupLicenses(input: $i) { errors { code } "
        "changes { products { consumedBefore consumedAfter } } } }",
        {"i": {"groupId": group, "addLicenses": [{"productId": shop.e3}]}},
    )
    assert given["assignGroupLicenses"]["errors"] == []
    # Carol takes the organisation's last free seat; Bob keeps his self-service one
    assert given["assignGroupLicenses"]["changes"]["products"] == [{"consumedBefore": 1, "consumedAfter": 2}]
    assert (await shop.pool())["consumedUnits"] == 2
    states = sorted((lic["assignedDirectly"], lic["state"]) for lic in await shop.licenses(shop.bob))
    assert states == [(True, "ACTIVE")]
    bob_paths = await t.ok(
        "query($id: ID!) { user(id: $id) { licenseAssignmentStates { state assignedByGroup { id } } } }", {"id": shop.bob}
    )
    paths = bob_paths["user"]["licenseAssignmentStates"]
    assert sorted((p["state"], p["assignedByGroup"] is not None) for p in paths) == [("ACTIVE", False), ("ACTIVE", True)]


async def test_r15_a_disabled_self_service_subscription_gives_no_new_seat(shop: Shop) -> None:
    """Bought 425 days ago without recurring billing: past its term and its grace, DISABLED.
    Its purchaser can draw no new seat from it (R15), and nothing is stored."""
    from datetime import UTC, datetime, timedelta

    started = (datetime.now(UTC) - timedelta(days=425)).isoformat()
    bought = await shop.buy_self_service(shop.e3, 2, startsAt=started, recurringBilling=False)
    assert bought["errors"] == [] and bought["subscription"]["status"] == "DISABLED", bought
    ss = bought["subscription"]["id"]
    count = "{ licenseEvents(first: 1) { totalCount } }"
    events = (await shop.tenant.ok(count))["licenseEvents"]["totalCount"]
    refused = await shop.assign([shop.bob], [{"productId": shop.e3, "subscriptionId": ss}], token=shop.ann_token)
    assert codes(refused) == ["COUNT_VIOLATION"]
    assert await shop.licenses(shop.bob) == []
    assert (await shop.tenant.ok(count))["licenseEvents"]["totalCount"] == events
