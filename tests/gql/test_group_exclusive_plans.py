"""R6 between two products of one group (found by the property test on 2026-12-03): one group
licensing Office 365 E3 (Yammer Enterprise, with two plans turned off) and Microsoft 365 A3 for
Faculty (Yammer for Academic) must put one of a new member's paths in
MUTUALLY_EXCLUSIVE_VIOLATION. The gate found the pair of shapes but matched no user: it compared
the stored disabled-plan arrays with the shapes' plans in another order."""

from __future__ import annotations

from typing import Any

from tests.gql.test_assign_licenses import plan_id, product
from tests.gql.test_group_licenses import license_group, members, states


async def test_r6_two_exclusive_products_of_one_group(api: Any) -> None:
    tenant = await api.new_tenant(default_usage_location="US")
    await tenant.buy("M365EDU_A3_FACULTY", 1)
    await tenant.buy("ENTERPRISEPACK", 1)
    faculty = (await product(tenant, "M365EDU_A3_FACULTY"))["id"]
    e3 = (await product(tenant, "ENTERPRISEPACK"))["id"]
    user = await tenant.create_user("U0", location=None)
    group = await tenant.create_group("G0")
    assert (await license_group(tenant, group, [{"productId": faculty}]))["errors"] == []
    off = [await plan_id(tenant, "ENTERPRISEPACK", name) for name in ("EXCHANGE_S_ENTERPRISE", "MCOSTANDARD")]
    assert (await license_group(tenant, group, [{"productId": e3, "disabledServicePlanIds": off}]))["errors"] == []
    await members(tenant, "addGroupMembers", group, [user])
    got = {sku: (state, code) for sku, _group, state, code in await states(tenant, user)}
    assert "MUTUALLY_EXCLUSIVE_VIOLATION" in {code for _state, code in got.values()}, got

