"""R25 in a group change split between SQL and the engine (found by the property test on
2026-12-04): Ann holds the one Office 365 E3 seat through Outer and is sent to the engine (her
Microsoft 365 A3 for Faculty path is excluded by her E3's Yammer, R6); Bob waits for E3 through
Inner and Outer. Outer's E3 ends: Ann's seat goes to Bob. The SQL part (Bob) was decided without
the seat Ann gives up, so Bob stayed waiting, and the recovery after the write then gave him the
seat: two events for Bob's E3 (CHANGED, then ADDED) in one change, where R25 says one."""

from __future__ import annotations

from typing import Any

from tests.gql.test_assign_licenses import product
from tests.gql.test_group_licenses import batch_plans, license_group, members, states
from tests.gql.test_license_events import feed

__all__ = ["batch_plans"]


async def test_r25_a_seat_freed_by_an_engine_user_reaches_a_waiter_in_one_event(api: Any, batch_plans: None) -> None:
    tenant = await api.new_tenant(default_usage_location="US")
    await tenant.buy("ENTERPRISEPACK", 1)
    await tenant.buy("M365EDU_A3_FACULTY", 1)
    e3 = (await product(tenant, "ENTERPRISEPACK"))["id"]
    faculty = (await product(tenant, "M365EDU_A3_FACULTY"))["id"]
    ann = await tenant.create_user("Ann", location=None)
    bob = await tenant.create_user("Bob", location=None)
    inner = await tenant.create_group("Inner", [bob])
    outer = await tenant.create_group("Outer", [ann])
    edu = await tenant.create_group("Edu")
    assert (await license_group(tenant, outer, [{"productId": e3}]))["errors"] == []  # Ann: the seat
    assert (await license_group(tenant, inner, [{"productId": e3}]))["errors"] == []  # Bob waits
    assert (await license_group(tenant, edu, [{"productId": faculty}]))["errors"] == []
    await members(tenant, "addGroupMembers", outer, [inner])  # Bob waits through Outer too
    await members(tenant, "addGroupMembers", edu, [ann])  # Ann: excluded by her E3's Yammer (R6)
    assert sorted(await states(tenant, bob)) == sorted([
        ("ENTERPRISEPACK", inner, "ERROR", "COUNT_VIOLATION"), ("ENTERPRISEPACK", outer, "ERROR", "COUNT_VIOLATION"),
    ])
    before = len(await feed(tenant))
    assert (await license_group(tenant, outer, [], removeProductIds=[e3]))["errors"] == []
    got = [(e["userId"], e["product"]["skuPartNumber"], e["kind"], e["holdsSeat"]) for e in (await feed(tenant))[before:]]
    assert sorted(got) == sorted([
        (ann, "ENTERPRISEPACK", "REMOVED", False), (ann, "M365EDU_A3_FACULTY", "ADDED", True),
        (bob, "ENTERPRISEPACK", "ADDED", True),
    ])
    assert await states(tenant, bob) == [("ENTERPRISEPACK", inner, "ACTIVE", None)]
    assert await states(tenant, ann) == [("M365EDU_A3_FACULTY", edu, "ACTIVE", None)]
