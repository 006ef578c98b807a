"""Tenants never see each other (SPEC §1, §5, D5, D13): another tenant's id behaves exactly like an
id that never existed, bad tokens are HTTP 401, malformed ids are INVALID_INPUT.

Nothing in this module may change anything: the two tenants are built once and every case
compares a full snapshot of both with the one taken when they were built.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jwt
import pytest

from gql.auth import Role, issue_token
from services.ids import to_global_id
from tests.support import Api, Tenant

G, R = Role.GLOBAL_ADMINISTRATOR, Role.GLOBAL_READER

STATE = """
query State {
  users(first: 100) {
    totalCount
    edges { node { id displayName userPrincipalName usageLocation department accountEnabled memberOf { totalCount } } }
  }
  groups(first: 100) { totalCount edges { node { id displayName members { totalCount edges { node { ... on User { id } ... on Group { id } } } } } } }
  subscriptions { id quantity status recurringBilling isSelfService purchasedBy { id } }
  products { skuPartNumber totalUnits consumedUnits }
  auditLog(first: 1) { totalCount }
  viewer { tenant { defaultUsageLocation } }
}"""

PURCHASE = """
mutation($i: PurchaseSubscriptionInput!) {
  purchaseSubscription(input: $i) { subscription { id } errors { code field message } }
}"""


@dataclass
class Pair:
    a: Tenant
    b: Tenant
    alice: str  # A, member of A Team
    aaron: str  # A, in no group
    a_team: str
    a_sub: str
    bert: str  # B, member of B Team
    bea: str  # B
    b_team: str
    b_sub: str  # B's organisation subscription (4 seats)
    b_self_sub: str  # a self-service subscription bought by Bert
    b_event: str  # an audit event of B
    b_tenant: str  # B's Tenant node id
    baseline: tuple[dict[str, Any], dict[str, Any]] = ({}, {})  # both states, which no case may change

    async def states(self) -> tuple[dict[str, Any], dict[str, Any]]:
        return await self.a.ok(STATE), await self.b.ok(STATE)

    async def assert_unchanged(self, *, a_only: bool = False) -> None:
        assert await self.a.ok(STATE) == self.baseline[0]
        if not a_only:
            assert await self.b.ok(STATE) == self.baseline[1]


async def _buy(tenant: Tenant, product: str, quantity: int, *, token: str | None = None, self_service: bool = False) -> str:
    payload = await tenant.mutate(
        "purchaseSubscription", PURCHASE, {"i": {"productId": product, "quantity": quantity, "selfService": self_service}}, token=token
    )
    return payload["subscription"]["id"]


@pytest.fixture(scope="module")
async def pair(api: Api) -> Pair:
    a, b = await api.new_tenant(), await api.new_tenant()
    e3 = (await a.ok('{ product(skuPartNumber: "SPE_E3") { id } }'))["product"]["id"]
    alice = await a.create_user("Alice")
    aaron = await a.create_user("Aaron")
    a_team = await a.create_group("A Team", [alice])
    a_sub = await _buy(a, e3, 5)
    bert = await b.create_user("Bert")
    bea = await b.create_user("Bea")
    b_team = await b.create_group("B Team", [bert])
    b_sub = await _buy(b, e3, 4)
    b_self_sub = await _buy(b, e3, 1, token=b.token(sub=f"bert@{b.domain}"), self_service=True)
    b_view = await b.ok("{ viewer { tenant { id } } auditLog(first: 1) { edges { node { id } } } }")
    pair = Pair(
        a, b, alice, aaron, a_team, a_sub, bert, bea, b_team, b_sub, b_self_sub,
        b_event=b_view["auditLog"]["edges"][0]["node"]["id"], b_tenant=b_view["viewer"]["tenant"]["id"],
    )
    pair.baseline = await pair.states()
    return pair


def never_existed(type_name: str) -> str:
    """A well-formed id of `type_name` that names nothing anywhere."""
    if type_name == "AuditEvent":
        return to_global_id("AuditEvent", 2_000_000_000 + uuid.uuid4().int % 1_000_000)
    if type_name == "Tenant":
        return to_global_id("Tenant", f"t{uuid.uuid4().hex[:12]}")
    return to_global_id(type_name, uuid.uuid4())


# ------------------------------------------------------------------------------ reads by id

# (field, attribute of Pair holding B's id, its type)
FOREIGN_READS = [
    ("user", "bert", "User"),
    ("node", "bert", "User"),
    ("group", "b_team", "Group"),
    ("node", "b_team", "Group"),
    ("node", "b_sub", "Subscription"),
    ("node", "b_self_sub", "Subscription"),
    ("node", "b_event", "AuditEvent"),
    ("node", "b_tenant", "Tenant"),
]


@pytest.mark.parametrize("role", [G, R], ids=["global", "reader"])
@pytest.mark.parametrize(("field", "attr", "type_name"), FOREIGN_READS, ids=[f"{f}-{t}-{a}" for f, a, t in FOREIGN_READS])
async def test_another_tenants_id_reads_exactly_like_a_missing_id(pair: Pair, role: Role, field: str, attr: str, type_name: str) -> None:
    query = f"query($id: ID!) {{ x: {field}(id: $id) {{ id }} }}"
    foreign = getattr(pair, attr)
    # the id is real: B itself reads it
    assert (await pair.b.ok(query, {"id": foreign}))["x"] == {"id": foreign}
    token = pair.a.token(role)
    seen = await pair.a.gql(query, {"id": foreign}, token=token)
    missing = await pair.a.gql(query, {"id": never_existed(type_name)}, token=token)
    assert seen == missing == {"data": {"x": None}}


async def test_member_of_filter_with_another_tenants_group_finds_nobody(pair: Pair) -> None:
    query = "query($g: ID!) { users(filter: { memberOfGroupId: $g }) { totalCount edges { node { id } } } }"
    assert (await pair.b.ok(query, {"g": pair.b_team}))["users"]["totalCount"] == 1  # Bert, seen from B
    seen = await pair.a.gql(query, {"g": pair.b_team})
    missing = await pair.a.gql(query, {"g": never_existed("Group")})
    assert seen == missing == {"data": {"users": {"totalCount": 0, "edges": []}}}


async def test_lists_show_only_the_callers_tenant(pair: Pair) -> None:
    data = await pair.a.ok(
        """{ users { edges { node { id } } } groups { edges { node { id } } } subscriptions { id }
             products { skuPartNumber totalUnits prepaidUnits { enabled } subscriptions { id } }
             auditLog(first: 100) { totalCount edges { node { targetId } } } }"""
    )
    assert {e["node"]["id"] for e in data["users"]["edges"]} == {pair.alice, pair.aaron}
    assert [e["node"]["id"] for e in data["groups"]["edges"]] == [pair.a_team]
    assert [s["id"] for s in data["subscriptions"]] == [pair.a_sub]
    # B's 4 + 1 seats of the same product are not pooled with A's 5
    assert data["products"] == [{"skuPartNumber": "SPE_E3", "totalUnits": 5, "prepaidUnits": {"enabled": 5}, "subscriptions": [{"id": pair.a_sub}]}]
    targets = {e["node"]["targetId"] for e in data["auditLog"]["edges"]}
    assert targets == {pair.alice, pair.aaron, pair.a_team, pair.a_sub}
    assert data["auditLog"]["totalCount"] == 4


# ------------------------------------------------------------------------------ mutations taking ids


@dataclass(frozen=True)
class IdCase:
    label: str
    field: str
    input_type: str
    build: Callable[[Pair, str], dict[str, Any]]  # the input, with the id under test in place
    foreign: str  # attribute of Pair: B's id used from A
    type_name: str
    error_field: str
    wrong_type: str  # attribute of Pair: an id of A of a type this input does not take
    role: Role = G  # the role of A's caller


ID_CASES = [
    IdCase("updateUser", "updateUser", "UpdateUserInput", lambda p, x: {"userId": x, "displayName": "Hijacked", "usageLocation": "NO"},
           "bert", "User", "input.userId", "a_team"),
    IdCase("updateUser.usageLocation-by-license-admin", "updateUser", "UpdateUserInput", lambda p, x: {"userId": x, "usageLocation": "NO"},
           "bert", "User", "input.userId", "a_team", Role.LICENSE_ADMINISTRATOR),
    IdCase("deleteUser", "deleteUser", "DeleteUserInput", lambda p, x: {"userId": x}, "bert", "User", "input.userId", "a_team"),
    IdCase("addGroupMembers.groupId", "addGroupMembers", "GroupMembersInput", lambda p, x: {"groupId": x, "memberIds": [p.aaron]},
           "b_team", "Group", "input.groupId", "aaron"),
    IdCase("addGroupMembers.memberIds-user", "addGroupMembers", "GroupMembersInput",
           lambda p, x: {"groupId": p.a_team, "memberIds": [p.aaron, x]}, "bea", "User", "input.memberIds.1", "a_sub"),
    IdCase("addGroupMembers.memberIds-group", "addGroupMembers", "GroupMembersInput",
           lambda p, x: {"groupId": p.a_team, "memberIds": [x]}, "b_team", "Group", "input.memberIds.0", "a_sub"),
    IdCase("removeGroupMembers.groupId", "removeGroupMembers", "GroupMembersInput", lambda p, x: {"groupId": x, "memberIds": [p.alice]},
           "b_team", "Group", "input.groupId", "aaron"),
    IdCase("removeGroupMembers.memberIds", "removeGroupMembers", "GroupMembersInput",
           lambda p, x: {"groupId": p.a_team, "memberIds": [p.alice, x]}, "bert", "User", "input.memberIds.1", "a_sub"),
    IdCase("createGroup.memberIds", "createGroup", "CreateGroupInput",
           lambda p, x: {"displayName": "Borrowed", "memberIds": [p.aaron, x]}, "bert", "User", "input.memberIds.1", "a_sub"),
    IdCase("deleteGroup", "deleteGroup", "DeleteGroupInput", lambda p, x: {"groupId": x}, "b_team", "Group", "input.groupId", "aaron"),
    IdCase("updateSubscriptionQuantity", "updateSubscriptionQuantity", "UpdateSubscriptionQuantityInput",
           lambda p, x: {"subscriptionId": x, "quantity": 9}, "b_sub", "Subscription", "input.subscriptionId", "aaron"),
    IdCase("cancelSubscription", "cancelSubscription", "SubscriptionIdInput", lambda p, x: {"subscriptionId": x},
           "b_sub", "Subscription", "input.subscriptionId", "aaron"),
    IdCase("setRecurringBilling", "setRecurringBilling", "SetRecurringBillingInput",
           lambda p, x: {"subscriptionId": x, "enabled": False}, "b_sub", "Subscription", "input.subscriptionId", "aaron"),
    IdCase("takeOverSubscription", "takeOverSubscription", "SubscriptionIdInput", lambda p, x: {"subscriptionId": x},
           "b_self_sub", "Subscription", "input.subscriptionId", "aaron"),
]


def mutation(case: IdCase) -> str:
    return f"mutation($i: {case.input_type}!) {{ {case.field}(input: $i) {{ errors {{ code field message userId productId groupId }} }} }}"


@pytest.mark.parametrize("case", ID_CASES, ids=[c.label for c in ID_CASES])
async def test_another_tenants_id_in_a_mutation_is_not_found_like_a_missing_id(pair: Pair, case: IdCase) -> None:
    foreign = getattr(pair, case.foreign)
    token = pair.a.token(case.role)
    seen = await pair.a.gql(mutation(case), {"i": case.build(pair, foreign)}, token=token)
    missing = await pair.a.gql(mutation(case), {"i": case.build(pair, never_existed(case.type_name))}, token=token)
    wrong_type = await pair.a.gql(mutation(case), {"i": case.build(pair, getattr(pair, case.wrong_type))}, token=token)
    assert seen == missing == wrong_type, (seen, missing, wrong_type)
    assert "errors" not in seen, seen
    errors = seen["data"][case.field]["errors"]
    assert [(e["code"], e["field"]) for e in errors] == [("NOT_FOUND", case.error_field)]
    assert foreign not in errors[0]["message"]
    await pair.assert_unchanged()  # nothing changed in either tenant


@pytest.mark.parametrize("bad", ["abc", "!!!"])
@pytest.mark.parametrize("case", ID_CASES, ids=[c.label for c in ID_CASES])
async def test_malformed_id_in_a_mutation_is_invalid_input(pair: Pair, case: IdCase, bad: str) -> None:
    body = await pair.a.gql(mutation(case), {"i": case.build(pair, bad)}, token=pair.a.token(case.role))
    assert "errors" not in body, body
    errors = body["data"][case.field]["errors"]
    assert [(e["code"], e["field"]) for e in errors] == [("INVALID_INPUT", case.error_field)]
    await pair.assert_unchanged(a_only=True)


@pytest.mark.parametrize("case", ID_CASES, ids=[c.label for c in ID_CASES])
async def test_a_forbidden_caller_learns_nothing_from_another_tenants_id(pair: Pair, case: IdCase) -> None:
    """A Global Reader may change nothing: FORBIDDEN, the same for B's id as for a missing one."""
    token = pair.a.token(R)
    seen = await pair.a.gql(mutation(case), {"i": case.build(pair, getattr(pair, case.foreign))}, token=token)
    missing = await pair.a.gql(mutation(case), {"i": case.build(pair, never_existed(case.type_name))}, token=token)
    assert seen == missing
    assert [e["extensions"]["code"] for e in seen["errors"]] == ["FORBIDDEN"]
    assert seen["data"] is None
    await pair.assert_unchanged()


MALFORMED_QUERIES = {
    "user": ("query($id: ID!) { x: user(id: $id) { id } }", {"x": None}),
    "group": ("query($id: ID!) { x: group(id: $id) { id } }", {"x": None}),
    "node": ("query($id: ID!) { x: node(id: $id) { id } }", {"x": None}),
    "users.memberOfGroupId": ("query($id: ID!) { x: users(filter: { memberOfGroupId: $id }) { totalCount } }", None),
}


@pytest.mark.parametrize("bad", ["abc", "!!!"])
@pytest.mark.parametrize("field", list(MALFORMED_QUERIES))
async def test_malformed_id_in_a_query_is_a_top_level_invalid_input(pair: Pair, field: str, bad: str) -> None:
    query, data = MALFORMED_QUERIES[field]
    body = await pair.a.gql(query, {"id": bad})
    assert [e["extensions"]["code"] for e in body["errors"]] == ["INVALID_INPUT"], body
    assert body["errors"][0]["path"] == ["x"]
    assert body["data"] == data


# ------------------------------------------------------------------------------ who the caller is


@pytest.mark.parametrize("sub_kind", ["upn", "relay-id"])
async def test_a_sub_naming_a_user_of_another_tenant_names_no_user(pair: Pair, sub_kind: str) -> None:
    sub = {"upn": f"bert@{pair.b.domain}", "relay-id": pair.bert}[sub_kind]
    no_role = pair.a.token(sub=sub)
    assert (await pair.a.ok("{ viewer { user { id } } }", token=pair.a.token(G, sub=sub)))["viewer"]["user"] is None
    data = await pair.a.ok(
        "query($u: ID!, $g: ID!) { viewer { tenant { tenantId } user { id } } user(id: $u) { id } group(id: $g) { id } }",
        {"u": pair.bert, "g": pair.b_team},
        token=no_role,
    )
    assert data == {"viewer": {"tenant": {"tenantId": pair.a.id}, "user": None}, "user": None, "group": None}
    # without a user of A, there is nobody to make a self-service purchase for: refused, nothing bought anywhere
    e3 = (await pair.a.ok('{ product(skuPartNumber: "SPE_E3") { id } }'))["product"]["id"]
    body = await pair.a.gql(PURCHASE, {"i": {"productId": e3, "quantity": 1, "selfService": True}}, token=no_role)
    if "errors" in body:
        assert [e["extensions"]["code"] for e in body["errors"]] == ["FORBIDDEN"], body
    else:
        assert [e["code"] for e in body["data"]["purchaseSubscription"]["errors"]] == ["INVALID_INPUT"]
    await pair.assert_unchanged()


# ------------------------------------------------------------------------------ authentication: HTTP 401

QUERY = "{ viewer { tenant { tenantId } } }"


def _claims(tenant_id: str, **extra: Any) -> dict[str, Any]:
    now = int(time.time())
    return {"tid": tenant_id, "sub": "admin@example.test", "roles": ["GlobalAdministrator"], "iat": now, "exp": now + 600, **extra}


def _headers(api: Api, pair: Pair, kind: str) -> dict[str, str]:
    secret = api.jwt_secret
    tokens = {
        "unknown-tenant": lambda: api.token(f"t{uuid.uuid4().hex[:12]}", [G]),
        "expired": lambda: api.token(pair.a.id, [G], ttl=-120),
        "bad-signature": lambda: issue_token("another-secret-of-sufficient-length-0123456789", pair.a.id, "admin", [G]),
        "tampered-tid": lambda: _swap_payload(api.token(pair.b.id, [G]), api.token(pair.a.id, [G])),
        "alg-none": lambda: jwt.encode(_claims(pair.a.id), None, algorithm="none"),
        "no-tid": lambda: jwt.encode({k: v for k, v in _claims(pair.a.id).items() if k != "tid"}, secret, algorithm="HS256"),
        "no-exp": lambda: jwt.encode({k: v for k, v in _claims(pair.a.id).items() if k != "exp"}, secret, algorithm="HS256"),
        "garbage": lambda: "not-a-jwt",
    }
    if kind == "missing-header":
        return {}
    if kind == "not-bearer":
        return {"Authorization": f"Basic {api.token(pair.a.id, [G])}"}
    if kind == "empty-bearer":
        return {"Authorization": "Bearer "}
    return {"Authorization": f"Bearer {tokens[kind]()}"}


def _swap_payload(signed_for: str, payload_from: str) -> str:
    """A's claims with the signature of B's token: the signature no longer matches."""
    header, _, signature = signed_for.split(".")
    _, payload, _ = payload_from.split(".")
    return f"{header}.{payload}.{signature}"


AUTH_FAILURES = [
    "missing-header", "not-bearer", "empty-bearer", "garbage", "unknown-tenant", "expired", "bad-signature",
    "tampered-tid", "alg-none", "no-tid", "no-exp",
]


@pytest.mark.parametrize("kind", AUTH_FAILURES)
async def test_bad_credentials_are_http_401(api: Api, pair: Pair, kind: str) -> None:
    for body in (QUERY, 'mutation { updateTenant(input: { defaultUsageLocation: "NO" }) { errors { code } } }'):
        response = await api.client.post("/graphql", json={"query": body}, headers=_headers(api, pair, kind))
        assert response.status_code == 401, (kind, response.status_code, response.text)
        assert '"data"' not in response.text
    assert (await pair.a.ok("{ viewer { tenant { defaultUsageLocation } } }"))["viewer"]["tenant"]["defaultUsageLocation"] == "US"


async def test_a_get_request_without_a_token_is_http_401(api: Api) -> None:
    response = await api.client.get("/graphql", params={"query": QUERY}, headers={"Accept": "application/json"})
    assert response.status_code == 401
    assert '"data"' not in response.text


async def test_a_valid_token_of_each_tenant_reaches_only_that_tenant(api: Api, pair: Pair) -> None:
    for tenant in (pair.a, pair.b):
        response = await api.post(QUERY, token=tenant.admin)
        assert response.status_code == 200
        assert response.json() == {"data": {"viewer": {"tenant": {"tenantId": tenant.id}}}}
