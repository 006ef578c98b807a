"""Dry runs of every mutation whose payload has `changes`: R19, R21, D11, D16.

For each mutation: the dry run changes nothing an admin can see (users and their licenses and
paths, groups and members, products' seats, subscriptions, the tenant, the audit log); the real
run then returns the very same payload (apart from `dryRun` and the ids of objects it creates)
and records one audit event. A refused request returns `errors` and `changes: null`, dry or
not, with the same errors, and changes nothing either way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest

from gql.auth import Role
from tests.support import Api, Tenant

ERRORS = "errors { code message field userId productId groupId }"
CHANGES = """
changes {
  dryRun affectedUserCount
  products { product { skuPartNumber } consumedBefore consumedAfter totalUnits }
  outcomes(first: 1000) {
    user { id userPrincipalName } product { skuPartNumber } assignedByGroup { id } state error { code message } removed
  }
  errorCounts { product { skuPartNumber } code count }
}"""
SUBSCRIPTION = """
subscription {
  id quantity status isTrial isSelfService purchasedBy { id } startsAt currentTermEndsAt recurringBilling
  cancellationWindowEndsAt canCancel product { skuPartNumber }
}"""

# field → (input type, the payload's own objects)
PAYLOADS: dict[str, tuple[str, str]] = {
    "assignLicenses": ("AssignLicensesInput", "users { id userPrincipalName }"),
    "updateUserServicePlans": ("UpdateUserServicePlansInput", "user { id userPrincipalName }"),
    "reprocessLicenses": ("ReprocessLicensesInput", ""),
    "createUser": ("CreateUserInput", "user { id userPrincipalName displayName mail usageLocation userType accountEnabled department jobTitle }"),
    "updateUser": ("UpdateUserInput", "user { id userPrincipalName displayName usageLocation department jobTitle accountEnabled }"),
    "deleteUser": ("DeleteUserInput", "deletedUserId"),
    "deleteGroup": ("DeleteGroupInput", "deletedGroupId"),
    "addGroupMembers": ("GroupMembersInput", "group { id displayName description securityEnabled }"),
    "removeGroupMembers": ("GroupMembersInput", "group { id displayName description securityEnabled }"),
    "purchaseSubscription": ("PurchaseSubscriptionInput", SUBSCRIPTION),
    "updateSubscriptionQuantity": ("UpdateSubscriptionQuantityInput", SUBSCRIPTION),
    "cancelSubscription": ("SubscriptionIdInput", SUBSCRIPTION),
    "setRecurringBilling": ("SetRecurringBillingInput", SUBSCRIPTION),
    "takeOverSubscription": ("SubscriptionIdInput", SUBSCRIPTION),
    "updateTenant": ("UpdateTenantInput", "tenant { id tenantId defaultUsageLocation }"),
}


def mutation(name: str) -> str:
    input_type, objects = PAYLOADS[name]
    return f"mutation($i: {input_type}!) {{ {name}(input: $i) {{ {objects} {ERRORS} {CHANGES} }} }}"


# Everything an admin can see of the tenant.
STATE = """
query State {
  users(first: 100) {
    totalCount
    edges { node {
      id userPrincipalName displayName mail userType usageLocation accountEnabled department jobTitle
      memberOf(first: 100) { totalCount edges { node { id } } }
      licenses {
        product { skuPartNumber } state assignedDirectly inheritedFrom { id }
        enabledServicePlans { servicePlanName } disabledServicePlans { servicePlanName }
      }
      licenseAssignmentStates {
        product { skuPartNumber } assignedByGroup { id } state error { code message }
        disabledServicePlans { servicePlanName } lastUpdatedAt
      }
    } }
  }
  groups(first: 100) {
    totalCount
    edges { node {
      id displayName description securityEnabled
      members(first: 100) { totalCount edges { node { ... on User { id } ... on Group { id } } } }
      transitiveMembers(first: 100) { totalCount }
    } }
  }
  products {
    skuPartNumber totalUnits consumedUnits availableUnits prepaidUnits { enabled warning suspended }
    subscriptions { id }
  }
  subscriptions {
    id quantity status isTrial isSelfService purchasedBy { id } startsAt currentTermEndsAt recurringBilling
    cancellationWindowEndsAt canCancel product { skuPartNumber }
  }
  auditLog(first: 100) { totalCount edges { node { action targetId summary actor } } }
  viewer { tenant { displayName domain defaultUsageLocation } }
}"""


@dataclass
class World:
    tenant: Tenant
    e3: str
    ems: str
    bi: str
    o365: str  # ENTERPRISEPACK: not owned by the tenant
    ann: str  # SPE_E3, member of Team
    bob: str  # SPE_E3 + EMS
    carol: str  # unlicensed; holds POWER_BI_PRO from her own self-service subscription
    dan: str  # no usage location, unlicensed
    team: str  # Ann
    empty: str
    sub_e3: str  # 3 seats, Ann and Bob hold 2
    sub_ems: str  # 3 seats, Bob holds 1 (with `old`, the EMS pool has 4)
    spare: str  # 2 POWER_BI_PRO seats nobody uses (cancellable)
    old: str  # EMS, started 30 days ago: its cancellation window has passed
    cancelled: str  # EMS, cancelled (DISABLED)
    self_sub: str  # Carol's self-service POWER_BI_PRO, 2 seats, she holds 1
    teams: str  # plan id of TEAMS1 in SPE_E3
    now: Any
    extra: dict[str, Any] = field(default_factory=dict)

    async def state(self) -> dict[str, Any]:
        return await self.tenant.ok(STATE)


async def _product_id(tenant: Tenant, sku: str) -> str:
    return (await tenant.ok("query($s: String!) { product(skuPartNumber: $s) { id } }", {"s": sku}))["product"]["id"]


async def _assign(tenant: Tenant, users: list[str], adds: list[dict[str, Any]], *, token: str | None = None) -> None:
    await tenant.mutate("assignLicenses", mutation("assignLicenses"), {"i": {"userIds": users, "addLicenses": adds}}, token=token)


async def build_world(api: Api, clock: Any) -> World:
    tenant = await api.new_tenant()
    e3, ems, bi, o365 = [await _product_id(tenant, s) for s in ("SPE_E3", "EMS", "POWER_BI_PRO", "ENTERPRISEPACK")]
    plans = (await tenant.ok('{ product(skuPartNumber: "SPE_E3") { servicePlans { id servicePlanName } } }'))["product"]["servicePlans"]
    teams = next(p["id"] for p in plans if p["servicePlanName"] == "TEAMS1")
    now = clock.now()
    sub_e3 = await tenant.buy("SPE_E3", 3)
    sub_ems = await tenant.buy("EMS", 3)
    spare = await tenant.buy("POWER_BI_PRO", 2)
    old = await tenant.buy("EMS", 1, startsAt=(now - timedelta(days=30)).isoformat())
    cancelled = await tenant.buy("EMS", 1)
    await tenant.mutate(
        "cancelSubscription", mutation("cancelSubscription"), {"i": {"subscriptionId": cancelled}}
    )
    ann = await tenant.create_user("Ann")
    bob = await tenant.create_user("Bob")
    carol = await tenant.create_user("Carol")
    dan = await tenant.create_user("Dan", location=None)
    await _assign(tenant, [ann, bob], [{"productId": e3}])
    await _assign(tenant, [bob], [{"productId": ems}])
    carol_token = tenant.token(sub=f"carol@{tenant.domain}")
    self_sub = (await tenant.mutate(
        "purchaseSubscription", mutation("purchaseSubscription"),
        {"i": {"productId": bi, "quantity": 2, "selfService": True}}, token=carol_token,
    ))["subscription"]["id"]
    await _assign(tenant, [carol], [{"productId": bi, "subscriptionId": self_sub}], token=carol_token)
    team = await tenant.create_group("Team", [ann])
    empty = await tenant.create_group("Empty")
    return World(tenant, e3, ems, bi, o365, ann, bob, carol, dan, team, empty, sub_e3, sub_ems, spare, old, cancelled,
                 self_sub, teams, now)


@dataclass
class Case:
    id: str
    field: str
    input: Callable[[World], dict[str, Any]]
    changes_state: bool = True  # the real run changes something (and so records an audit event)
    check: Callable[[dict[str, Any]], None] | None = None  # about the (real) payload


def _seats(*expected: tuple[str, int, int, int]) -> Callable[[dict[str, Any]], None]:
    def check(payload: dict[str, Any]) -> None:
        got = [
            (p["product"]["skuPartNumber"], p["consumedBefore"], p["consumedAfter"], p["totalUnits"])
            for p in payload["changes"]["products"]
        ]
        assert sorted(got) == sorted(expected), got

    return check


def _nothing_affected(payload: dict[str, Any]) -> None:
    changes = payload["changes"]
    assert (changes["affectedUserCount"], changes["products"], changes["outcomes"], changes["errorCounts"]) == (0, [], [], []), changes


SUCCEEDING = [
    Case("assign-add", "assignLicenses",
         lambda w: {"userIds": [w.ann, w.carol], "addLicenses": [{"productId": w.ems}]},
         check=_seats(("EMS", 1, 3, 4))),
    Case("assign-replace", "assignLicenses",
         lambda w: {"userIds": [w.bob], "addLicenses": [{"productId": w.ems}], "mode": "REPLACE"},
         check=_seats(("SPE_E3", 2, 1, 3))),
    Case("assign-remove", "assignLicenses",
         lambda w: {"userIds": [w.ann, w.bob], "removeProductIds": [w.e3]},
         check=_seats(("SPE_E3", 2, 0, 3))),
    Case("assign-add-and-remove", "assignLicenses",
         lambda w: {"userIds": [w.ann], "addLicenses": [{"productId": w.ems, "disabledServicePlanIds": []}],
                    "removeProductIds": [w.e3]},
         check=_seats(("EMS", 1, 2, 4), ("SPE_E3", 2, 1, 3))),
    Case("update-service-plans", "updateUserServicePlans",
         lambda w: {"userId": w.ann, "productId": w.e3, "disabledServicePlanIds": [w.teams]}),
    Case("create-user-with-licenses", "createUser",
         lambda w: {"userPrincipalName": f"erin@{w.tenant.domain}", "displayName": "Erin", "usageLocation": "NO",
                    "mail": "erin@mail.example", "department": "Sales",
                    "licenses": [{"productId": w.e3}, {"productId": w.ems, "disabledServicePlanIds": []}]},
         check=_seats(("EMS", 1, 2, 4), ("SPE_E3", 2, 3, 3))),
    Case("create-user", "createUser",
         lambda w: {"userPrincipalName": f"fay@{w.tenant.domain}", "displayName": "Fay", "jobTitle": "Boss"}),
    Case("update-user-location", "updateUser",
         lambda w: {"userId": w.bob, "usageLocation": "no", "jobTitle": "Engineer"}),
    Case("update-user-location-unlicensed", "updateUser",
         lambda w: {"userId": w.dan, "usageLocation": "US"}),
    Case("delete-licensed-user", "deleteUser",
         lambda w: {"userId": w.bob},
         check=_seats(("EMS", 1, 0, 4), ("SPE_E3", 2, 1, 3))),
    Case("purchase", "purchaseSubscription",
         lambda w: {"productId": w.ems, "quantity": 5},
         check=_seats(("EMS", 1, 1, 9))),
    Case("purchase-trial-import", "purchaseSubscription",
         lambda w: {"productId": w.o365, "quantity": 4, "isTrial": True, "recurringBilling": False,
                    "startsAt": (w.now - timedelta(days=3)).isoformat()},
         check=_seats(("ENTERPRISEPACK", 0, 0, 4))),
    Case("quantity-up", "updateSubscriptionQuantity",
         lambda w: {"subscriptionId": w.sub_e3, "quantity": 7},
         check=_seats(("SPE_E3", 2, 2, 7))),
    Case("quantity-down", "updateSubscriptionQuantity",
         lambda w: {"subscriptionId": w.sub_e3, "quantity": 2},
         check=_seats(("SPE_E3", 2, 2, 2))),
    Case("cancel", "cancelSubscription",
         lambda w: {"subscriptionId": w.spare},
         check=_seats(("POWER_BI_PRO", 0, 0, 0))),
    Case("recurring-billing-off", "setRecurringBilling",
         lambda w: {"subscriptionId": w.sub_e3, "enabled": False}),
    Case("take-over", "takeOverSubscription",
         lambda w: {"subscriptionId": w.self_sub},
         check=_seats(("POWER_BI_PRO", 0, 1, 4))),
    Case("tenant-location", "updateTenant",
         lambda w: {"defaultUsageLocation": "NO"}),
    Case("tenant-location-cleared", "updateTenant",
         lambda w: {"defaultUsageLocation": None}),
    Case("delete-group", "deleteGroup",
         lambda w: {"groupId": w.empty}),
    Case("add-members", "addGroupMembers",
         lambda w: {"groupId": w.team, "memberIds": [w.bob, w.carol, w.empty]}),
    Case("remove-members", "removeGroupMembers",
         lambda w: {"groupId": w.team, "memberIds": [w.ann]}),
    # R13: nothing is out of date, so reprocessing changes nothing, affects nobody, records nothing
    Case("reprocess-users", "reprocessLicenses",
         lambda w: {"userIds": [w.ann, w.bob, w.dan]}, changes_state=False, check=_nothing_affected),
    Case("reprocess-self-service-holder", "reprocessLicenses",
         lambda w: {"userIds": [w.carol]}, changes_state=False, check=_nothing_affected),
    Case("reprocess-group", "reprocessLicenses",
         lambda w: {"groupId": w.team}, changes_state=False, check=_nothing_affected),
]


def _without_dry_run_flag(payload: dict[str, Any], expected: bool) -> dict[str, Any]:
    assert payload["changes"] is not None, payload
    assert payload["changes"]["dryRun"] is expected
    return {**payload, "changes": {k: v for k, v in payload["changes"].items() if k != "dryRun"}}


def _created_ids(field_name: str, payload: dict[str, Any]) -> set[str]:
    """Ids of objects a run creates (a dry run's are made up)."""
    if field_name == "createUser":
        return {payload["user"]["id"]}
    if field_name == "purchaseSubscription":
        return {payload["subscription"]["id"]}
    return set()


def _replace_ids(value: Any, ids: set[str]) -> Any:
    if isinstance(value, dict):
        return {k: _replace_ids(v, ids) for k, v in value.items()}
    if isinstance(value, list):
        return [_replace_ids(v, ids) for v in value]
    if isinstance(value, str) and value in ids:
        return "<created>"
    return value


@pytest.fixture
async def world(api: Api, clock: Any) -> World:
    return await build_world(api, clock)


@pytest.mark.parametrize("case", SUCCEEDING, ids=[c.id for c in SUCCEEDING])
async def test_r19_dry_run_stores_nothing_and_matches_the_real_run(world: World, case: Case) -> None:
    query = mutation(case.field)
    variables = case.input(world)
    before = await world.state()

    dry = (await world.tenant.ok(query, {"i": {**variables, "dryRun": True}}))[case.field]
    assert dry["errors"] == [], dry["errors"]
    assert await world.state() == before, "the dry run changed something"
    # a second dry run gives the same answer (nothing was kept from the first)
    dry_again = (await world.tenant.ok(query, {"i": {**variables, "dryRun": True}}))[case.field]
    assert _replace_ids(dry_again, _created_ids(case.field, dry_again)) == _replace_ids(dry, _created_ids(case.field, dry))

    real = (await world.tenant.ok(query, {"i": variables}))[case.field]
    assert real["errors"] == [], real["errors"]
    after = await world.state()
    if case.changes_state:
        assert after != before, "the real run changed nothing: the case does not exercise anything"
        assert after["auditLog"]["totalCount"] == before["auditLog"]["totalCount"] + 1  # R21
    else:
        assert after == before

    created = _created_ids(case.field, dry) | _created_ids(case.field, real)
    assert _replace_ids(_without_dry_run_flag(dry, True), created) == _replace_ids(_without_dry_run_flag(real, False), created)
    if case.check:
        case.check(real)


async def test_r19_dry_run_of_create_user_shows_the_user_that_would_be_made(world: World) -> None:
    query = mutation("createUser")
    variables = {"userPrincipalName": f"gil@{world.tenant.domain}", "displayName": "Gil", "usageLocation": "US",
                 "licenses": [{"productId": world.e3}]}
    dry = (await world.tenant.ok(query, {"i": {**variables, "dryRun": True}}))["createUser"]
    assert dry["user"]["userPrincipalName"] == f"gil@{world.tenant.domain}"
    assert [(o["user"]["id"], o["product"]["skuPartNumber"], o["state"]) for o in dry["changes"]["outcomes"]] == [
        (dry["user"]["id"], "SPE_E3", "ACTIVE")
    ]
    # nobody by that name exists, and the name is still free
    assert (await world.tenant.ok('{ users(filter: {search: "gil"}) { totalCount } }'))["users"]["totalCount"] == 0
    real = (await world.tenant.ok(query, {"i": variables}))["createUser"]
    assert real["errors"] == [] and real["user"]["id"] != dry["user"]["id"]
    assert real["changes"]["outcomes"][0]["user"]["id"] == real["user"]["id"]


@dataclass
class Refusal:
    id: str
    field: str
    input: Callable[[World], dict[str, Any]]
    codes: list[str]


REFUSED = [
    Refusal("assign-count-and-location", "assignLicenses",
            lambda w: {"userIds": [w.carol, w.dan, w.ann], "addLicenses": [{"productId": w.e3}, {"productId": w.o365}]},
            ["COUNT_VIOLATION", "USAGE_LOCATION_REQUIRED"]),
    Refusal("assign-count", "assignLicenses",
            lambda w: {"userIds": [w.carol], "addLicenses": [{"productId": w.o365}]}, ["COUNT_VIOLATION"]),
    Refusal("assign-remove-not-assigned", "assignLicenses",
            lambda w: {"userIds": [w.ann, w.carol], "removeProductIds": [w.e3]}, ["NOT_ASSIGNED"]),
    Refusal("assign-self-service-by-admin", "assignLicenses",
            lambda w: {"userIds": [w.ann], "addLicenses": [{"productId": w.bi, "subscriptionId": w.self_sub}]},
            ["SELF_SERVICE_SUBSCRIPTION"]),
    Refusal("assign-too-many", "assignLicenses",
            lambda w: {"userIds": [w.ann] * 21, "addLicenses": [{"productId": w.ems}]}, ["TOO_MANY_USERS"]),
    Refusal("service-plans-not-assigned", "updateUserServicePlans",
            lambda w: {"userId": w.carol, "productId": w.e3, "disabledServicePlanIds": []}, ["NOT_ASSIGNED"]),
    Refusal("service-plans-bad-plan", "updateUserServicePlans",
            lambda w: {"userId": w.ann, "productId": w.ems, "disabledServicePlanIds": [w.teams]}, ["INVALID_INPUT"]),
    Refusal("create-user-count", "createUser",
            lambda w: {"userPrincipalName": f"hal@{w.tenant.domain}", "displayName": "Hal", "usageLocation": "US",
                       "licenses": [{"productId": w.o365}]}, ["COUNT_VIOLATION"]),
    Refusal("create-user-taken", "createUser",
            lambda w: {"userPrincipalName": f"ANN@{w.tenant.domain}", "displayName": "Ann again",
                       "licenses": [{"productId": w.ems}]}, ["ALREADY_EXISTS"]),
    Refusal("update-user-clears-location", "updateUser",
            lambda w: {"userId": w.ann, "usageLocation": None}, ["USAGE_LOCATION_REQUIRED"]),
    Refusal("update-user-bad-location", "updateUser",
            lambda w: {"userId": w.ann, "usageLocation": "Norway"}, ["INVALID_INPUT"]),
    Refusal("delete-user-not-found", "deleteUser",
            lambda w: {"userId": w.team}, ["NOT_FOUND"]),
    Refusal("purchase-zero", "purchaseSubscription",
            lambda w: {"productId": w.ems, "quantity": 0}, ["INVALID_INPUT"]),
    Refusal("purchase-in-the-future", "purchaseSubscription",
            lambda w: {"productId": w.ems, "quantity": 1, "startsAt": (w.now + timedelta(days=3)).isoformat()}, ["INVALID_INPUT"]),
    Refusal("quantity-seats-in-use", "updateSubscriptionQuantity",
            lambda w: {"subscriptionId": w.sub_e3, "quantity": 1}, ["SEATS_IN_USE"]),
    Refusal("quantity-disabled", "updateSubscriptionQuantity",
            lambda w: {"subscriptionId": w.cancelled, "quantity": 4}, ["SUBSCRIPTION_NOT_ACTIVE"]),
    Refusal("cancel-window-passed", "cancelSubscription",
            lambda w: {"subscriptionId": w.old}, ["CANCELLATION_WINDOW_PASSED"]),
    Refusal("cancel-seats-in-use", "cancelSubscription",
            lambda w: {"subscriptionId": w.sub_e3}, ["SEATS_IN_USE"]),
    Refusal("recurring-billing-disabled", "setRecurringBilling",
            lambda w: {"subscriptionId": w.cancelled, "enabled": True}, ["SUBSCRIPTION_NOT_ACTIVE"]),
    Refusal("take-over-not-self-service", "takeOverSubscription",
            lambda w: {"subscriptionId": w.sub_e3}, ["INVALID_INPUT"]),
    Refusal("tenant-bad-location", "updateTenant",
            lambda w: {"defaultUsageLocation": "JJ"}, ["INVALID_INPUT"]),
    Refusal("delete-group-not-found", "deleteGroup",
            lambda w: {"groupId": w.ann}, ["NOT_FOUND"]),
    Refusal("add-group-to-itself", "addGroupMembers",
            lambda w: {"groupId": w.team, "memberIds": [w.bob, w.team]}, ["INVALID_INPUT"]),
    Refusal("remove-unknown-member", "removeGroupMembers",
            lambda w: {"groupId": w.team, "memberIds": [w.ann, w.sub_e3]}, ["NOT_FOUND"]),
    Refusal("reprocess-both", "reprocessLicenses",
            lambda w: {"userIds": [w.ann], "groupId": w.team}, ["INVALID_INPUT"]),
]


@pytest.fixture(scope="module")
async def refusing(api: Api, clock: Any) -> World:
    """One world shared by the refused cases: each must leave it exactly as it was."""
    return await build_world(api, clock)


@pytest.mark.parametrize("case", REFUSED, ids=[c.id for c in REFUSED])
async def test_d16_refused_requests_return_errors_and_no_changes_dry_or_real(refusing: World, case: Refusal) -> None:
    w = refusing
    query = mutation(case.field)
    variables = case.input(w)
    before = await w.state()
    dry = (await w.tenant.ok(query, {"i": {**variables, "dryRun": True}}))[case.field]
    real = (await w.tenant.ok(query, {"i": variables}))[case.field]
    for payload in (dry, real):
        assert payload["changes"] is None, payload
        assert sorted({e["code"] for e in payload["errors"]}) == sorted(case.codes), payload["errors"]
        assert all(e["message"] for e in payload["errors"])
    assert dry["errors"] == real["errors"]
    assert dry == real
    assert await w.state() == before  # nothing stored, nothing audited (D11)


async def test_d11_dry_runs_are_not_audited_and_need_the_same_role(world: World) -> None:
    """A dry run is authorised like the real thing: a Global Reader is FORBIDDEN either way."""
    before = await world.state()
    reader = world.tenant.token(Role.GLOBAL_READER)
    for dry_run in (True, False):
        body = await world.tenant.gql(
            mutation("assignLicenses"),
            {"i": {"userIds": [world.carol], "addLicenses": [{"productId": world.ems}], "dryRun": dry_run}}, token=reader,
        )
        assert [(e.get("extensions") or {}).get("code") for e in body["errors"]] == ["FORBIDDEN"]
    assert await world.state() == before
