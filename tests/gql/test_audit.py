"""The audit log (R21, D11, D8, D13, D19): one event per successful change, none for refusals or dry runs."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from gql.auth import Role
from tests.support import Tenant

AUDIT = """
query($first: Int, $after: String) {
  auditLog(first: $first, after: $after) {
    totalCount
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    edges { cursor node { id occurredAt actor action targetId summary } }
  }
}"""

CREATE_USER = "mutation($i: CreateUserInput!) { createUser(input: $i) { user { id } errors { code } } }"
UPDATE_USER = "mutation($i: UpdateUserInput!) { updateUser(input: $i) { user { id } errors { code } } }"
DELETE_USER = "mutation($i: DeleteUserInput!) { deleteUser(input: $i) { deletedUserId errors { code } } }"
INVITE = "mutation($i: InviteGuestInput!) { inviteGuest(input: $i) { user { id } errors { code } } }"
CREATE_GROUP = "mutation($i: CreateGroupInput!) { createGroup(input: $i) { group { id } errors { code } } }"
DELETE_GROUP = "mutation($i: DeleteGroupInput!) { deleteGroup(input: $i) { deletedGroupId errors { code } } }"
ADD_MEMBERS = "mutation($i: GroupMembersInput!) { addGroupMembers(input: $i) { group { id } errors { code } } }"
REMOVE_MEMBERS = "mutation($i: GroupMembersInput!) { removeGroupMembers(input: $i) { group { id } errors { code } } }"
SUB_FIELDS = "subscription { id } errors { code } changes { dryRun }"
PURCHASE = "mutation($i: PurchaseSubscriptionInput!) { purchaseSubscription(input: $i) { " + SUB_FIELDS + " } }"
QUANTITY = "mutation($i: UpdateSubscriptionQuantityInput!) { updateSubscriptionQuantity(input: $i) { " + SUB_FIELDS + " } }"
CANCEL = "mutation($i: SubscriptionIdInput!) { cancelSubscription(input: $i) { " + SUB_FIELDS + " } }"
RECURRING = "mutation($i: SetRecurringBillingInput!) { setRecurringBilling(input: $i) { " + SUB_FIELDS + " } }"
TAKE_OVER = "mutation($i: SubscriptionIdInput!) { takeOverSubscription(input: $i) { " + SUB_FIELDS + " } }"
UPDATE_TENANT = """
mutation($i: UpdateTenantInput!) { updateTenant(input: $i) { tenant { id defaultUsageLocation } errors { code field } } }"""


@pytest.fixture
def clock_now(clock: Any) -> Iterator[Any]:
    clock.set(datetime.now(UTC))
    yield clock
    clock.set(datetime.now(UTC))


async def events(tenant: Tenant, token: str | None = None) -> list[dict[str, Any]]:
    data = await tenant.ok(AUDIT, {"first": 100}, token=token)
    assert data["auditLog"]["totalCount"] == len(data["auditLog"]["edges"])
    return [e["node"] for e in data["auditLog"]["edges"]]


async def spb(tenant: Tenant) -> str:
    return (await tenant.ok('{ product(skuPartNumber: "SPB") { id } }'))["product"]["id"]


class Recorder:
    """Runs a mutation and asserts exactly one new event, newest first, with the action, actor and a summary."""

    def __init__(self, tenant: Tenant) -> None:
        self.tenant = tenant
        self.seen: list[dict[str, Any]] = []

    async def expect(
        self, action: str, query: str, variables: dict[str, Any], *, token: str, actor: str,
        target: str | None = None, summary_has: tuple[str, ...] = (),
    ) -> dict[str, Any]:
        data = await self.tenant.ok(query, variables, token=token)
        (payload,) = data.values()
        assert payload["errors"] == [], payload["errors"]
        now = await events(self.tenant)
        assert len(now) == len(self.seen) + 1, [e["action"] for e in now]
        assert now[1:] == self.seen, "older events are unchanged and stay after the new one"
        event = now[0]
        assert event["action"] == action
        assert event["actor"] == actor
        assert event["summary"].strip()
        for word in summary_has:
            assert word.lower() in event["summary"].lower(), event["summary"]
        if target is not None:
            assert event["targetId"] == target
        self.seen = now
        return payload


async def test_r21_every_successful_mutation_appends_one_event(tenant: Tenant, clock_now: Any) -> None:
    admin_sub = f"ops-admin@{tenant.domain}"
    admin = tenant.token(Role.GLOBAL_ADMINISTRATOR, sub=admin_sub)
    billing_sub = "billing-robot"
    billing = tenant.token(Role.BILLING_ADMINISTRATOR, sub=billing_sub)
    rec = Recorder(tenant)
    assert await events(tenant) == []

    ann = (
        await rec.expect(
            "USER_CREATED", CREATE_USER,
            {"i": {"userPrincipalName": f"ann@{tenant.domain}", "displayName": "Ann", "usageLocation": "NO"}},
            token=admin, actor=admin_sub, summary_has=(f"ann@{tenant.domain}",),
        )
    )["user"]["id"]
    assert rec.seen[0]["targetId"] == ann
    bob = (
        await rec.expect(
            "USER_CREATED", CREATE_USER, {"i": {"userPrincipalName": f"bob@{tenant.domain}", "displayName": "Bob"}},
            token=admin, actor=admin_sub,
        )
    )["user"]["id"]
    await rec.expect(
        "USER_UPDATED", UPDATE_USER, {"i": {"userId": ann, "department": "Sales"}}, token=admin, actor=admin_sub, target=ann
    )
    guest = (
        await rec.expect(
            "GUEST_INVITED", INVITE, {"i": {"email": "ada@partner.example", "displayName": "Ada"}},
            token=admin, actor=admin_sub, summary_has=("ada@partner.example",),
        )
    )["user"]["id"]
    assert rec.seen[0]["targetId"] == guest
    team = (
        await rec.expect(
            "GROUP_CREATED", CREATE_GROUP, {"i": {"displayName": "Team", "memberIds": [ann]}},
            token=admin, actor=admin_sub, summary_has=("Team",),
        )
    )["group"]["id"]
    assert rec.seen[0]["targetId"] == team
    await rec.expect(
        "GROUP_MEMBERS_ADDED", ADD_MEMBERS, {"i": {"groupId": team, "memberIds": [bob, guest]}},
        token=admin, actor=admin_sub, target=team,
    )
    await rec.expect(
        "GROUP_MEMBERS_REMOVED", REMOVE_MEMBERS, {"i": {"groupId": team, "memberIds": [guest]}},
        token=admin, actor=admin_sub, target=team,
    )
    await rec.expect("USER_DELETED", DELETE_USER, {"i": {"userId": guest}}, token=admin, actor=admin_sub, target=guest)
    await rec.expect("GROUP_DELETED", DELETE_GROUP, {"i": {"groupId": team}}, token=admin, actor=admin_sub, target=team)

    product = await spb(tenant)
    sub = (
        await rec.expect(
            "SUBSCRIPTION_PURCHASED", PURCHASE, {"i": {"productId": product, "quantity": 5}},
            token=billing, actor=billing_sub, summary_has=("Business Premium",),
        )
    )["subscription"]["id"]
    assert rec.seen[0]["targetId"] == sub
    await rec.expect(
        "SUBSCRIPTION_QUANTITY_CHANGED", QUANTITY, {"i": {"subscriptionId": sub, "quantity": 9}},
        token=billing, actor=billing_sub, target=sub,
    )
    await rec.expect(
        "SUBSCRIPTION_RECURRING_BILLING_CHANGED", RECURRING, {"i": {"subscriptionId": sub, "enabled": False}},
        token=billing, actor=billing_sub, target=sub,
    )
    await rec.expect("SUBSCRIPTION_CANCELLED", CANCEL, {"i": {"subscriptionId": sub}}, token=billing, actor=billing_sub, target=sub)

    # a self-service purchase is recorded with the buyer as actor; the take-over with the admin
    buyer_upn = f"bob@{tenant.domain}"
    buyer = tenant.token(sub=buyer_upn)
    own = (
        await rec.expect(
            "SUBSCRIPTION_PURCHASED", PURCHASE, {"i": {"productId": product, "quantity": 2, "selfService": True}},
            token=buyer, actor=buyer_upn,
        )
    )["subscription"]["id"]
    await rec.expect("SUBSCRIPTION_TAKEN_OVER", TAKE_OVER, {"i": {"subscriptionId": own}}, token=admin, actor=admin_sub, target=own)

    tenant_id = (
        await rec.expect(
            "TENANT_UPDATED", UPDATE_TENANT, {"i": {"defaultUsageLocation": "NO"}}, token=admin, actor=admin_sub,
        )
    )["tenant"]["id"]
    assert rec.seen[0]["targetId"] == tenant_id

    assert len(rec.seen) == 16
    times = [datetime.fromisoformat(e["occurredAt"]) for e in rec.seen]
    assert times == sorted(times, reverse=True)


async def test_r21_events_carry_the_clock_time(tenant: Tenant, clock_now: Any) -> None:
    moment = datetime.now(UTC) - timedelta(days=3)
    clock_now.set(moment)
    await tenant.create_group("Timed")
    (event,) = await events(tenant)
    assert datetime.fromisoformat(event["occurredAt"]) == moment


async def test_d19_the_audit_log_is_newest_first_and_pages_with_cursors(tenant: Tenant, clock_now: Any) -> None:
    names = [f"Group {i:02}" for i in range(7)]
    for name in names:
        await tenant.create_group(name)
    full = await events(tenant)
    assert [e["summary"].split(" with ")[0] for e in full] == [f"Created group {n}" for n in reversed(names)]

    seen: list[str] = []
    after = None
    pages = 0
    while True:
        data = (await tenant.ok(AUDIT, {"first": 3, "after": after}))["auditLog"]
        assert data["totalCount"] == 7
        seen += [e["node"]["id"] for e in data["edges"]]
        assert data["pageInfo"]["hasPreviousPage"] is (after is not None)
        if data["edges"]:
            assert data["pageInfo"]["endCursor"] == data["edges"][-1]["cursor"]
        pages += 1
        if not data["pageInfo"]["hasNextPage"]:
            break
        after = data["pageInfo"]["endCursor"]
    assert pages == 3
    assert seen == [e["id"] for e in full]
    empty = (await tenant.ok(AUDIT, {"first": 0}))["auditLog"]
    assert empty["edges"] == [] and empty["totalCount"] == 7


async def test_d13_audit_events_are_nodes_and_stay_in_their_tenant(tenant: Tenant, clock_now: Any) -> None:
    await tenant.create_group("Mine")
    (event,) = await events(tenant)
    node = await tenant.ok("query($id: ID!) { node(id: $id) { ... on AuditEvent { action actor } } }", {"id": event["id"]})
    assert node["node"] == {"action": "GROUP_CREATED", "actor": f"admin@{tenant.domain}"}
    other = await tenant.api.new_tenant()
    assert await events(other) == []
    hidden = await other.ok("query($id: ID!) { node(id: $id) { id } }", {"id": event["id"]})
    assert hidden["node"] is None


async def test_d13_a_caller_with_no_role_cannot_read_the_audit_log(tenant: Tenant, clock_now: Any) -> None:
    await tenant.create_user("Nora Norole")
    body = await tenant.gql(AUDIT, {"first": 5}, token=tenant.token(sub=f"nora.norole@{tenant.domain}"))
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_d11_refused_mutations_record_nothing(tenant: Tenant, clock_now: Any) -> None:
    ann = await tenant.create_user("Ann")
    team = await tenant.create_group("Team", [ann])
    sub = await tenant.buy("SPB", 5)
    before = await events(tenant)
    assert len(before) == 3
    product = await spb(tenant)
    refusals = [
        (CREATE_USER, {"i": {"userPrincipalName": f"ANN@{tenant.domain}", "displayName": "Dup"}}),
        (CREATE_USER, {"i": {"userPrincipalName": "no-at", "displayName": "X"}}),
        (UPDATE_USER, {"i": {"userId": ann, "usageLocation": "JJ"}}),
        (UPDATE_USER, {"i": {"userId": "bad", "displayName": "X"}}),
        (DELETE_USER, {"i": {"userId": team}}),
        (INVITE, {"i": {"email": "not-an-email", "displayName": "X"}}),
        (CREATE_GROUP, {"i": {"displayName": "  "}}),
        (CREATE_GROUP, {"i": {"displayName": "Dup", "memberIds": [ann, ann]}}),
        (ADD_MEMBERS, {"i": {"groupId": team, "memberIds": [team]}}),
        (DELETE_GROUP, {"i": {"groupId": ann}}),
        (PURCHASE, {"i": {"productId": product, "quantity": 0}}),
        (QUANTITY, {"i": {"subscriptionId": sub, "quantity": 0}}),
        (TAKE_OVER, {"i": {"subscriptionId": sub}}),
        (UPDATE_TENANT, {"i": {"defaultUsageLocation": "Norway"}}),
    ]
    for query, variables in refusals:
        data = await tenant.ok(query, variables)
        (payload,) = data.values()
        assert payload["errors"], (query, variables)
    # a top-level FORBIDDEN is refused too
    reader = tenant.token(Role.GLOBAL_READER)
    body = await tenant.gql(CREATE_GROUP, {"i": {"displayName": "Nope"}}, token=reader)
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    clock_now.advance(timedelta(days=8))
    data = await tenant.ok(CANCEL, {"i": {"subscriptionId": sub}})
    assert data["cancelSubscription"]["errors"][0]["code"] == "CANCELLATION_WINDOW_PASSED"
    assert await events(tenant) == before


async def test_d11_dry_runs_record_nothing(tenant: Tenant, clock_now: Any) -> None:
    ann = await tenant.create_user("Ann")
    bob = await tenant.create_user("Bob")
    team = await tenant.create_group("Team", [ann])
    sub = await tenant.buy("SPB", 5)
    before = await events(tenant)
    product = await spb(tenant)
    dry_runs = [
        (UPDATE_USER, {"i": {"userId": ann, "usageLocation": "NO", "dryRun": True}}),
        (DELETE_USER, {"i": {"userId": bob, "dryRun": True}}),
        (ADD_MEMBERS, {"i": {"groupId": team, "memberIds": [bob], "dryRun": True}}),
        (REMOVE_MEMBERS, {"i": {"groupId": team, "memberIds": [ann], "dryRun": True}}),
        (DELETE_GROUP, {"i": {"groupId": team, "dryRun": True}}),
        (PURCHASE, {"i": {"productId": product, "quantity": 3, "dryRun": True}}),
        (QUANTITY, {"i": {"subscriptionId": sub, "quantity": 7, "dryRun": True}}),
        (RECURRING, {"i": {"subscriptionId": sub, "enabled": False, "dryRun": True}}),
        (CANCEL, {"i": {"subscriptionId": sub, "dryRun": True}}),
        (UPDATE_TENANT, {"i": {"defaultUsageLocation": "NO", "dryRun": True}}),
    ]
    for query, variables in dry_runs:
        data = await tenant.ok(query, variables)
        (payload,) = data.values()
        assert payload["errors"] == [], (query, payload["errors"])
    assert await events(tenant) == before
    state = await tenant.ok(
        """query($t: ID!, $a: ID!) {
          users { totalCount } group(id: $t) { members { totalCount } } user(id: $a) { usageLocation }
          subscriptions { quantity status recurringBilling } viewer { tenant { defaultUsageLocation } }
        }""",
        {"t": team, "a": ann},
    )
    assert state == {
        "users": {"totalCount": 2}, "group": {"members": {"totalCount": 1}}, "user": {"usageLocation": "US"},
        "subscriptions": [{"quantity": 5, "status": "ACTIVE", "recurringBilling": True}],
        "viewer": {"tenant": {"defaultUsageLocation": "US"}},
    }


async def test_r21_mutations_that_change_nothing_record_nothing(tenant: Tenant, clock_now: Any) -> None:
    ann = await tenant.create_user("Ann")
    team = await tenant.create_group("Team", [ann])
    before = await events(tenant)
    for query, variables in [
        (ADD_MEMBERS, {"i": {"groupId": team, "memberIds": [ann]}}),  # already a member (D17)
        (REMOVE_MEMBERS, {"i": {"groupId": team, "memberIds": []}}),
        (UPDATE_USER, {"i": {"userId": ann}}),
        (UPDATE_TENANT, {"i": {}}),
        (UPDATE_TENANT, {"i": {"defaultUsageLocation": "us"}}),  # already US
    ]:
        data = await tenant.ok(query, variables)
        (payload,) = data.values()
        assert payload["errors"] == [], (query, payload["errors"])
    assert await events(tenant) == before


async def test_d8_update_tenant_null_clears_the_default_and_omitting_it_keeps_it(tenant: Tenant, clock_now: Any) -> None:
    tenant_query = "{ viewer { tenant { defaultUsageLocation } } }"
    assert (await tenant.ok(tenant_query))["viewer"]["tenant"]["defaultUsageLocation"] == "US"
    kept = await tenant.mutate("updateTenant", UPDATE_TENANT, {"i": {}})
    assert kept["tenant"]["defaultUsageLocation"] == "US"
    literal_omitted = await tenant.ok("mutation { updateTenant(input: {}) { tenant { defaultUsageLocation } errors { code } } }")
    assert literal_omitted["updateTenant"]["tenant"]["defaultUsageLocation"] == "US"
    assert (await tenant.ok(tenant_query))["viewer"]["tenant"]["defaultUsageLocation"] == "US"
    assert await events(tenant) == []

    cleared = await tenant.mutate("updateTenant", UPDATE_TENANT, {"i": {"defaultUsageLocation": None}})
    assert cleared["tenant"]["defaultUsageLocation"] is None
    assert (await tenant.ok(tenant_query))["viewer"]["tenant"]["defaultUsageLocation"] is None
    (event,) = await events(tenant)
    assert event["action"] == "TENANT_UPDATED"

    await tenant.mutate("updateTenant", UPDATE_TENANT, {"i": {"defaultUsageLocation": "no"}})
    assert (await tenant.ok(tenant_query))["viewer"]["tenant"]["defaultUsageLocation"] == "NO"
    literal_null = await tenant.ok(
        "mutation { updateTenant(input: {defaultUsageLocation: null}) { tenant { defaultUsageLocation } errors { code } } }"
    )
    assert literal_null["updateTenant"] == {"tenant": {"defaultUsageLocation": None}, "errors": []}
    assert (await tenant.ok(tenant_query))["viewer"]["tenant"]["defaultUsageLocation"] is None
    assert [e["action"] for e in await events(tenant)] == ["TENANT_UPDATED"] * 3


async def test_s5_only_a_global_administrator_may_change_tenant_settings(tenant: Tenant, clock_now: Any) -> None:
    for role in (Role.BILLING_ADMINISTRATOR, Role.LICENSE_ADMINISTRATOR, Role.USER_ADMINISTRATOR, Role.GLOBAL_READER):
        body = await tenant.gql(UPDATE_TENANT, {"i": {"defaultUsageLocation": None}}, token=tenant.token(role))
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN", role
    assert (await tenant.ok("{ viewer { tenant { defaultUsageLocation } } }"))["viewer"]["tenant"]["defaultUsageLocation"] == "US"
    assert await events(tenant) == []


async def test_r21_mutations_that_change_nothing_append_no_audit_event(tenant: Tenant) -> None:
    """The same group license, quantity, billing setting or user fields again: nothing changes,
    so nothing is audited (R21: every mutation that changes anything appends one)."""
    from tests.gql.test_group_licenses import license_group

    sub = await tenant.buy("EMS", 3)
    ems = (await tenant.ok('{ product(skuPartNumber: "EMS") { id } }'))["product"]["id"]
    ann = await tenant.create_user("Ann Same")
    team = await tenant.create_group("Same Team", [ann])
    assert (await license_group(tenant, team, [{"productId": ems}]))["errors"] == []
    renamed = await tenant.ok(UPDATE_USER, {"i": {"userId": ann, "jobTitle": "Lead"}})
    assert renamed["updateUser"]["errors"] == []
    before = await events(tenant)
    assert (await license_group(tenant, team, [{"productId": ems}]))["errors"] == []
    assert (await tenant.ok(QUANTITY, {"i": {"subscriptionId": sub, "quantity": 3}}))["updateSubscriptionQuantity"]["errors"] == []
    assert (await tenant.ok(RECURRING, {"i": {"subscriptionId": sub, "enabled": True}}))["setRecurringBilling"]["errors"] == []
    assert (await tenant.ok(UPDATE_USER, {"i": {"userId": ann, "jobTitle": "Lead"}}))["updateUser"]["errors"] == []
    assert await events(tenant) == before
    assert (await tenant.ok(QUANTITY, {"i": {"subscriptionId": sub, "quantity": 4}}))["updateSubscriptionQuantity"]["errors"] == []
    assert [e["action"] for e in await events(tenant)][0] == "SUBSCRIPTION_QUANTITY_CHANGED"
