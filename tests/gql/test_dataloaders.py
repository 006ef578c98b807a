"""SPEC §6: the number of SQL statements of a query does not grow with the rows it returns."""

from __future__ import annotations

from typing import Any

from tests.gql.test_assign_licenses import assign, product
from tests.support import Tenant

PAGE = """
query($first: Int!) {
  users(first: $first) {
    totalCount
    edges {
      node {
        displayName
        memberOf(first: 10) { totalCount edges { node { displayName description } } }
        licenses { product { skuPartNumber } state }
      }
    }
  }
  products { skuPartNumber totalUnits consumedUnits subscriptions { quantity status purchasedBy { displayName } } }
  subscriptions { quantity product { displayName } }
}"""


async def _statements(tenant: Tenant, database: Any, first: int) -> int:
    before = database.statement_count
    data = await tenant.ok(PAGE, {"first": first})
    assert len(data["users"]["edges"]) == first
    return database.statement_count - before


async def test_a_50_user_page_runs_as_many_statements_as_a_5_user_page(tenant: Tenant, app: Any) -> None:
    await tenant.buy("SPE_E3", 10)
    await tenant.buy("EMS", 5)
    users = [await tenant.create_user(f"User {i:02d}") for i in range(55)]
    for g in range(3):
        await tenant.create_group(f"Group {g}", users[g::3])
    database = app.state.runtime.db
    small = await _statements(tenant, database, 5)
    large = await _statements(tenant, database, 50)
    assert small == large
    assert large <= 12  # auth, tenant pool, page, count, groups batch, group counts …


EVENTS = """
query($first: Int!) {
  licenseEvents(filter: {}, first: $first) {
    edges { node { kind product { skuPartNumber } auditEvent { action actor } } }
  }
}"""


async def test_a_page_of_license_events_reads_their_audit_events_in_one_statement(tenant: Tenant, app: Any) -> None:
    """Each event of its own change (one assignment per user): 40 events name 40 audit events,
    read together — as many statements as for 4."""
    await tenant.buy("EMS", 40)
    ems = (await product(tenant, "EMS"))["id"]
    for i in range(40):
        user = await tenant.create_user(f"Holder {i:02d}")
        assert (await assign(tenant, [user], [{"productId": ems}]))["errors"] == []
    database = app.state.runtime.db
    counts, actions = [], []
    for first in (4, 40):
        before = database.statement_count
        data = await tenant.ok(EVENTS, {"first": first})
        counts.append(database.statement_count - before)
        edges = data["licenseEvents"]["edges"]
        assert len(edges) == first
        actions.append({e["node"]["auditEvent"]["action"] for e in edges})
    assert counts[0] == counts[1]
    assert actions == [{"LICENSES_ASSIGNED"}, {"LICENSES_ASSIGNED"}]


GROUP_MEMBERS = """
query($first: Int!) {
  groups(first: $first) {
    edges { node { displayName members(first: 2) { totalCount pageInfo { hasNextPage endCursor } edges { cursor node { __typename ... on User { displayName } ... on Group { displayName } } } } } }
  }
}"""
NEXT_MEMBERS = """
query($id: ID!, $after: String) {
  group(id: $id) { members(first: 2, after: $after) { pageInfo { hasNextPage } edges { node { ... on User { displayName } ... on Group { displayName } } } } }
}"""


async def test_the_first_members_of_a_page_of_groups_are_read_together(tenant: Tenant, app: Any) -> None:
    """`groups { members(first: 2) }`: one statement for every group's first page and one for
    their counts, however many groups; the first page's cursors continue where the per-group
    pages do (groups before users, each by display name)."""
    users = [await tenant.create_user(f"Member {i:02d}") for i in range(6)]
    inner = await tenant.create_group("A inner", users[:1])
    groups = [await tenant.create_group(f"G {g:02d}", users[g % 3 : g % 3 + 3]) for g in range(12)]
    added = await tenant.ok("mutation($i: GroupMembersInput!) { addGroupMembers(input: $i) { errors { code } } }",
                            {"i": {"groupId": groups[0], "memberIds": [inner]}})
    assert added["addGroupMembers"]["errors"] == []
    database = app.state.runtime.db

    async def statements(first: int) -> tuple[int, list[Any]]:
        before = database.statement_count
        data = await tenant.ok(GROUP_MEMBERS, {"first": first})
        return database.statement_count - before, [e["node"] for e in data["groups"]["edges"]]

    small, _ = await statements(3)
    large, nodes = await statements(13)
    assert small == large
    first = next(n for n in nodes if n["displayName"] == "G 00")
    assert first["members"]["totalCount"] == 4
    assert [e["node"]["displayName"] for e in first["members"]["edges"]] == ["A inner", "Member 00"]
    assert first["members"]["pageInfo"]["hasNextPage"] is True
    rest = (await tenant.ok(NEXT_MEMBERS, {"id": groups[0], "after": first["members"]["pageInfo"]["endCursor"]}))["group"]["members"]
    assert [e["node"]["displayName"] for e in rest["edges"]] == ["Member 01", "Member 02"]
    assert rest["pageInfo"]["hasNextPage"] is False
    one = next(n for n in nodes if n["displayName"] == "G 01")
    assert one["members"]["totalCount"] == 3
    assert [e["node"]["displayName"] for e in one["members"]["edges"]] == ["Member 01", "Member 02"]
