"""Group-based licensing through the API: R4–R11, R13, R18, D2, D3, D17, D18, D23."""

from __future__ import annotations

from typing import Any

import pytest

from tests.gql.test_assign_licenses import LICENSES, assign, plan_id, product
from tests.support import Tenant

ASSIGN_GROUP = """
mutation($i: AssignGroupLicensesInput!) {
  assignGroupLicenses(input: $i) {
    group { id licenses { product { skuPartNumber } activeUserCount errorUserCount disabledServicePlans { servicePlanName } } }
    errors { code message field }
    changes {
      dryRun affectedUserCount
      products { product { skuPartNumber } consumedBefore consumedAfter totalUnits }
      outcomes(first: 1000) { user { displayName } product { skuPartNumber } assignedByGroup { displayName } state error { code } removed }
      errorCounts { product { skuPartNumber } code count }
    }
  }
}"""

MEMBERS = """
mutation($i: GroupMembersInput!) {
  %s(input: $i) { group { id } errors { code message } changes { affectedUserCount products { consumedBefore consumedAfter } } }
}"""

GROUP_VIEW = """
query($id: ID!) {
  group(id: $id) {
    hasMembersWithLicenseErrors
    membersWithLicenseErrors { totalCount edges { node { displayName } } }
    licenses { product { skuPartNumber } activeUserCount errorUserCount }
  }
}"""


async def license_group(tenant: Tenant, group: str, adds: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    data = await tenant.ok(ASSIGN_GROUP, {"i": {"groupId": group, "addLicenses": adds, **extra}})
    return data["assignGroupLicenses"]


async def members(tenant: Tenant, op: str, group: str, ids: list[str]) -> dict[str, Any]:
    data = await tenant.ok(MEMBERS % op, {"i": {"groupId": group, "memberIds": ids}})
    return data[op]


async def states(tenant: Tenant, user: str) -> list[tuple[str, str | None, str, str | None]]:
    data = (await tenant.ok(LICENSES, {"id": user}))["user"]["licenseAssignmentStates"]
    return [(s["product"]["skuPartNumber"], s["assignedByGroup"] and s["assignedByGroup"]["id"], s["state"],
             s["error"] and s["error"]["code"]) for s in data]


@pytest.fixture(params=["small", "medium", "large"], ids=["small-batch plans", "medium-batch plans", "large-batch plans"])
def batch_plans(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Batches above db.repo.group_batch.LARGE_BATCH users are planned without nested loops, and
    above PROBED_BATCH read their stored rows by scans instead of per-user probes; the decisions
    must not depend on either."""
    if request.param in ("medium", "large"):
        monkeypatch.setattr("db.repo.group_batch.LARGE_BATCH", 0)
    if request.param == "large":
        monkeypatch.setattr("db.repo.group_batch.PROBED_BATCH", -1)


async def test_r10_r4_a_group_license_reaches_nested_members_and_seats_go_in_order(tenant: Tenant, batch_plans: None) -> None:
    await tenant.buy("EMS", 2)
    ems = (await product(tenant, "EMS"))["id"]
    ann = await tenant.create_user("Ann")
    bob = await tenant.create_user("Bob")
    cid = await tenant.create_user("Cid")
    inner = await tenant.create_group("Inner", [cid])
    staff = await tenant.create_group("Staff", [ann, bob, inner])
    payload = await license_group(tenant, staff, [{"productId": ems}])
    assert payload["errors"] == []
    changes = payload["changes"]
    assert changes["products"] == [{"product": {"skuPartNumber": "EMS"}, "consumedBefore": 0, "consumedAfter": 2, "totalUnits": 2}]
    assert changes["errorCounts"] == [{"product": {"skuPartNumber": "EMS"}, "code": "COUNT_VIOLATION", "count": 1}]
    assert changes["outcomes"][0]["state"] == "ERROR"  # errors first
    # R4/D2: same moment for all three: by user creation order, so Cid (created last) waits
    assert await states(tenant, cid) == [("EMS", staff, "ERROR", "COUNT_VIOLATION")]
    assert await states(tenant, ann) == [("EMS", staff, "ACTIVE", None)]
    view = (await tenant.ok(GROUP_VIEW, {"id": staff}))["group"]
    assert view["hasMembersWithLicenseErrors"] is True
    assert [e["node"]["displayName"] for e in view["membersWithLicenseErrors"]["edges"]] == ["Cid"]
    assert view["licenses"] == [{"product": {"skuPartNumber": "EMS"}, "activeUserCount": 2, "errorUserCount": 1}]
    lic = (await tenant.ok(LICENSES, {"id": ann}))["user"]["licenses"][0]
    assert lic["inheritedFrom"] == [{"id": staff}] and lic["assignedDirectly"] is False
    # R4: a freed seat goes to the next in line in the same transaction
    left = await members(tenant, "removeGroupMembers", staff, [bob])
    assert left["errors"] == []
    assert await states(tenant, bob) == []
    assert await states(tenant, cid) == [("EMS", staff, "ACTIVE", None)]
    assert (await product(tenant, "EMS"))["consumedUnits"] == 2
    view = (await tenant.ok(GROUP_VIEW, {"id": staff}))["group"]
    assert view["hasMembersWithLicenseErrors"] is False
    assert view["licenses"] == [{"product": {"skuPartNumber": "EMS"}, "activeUserCount": 2, "errorUserCount": 0}]


async def test_r4_buying_seats_recovers_errored_paths(tenant: Tenant) -> None:
    sub = await tenant.buy("EMS", 1)
    ems = (await product(tenant, "EMS"))["id"]
    users = [await tenant.create_user(f"Waiting {i}") for i in range(3)]
    group = await tenant.create_group("Queue", users)
    await license_group(tenant, group, [{"productId": ems}])
    assert (await product(tenant, "EMS"))["consumedUnits"] == 1
    await tenant.ok(
        "mutation($i: UpdateSubscriptionQuantityInput!) { updateSubscriptionQuantity(input: $i) { errors { code } } }",
        {"i": {"subscriptionId": sub, "quantity": 3}},
    )
    assert (await product(tenant, "EMS"))["consumedUnits"] == 3
    assert [(await states(tenant, u))[0][2] for u in users] == ["ACTIVE"] * 3


async def test_r14_d1_direct_and_group_paths_union_and_inherited_license(tenant: Tenant) -> None:
    await tenant.buy("SPE_E3", 5)
    e3 = (await product(tenant, "SPE_E3"))["id"]
    teams = await plan_id(tenant, "SPE_E3", "TEAMS1")
    user = await tenant.create_user("Union")
    group = await tenant.create_group("No Teams", [user])
    await license_group(tenant, group, [{"productId": e3, "disabledServicePlanIds": [teams]}])
    lic = (await tenant.ok(LICENSES, {"id": user}))["user"]["licenses"][0]
    assert {"servicePlanName": "TEAMS1"} in lic["disabledServicePlans"]
    removed = await assign(tenant, [user], removeProductIds=[e3])
    assert [e["code"] for e in removed["errors"]] == ["INHERITED_LICENSE"]
    assert "No Teams" in removed["errors"][0]["message"]
    assert (await assign(tenant, [user], [{"productId": e3}]))["errors"] == []
    lic = (await tenant.ok(LICENSES, {"id": user}))["user"]["licenses"][0]
    assert {"servicePlanName": "TEAMS1"} in lic["enabledServicePlans"]  # R5: enabled directly
    assert (await product(tenant, "SPE_E3"))["consumedUnits"] == 1  # R1
    # R14: removing the direct path keeps the inherited license and the seat
    assert (await assign(tenant, [user], removeProductIds=[e3]))["errors"] == []
    lic = (await tenant.ok(LICENSES, {"id": user}))["user"]["licenses"][0]
    assert lic["assignedDirectly"] is False and lic["state"] == "ACTIVE"
    assert (await product(tenant, "SPE_E3"))["consumedUnits"] == 1


async def test_r18_groups_holding_licenses_and_non_security_groups(tenant: Tenant) -> None:
    await tenant.buy("EMS", 5)
    ems = (await product(tenant, "EMS"))["id"]
    mail_group = await tenant.create_group("Mail only", security=False)
    refused = await license_group(tenant, mail_group, [{"productId": ems}])
    assert [e["code"] for e in refused["errors"]] == ["GROUP_NOT_SECURITY_ENABLED"]
    group = await tenant.create_group("Licensed", [await tenant.create_user("Member")])
    assert (await license_group(tenant, group, [{"productId": ems}]))["errors"] == []
    deleted = await tenant.ok(
        "mutation($i: DeleteGroupInput!) { deleteGroup(input: $i) { errors { code } } }", {"i": {"groupId": group}}
    )
    assert [e["code"] for e in deleted["deleteGroup"]["errors"]] == ["GROUP_HAS_LICENSES"]
    removed = await license_group(tenant, group, [], removeProductIds=[ems])
    assert removed["errors"] == [] and removed["changes"]["products"][0]["consumedAfter"] == 0


async def test_d17_nesting_and_unnesting_and_deleting_a_nested_group(tenant: Tenant) -> None:
    await tenant.buy("EMS", 5)
    ems = (await product(tenant, "EMS"))["id"]
    user = await tenant.create_user("Nested")
    team = await tenant.create_group("Team", [user])
    org = await tenant.create_group("Org")
    await license_group(tenant, org, [{"productId": ems}])
    assert await states(tenant, user) == []
    nested = await members(tenant, "addGroupMembers", org, [team])
    assert nested["changes"]["affectedUserCount"] == 1
    assert await states(tenant, user) == [("EMS", org, "ACTIVE", None)]
    await members(tenant, "removeGroupMembers", org, [team])
    assert await states(tenant, user) == []
    await members(tenant, "addGroupMembers", org, [team])
    deleted = await tenant.ok(
        "mutation($i: DeleteGroupInput!) { deleteGroup(input: $i) { errors { code } changes { affectedUserCount } } }",
        {"i": {"groupId": team}},
    )
    assert deleted["deleteGroup"]["errors"] == [] and deleted["deleteGroup"]["changes"]["affectedUserCount"] == 1
    assert await states(tenant, user) == []
    assert (await product(tenant, "EMS"))["consumedUnits"] == 0


async def test_r8_group_paths_use_the_tenant_default_location(tenant: Tenant) -> None:
    await tenant.buy("EMS", 5)
    ems = (await product(tenant, "EMS"))["id"]
    user = await tenant.create_user("Homeless", location=None)
    group = await tenant.create_group("Everyone", [user])
    await tenant.ok("mutation { updateTenant(input: {defaultUsageLocation: null}) { errors { code } } }")
    await license_group(tenant, group, [{"productId": ems}])
    assert await states(tenant, user) == [("EMS", group, "ERROR", "USAGE_LOCATION_REQUIRED")]
    await tenant.ok("mutation { updateTenant(input: {defaultUsageLocation: \"NO\"}) { errors { code } } }")
    assert await states(tenant, user) == [("EMS", group, "ACTIVE", None)]


async def test_r13_reprocess_changes_nothing_when_state_is_right(tenant: Tenant) -> None:
    await tenant.buy("EMS", 1)
    ems = (await product(tenant, "EMS"))["id"]
    users = [await tenant.create_user(f"R {i}") for i in range(2)]
    group = await tenant.create_group("Reprocessed", users)
    await license_group(tenant, group, [{"productId": ems}])
    before = [await states(tenant, u) for u in users]
    data = await tenant.ok(
        "mutation($i: ReprocessLicensesInput!) { reprocessLicenses(input: $i) { errors { code } changes { affectedUserCount outcomes { state } } } }",
        {"i": {"groupId": group}},
    )
    assert data["reprocessLicenses"]["errors"] == []
    assert data["reprocessLicenses"]["changes"]["affectedUserCount"] == 0
    assert data["reprocessLicenses"]["changes"]["outcomes"] == []
    assert [await states(tenant, u) for u in users] == before


async def test_r19_group_dry_run_matches_the_real_run(tenant: Tenant) -> None:
    await tenant.buy("EMS", 2)
    ems = (await product(tenant, "EMS"))["id"]
    group = await tenant.create_group("Dry Group", [await tenant.create_user(f"D {i}") for i in range(3)])
    dry = await license_group(tenant, group, [{"productId": ems}], dryRun=True)
    assert (await product(tenant, "EMS"))["consumedUnits"] == 0
    real = await license_group(tenant, group, [{"productId": ems}])
    dry_changes, real_changes = dry["changes"], real["changes"]
    assert dry_changes.pop("dryRun") is True and real_changes.pop("dryRun") is False
    assert dry_changes == real_changes


async def test_deleting_a_user_leaves_no_path_or_license_behind(tenant: Tenant, database_url: str) -> None:
    """License rows carry no foreign keys (migration 0002, for bulk speed): deleting a user must
    delete its direct and group paths and its licenses itself, and free both seats."""
    from sqlalchemy import text

    from db.session import Database
    from services.ids import from_global_id

    await tenant.buy("EMS", 2)
    await tenant.buy("ENTERPRISEPACK", 2)
    ems = (await product(tenant, "EMS"))["id"]
    e3 = (await product(tenant, "ENTERPRISEPACK"))["id"]
    user = await tenant.create_user("Leaving")
    made = await tenant.ok(
        "mutation($i: CreateGroupInput!) { createGroup(input: $i) { group { id } errors { code } } }",
        {"i": {"displayName": "Staff", "memberIds": [user]}},
    )
    group = made["createGroup"]["group"]["id"]
    assert (await license_group(tenant, group, [{"productId": e3}]))["errors"] == []
    assert (await assign(tenant, [user], [{"productId": ems}]))["errors"] == []
    deleted = await tenant.ok("mutation($i: DeleteUserInput!) { deleteUser(input: $i) { errors { code } } }", {"i": {"userId": user}})
    assert deleted["deleteUser"]["errors"] == []
    assert (await product(tenant, "EMS"))["consumedUnits"] == 0
    assert (await product(tenant, "ENTERPRISEPACK"))["consumedUnits"] == 0
    db = Database(database_url)
    try:
        async with db.read() as conn:
            uid = from_global_id(user).key
            for table in ("license_paths", "user_licenses"):
                left = (await conn.execute(text(f"SELECT count(*) FROM {table} WHERE user_id = :u"), {"u": uid})).scalar_one()
                assert left == 0, table
    finally:
        await db.dispose()


async def test_r6_a_mixed_batch_the_engine_judges_its_users_and_sql_the_others(tenant: Tenant, batch_plans: None) -> None:
    """One member of a licensed group holds Yammer for Academic directly; the group gives E3
    (Yammer Enterprise, mutually exclusive with it, R6). With seats for everyone, that member is
    judged by the engine (the later path errs) and the other members in SQL, in one change."""
    await tenant.buy("SPE_E3", 10)
    await tenant.buy("M365EDU_A3_FACULTY", 1)
    users = [await tenant.create_user(f"Member {i}") for i in range(6)]
    faculty = (await product(tenant, "M365EDU_A3_FACULTY"))["id"]
    assert (await assign(tenant, [users[2]], [{"productId": faculty}]))["errors"] == []
    group = await tenant.create_group("Staff", users)
    e3 = (await product(tenant, "SPE_E3"))["id"]
    given = await license_group(tenant, group, [{"productId": e3}])
    assert given["errors"] == []
    changes = given["changes"]
    assert changes["affectedUserCount"] == 6
    assert changes["products"] == [{"product": {"skuPartNumber": "SPE_E3"}, "consumedBefore": 0, "consumedAfter": 5, "totalUnits": 10}]
    assert changes["errorCounts"] == [{"product": {"skuPartNumber": "SPE_E3"}, "code": "MUTUALLY_EXCLUSIVE_VIOLATION", "count": 1}]
    # errors first (D16), then the members in R4 order
    assert [(o["user"]["displayName"], o["state"], o["error"] and o["error"]["code"]) for o in changes["outcomes"]] == [
        ("Member 2", "ERROR", "MUTUALLY_EXCLUSIVE_VIOLATION"),
        *[(f"Member {i}", "ACTIVE", None) for i in (0, 1, 3, 4, 5)],
    ]
    assert await states(tenant, users[2]) == [
        ("M365EDU_A3_FACULTY", None, "ACTIVE", None), ("SPE_E3", group, "ERROR", "MUTUALLY_EXCLUSIVE_VIOLATION"),
    ]
    for i in (0, 1, 3, 4, 5):
        assert await states(tenant, users[i]) == [("SPE_E3", group, "ACTIVE", None)]
    view = (await tenant.ok(GROUP_VIEW, {"id": group}))["group"]
    assert view["licenses"] == [{"product": {"skuPartNumber": "SPE_E3"}, "activeUserCount": 5, "errorUserCount": 1}]


async def test_r4_a_removed_group_license_frees_its_seat_for_the_first_in_line_not_a_member_behind(api: Any) -> None:
    """Found by the property test on 2026-12-03 (present before this session too): removing a
    group's license freed its holder's seat, and a member of that group, waiting for the seat
    through another group, took it ahead of an earlier waiter outside the batch (R4, D2).
    The waiters join the batch for a license removal as they do for a membership removal."""
    tenant = await api.new_tenant(default_usage_location=None)
    await tenant.buy("M365EDU_A3_FACULTY", 1)
    faculty = (await product(tenant, "M365EDU_A3_FACULTY"))["id"]
    ann = await tenant.create_user("Ann", location="US", department="Sales")
    bob = await tenant.create_user("Bob", location="US", department="Sales")
    cid = await tenant.create_user("Cid", location="US")
    holders = await tenant.create_group("Holders", [cid])
    assert (await license_group(tenant, holders, [{"productId": faculty}]))["errors"] == []
    sales = await tenant.create_group("Sales", [ann, bob])
    assert (await license_group(tenant, sales, [{"productId": faculty}]))["errors"] == []
    team = await tenant.create_group("Team", [bob])
    assert (await members(tenant, "addGroupMembers", holders, [team]))["errors"] == []
    assert [s[2:] for s in await states(tenant, ann)] == [("ERROR", "COUNT_VIOLATION")]
    removed = await license_group(tenant, holders, [], removeProductIds=[faculty])
    assert removed["errors"] == []
    assert await states(tenant, cid) == []
    assert [s[2:] for s in await states(tenant, ann)] == [("ACTIVE", None)]  # first in line
    assert [s[2:] for s in await states(tenant, bob)] == [("ERROR", "COUNT_VIOLATION")]


async def test_a_change_writes_its_rows_by_key_when_they_moved_after_it_read_them(
    tenant: Tenant, batch_plans: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A group change deletes and updates the stored paths and licenses it staged by where it
    read them (their ctid), checking the count; a row that moved since (here every row of the
    tenant, rewritten in the change's transaction just before its writes) is written by key."""
    from sqlalchemy import text

    from db.repo.group_batch import GroupBatch

    apply = GroupBatch.apply

    async def moved_then_apply(self: GroupBatch, *args: Any, **kwargs: Any) -> None:
        for table in ("license_paths", "user_licenses"):
            await self.conn.execute(text(f"UPDATE {table} SET updated_at = updated_at WHERE tenant_id = :t"), {"t": self.tenant_id})
        await apply(self, *args, **kwargs)

    await tenant.buy("EMS", 2)
    ems = (await product(tenant, "EMS"))["id"]
    ann, bob, cid = [await tenant.create_user(name) for name in ("Ann", "Bob", "Cid")]
    group = await tenant.create_group("Mobility", [ann, bob, cid])
    await license_group(tenant, group, [{"productId": ems}])
    assert [s[2:] for s in await states(tenant, cid)] == [("ERROR", "COUNT_VIOLATION")]
    monkeypatch.setattr(GroupBatch, "apply", moved_then_apply)
    # Ann's path and license are deleted, her seat goes to Cid: his path and license are updated
    assert (await members(tenant, "removeGroupMembers", group, [ann]))["errors"] == []
    assert await states(tenant, ann) == []
    assert [s[2:] for s in await states(tenant, cid)] == [("ACTIVE", None)]
    assert (await product(tenant, "EMS"))["consumedUnits"] == 2
    view = (await tenant.ok(GROUP_VIEW, {"id": group}))["group"]
    assert view["licenses"] == [{"product": {"skuPartNumber": "EMS"}, "activeUserCount": 2, "errorUserCount": 0}]
    lic = (await tenant.ok(LICENSES, {"id": cid}))["user"]["licenses"]
    assert [(x["product"]["skuPartNumber"], x["state"]) for x in lic] == [("EMS", "ACTIVE")]
