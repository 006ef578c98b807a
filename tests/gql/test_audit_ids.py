"""Audit event ids are numbered per tenant (migration 0004, D13): 1, 2, 3, … in each tenant, so
one tenant's ids say nothing about another's activity; the id names its tenant too, so one
tenant's id never names another tenant's event of the same number (§5); ids and cursors that
name nothing."""

from __future__ import annotations

import base64
import json
from typing import Any

from tests.support import Api, Tenant

AUDIT = """
query($first: Int, $after: String) {
  auditLog(first: $first, after: $after) { edges { cursor node { id summary } } pageInfo { endCursor hasNextPage } }
}"""
NODE = "query($id: ID!) { node(id: $id) { id ... on AuditEvent { summary } } }"


def audit_id(tenant: Tenant, key: str) -> str:
    return base64.b64encode(f"AuditEvent:{tenant.id}:{key}".encode()).decode()


def number(relay_id: str) -> int:
    type_name, _, key = base64.b64decode(relay_id).decode().partition(":")
    assert type_name == "AuditEvent"
    return int(key.rpartition(":")[2])


async def numbers(tenant: Tenant) -> list[int]:
    edges = (await tenant.ok(AUDIT, {"first": 100}))["auditLog"]["edges"]
    return [number(e["node"]["id"]) for e in edges]


async def test_d13_each_tenant_numbers_its_audit_events_from_1_without_gaps(api: Api) -> None:
    a, b = await api.new_tenant(), await api.new_tenant()
    await a.create_group("A1")
    for i in range(3):  # b's activity between a's events leaves no trace in a's ids
        await b.create_group(f"B{i}")
    await a.create_group("A2")
    await b.create_group("B3")
    await a.create_group("A3")
    assert await numbers(a) == [3, 2, 1]
    assert await numbers(b) == [4, 3, 2, 1]
    node = await a.ok(NODE, {"id": audit_id(a, "2")})
    assert node["node"]["summary"].startswith("Created group A2")
    assert (await b.ok(NODE, {"id": audit_id(b, "2")}))["node"]["summary"].startswith("Created group B1")
    # a's event 2 asked by b: null, as for an id that names nothing — not b's own event 2
    assert (await b.ok(NODE, {"id": audit_id(a, "2")}))["node"] is None
    assert (await b.ok(NODE, {"id": base64.b64encode(b"AuditEvent:2").decode()}))["node"] is None


async def test_d19_the_audit_log_pages_newest_first_by_the_tenant_number(api: Api) -> None:
    tenant, other = await api.new_tenant(), await api.new_tenant()
    for i in range(5):
        await tenant.create_group(f"G{i}")
        await other.create_group(f"O{i}")
    seen, after = [], None
    while True:
        page = (await tenant.ok(AUDIT, {"first": 2, "after": after}))["auditLog"]
        seen += [number(e["node"]["id"]) for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == [5, 4, 3, 2, 1]


def old_cursor(values: list[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode()


async def test_d13_cursors_from_before_the_renumbering_or_of_another_tenant_are_bad_user_input(api: Api) -> None:
    tenant, other = await api.new_tenant(), await api.new_tenant()
    for i in range(3):
        await tenant.create_group(f"G{i}")
        await other.create_group(f"O{i}")
    theirs = (await other.ok(AUDIT, {"first": 1}))["auditLog"]["pageInfo"]["endCursor"]
    for cursor in (old_cursor([2]), old_cursor([99999]), theirs):
        body = await tenant.gql(AUDIT, {"first": 2, "after": cursor})
        assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT", (cursor, body)
    mine = (await tenant.ok(AUDIT, {"first": 1}))["auditLog"]["pageInfo"]["endCursor"]
    rest = (await tenant.ok(AUDIT, {"first": 5, "after": mine}))["auditLog"]["edges"]
    assert [number(e["node"]["id"]) for e in rest] == [2, 1]


async def test_d13_an_audit_id_that_names_no_event_is_null_even_past_64_bits(tenant: Tenant) -> None:
    await tenant.create_group("Only")
    for key in ["99999999999999999999999", "9223372036854775808", "9223372036854775807", "0", "2"]:
        body = await tenant.gql(NODE, {"id": audit_id(tenant, key)})
        assert body == {"data": {"node": None}}, (key, body)


async def test_d13_an_audit_id_whose_key_is_not_a_plain_integer_is_invalid_input(tenant: Tenant) -> None:
    await tenant.create_group("Only")  # event 1 exists: " 1" or "+1" must not reach it
    for key in [" 1", "1 ", "+1", "-1", "1_0", "\u0661", "abc", "1.0", "0x1"]:
        body = await tenant.gql(NODE, {"id": audit_id(tenant, key)})
        assert body["data"] == {"node": None}, (key, body)
        assert [e["extensions"]["code"] for e in body["errors"]] == ["INVALID_INPUT"], (key, body)
