"""Dynamic groups through the API: R22 (membership by rule, always right), R23 (rule errors),
R24 (what-if), D24 (attribute changes are group-driven), D30 (who may), D32 (cap, places)."""

from __future__ import annotations

from typing import Any

import pytest

from gql.auth import Role
from tests.gql.test_assign_licenses import assign, product
from tests.gql.test_group_licenses import license_group, states
from tests.support import Tenant

CREATE = """
mutation($i: CreateGroupInput!) {
  createGroup(input: $i) { group { id membershipType membershipRule } errors { code message field } }
}"""

UPDATE = """
mutation($i: UpdateGroupInput!) {
  updateGroup(input: $i) {
    group { id displayName description membershipType membershipRule }
    errors { code message field }
    membershipChanges { joinedCount leftCount joined(first: 1000) { displayName } left { displayName } }
    changes { dryRun affectedUserCount products { product { skuPartNumber } consumedBefore consumedAfter totalUnits }
              errorCounts { product { skuPartNumber } code count } }
  }
}"""

MEMBERS = """
query($id: ID!) { group(id: $id) { membershipType membershipRule members(first: 100) { totalCount edges { node { ... on User { displayName } } } } } }"""

PREVIEW = """
query($r: String!, $n: Int) {
  membershipRulePreview(rule: $r) { valid error { message position } matchingCount sample(first: $n) { displayName } }
}"""

UPDATE_USER = """
mutation($i: UpdateUserInput!) { updateUser(input: $i) { user { id } errors { code message field } changes { affectedUserCount } } }"""

ADD = "mutation($i: GroupMembersInput!) { addGroupMembers(input: $i) { group { id } errors { code message } } }"
REMOVE = "mutation($i: GroupMembersInput!) { removeGroupMembers(input: $i) { group { id } errors { code message } } }"
AUDIT = "{ auditLog(first: 50) { edges { node { action summary } } } }"


async def members_of(tenant: Tenant, group: str) -> list[str]:
    data = (await tenant.ok(MEMBERS, {"id": group}))["group"]
    return [e["node"]["displayName"] for e in data["members"]["edges"]]


async def dynamic_group(tenant: Tenant, name: str, rule: str) -> str:
    payload = (await tenant.ok(CREATE, {"i": {"displayName": name, "membershipRule": rule}}))["createGroup"]
    assert payload["errors"] == [], payload["errors"]
    assert payload["group"]["membershipType"] == "DYNAMIC" and payload["group"]["membershipRule"] == rule
    return payload["group"]["id"]


async def update_group(tenant: Tenant, **fields: Any) -> dict[str, Any]:
    return (await tenant.ok(UPDATE, {"i": fields}))["updateGroup"]


async def test_r22_a_rule_makes_the_members_and_they_follow_user_changes(tenant: Tenant) -> None:
    ann = await tenant.create_user("Ann", department="Sales")
    await tenant.create_user("Bob", department="Finance")
    cid = await tenant.create_user("Cid", department="sales", location="NO")
    sales = await dynamic_group(tenant, "Sales people", 'user.department -eq "Sales"')
    assert await members_of(tenant, sales) == ["Ann", "Cid"]  # case ignored (R23)
    # a new user who matches joins at once; one who does not stays out
    await tenant.create_user("Dee", department="SALES")
    await tenant.create_user("Eve", department="Support")
    assert await members_of(tenant, sales) == ["Ann", "Cid", "Dee"]
    # a mover leaves
    moved = (await tenant.ok(UPDATE_USER, {"i": {"userId": ann, "department": "Finance"}}))["updateUser"]
    assert moved["errors"] == []
    assert await members_of(tenant, sales) == ["Cid", "Dee"]
    audit = [e["node"] for e in (await tenant.ok(AUDIT))["auditLog"]["edges"]]
    updated = next(e for e in audit if e["action"] == "USER_UPDATED")
    assert updated["summary"].endswith("; dynamic groups: 0 joined, 1 left (Sales people: 1 left)"), updated
    # a deleted user leaves the dynamic groups too, and the audit counts it (D32)
    deleted = await tenant.ok(
        "mutation($i: DeleteUserInput!) { deleteUser(input: $i) { errors { code } } }", {"i": {"userId": cid}}
    )
    assert deleted["deleteUser"]["errors"] == []
    assert await members_of(tenant, sales) == ["Dee"]
    audit = [e["node"] for e in (await tenant.ok(AUDIT))["auditLog"]["edges"]]
    gone = next(e for e in audit if e["action"] == "USER_DELETED")
    assert gone["summary"].endswith("; dynamic groups: 0 joined, 1 left (Sales people: 1 left)"), gone


async def test_r22_licenses_follow_rule_driven_membership(tenant: Tenant) -> None:
    await tenant.buy("EMS", 5)
    ems = (await product(tenant, "EMS"))["id"]
    ann = await tenant.create_user("Ann", department="Sales")
    sales = await dynamic_group(tenant, "Sales", 'user.department -eq "Sales"')
    finance = await dynamic_group(tenant, "Finance", 'user.department -startsWith "Fin"')
    assert (await license_group(tenant, sales, [{"productId": ems}]))["errors"] == []
    assert await states(tenant, ann) == [("EMS", sales, "ACTIVE", None)]
    bob = await tenant.create_user("Bob", department="Sales")
    assert await states(tenant, bob) == [("EMS", sales, "ACTIVE", None)]
    # D24: leaving a licensed dynamic group (and joining another) ends the path, frees the seat
    moved = (await tenant.ok(UPDATE_USER, {"i": {"userId": ann, "department": "Finance"}}))["updateUser"]
    assert moved["errors"] == [] and moved["changes"]["affectedUserCount"] == 1
    assert await states(tenant, ann) == []
    assert await members_of(tenant, finance) == ["Ann"]
    pool = await product(tenant, "EMS")
    assert pool["consumedUnits"] == 1


async def test_d24_clearing_the_location_that_put_a_user_in_a_licensed_dynamic_group_is_not_refused(api: Any) -> None:
    """D1 refuses a user change only for errors on paths the user keeps: a path the same change
    ends, by taking the user out of a dynamic group, refuses nothing (dry run and real run).
    No tenant default: a cleared location leaves the user with none."""
    tenant = await api.new_tenant(default_usage_location=None)
    await tenant.buy("EMS", 5)
    ems = (await product(tenant, "EMS"))["id"]
    cat = await tenant.create_user("Cat", location="NO")
    norway = await dynamic_group(tenant, "Norway", 'user.usageLocation -eq "NO"')
    assert (await license_group(tenant, norway, [{"productId": ems}]))["errors"] == []
    assert await states(tenant, cat) == [("EMS", norway, "ACTIVE", None)]
    for dry in (True, False):
        moved = (await tenant.ok(UPDATE_USER, {"i": {"userId": cat, "usageLocation": None, "dryRun": dry}}))["updateUser"]
        assert moved["errors"] == [], moved
        assert moved["changes"]["affectedUserCount"] == 1
    assert await states(tenant, cat) == []
    assert await members_of(tenant, norway) == []
    assert (await product(tenant, "EMS"))["consumedUnits"] == 0
    # a path the user keeps still refuses: a direct EMS, then the location cleared again
    dan = await tenant.create_user("Dan", location="SE")
    assert (await assign(tenant, [dan], [{"productId": ems}]))["errors"] == []
    kept = (await tenant.ok(UPDATE_USER, {"i": {"userId": dan, "usageLocation": None}}))["updateUser"]
    assert [e["code"] for e in kept["errors"]] == ["USAGE_LOCATION_REQUIRED"]


async def test_d24_a_change_that_also_moves_the_user_between_dynamic_groups_still_refuses_for_the_paths_kept(api: Any) -> None:
    """Leaving (or joining) a dynamic group is never refused, but the paths the user keeps are
    judged against how they were before the whole change (D1): a direct EMS that the cleared
    location would put into ERROR refuses the change, dry run and real run alike, and nothing
    changes — also when the same change takes the user out of one dynamic group or into
    another."""
    tenant = await api.new_tenant(default_usage_location=None)
    await tenant.buy("EMS", 10)
    ems = (await product(tenant, "EMS"))["id"]
    norway = await dynamic_group(tenant, "Norway", 'user.usageLocation -eq "NO"')
    ops = await dynamic_group(tenant, "Ops", 'user.department -eq "ops"')
    for group in (norway, ops):
        assert (await license_group(tenant, group, [{"productId": ems}]))["errors"] == []
    rita = await tenant.create_user("Rita", location="NO", department="engineering")
    nils = await tenant.create_user("Nils", location="SE")
    lea = await tenant.create_user("Lea", location="NO", department="ops")
    assert (await assign(tenant, [rita, nils], [{"productId": ems}]))["errors"] == []
    before = {u: await states(tenant, u) for u in (rita, nils, lea)}
    cases = [
        (rita, {"usageLocation": None}),  # leaves Norway, keeps the direct path
        (nils, {"usageLocation": None, "department": "ops"}),  # joins Ops, keeps the direct path
        (lea, {"usageLocation": None}),  # leaves Norway, keeps the Ops path (no tenant default)
    ]
    for user, change in cases:
        for dry in (True, False):
            refused = (await tenant.ok(UPDATE_USER, {"i": {"userId": user, **change, "dryRun": dry}}))["updateUser"]
            assert [(e["code"], e["field"]) for e in refused["errors"]] == [("USAGE_LOCATION_REQUIRED", "input.usageLocation")], (
                user, dry, refused)
            assert refused["changes"] is None
    assert {u: await states(tenant, u) for u in (rita, nils, lea)} == before
    assert await members_of(tenant, norway) == ["Lea", "Rita"]
    assert await members_of(tenant, ops) == ["Lea"]
    # moving Rita to another location she may have leaves Norway and refuses nothing
    moved = (await tenant.ok(UPDATE_USER, {"i": {"userId": rita, "usageLocation": "SE"}}))["updateUser"]
    assert moved["errors"] == []
    assert await states(tenant, rita) == [("EMS", None, "ACTIVE", None)]


async def test_r19_a_dry_run_create_user_shows_the_licenses_its_dynamic_groups_give(tenant: Tenant) -> None:
    """The dry run decides the rule-driven licenses as the real run does, and stores nothing."""
    await tenant.buy("EMS", 5)
    ems = (await product(tenant, "EMS"))["id"]
    sales = await dynamic_group(tenant, "Sales", 'user.department -eq "Sales"')
    assert (await license_group(tenant, sales, [{"productId": ems}]))["errors"] == []
    create = """mutation($i: CreateUserInput!) { createUser(input: $i) { errors { code }
      changes { dryRun affectedUserCount products { product { skuPartNumber } consumedBefore consumedAfter }
                outcomes(first: 10) { user { displayName } product { skuPartNumber } state } } } }"""
    values = {"userPrincipalName": f"hal@{tenant.domain}", "displayName": "Hal", "department": "Sales", "usageLocation": "NO"}
    dry = (await tenant.ok(create, {"i": {**values, "dryRun": True}}))["createUser"]
    assert dry["errors"] == [] and dry["changes"]["dryRun"] is True
    assert (await tenant.ok("{ users { totalCount } }"))["users"]["totalCount"] == 0
    assert await members_of(tenant, sales) == []
    assert (await product(tenant, "EMS"))["consumedUnits"] == 0
    real = (await tenant.ok(create, {"i": values}))["createUser"]
    assert real["errors"] == []
    assert dry["changes"]["affectedUserCount"] == real["changes"]["affectedUserCount"] == 1
    assert dry["changes"]["products"] == real["changes"]["products"] == [
        {"product": {"skuPartNumber": "EMS"}, "consumedBefore": 0, "consumedAfter": 1}
    ]
    assert dry["changes"]["outcomes"] == real["changes"]["outcomes"] == [
        {"user": {"displayName": "Hal"}, "product": {"skuPartNumber": "EMS"}, "state": "ACTIVE"}
    ]
    assert await members_of(tenant, sales) == ["Hal"]


async def test_r22_a_dynamic_group_nested_in_a_licensed_assigned_group(tenant: Tenant) -> None:
    await tenant.buy("EMS", 5)
    ems = (await product(tenant, "EMS"))["id"]
    sales = await dynamic_group(tenant, "Sales", 'user.department -eq "Sales"')
    staff = await tenant.create_group("Staff", [sales])
    assert (await license_group(tenant, staff, [{"productId": ems}]))["errors"] == []
    ann = await tenant.create_user("Ann", department="Sales")
    assert await states(tenant, ann) == [("EMS", staff, "ACTIVE", None)]


async def test_r22_refusals_change_nothing(tenant: Tenant) -> None:
    ann = await tenant.create_user("Ann", department="Sales")
    both = (await tenant.ok(CREATE, {"i": {"displayName": "X", "memberIds": [ann], "membershipRule": 'user.department -eq "Sales"'}}))
    assert both["createGroup"]["group"] is None
    assert [e["code"] for e in both["createGroup"]["errors"]] == ["INVALID_INPUT"]
    bad = (await tenant.ok(CREATE, {"i": {"displayName": "Y", "membershipRule": 'user.department -equals "Sales"'}}))["createGroup"]
    assert bad["group"] is None
    [error] = bad["errors"]
    assert error["code"] == "INVALID_INPUT" and error["field"] == "input.membershipRule"
    assert "position 16" in error["message"]
    # too long, or a NUL: the message names the position too (R23), as the preview does
    for rule, position in (('user.department -eq "' + "x" * 3100 + '"', 3072), ('user.department -eq "a\x00"', 22)):
        payload = (await tenant.ok(CREATE, {"i": {"displayName": "Z", "membershipRule": rule}}))["createGroup"]
        [error] = payload["errors"]
        assert error["code"] == "INVALID_INPUT" and error["field"] == "input.membershipRule"
        assert f"position {position}" in error["message"], error
        assert payload["group"] is None
    groups = await tenant.ok("{ groups { totalCount } }")
    assert groups["groups"]["totalCount"] == 0
    sales = await dynamic_group(tenant, "Sales", 'user.department -eq "Sales"')
    bob = await tenant.create_user("Bob", department="Finance")
    for query, name, who in ((ADD, "addGroupMembers", bob), (REMOVE, "removeGroupMembers", ann)):
        payload = (await tenant.ok(query, {"i": {"groupId": sales, "memberIds": [who]}}))[name]
        assert [e["code"] for e in payload["errors"]] == ["DYNAMIC_MEMBERSHIP"]
        assert "Sales" in payload["errors"][0]["message"]
    assert await members_of(tenant, sales) == ["Ann"]


async def test_r24_update_group_dry_run_then_real(tenant: Tenant) -> None:
    await tenant.buy("EMS", 1)
    ems = (await product(tenant, "EMS"))["id"]
    await tenant.create_user("Ann", department="Sales")
    await tenant.create_user("Bob", department="Sales Ops")
    await tenant.create_user("Cid", department="Finance")
    sales = await dynamic_group(tenant, "Sales", 'user.department -eq "Sales"')
    await license_group(tenant, sales, [{"productId": ems}])
    rule = 'user.department -startsWith "Sales" -or user.department -eq "Finance"'
    dry = await update_group(tenant, groupId=sales, membershipRule=rule, dryRun=True)
    assert dry["errors"] == []
    assert dry["membershipChanges"]["joinedCount"] == 2 and dry["membershipChanges"]["leftCount"] == 0
    assert [u["displayName"] for u in dry["membershipChanges"]["joined"]] == ["Bob", "Cid"]  # creation order
    assert dry["changes"]["dryRun"] is True
    assert dry["changes"]["errorCounts"] == [{"product": {"skuPartNumber": "EMS"}, "code": "COUNT_VIOLATION", "count": 2}]
    # stored nowhere
    assert await members_of(tenant, sales) == ["Ann"]
    assert (await tenant.ok(MEMBERS, {"id": sales}))["group"]["membershipRule"] == 'user.department -eq "Sales"'
    real = await update_group(tenant, groupId=sales, membershipRule=rule)
    assert real["membershipChanges"]["joinedCount"] == 2
    assert real["changes"]["errorCounts"] == dry["changes"]["errorCounts"]
    assert real["group"]["membershipRule"] == rule
    assert await members_of(tenant, sales) == ["Ann", "Bob", "Cid"]
    # narrowing the rule: who no longer matches leaves, who still matches keeps their seat
    narrow = await update_group(tenant, groupId=sales, membershipRule='user.department -eq "Sales"')
    assert narrow["membershipChanges"]["leftCount"] == 2
    assert [u["displayName"] for u in narrow["membershipChanges"]["left"]] == ["Bob", "Cid"]
    assert await members_of(tenant, sales) == ["Ann"]


async def test_r22_turning_a_rule_off_and_on(tenant: Tenant) -> None:
    ann = await tenant.create_user("Ann", department="Sales")
    bob = await tenant.create_user("Bob", department="Finance")
    sales = await dynamic_group(tenant, "Sales", 'user.department -eq "Sales"')
    off = await update_group(tenant, groupId=sales, membershipRule=None)
    assert off["group"]["membershipType"] == "ASSIGNED" and off["group"]["membershipRule"] is None
    assert await members_of(tenant, sales) == ["Ann"]  # members stay
    added = (await tenant.ok(ADD, {"i": {"groupId": sales, "memberIds": [bob]}}))["addGroupMembers"]
    assert added["errors"] == []
    # giving an assigned group a rule replaces its members by the matching users
    on = await update_group(tenant, groupId=sales, membershipRule='user.department -eq "Finance"')
    assert on["membershipChanges"]["joinedCount"] == 0 and on["membershipChanges"]["leftCount"] == 1
    assert await members_of(tenant, sales) == ["Bob"]
    # refused while the group has groups as members
    inner = await tenant.create_group("Inner", [ann])
    outer = await tenant.create_group("Outer", [inner])
    refused = await update_group(tenant, groupId=outer, membershipRule='user.department -eq "Sales"')
    assert [e["code"] for e in refused["errors"]] == ["INVALID_INPUT"] and refused["changes"] is None
    assert (await tenant.ok(MEMBERS, {"id": outer}))["group"]["membershipType"] == "ASSIGNED"


async def test_update_group_renames_and_describes(tenant: Tenant) -> None:
    group = await tenant.create_group("Old")
    done = await update_group(tenant, groupId=group, displayName="New", description="About")
    assert done["errors"] == [] and done["membershipChanges"] is None
    assert done["group"]["displayName"] == "New" and done["group"]["description"] == "About"
    empty = await update_group(tenant, groupId=group, displayName="  ")
    assert [e["field"] for e in empty["errors"]] == ["input.displayName"]


async def test_r24_preview(tenant: Tenant) -> None:
    for name, dept in (("Ann", "Sales"), ("Bob", "Sales"), ("Cid", "Finance")):
        await tenant.create_user(name, department=dept)
    data = (await tenant.ok(PREVIEW, {"r": 'user.department -eq "sales"', "n": 1}))["membershipRulePreview"]
    assert data == {"valid": True, "error": None, "matchingCount": 2, "sample": [{"displayName": "Ann"}]}
    mixed = 'user.department -eq "Sales" -and user.jobTitle -eq "x" -or user.mail -eq null'
    bad = (await tenant.ok(PREVIEW, {"r": mixed}))
    preview = bad["membershipRulePreview"]
    assert preview["valid"] is False and preview["matchingCount"] == 0 and preview["sample"] == []
    assert "parenthes" in preview["error"]["message"]
    assert preview["error"]["position"] == mixed.index("-or")  # D29: the first combinator that differs
    # every reading role may preview; no role is FORBIDDEN (D30)
    reader = tenant.token(Role.GLOBAL_READER)
    assert (await tenant.ok(PREVIEW, {"r": "user.accountEnabled -eq true"}, token=reader))["membershipRulePreview"]["matchingCount"] == 3
    body = await tenant.gql(PREVIEW, {"r": "user.accountEnabled -eq true"}, token=tenant.token())
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    # D9: `first` out of range is a top-level BAD_USER_INPUT, as everywhere else
    for n in (101, -1):
        body = await tenant.gql(PREVIEW, {"r": "user.accountEnabled -eq true", "n": n})
        assert [e["extensions"]["code"] for e in body["errors"]] == ["BAD_USER_INPUT"], body
    moved = "mutation($i: UpdateGroupInput!) { updateGroup(input: $i) { membershipChanges { joined(first: 1001) { id } } } }"
    body = await tenant.gql(moved, {"i": {"groupId": await dynamic_group(tenant, "Any", "user.accountEnabled -eq true"),
                                          "membershipRule": "user.accountEnabled -eq false", "dryRun": True}})
    assert [e["extensions"]["code"] for e in body["errors"]] == ["BAD_USER_INPUT"], body


async def test_d30_who_may_create_and_update_dynamic_groups(tenant: Tenant) -> None:
    license_admin = tenant.token(Role.LICENSE_ADMINISTRATOR)
    body = await tenant.gql(CREATE, {"i": {"displayName": "S", "membershipRule": 'user.department -eq "S"'}}, token=license_admin)
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    user_admin = tenant.token(Role.USER_ADMINISTRATOR)
    data = await tenant.ok(CREATE, {"i": {"displayName": "S", "membershipRule": 'user.department -eq "S"'}}, token=user_admin)
    assert data["createGroup"]["errors"] == []


async def test_group_filter_by_membership_type(tenant: Tenant) -> None:
    await tenant.create_group("Assigned")
    await dynamic_group(tenant, "Dynamic", "user.accountEnabled -eq true")
    query = "query($t: GroupMembershipType) { groups(filter: {membershipType: $t}) { edges { node { displayName } } } }"
    for kind, names in (("DYNAMIC", ["Dynamic"]), ("ASSIGNED", ["Assigned"]), (None, ["Assigned", "Dynamic"])):
        data = await tenant.ok(query, {"t": kind})
        assert [e["node"]["displayName"] for e in data["groups"]["edges"]] == names


async def test_d32_cap_on_dynamic_groups(tenant: Tenant, settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(settings, "max_dynamic_groups", 1)
    await dynamic_group(tenant, "One", "user.accountEnabled -eq true")
    second = (await tenant.ok(CREATE, {"i": {"displayName": "Two", "membershipRule": "user.accountEnabled -eq true"}}))["createGroup"]
    assert [e["code"] for e in second["errors"]] == ["INVALID_INPUT"]
    assert "LICENSING_MAX_DYNAMIC_GROUPS" in second["errors"][0]["message"]


async def test_r22_reprocess_rechecks_the_rule(tenant: Tenant, api: Any) -> None:
    await tenant.create_user("Ann", department="Sales")
    sales = await dynamic_group(tenant, "Sales", 'user.department -eq "Sales"')
    # a membership lost behind the service's back (e.g. restored from a backup)
    from sqlalchemy import text

    async with api.database().write() as conn:
        await conn.execute(text("DELETE FROM group_user_members WHERE tenant_id = :t"), {"t": tenant.id})
    assert await members_of(tenant, sales) == []
    query = "mutation($i: ReprocessLicensesInput!) { reprocessLicenses(input: $i) { errors { code } changes { affectedUserCount } } }"
    done = (await tenant.ok(query, {"i": {"groupId": sales}}))["reprocessLicenses"]
    assert done["errors"] == []
    assert await members_of(tenant, sales) == ["Ann"]
    again = (await tenant.ok(query, {"i": {"groupId": sales}}))["reprocessLicenses"]
    assert again["errors"] == [] and again["changes"]["affectedUserCount"] == 0


async def test_d24_guests_and_account_state_in_rules(tenant: Tenant) -> None:
    guests = await dynamic_group(tenant, "Guests", 'user.userType -eq "Guest"')
    invite = "mutation($i: InviteGuestInput!) { inviteGuest(input: $i) { user { id } errors { code } } }"
    await tenant.mutate("inviteGuest", invite, {"i": {"email": "ada@partner.example", "displayName": "Ada"}})
    await tenant.create_user("Bob")
    assert await members_of(tenant, guests) == ["Ada"]
    disabled = await dynamic_group(tenant, "Disabled", "user.accountEnabled -eq false")
    bob = await tenant.create_user("Cid")
    await tenant.mutate("updateUser", UPDATE_USER, {"i": {"userId": bob, "accountEnabled": False}})
    assert await members_of(tenant, disabled) == ["Cid"]


async def test_d32_rules_with_a_regular_expression_follow_user_changes(tenant: Tenant) -> None:
    """-match rules are judged by PostgreSQL for changed users (Python's re has no time limit)."""
    group = await dynamic_group(tenant, "Numbered", r'user.displayName -match "^user \d+$" -and -not (user.mail -eq null)')
    await tenant.create_user("User 12", mail="u12@example.com")
    await tenant.create_user("User 13")  # no mail
    await tenant.create_user("Userx 14", mail="u14@example.com")
    assert await members_of(tenant, group) == ["User 12"]
    dry = "mutation($i: CreateUserInput!) { createUser(input: $i) { errors { code } changes { dryRun } } }"
    data = await tenant.ok(dry, {"i": {"userPrincipalName": f"u99@{tenant.domain}", "displayName": "User 99", "mail": "u99@example.com", "dryRun": True}})
    assert data["createUser"]["errors"] == []
    assert await members_of(tenant, group) == ["User 12"]


async def test_r23_d32_case_is_ignored_beyond_a_to_z_by_the_whole_tenant_rule_and_by_user_changes(tenant: Tenant) -> None:
    """Creating the group judges the tenant in SQL; a user change judges that user in Python (or
    in SQL for -match): all the same letter by letter (Unicode's simple lower case)."""
    await tenant.create_user("Åse Ærø", department="ÄRGER", userPrincipalName=f"ase@{tenant.domain}")
    await tenant.create_user("Olga", department="Москва")
    await tenant.create_user("Sigma", department="ΟΔΟΣ")
    group = await dynamic_group(
        tenant, "Folded", 'user.department -eq "ärger" -or user.department -startsWith "МОС" -or user.displayName -match "^åse æ"'
    )
    assert await members_of(tenant, group) == ["Olga", "Åse Ærø"]
    preview = (await tenant.ok(PREVIEW, {"r": 'user.department -in ["οδοσ"]', "n": 5}))["membershipRulePreview"]
    assert preview["matchingCount"] == 1 and preview["sample"] == [{"displayName": "Sigma"}]  # Σ is σ
    await tenant.create_user("Dana", department="ärger")
    nina = await tenant.create_user("Nina", department="Sales")
    assert (await tenant.ok(UPDATE_USER, {"i": {"userId": nina, "displayName": "ÅSE ÆRØ II"}}))["updateUser"]["errors"] == []
    assert await members_of(tenant, group) == ["Dana", "Olga", "Åse Ærø", "ÅSE ÆRØ II"]


async def test_d24_an_error_the_group_leave_causes_is_recorded_also_when_the_location_changes_too(api: Any) -> None:
    """Leaving Sales takes Skype away, so the direct Audio Conferencing path loses its
    prerequisite (R7): recorded, never refused (D24) — with or without a (harmless) new usage
    location in the same change; only the new location's own errors refuse."""
    tenant = await api.new_tenant()
    await tenant.buy("MCOSTANDARD", 5)
    await tenant.buy("MCOMEETADV", 5)
    skype, audio = [(await product(tenant, s))["id"] for s in ("MCOSTANDARD", "MCOMEETADV")]
    sales = await dynamic_group(tenant, "Sales", 'user.department -eq "sales"')
    assert (await license_group(tenant, sales, [{"productId": skype}]))["errors"] == []
    rita = await tenant.create_user("Rita", location="US", department="sales")
    olga = await tenant.create_user("Olga", location="US", department="sales")
    assert (await assign(tenant, [rita, olga], [{"productId": audio}]))["errors"] == []
    for user, change in ((olga, {"department": "eng"}), (rita, {"department": "eng", "usageLocation": "SE"})):
        for dry in (True, False):
            moved = (await tenant.ok(UPDATE_USER, {"i": {"userId": user, **change, "dryRun": dry}}))["updateUser"]
            assert moved["errors"] == [], (change, dry, moved)
        assert await states(tenant, user) == [("MCOMEETADV", None, "ERROR", "DEPENDENCY_VIOLATION")]


async def test_d16_a_user_both_steps_of_a_change_affect_counts_once(api: Any) -> None:
    """Joining a dynamic group (its license) and getting a usage location (the static group's
    path recovers) are two steps of one updateUser: one user affected (D16), dry run and real."""
    tenant = await api.new_tenant(default_usage_location=None)
    await tenant.buy("EMS", 5)
    await tenant.buy("ENTERPRISEPACK", 5)
    ems, e3 = [(await product(tenant, s))["id"] for s in ("EMS", "ENTERPRISEPACK")]
    rita = await tenant.create_user("Rita", location=None, department="eng")
    await license_group(tenant, await tenant.create_group("Static", [rita]), [{"productId": ems}])  # no location: ERROR
    sales = await dynamic_group(tenant, "Sales", 'user.department -eq "sales"')
    assert (await license_group(tenant, sales, [{"productId": e3}]))["errors"] == []
    query = """mutation($i: UpdateUserInput!) { updateUser(input: $i) { errors { code }
      changes { affectedUserCount outcomes { product { skuPartNumber } state error { code } } errorCounts { code count } } } }"""
    for dry in (True, False):
        out = (await tenant.ok(query, {"i": {"userId": rita, "department": "sales", "usageLocation": "US", "dryRun": dry}}))["updateUser"]
        assert out["errors"] == [], out
        assert out["changes"]["affectedUserCount"] == 1, (dry, out)
        assert sorted((o["product"]["skuPartNumber"], o["state"]) for o in out["changes"]["outcomes"]) == [
            ("EMS", "ACTIVE"), ("ENTERPRISEPACK", "ACTIVE")
        ]
        assert out["changes"]["errorCounts"] == []
