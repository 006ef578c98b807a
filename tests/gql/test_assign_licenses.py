"""Direct license assignment through the API: R1, R3–R8, R12, R14, R16, R17, R19, R20, D1, D4, D16."""

from __future__ import annotations

from typing import Any

from gql.auth import Role
from tests.support import Tenant

ASSIGN = """
mutation($i: AssignLicensesInput!) {
  assignLicenses(input: $i) {
    users { id }
    errors { code message field userId productId }
    changes {
      dryRun affectedUserCount
      products { product { skuPartNumber } consumedBefore consumedAfter totalUnits }
      outcomes(first: 100) { user { id } product { skuPartNumber } assignedByGroup { id } state error { code message } removed }
      errorCounts { product { skuPartNumber } code count }
    }
  }
}"""

LICENSES = """
query($id: ID!) {
  user(id: $id) {
    licenses {
      product { skuPartNumber } state assignedDirectly inheritedFrom { id }
      enabledServicePlans { servicePlanName } disabledServicePlans { servicePlanName }
    }
    licenseAssignmentStates { product { skuPartNumber } assignedByGroup { id } state error { code message }
                              disabledServicePlans { servicePlanName } }
  }
}"""

SEATS = "query($s: String!) { product(skuPartNumber: $s) { id totalUnits consumedUnits availableUnits } }"


async def product(tenant: Tenant, sku: str) -> dict[str, Any]:
    return (await tenant.ok(SEATS, {"s": sku}))["product"]


async def plan_id(tenant: Tenant, sku: str, plan_name: str) -> str:
    data = await tenant.ok(
        "query($s: String!) { product(skuPartNumber: $s) { servicePlans { id servicePlanName } } }", {"s": sku}
    )
    return next(p["id"] for p in data["product"]["servicePlans"] if p["servicePlanName"] == plan_name)


async def assign(tenant: Tenant, users: list[str], adds: list[dict[str, Any]] | None = None, **extra: Any) -> dict[str, Any]:
    token = extra.pop("token", None)
    data = await tenant.ok(ASSIGN, {"i": {"userIds": users, "addLicenses": adds or [], **extra}}, token=token)
    return data["assignLicenses"]


async def test_r12_assign_to_several_users_counts_one_seat_each(tenant: Tenant) -> None:
    await tenant.buy("SPE_E3", 5)
    e3 = (await product(tenant, "SPE_E3"))["id"]
    users = [await tenant.create_user(f"User {i}") for i in range(3)]
    payload = await assign(tenant, users, [{"productId": e3}])
    assert payload["errors"] == []
    assert payload["changes"]["products"] == [
        {"product": {"skuPartNumber": "SPE_E3"}, "consumedBefore": 0, "consumedAfter": 3, "totalUnits": 5}
    ]
    assert payload["changes"]["affectedUserCount"] == 3
    assert len(payload["changes"]["outcomes"]) == 3
    seats = await product(tenant, "SPE_E3")
    assert (seats["consumedUnits"], seats["availableUnits"]) == (3, 2)
    lic = (await tenant.ok(LICENSES, {"id": users[0]}))["user"]
    assert lic["licenses"][0]["state"] == "ACTIVE"
    assert lic["licenses"][0]["assignedDirectly"] is True
    assert lic["licenses"][0]["disabledServicePlans"] == []
    assert len(lic["licenses"][0]["enabledServicePlans"]) > 10
    assert lic["licenseAssignmentStates"] == [
        {"product": {"skuPartNumber": "SPE_E3"}, "assignedByGroup": None, "state": "ACTIVE", "error": None,
         "disabledServicePlans": []}
    ]
    # assigning again is not a second seat (R1); it updates disabled plans (R12)
    exchange = await plan_id(tenant, "SPE_E3", "EXCHANGE_S_ENTERPRISE")
    again = await assign(tenant, users[:1], [{"productId": e3, "disabledServicePlanIds": [exchange]}])
    assert again["errors"] == []
    assert (await product(tenant, "SPE_E3"))["consumedUnits"] == 3
    lic = (await tenant.ok(LICENSES, {"id": users[0]}))["user"]["licenses"][0]
    assert {"servicePlanName": "EXCHANGE_S_ENTERPRISE"} in lic["disabledServicePlans"]
    assert {"servicePlanName": "EXCHANGE_S_ENTERPRISE"} not in lic["enabledServicePlans"]


async def test_r4_count_violation_refuses_everything_and_says_how_many(tenant: Tenant) -> None:
    await tenant.buy("EMS", 2)
    ems = (await product(tenant, "EMS"))["id"]
    users = [await tenant.create_user(f"Person {i}") for i in range(5)]
    payload = await assign(tenant, users, [{"productId": ems}])
    assert payload["changes"] is None
    assert [(e["code"], e["userId"], e["productId"]) for e in payload["errors"]] == [("COUNT_VIOLATION", None, ems)]
    message = payload["errors"][0]["message"]
    assert "3" in message and "2" in message
    assert (await product(tenant, "EMS"))["consumedUnits"] == 0
    assert (await tenant.ok(LICENSES, {"id": users[0]}))["user"]["licenses"] == []


async def test_r19_dry_run_returns_the_real_runs_payload_and_stores_nothing(tenant: Tenant) -> None:
    await tenant.buy("SPE_E3", 3)
    e3 = (await product(tenant, "SPE_E3"))["id"]
    users = [await tenant.create_user(f"Dry {i}") for i in range(2)]
    dry = await assign(tenant, users, [{"productId": e3}], dryRun=True)
    assert (await product(tenant, "SPE_E3"))["consumedUnits"] == 0
    assert (await tenant.ok(LICENSES, {"id": users[0]}))["user"]["licenses"] == []
    real = await assign(tenant, users, [{"productId": e3}])
    assert dry["changes"].pop("dryRun") is True
    assert real["changes"].pop("dryRun") is False
    assert dry == real
    refused_dry = await assign(tenant, [await tenant.create_user(f"Dry {i}") for i in range(2, 4)], [{"productId": e3}], dryRun=True)
    assert refused_dry["changes"] is None and refused_dry["errors"][0]["code"] == "COUNT_VIOLATION"


async def test_r12_replace_and_remove(tenant: Tenant) -> None:
    await tenant.buy("SPE_E3", 5)
    await tenant.buy("EMS", 5)
    await tenant.buy("POWER_BI_PRO", 5)
    e3, ems, bi = [(await product(tenant, s))["id"] for s in ("SPE_E3", "EMS", "POWER_BI_PRO")]
    user = await tenant.create_user("Replace Me")
    assert (await assign(tenant, [user], [{"productId": e3}, {"productId": ems}]))["errors"] == []
    replaced = await assign(tenant, [user], [{"productId": bi}], mode="REPLACE")
    assert replaced["errors"] == []
    skus = [lic["product"]["skuPartNumber"] for lic in (await tenant.ok(LICENSES, {"id": user}))["user"]["licenses"]]
    assert skus == ["POWER_BI_PRO"]
    assert [(await product(tenant, s))["consumedUnits"] for s in ("SPE_E3", "EMS", "POWER_BI_PRO")] == [0, 0, 1]
    removed = await assign(tenant, [user], removeProductIds=[bi])
    assert removed["errors"] == [] and removed["changes"]["outcomes"][0]["removed"] is True
    not_there = await assign(tenant, [user], removeProductIds=[bi])
    assert [e["code"] for e in not_there["errors"]] == ["NOT_ASSIGNED"]


async def test_r8_usage_location_required_and_d1_clearing_it_is_refused(tenant: Tenant) -> None:
    await tenant.buy("SPE_E3", 5)
    e3 = (await product(tenant, "SPE_E3"))["id"]
    nowhere = await tenant.create_user("No Where", location=None)
    payload = await assign(tenant, [nowhere], [{"productId": e3}])
    assert [(e["code"], e["userId"]) for e in payload["errors"]] == [("USAGE_LOCATION_REQUIRED", nowhere)]
    somewhere = await tenant.create_user("Some Where", location="NO")
    assert (await assign(tenant, [somewhere], [{"productId": e3}]))["errors"] == []
    cleared = await tenant.ok(
        "mutation($i: UpdateUserInput!) { updateUser(input: $i) { user { usageLocation } errors { code } } }",
        {"i": {"userId": somewhere, "usageLocation": None}},
    )
    assert [e["code"] for e in cleared["updateUser"]["errors"]] == ["USAGE_LOCATION_REQUIRED"]
    user = await tenant.ok("query($id: ID!) { user(id: $id) { usageLocation } }", {"id": somewhere})
    assert user["user"]["usageLocation"] == "NO"


async def test_r6_mutually_exclusive_plans_name_both_plans_and_products(tenant: Tenant) -> None:
    await tenant.buy("ENTERPRISEPACK", 5)
    await tenant.buy("M365EDU_A3_FACULTY", 5)
    o365, edu = [(await product(tenant, s))["id"] for s in ("ENTERPRISEPACK", "M365EDU_A3_FACULTY")]
    user = await tenant.create_user("Both Yammers")
    assert (await assign(tenant, [user], [{"productId": o365}]))["errors"] == []
    refused = await assign(tenant, [user], [{"productId": edu}])
    assert [(e["code"], e["productId"], e["userId"]) for e in refused["errors"]] == [("MUTUALLY_EXCLUSIVE_VIOLATION", edu, user)]
    message = refused["errors"][0]["message"]
    assert "YAMMER_EDU" in message or "Yammer" in message
    yammer_edu = await plan_id(tenant, "M365EDU_A3_FACULTY", "YAMMER_EDU")
    fixed = await assign(tenant, [user], [{"productId": edu, "disabledServicePlanIds": [yammer_edu]}])
    assert fixed["errors"] == []


async def test_r7_dependency_on_assign_and_on_unassign(tenant: Tenant) -> None:
    await tenant.buy("MCOMEETADV", 5)
    await tenant.buy("ENTERPRISEPACK", 5)
    audio, o365 = [(await product(tenant, s))["id"] for s in ("MCOMEETADV", "ENTERPRISEPACK")]
    user = await tenant.create_user("Needs Skype")
    refused = await assign(tenant, [user], [{"productId": audio}])
    assert [e["code"] for e in refused["errors"]] == ["DEPENDENCY_VIOLATION"]
    assert "MCOSTANDARD" in refused["errors"][0]["message"] or "Skype" in refused["errors"][0]["message"]
    assert (await assign(tenant, [user], [{"productId": o365}, {"productId": audio}]))["errors"] == []
    stranded = await assign(tenant, [user], removeProductIds=[o365])
    assert [(e["code"], e["productId"]) for e in stranded["errors"]] == [("DEPENDENCY_VIOLATION", o365)]
    both = await assign(tenant, [user], removeProductIds=[o365, audio])
    assert both["errors"] == []


async def test_r17_guest_direct_license_needs_global_admin(tenant: Tenant) -> None:
    await tenant.buy("SPE_E3", 5)
    e3 = (await product(tenant, "SPE_E3"))["id"]
    guest = (await tenant.mutate(
        "inviteGuest", "mutation($i: InviteGuestInput!) { inviteGuest(input: $i) { user { id } errors { code } } }",
        {"i": {"email": "g@partner.example", "displayName": "Guest", "usageLocation": "US"}},
    ))["user"]["id"]
    as_license_admin = await assign(tenant, [guest], [{"productId": e3}], token=tenant.token(Role.LICENSE_ADMINISTRATOR))
    assert [e["code"] for e in as_license_admin["errors"]] == ["GLOBAL_ADMINISTRATOR_REQUIRED"]
    # D4: reported per user × product
    await tenant.buy("EMS", 5)
    ems = (await product(tenant, "EMS"))["id"]
    two = await assign(tenant, [guest], [{"productId": e3}, {"productId": ems}], token=tenant.token(Role.LICENSE_ADMINISTRATOR))
    assert sorted((e["code"], e["userId"], e["productId"]) for e in two["errors"]) == sorted(
        [("GLOBAL_ADMINISTRATOR_REQUIRED", guest, e3), ("GLOBAL_ADMINISTRATOR_REQUIRED", guest, ems)]
    )
    assert (await assign(tenant, [guest], [{"productId": e3}]))["errors"] == []


async def test_deleting_a_user_frees_the_seat(tenant: Tenant) -> None:
    await tenant.buy("EMS", 1)
    ems = (await product(tenant, "EMS"))["id"]
    first = await tenant.create_user("First")
    assert (await assign(tenant, [first], [{"productId": ems}]))["errors"] == []
    deleted = await tenant.ok(
        "mutation($i: DeleteUserInput!) { deleteUser(input: $i) { errors { code } changes { products { consumedBefore consumedAfter } } } }",
        {"i": {"userId": first}},
    )
    assert deleted["deleteUser"]["changes"]["products"] == [{"consumedBefore": 1, "consumedAfter": 0}]
    assert (await product(tenant, "EMS"))["consumedUnits"] == 0
    second = await tenant.create_user("Second")
    assert (await assign(tenant, [second], [{"productId": ems}]))["errors"] == []


async def test_r15_reducing_below_assigned_is_seats_in_use(tenant: Tenant) -> None:
    sub = await tenant.buy("EMS", 3)
    ems = (await product(tenant, "EMS"))["id"]
    users = [await tenant.create_user(f"Holder {i}") for i in range(2)]
    assert (await assign(tenant, users, [{"productId": ems}]))["errors"] == []
    reduce = await tenant.ok(
        "mutation($i: UpdateSubscriptionQuantityInput!) { updateSubscriptionQuantity(input: $i) { errors { code message } } }",
        {"i": {"subscriptionId": sub, "quantity": 1}},
    )
    assert [e["code"] for e in reduce["updateSubscriptionQuantity"]["errors"]] == ["SEATS_IN_USE"]
    assert "unassign 1 license" in reduce["updateSubscriptionQuantity"]["errors"][0]["message"]


UPDATE_PLANS = """
mutation($i: UpdateUserServicePlansInput!) {
  updateUserServicePlans(input: $i) { user { id } errors { code message } changes { affectedUserCount } }
}"""


async def test_r14_update_user_service_plans(tenant: Tenant) -> None:
    await tenant.buy("SPE_E3", 2)
    e3 = (await product(tenant, "SPE_E3"))["id"]
    user = await tenant.create_user("Plan Changer")
    not_assigned = await tenant.ok(UPDATE_PLANS, {"i": {"userId": user, "productId": e3, "disabledServicePlanIds": []}})
    assert [e["code"] for e in not_assigned["updateUserServicePlans"]["errors"]] == ["NOT_ASSIGNED"]
    assert (await assign(tenant, [user], [{"productId": e3}]))["errors"] == []
    teams = await plan_id(tenant, "SPE_E3", "TEAMS1")
    changed = await tenant.ok(UPDATE_PLANS, {"i": {"userId": user, "productId": e3, "disabledServicePlanIds": [teams]}})
    assert changed["updateUserServicePlans"]["errors"] == []
    states = (await tenant.ok(LICENSES, {"id": user}))["user"]["licenseAssignmentStates"]
    assert states[0]["disabledServicePlans"] == [{"servicePlanName": "TEAMS1"}]
    bad_plan = await plan_id(tenant, "POWER_BI_PRO", "BI_AZURE_P2")
    invalid = await tenant.ok(UPDATE_PLANS, {"i": {"userId": user, "productId": e3, "disabledServicePlanIds": [bad_plan]}})
    assert [e["code"] for e in invalid["updateUserServicePlans"]["errors"]] == ["INVALID_INPUT"]


CREATE = """
mutation($i: CreateUserInput!) {
  createUser(input: $i) {
    user { id userPrincipalName licenses { product { skuPartNumber } state } }
    errors { code message }
    changes { dryRun products { consumedAfter } }
  }
}"""


async def test_r16_create_user_with_licenses_is_atomic(tenant: Tenant) -> None:
    await tenant.buy("EMS", 1)
    ems = (await product(tenant, "EMS"))["id"]
    dry = await tenant.ok(CREATE, {"i": {"userPrincipalName": f"new@{tenant.domain}", "displayName": "New", "usageLocation": "US",
                                          "licenses": [{"productId": ems}], "dryRun": True}})
    assert dry["createUser"]["errors"] == [] and dry["createUser"]["changes"]["products"] == [{"consumedAfter": 1}]
    made = await tenant.ok(CREATE, {"i": {"userPrincipalName": f"new@{tenant.domain}", "displayName": "New", "usageLocation": "US",
                                           "licenses": [{"productId": ems}]}})
    assert made["createUser"]["errors"] == []
    assert made["createUser"]["user"]["licenses"] == [{"product": {"skuPartNumber": "EMS"}, "state": "ACTIVE"}]
    full = await tenant.ok(CREATE, {"i": {"userPrincipalName": f"late@{tenant.domain}", "displayName": "Late", "usageLocation": "US",
                                           "licenses": [{"productId": ems}]}})
    assert [e["code"] for e in full["createUser"]["errors"]] == ["COUNT_VIOLATION"]
    found = await tenant.ok("{ users(filter: {search: \"late\"}) { totalCount } }")
    assert found["users"]["totalCount"] == 0


async def test_too_many_users_is_refused(tenant: Tenant) -> None:
    await tenant.buy("EMS", 1)
    ems = (await product(tenant, "EMS"))["id"]
    ids = [await tenant.create_user(f"Many {i}") for i in range(21)]
    payload = await assign(tenant, ids, [{"productId": ems}])
    assert [e["code"] for e in payload["errors"]] == ["TOO_MANY_USERS"]


async def test_a_license_whose_last_path_ends_is_gone(tenant: Tenant) -> None:
    await tenant.buy("EMS", 2)
    ems = (await product(tenant, "EMS"))["id"]
    user = await tenant.create_user("Gone")
    assert (await assign(tenant, [user], [{"productId": ems}]))["errors"] == []
    assert (await assign(tenant, [user], removeProductIds=[ems]))["errors"] == []
    holders = await tenant.ok("query($p: ID!) { users(filter: {hasProductId: $p}) { totalCount } }", {"p": ems})
    assert holders["users"]["totalCount"] == 0
    assert (await tenant.ok(LICENSES, {"id": user}))["user"]["licenses"] == []


async def test_r21_an_assignment_that_changes_nothing_appends_no_audit_event(tenant: Tenant) -> None:
    await tenant.buy("SPE_E3", 2)
    e3 = (await product(tenant, "SPE_E3"))["id"]
    user = await tenant.create_user("Twice Assigned")
    assert (await assign(tenant, [user], [{"productId": e3}]))["errors"] == []
    teams = await plan_id(tenant, "SPE_E3", "TEAMS1")
    planned = {"i": {"userId": user, "productId": e3, "disabledServicePlanIds": [teams]}}
    assert (await tenant.ok(UPDATE_PLANS, planned))["updateUserServicePlans"]["errors"] == []
    audit = "{ auditLog(first: 100) { totalCount edges { node { action } } } }"
    before = (await tenant.ok(audit))["auditLog"]
    again = await assign(tenant, [user], [{"productId": e3, "disabledServicePlanIds": [teams]}])
    assert again["errors"] == [] and again["changes"]["affectedUserCount"] == 0
    same_plans = await tenant.ok(UPDATE_PLANS, planned)
    assert same_plans["updateUserServicePlans"]["changes"]["affectedUserCount"] == 0
    assert (await tenant.ok(audit))["auditLog"] == before
    # a real change is audited as before
    assert (await assign(tenant, [user], [{"productId": e3}]))["changes"]["affectedUserCount"] == 1
    after = (await tenant.ok(audit))["auditLog"]
    assert after["totalCount"] == before["totalCount"] + 1
    assert after["edges"][0]["node"]["action"] == "LICENSES_ASSIGNED"
