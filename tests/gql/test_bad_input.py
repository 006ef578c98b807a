"""Bad input through the API (D8, D13, D21, D23, SPEC §6).

Every bad input gets a clear error — a payload `errors` entry with its code and the `field`
naming the input path, or a top-level error where the spec says so — and changes nothing:
each refusal is followed by a full read of the tenant (users, groups and their members,
subscriptions, the audit log, the tenant settings) compared with the one taken before.
No error message ever carries SQL or a Python traceback.
"""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

import pytest

from tests.support import Tenant

SNAPSHOT = """
query {
  viewer { tenant { defaultUsageLocation } }
  users(first: 100) {
    totalCount
    edges { node { id userPrincipalName displayName mail usageLocation department jobTitle accountEnabled userType } }
  }
  groups(first: 100) {
    totalCount
    edges {
      node {
        id displayName description securityEnabled
        members(first: 100) { totalCount edges { node { __typename ... on User { id } ... on Group { id } } } }
      }
    }
  }
  subscriptions { id quantity status isTrial isSelfService recurringBilling currentTermEndsAt canCancel }
  products { id totalUnits prepaidUnits { enabled warning suspended } }
  auditLog(first: 0) { totalCount }
}"""

LEAKS = ("SELECT", "INSERT", "UPDATE ", "asyncpg", "sqlalchemy", "Traceback", "psycopg", 'File "')

CREATE_USER = """
mutation($i: CreateUserInput!) {
  createUser(input: $i) { user { id userPrincipalName displayName usageLocation department } errors { code field message } }
}"""
UPDATE_USER = """
mutation($i: UpdateUserInput!) {
  updateUser(input: $i) { user { id displayName usageLocation department } errors { code field message } }
}"""
DELETE_USER = "mutation($i: DeleteUserInput!) { deleteUser(input: $i) { deletedUserId errors { code field message } } }"
INVITE = "mutation($i: InviteGuestInput!) { inviteGuest(input: $i) { user { id } errors { code field message } } }"
CREATE_GROUP = "mutation($i: CreateGroupInput!) { createGroup(input: $i) { group { id } errors { code field message } } }"
DELETE_GROUP = "mutation($i: DeleteGroupInput!) { deleteGroup(input: $i) { deletedGroupId errors { code field message } } }"
ADD_MEMBERS = "mutation($i: GroupMembersInput!) { addGroupMembers(input: $i) { group { id } errors { code field message } } }"
REMOVE_MEMBERS = (
    "mutation($i: GroupMembersInput!) { removeGroupMembers(input: $i) { group { id } errors { code field message } } }"
)
PURCHASE = """
mutation($i: PurchaseSubscriptionInput!) {
  purchaseSubscription(input: $i) { subscription { id quantity } errors { code field message } }
}"""
QUANTITY = """
mutation($i: UpdateSubscriptionQuantityInput!) {
  updateSubscriptionQuantity(input: $i) { subscription { id quantity } errors { code field message } }
}"""
CANCEL = "mutation($i: SubscriptionIdInput!) { cancelSubscription(input: $i) { subscription { id } errors { code field message } } }"
TAKE_OVER = (
    "mutation($i: SubscriptionIdInput!) { takeOverSubscription(input: $i) { subscription { id } errors { code field message } } }"
)
RECURRING = """
mutation($i: SetRecurringBillingInput!) {
  setRecurringBilling(input: $i) { subscription { id } errors { code field message } }
}"""
UPDATE_TENANT = """
mutation($i: UpdateTenantInput!) {
  updateTenant(input: $i) { tenant { defaultUsageLocation } errors { code field message } }
}"""


def gid(type_name: str, key: object) -> str:
    return base64.b64encode(f"{type_name}:{key}".encode()).decode()


def cursor(values: list[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode()


def malformed(type_name: str) -> list[str]:
    """Ids that do not decode: not base64, an empty key, a key that is no uuid, an unknown type name."""
    return ["not-an-id", "!!!!", gid(type_name, ""), gid(type_name, "123"), gid("Nonsense", uuid.uuid4())]


def assert_no_leak(body: Any) -> None:
    text = json.dumps(body)
    for marker in LEAKS:
        assert marker not in text, f"{marker!r} leaked in {text[:500]}"


class World:
    """A tenant with two users, a group, a subscription; and the way to check nothing changed."""

    def __init__(self, tenant: Tenant) -> None:
        self.tenant = tenant
        self.ann = self.bob = self.team = self.sub = self.spb = ""
        self.before: dict[str, Any] = {}

    async def setup(self) -> World:
        t = self.tenant
        self.ann = await t.create_user("Ann Able", department="Sales")
        self.bob = await t.create_user("Bob Baker")
        self.team = await t.create_group("Team", [self.ann])
        self.sub = await t.buy("SPB", 5)
        self.spb = (await t.ok('{ product(skuPartNumber: "SPB") { id } }'))["product"]["id"]
        self.before = await self.snapshot()
        assert self.before["users"]["totalCount"] == 2
        assert self.before["groups"]["totalCount"] == 1
        assert len(self.before["subscriptions"]) == 1
        assert self.before["auditLog"]["totalCount"] == 4
        return self

    async def snapshot(self) -> dict[str, Any]:
        return await self.tenant.ok(SNAPSHOT)

    async def unchanged(self) -> None:
        assert await self.snapshot() == self.before

    async def refused(
        self, query: str, variables: dict[str, Any], code: str, field: str | None = None, *, contains: str | None = None
    ) -> dict[str, Any]:
        """Run a mutation expected to be refused in its payload; check the error and that nothing changed."""
        body = await self.tenant.gql(query, variables)
        assert_no_leak(body)
        assert "errors" not in body, body["errors"]
        (payload,) = body["data"].values()
        assert payload["errors"], f"expected {code} for {variables}, got success {payload}"
        error = payload["errors"][0]
        assert error["code"] == code, (variables, payload["errors"])
        if field is not None:
            assert error["field"] == field, (variables, payload["errors"])
        assert error["message"].strip(), "an error must say what is wrong"
        if contains is not None:
            assert contains.lower() in error["message"].lower(), error["message"]
        for key, value in payload.items():
            if key not in ("errors",):
                assert value is None, f"{key} must be null on a refusal: {payload}"
        await self.unchanged()
        return error

    async def top_level(self, query: str, variables: dict[str, Any] | None, code: str | None = None) -> dict[str, Any]:
        """A request answered with a top-level GraphQL error (HTTP 200 under application/json)."""
        body = await self.tenant.gql(query, variables)
        assert_no_leak(body)
        assert body.get("errors"), body
        if code is not None:
            assert body["errors"][0].get("extensions", {}).get("code") == code, body["errors"]
            assert body["errors"][0]["message"] != "Unexpected error.", body["errors"]
        await self.unchanged()
        return body


@pytest.fixture
async def world(tenant: Tenant) -> World:
    return await World(tenant).setup()


# ---------------------------------------------------------------------------- malformed ids


async def test_d13_malformed_member_ids_in_create_group_are_invalid_input_at_their_index(world: World) -> None:
    for bad in malformed("User") + malformed("Group"):
        await world.refused(CREATE_GROUP, {"i": {"displayName": "New", "memberIds": [bad]}}, "INVALID_INPUT", "input.memberIds.0")
        await world.refused(
            CREATE_GROUP, {"i": {"displayName": "New", "memberIds": [world.ann, bad]}}, "INVALID_INPUT", "input.memberIds.1"
        )


async def test_d13_malformed_member_ids_in_add_and_remove_members(world: World) -> None:
    for query in (ADD_MEMBERS, REMOVE_MEMBERS):
        for bad in malformed("User"):
            await world.refused(
                query, {"i": {"groupId": world.team, "memberIds": [world.bob, bad]}}, "INVALID_INPUT", "input.memberIds.1"
            )
        for bad in malformed("Group"):
            await world.refused(query, {"i": {"groupId": bad, "memberIds": [world.bob]}}, "INVALID_INPUT", "input.groupId")


async def test_d13_malformed_user_ids_are_invalid_input(world: World) -> None:
    for bad in malformed("User"):
        await world.refused(UPDATE_USER, {"i": {"userId": bad, "displayName": "X"}}, "INVALID_INPUT", "input.userId")
        await world.refused(DELETE_USER, {"i": {"userId": bad}}, "INVALID_INPUT", "input.userId")


async def test_d13_malformed_group_id_in_delete_group_is_invalid_input(world: World) -> None:
    for bad in malformed("Group"):
        await world.refused(DELETE_GROUP, {"i": {"groupId": bad}}, "INVALID_INPUT", "input.groupId")


async def test_d13_malformed_subscription_ids_are_invalid_input(world: World) -> None:
    for bad in malformed("Subscription"):
        await world.refused(QUANTITY, {"i": {"subscriptionId": bad, "quantity": 7}}, "INVALID_INPUT", "input.subscriptionId")
        await world.refused(CANCEL, {"i": {"subscriptionId": bad}}, "INVALID_INPUT", "input.subscriptionId")
        await world.refused(TAKE_OVER, {"i": {"subscriptionId": bad}}, "INVALID_INPUT", "input.subscriptionId")
        await world.refused(
            RECURRING, {"i": {"subscriptionId": bad, "enabled": False}}, "INVALID_INPUT", "input.subscriptionId"
        )


async def test_d13_malformed_product_id_is_invalid_input_and_an_unknown_one_not_found(world: World) -> None:
    await world.refused(PURCHASE, {"i": {"productId": "nope", "quantity": 1}}, "INVALID_INPUT", "input.productId")
    await world.refused(PURCHASE, {"i": {"productId": str(uuid.uuid4()), "quantity": 1}}, "NOT_FOUND", "input.productId")


async def test_d13_ids_that_decode_but_name_nothing_or_another_type_are_not_found(world: World) -> None:
    await world.refused(UPDATE_USER, {"i": {"userId": gid("User", uuid.uuid4()), "displayName": "X"}}, "NOT_FOUND", "input.userId")
    await world.refused(UPDATE_USER, {"i": {"userId": world.team, "displayName": "X"}}, "NOT_FOUND", "input.userId")
    await world.refused(DELETE_GROUP, {"i": {"groupId": world.ann}}, "NOT_FOUND", "input.groupId")
    await world.refused(CANCEL, {"i": {"subscriptionId": gid("Subscription", uuid.uuid4())}}, "NOT_FOUND", "input.subscriptionId")
    await world.refused(CANCEL, {"i": {"subscriptionId": world.ann}}, "NOT_FOUND", "input.subscriptionId")
    await world.refused(
        CREATE_GROUP, {"i": {"displayName": "New", "memberIds": [world.ann, gid("User", uuid.uuid4())]}}, "NOT_FOUND",
        "input.memberIds.1",
    )
    await world.refused(
        ADD_MEMBERS, {"i": {"groupId": world.team, "memberIds": [world.spb]}}, "NOT_FOUND", "input.memberIds.0"
    )


# ---------------------------------------------------------------------------- GraphQL types


async def test_a_string_quantity_is_a_graphql_validation_error_with_http_200_json(world: World) -> None:
    literal = (
        f'mutation {{ purchaseSubscription(input: {{productId: "{world.spb}", quantity: "5"}}) '
        "{ subscription { id } errors { code } } }"
    )
    for query, variables in (
        (literal, None),
        (PURCHASE, {"i": {"productId": world.spb, "quantity": "5"}}),
        (PURCHASE, {"i": {"productId": world.spb, "quantity": 2**31}}),  # not a GraphQL Int
        (QUANTITY, {"i": {"subscriptionId": world.sub, "quantity": "five"}}),
    ):
        response = await world.tenant.api.post(query, variables, token=world.tenant.admin)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("application/json")
        body = response.json()
        assert_no_leak(body)
        assert body["errors"], body
        assert body.get("data") is None
        await world.unchanged()


# ---------------------------------------------------------------------------- quantities


@pytest.mark.parametrize("quantity", [0, -1, -(2**31), 1_000_001, 2**31 - 1])
async def test_d8_purchase_quantity_outside_1_to_a_million_is_invalid_input(world: World, quantity: int) -> None:
    await world.refused(PURCHASE, {"i": {"productId": world.spb, "quantity": quantity}}, "INVALID_INPUT", "input.quantity")
    await world.refused(
        PURCHASE, {"i": {"productId": world.spb, "quantity": quantity, "dryRun": True}}, "INVALID_INPUT", "input.quantity"
    )


@pytest.mark.parametrize("quantity", [-1, 1_000_001, 2**31 - 1])
async def test_d8_update_quantity_outside_1_to_a_million_is_invalid_input(world: World, quantity: int) -> None:
    await world.refused(QUANTITY, {"i": {"subscriptionId": world.sub, "quantity": quantity}}, "INVALID_INPUT", "input.quantity")


async def test_d7_update_quantity_to_zero_is_invalid_input_saying_cancel_instead(world: World) -> None:
    error = await world.refused(QUANTITY, {"i": {"subscriptionId": world.sub, "quantity": 0}}, "INVALID_INPUT", "input.quantity")
    assert "cancel" in error["message"].lower()


async def test_d8_quantity_bounds_1_and_a_million_are_accepted(tenant: Tenant) -> None:
    spb = (await tenant.ok('{ product(skuPartNumber: "SPB") { id } }'))["product"]["id"]
    big = await tenant.mutate("purchaseSubscription", PURCHASE, {"i": {"productId": spb, "quantity": 1_000_000}})
    assert big["subscription"]["quantity"] == 1_000_000
    one = await tenant.mutate("updateSubscriptionQuantity", QUANTITY, {"i": {"subscriptionId": big["subscription"]["id"], "quantity": 1}})
    assert one["subscription"]["quantity"] == 1


# ---------------------------------------------------------------------------- usage locations

BAD_LOCATIONS = ["JJ", "NOR", "Norway", "xx", "N", "N0"]


async def test_d8_unknown_usage_locations_are_invalid_input_everywhere(world: World) -> None:
    for bad in BAD_LOCATIONS:
        await world.refused(
            CREATE_USER,
            {"i": {"userPrincipalName": f"new@{world.tenant.domain}", "displayName": "New", "usageLocation": bad}},
            "INVALID_INPUT", "input.usageLocation",
        )
        await world.refused(UPDATE_USER, {"i": {"userId": world.ann, "usageLocation": bad}}, "INVALID_INPUT", "input.usageLocation")
        await world.refused(
            INVITE, {"i": {"email": "guest@partner.example", "displayName": "G", "usageLocation": bad}}, "INVALID_INPUT",
            "input.usageLocation",
        )
        await world.refused(UPDATE_TENANT, {"i": {"defaultUsageLocation": bad}}, "INVALID_INPUT", "input.defaultUsageLocation")


async def test_d8_usage_locations_are_case_insensitive_in_and_upper_case_out(tenant: Tenant) -> None:
    created = await tenant.mutate(
        "createUser", CREATE_USER, {"i": {"userPrincipalName": f"nora@{tenant.domain}", "displayName": "Nora", "usageLocation": "no"}}
    )
    assert created["user"]["usageLocation"] == "NO"
    updated = await tenant.mutate("updateUser", UPDATE_USER, {"i": {"userId": created["user"]["id"], "usageLocation": " se "}})
    assert updated["user"]["usageLocation"] == "SE"
    settings = await tenant.mutate("updateTenant", UPDATE_TENANT, {"i": {"defaultUsageLocation": "no"}})
    assert settings["tenant"]["defaultUsageLocation"] == "NO"
    data = await tenant.ok("query($id: ID!) { user(id: $id) { usageLocation } viewer { tenant { defaultUsageLocation } } }",
                           {"id": created["user"]["id"]})
    assert data["user"]["usageLocation"] == "SE"
    assert data["viewer"]["tenant"]["defaultUsageLocation"] == "NO"


# ---------------------------------------------------------------------------- strings

TEN_KB = "x" * 10_240


async def test_d8_empty_blank_and_huge_display_names_are_invalid_input(world: World) -> None:
    domain = world.tenant.domain
    for bad in ("", "   ", "\t\n", TEN_KB, "y" * 257):
        await world.refused(
            CREATE_USER, {"i": {"userPrincipalName": f"new@{domain}", "displayName": bad}}, "INVALID_INPUT", "input.displayName"
        )
        await world.refused(UPDATE_USER, {"i": {"userId": world.ann, "displayName": bad}}, "INVALID_INPUT", "input.displayName")
        await world.refused(CREATE_GROUP, {"i": {"displayName": bad}}, "INVALID_INPUT", "input.displayName")
        await world.refused(
            INVITE, {"i": {"email": "guest@partner.example", "displayName": bad}}, "INVALID_INPUT", "input.displayName"
        )


async def test_d8_huge_department_is_invalid_input(world: World) -> None:
    await world.refused(
        CREATE_USER,
        {"i": {"userPrincipalName": f"new@{world.tenant.domain}", "displayName": "New", "department": TEN_KB}},
        "INVALID_INPUT", "input.department",
    )
    await world.refused(UPDATE_USER, {"i": {"userId": world.ann, "department": TEN_KB}}, "INVALID_INPUT", "input.department")


async def test_d8_strings_are_trimmed_and_256_characters_are_allowed(tenant: Tenant) -> None:
    name = "z" * 256
    created = await tenant.mutate(
        "createUser", CREATE_USER,
        {"i": {"userPrincipalName": f"  trim@{tenant.domain} ", "displayName": f"  {name}  ", "department": "  Ops "}},
    )
    assert created["user"]["displayName"] == name
    assert created["user"]["userPrincipalName"] == f"trim@{tenant.domain}"
    assert created["user"]["department"] == "Ops"


# ---------------------------------------------------------------------------- user principal names


async def test_d8_malformed_user_principal_names_are_invalid_input(world: World) -> None:
    domain = world.tenant.domain
    too_long = "a" * (114 - len(domain) - 1) + "@" + domain
    assert len(too_long) == 114
    for bad in ("no-at-sign", f"two@at@{domain}", f"@{domain}", "name@", too_long, "", "   ", f"sp ace@{domain}"):
        await world.refused(
            CREATE_USER, {"i": {"userPrincipalName": bad, "displayName": "New"}}, "INVALID_INPUT", "input.userPrincipalName"
        )


async def test_d8_a_113_character_upn_is_accepted(tenant: Tenant) -> None:
    upn = "a" * (113 - len(tenant.domain) - 1) + "@" + tenant.domain
    assert len(upn) == 113
    created = await tenant.mutate("createUser", CREATE_USER, {"i": {"userPrincipalName": upn, "displayName": "Long"}})
    assert created["user"]["userPrincipalName"] == upn


async def test_d20_duplicate_upn_even_by_case_is_already_exists(world: World) -> None:
    upn = f"ann.able@{world.tenant.domain}"
    for dup in (upn, upn.upper(), f"Ann.Able@{world.tenant.domain.upper()}", f"  {upn}  "):
        await world.refused(CREATE_USER, {"i": {"userPrincipalName": dup, "displayName": "Other Ann"}}, "ALREADY_EXISTS")


async def test_createuser_judges_its_name_before_its_licenses_and_stores_nothing_when_refused(world: World) -> None:
    # the name check is part of the INSERT's statement; a refusal after it rolls the user back
    domain = world.tenant.domain
    bad_license = [{"productId": "UHJvZHVjdDpub25l"}]
    await world.refused(
        CREATE_USER, {"i": {"userPrincipalName": f"ANN.able@{domain}", "displayName": "Ann", "licenses": bad_license}},
        "ALREADY_EXISTS", "input.userPrincipalName",
    )
    await world.refused(
        CREATE_USER, {"i": {"userPrincipalName": f"fresh@{domain}", "displayName": "Fresh", "licenses": bad_license}},
        "INVALID_INPUT", "input.licenses.0.productId",
    )
    await world.refused(
        CREATE_USER, {"i": {"userPrincipalName": f"ann.able@{domain}", "displayName": "Ann", "dryRun": True}},
        "ALREADY_EXISTS", "input.userPrincipalName",
    )


async def test_d8_bad_guest_email_is_invalid_input(world: World) -> None:
    for bad in ("", "   ", "not-an-email", "a@b", "a@@partner.example", "a b@partner.example", "@partner.example"):
        await world.refused(INVITE, {"i": {"email": bad, "displayName": "Guest"}}, "INVALID_INPUT", "input.email")


async def test_d8_bad_user_mail_is_invalid_input(world: World) -> None:
    for bad in ("not-an-email", "a@b", "two@@partner.example"):
        await world.refused(
            CREATE_USER, {"i": {"userPrincipalName": f"new@{world.tenant.domain}", "displayName": "New", "mail": bad}},
            "INVALID_INPUT", "input.mail",
        )


async def test_d12_inviting_the_same_address_twice_is_already_exists(world: World) -> None:
    await world.tenant.mutate("inviteGuest", INVITE, {"i": {"email": "ada@partner.example", "displayName": "Ada"}})
    world.before = await world.snapshot()
    await world.refused(INVITE, {"i": {"email": "ADA@Partner.example", "displayName": "Ada again"}}, "ALREADY_EXISTS")


async def test_d8_a_null_display_name_in_update_user_is_invalid_input(world: World) -> None:
    await world.refused(UPDATE_USER, {"i": {"userId": world.ann, "displayName": None}}, "INVALID_INPUT", "input.displayName")


# ---------------------------------------------------------------------------- member lists


async def test_d8_duplicate_member_ids_are_invalid_input_naming_the_repeat(world: World) -> None:
    members = [world.ann, world.bob, world.ann]
    await world.refused(CREATE_GROUP, {"i": {"displayName": "Dup", "memberIds": members}}, "INVALID_INPUT", "input.memberIds.2")
    await world.refused(
        ADD_MEMBERS, {"i": {"groupId": world.team, "memberIds": [world.bob, world.bob]}}, "INVALID_INPUT", "input.memberIds.1"
    )
    await world.refused(
        REMOVE_MEMBERS, {"i": {"groupId": world.team, "memberIds": members}}, "INVALID_INPUT", "input.memberIds.2"
    )


async def test_s6_more_member_ids_than_the_per_call_limit_is_invalid_input(world: World) -> None:
    assert world.tenant.api.settings.max_members_per_call == 10_000
    ids = [gid("User", uuid.uuid4()) for _ in range(10_001)]
    await world.refused(CREATE_GROUP, {"i": {"displayName": "Huge", "memberIds": ids}}, "INVALID_INPUT", "input.memberIds")
    await world.refused(ADD_MEMBERS, {"i": {"groupId": world.team, "memberIds": ids}}, "INVALID_INPUT", "input.memberIds")
    await world.refused(REMOVE_MEMBERS, {"i": {"groupId": world.team, "memberIds": ids}}, "INVALID_INPUT", "input.memberIds")


# ---------------------------------------------------------------------------- top-level errors

BAD_CURSORS = {
    "not base64": "garbage!!",
    "empty list": cursor([]),
    "wrong arity": cursor(["only-one"]),
    "key is no uuid": cursor(["a", "not-a-uuid"]),
    "sort key of the wrong type": cursor([1, str(uuid.uuid4())]),
    "not a list": cursor({"a": 1}),  # type: ignore[arg-type]
}


async def bad_cursor_answers(world: World, query: str, variables: dict[str, Any], cursors: dict[str, str]) -> dict[str, Any]:
    """Every cursor that is NOT answered with a clear top-level BAD_USER_INPUT, with what came back instead."""
    wrong = {}
    for name, bad in cursors.items():
        body = await world.tenant.gql(query, {**variables, "a": bad})
        assert_no_leak(body)
        errors = body.get("errors") or [{}]
        if errors[0].get("extensions", {}).get("code") != "BAD_USER_INPUT":
            wrong[name] = errors[0].get("message", body)
    await world.unchanged()
    return wrong


async def test_d9_bad_after_cursors_on_users_are_top_level_bad_user_input(world: World) -> None:
    query = "query($a: String) { users(after: $a) { totalCount } }"
    assert await bad_cursor_answers(world, query, {}, BAD_CURSORS) == {}


async def test_d9_bad_after_cursors_on_groups_are_top_level_bad_user_input(world: World) -> None:
    query = "query($a: String) { groups(after: $a) { totalCount } }"
    assert await bad_cursor_answers(world, query, {}, BAD_CURSORS) == {}


async def test_d9_bad_after_cursors_on_the_catalog_are_top_level_bad_user_input(world: World) -> None:
    # the catalog's cursor is (skuPartNumber, skuId): two strings are well-formed there
    cursors = {k: v for k, v in BAD_CURSORS.items() if k != "key is no uuid"}
    query = "query($a: String) { catalog(after: $a) { totalCount } }"
    assert await bad_cursor_answers(world, query, {}, cursors) == {}


async def test_d9_bad_after_cursors_on_the_audit_log_are_top_level_bad_user_input(world: World) -> None:
    cursors = {
        "not base64": "garbage!!",
        "empty list": cursor([]),
        "wrong arity": cursor(["x", "y"]),
        "id is no number": cursor(["not-a-number"]),
        "id is null": cursor([None]),
        "id beyond a bigint": cursor([world.tenant.id, 2**63]),
        "id below a bigint": cursor([world.tenant.id, -(2**63) - 1]),
    }
    query = "query($a: String) { auditLog(after: $a) { totalCount } }"
    assert await bad_cursor_answers(world, query, {}, cursors) == {}


async def test_d9_bad_after_cursors_on_member_of_are_top_level_bad_user_input(world: World) -> None:
    query = "query($id: ID!, $a: String) { user(id: $id) { memberOf(after: $a) { totalCount } } }"
    assert await bad_cursor_answers(world, query, {"id": world.ann}, BAD_CURSORS) == {}


async def test_d9_bad_after_cursors_on_group_members_are_top_level_bad_user_input(world: World) -> None:
    cursors = {"not base64": "garbage!!", "wrong arity": cursor(["a", "b"]), "kind is no number": cursor(["x", "a", str(uuid.uuid4())]),
               "key is no uuid": cursor([1, "a", "not-a-uuid"]), "kind beyond a bigint": cursor([2**63, "a", str(uuid.uuid4())])}
    query = "query($id: ID!, $a: String) { group(id: $id) { members(after: $a) { totalCount } } }"
    assert await bad_cursor_answers(world, query, {"id": world.team}, cursors) == {}


async def test_d23_product_takes_exactly_one_argument(world: World) -> None:
    await world.top_level("{ product { id } }", None, "BAD_USER_INPUT")
    await world.top_level(f'{{ product(id: "{world.spb}", skuPartNumber: "SPB") {{ id }} }}', None, "BAD_USER_INPUT")
    one = await world.tenant.ok("query($id: ID!) { product(id: $id) { skuPartNumber } }", {"id": world.spb})
    assert one["product"]["skuPartNumber"] == "SPB"


async def test_d21_two_license_changing_fields_in_one_operation_are_refused_before_anything_runs(world: World) -> None:
    two_purchases = """
    mutation($p: ID!) {
      a: purchaseSubscription(input: {productId: $p, quantity: 3}) { subscription { id } errors { code } }
      b: purchaseSubscription(input: {productId: $p, quantity: 4}) { subscription { id } errors { code } }
    }"""
    body = await world.top_level(two_purchases, {"p": world.spb}, "BAD_USER_INPUT")
    assert body.get("data") is None
    mixed = """
    mutation($s: ID!) {
      updateTenant(input: {defaultUsageLocation: "NO"}) { errors { code } }
      ...more
    }
    fragment more on Mutation { updateSubscriptionQuantity(input: {subscriptionId: $s, quantity: 9}) { errors { code } } }
    """
    await world.top_level(mixed, {"s": world.sub}, "BAD_USER_INPUT")
    # inviteGuest changes licenses too: its guest joins the dynamic groups of guests
    guests = """
    mutation($p: ID!) {
      inviteGuest(input: {email: "g@partner.example", displayName: "G"}) { errors { code } }
      purchaseSubscription(input: {productId: $p, quantity: 2}) { subscription { id } errors { code } }
    }"""
    await world.top_level(guests, {"p": world.spb}, "BAD_USER_INPUT")


async def test_d21_one_license_changing_field_beside_a_directory_field_is_allowed(world: World) -> None:
    data = await world.tenant.ok(
        """mutation($p: ID!) {
          createGroup(input: {displayName: "Side"}) { group { id } errors { code } }
          purchaseSubscription(input: {productId: $p, quantity: 2}) { subscription { quantity } errors { code } }
        }""",
        {"p": world.spb},
    )
    assert data["createGroup"]["errors"] == [] and data["purchaseSubscription"]["errors"] == []
    after = await world.snapshot()
    assert after["groups"]["totalCount"] == 2
    assert len(after["subscriptions"]) == 2
    assert after["auditLog"]["totalCount"] == world.before["auditLog"]["totalCount"] + 2


# ---------------------------------------------------------------------------- NUL characters

NUL = "Ann\x00Able"


async def test_d8_a_nul_character_in_any_text_input_is_invalid_input_naming_the_field(world: World) -> None:
    domain = world.tenant.domain
    new = {"userPrincipalName": f"new@{domain}", "displayName": "New"}
    for field, value in [
        ("displayName", NUL), ("userPrincipalName", f"n\x00ew@{domain}"), ("mail", "a\x00@b.example"),
        ("usageLocation", "N\x00"), ("department", NUL), ("jobTitle", NUL),
    ]:
        await world.refused(CREATE_USER, {"i": {**new, field: value}}, "INVALID_INPUT", f"input.{field}", contains="NUL")
    for field in ("displayName", "department", "jobTitle", "usageLocation"):
        await world.refused(UPDATE_USER, {"i": {"userId": world.ann, field: NUL}}, "INVALID_INPUT", f"input.{field}")
    await world.refused(CREATE_GROUP, {"i": {"displayName": NUL}}, "INVALID_INPUT", "input.displayName")
    await world.refused(CREATE_GROUP, {"i": {"displayName": "G", "description": NUL}}, "INVALID_INPUT", "input.description")
    await world.refused(INVITE, {"i": {"email": "g\x00@partner.example", "displayName": "G"}}, "INVALID_INPUT", "input.email")
    await world.refused(UPDATE_TENANT, {"i": {"defaultUsageLocation": "U\x00"}}, "INVALID_INPUT", "input.defaultUsageLocation")


@pytest.mark.parametrize(
    "query",
    [
        '{ users(filter: {search: "a\\u0000b"}) { totalCount } }',
        '{ groups(filter: {search: "a\\u0000b"}) { totalCount } }',
        '{ catalog(search: "E\\u00003") { totalCount } }',
        '{ product(skuPartNumber: "SPE\\u0000E3") { id } }',
    ],
)
async def test_d8_a_nul_character_in_a_search_is_a_top_level_invalid_input(world: World, query: str) -> None:
    body = await world.top_level(query, None, "INVALID_INPUT")
    assert "NUL" in body["errors"][0]["message"]


@pytest.mark.parametrize(
    ("query", "variables"),
    [
        ("query($s: String) { users(filter: {search: $s}) { totalCount } }", {"s": "a\ud800b"}),
        ("query($s: String) { groups(filter: {search: $s}) { totalCount } }", {"s": "\udfff"}),
    ],
    ids=["users", "groups"],
)
async def test_d8_an_unpaired_surrogate_in_a_search_is_a_top_level_invalid_input(
    world: World, query: str, variables: dict[str, Any]
) -> None:
    """JSON can escape half a surrogate pair ("\\ud800"): not Unicode text, so not an
    "Unexpected error." from the driver either, but the admin's INVALID_INPUT."""
    body = await world.top_level(query, variables, "INVALID_INPUT")
    assert "unpaired surrogate" in body["errors"][0]["message"]


async def test_d8_an_unpaired_surrogate_in_a_text_input_changes_nothing(world: World) -> None:
    new = {"userPrincipalName": f"sur@{world.tenant.domain}", "displayName": "Half \ud83d pair"}
    await world.refused(CREATE_USER, {"i": new}, "INVALID_INPUT", "input.displayName", contains="unpaired surrogate")


async def test_d13_a_cursor_or_token_subject_holding_nul_names_nothing(world: World) -> None:
    body = await world.top_level("query($a: String) { users(after: $a) { totalCount } }", {"a": cursor(["a\x00", str(uuid.uuid4())])},
                                 "BAD_USER_INPUT")
    assert body["errors"][0]["path"] == ["users"]
    t = world.tenant
    viewer = await t.ok("{ viewer { user { id } roles } }", token=t.token(sub="ann\x00@x.example"))
    assert viewer["viewer"] == {"user": None, "roles": []}


async def test_d9_a_field_error_beside_fields_reading_the_database_is_reported_not_unexpected(tenant: Tenant) -> None:
    """A non-null field that errs nulls its parent, and graphql-core cancels the sibling fields
    still reading the database: the request's snapshot must still end cleanly, so the answer is
    the field's error (BAD_USER_INPUT), never "Unexpected error", and the next request works."""
    for i in range(3):
        await tenant.create_user(f"U{i}", department="Sales")
    preview = 'query($n: Int) { membershipRulePreview(rule: "user.department -eq \\"Sales\\"") { matchingCount sample(first: $n) { id } } }'
    for _ in range(3):
        body = await tenant.gql(preview, {"n": 101})
        assert body["data"] is None and [e["extensions"]["code"] for e in body["errors"]] == ["BAD_USER_INPUT"], body
    assert (await tenant.ok(preview, {"n": 2}))["membershipRulePreview"]["matchingCount"] == 3
