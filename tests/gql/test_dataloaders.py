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
