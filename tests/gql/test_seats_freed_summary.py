"""R4, R19, D16 for seats a change frees: the waiting paths that take them are part of the change.

Unassigning a license, deleting its user or removing a group's license frees a seat, and the
first path waiting for it takes it in the same transaction (R4). The change's summary shows
that path among its outcomes and counts its seat in `consumedAfter`, which is then the pool's
`consumedUnits`; the dry run shows the same (R19) and stores nothing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from tests.gql.test_assign_licenses import assign, product
from tests.gql.test_group_licenses import license_group, states
from tests.gql.test_seats_bought_dry_run import CHANGES, without_dry_run
from tests.support import Tenant

ASSIGN = f"mutation($i: AssignLicensesInput!) {{ assignLicenses(input: $i) {{ errors {{ code message }} {CHANGES} }} }}"
DELETE = f"mutation($i: DeleteUserInput!) {{ deleteUser(input: $i) {{ errors {{ code message }} {CHANGES} }} }}"
GROUP = f"mutation($i: AssignGroupLicensesInput!) {{ assignGroupLicenses(input: $i) {{ errors {{ code message }} {CHANGES} }} }}"


async def unassign(tenant: Tenant, holder: str, ems: str, dry_run: bool) -> dict[str, Any]:
    i = {"userIds": [holder], "removeProductIds": [ems], "dryRun": dry_run}
    return (await tenant.ok(ASSIGN, {"i": i}))["assignLicenses"]


async def delete(tenant: Tenant, holder: str, ems: str, dry_run: bool) -> dict[str, Any]:
    return (await tenant.ok(DELETE, {"i": {"userId": holder, "dryRun": dry_run}}))["deleteUser"]


FREEING: dict[str, Callable[[Tenant, str, str, bool], Awaitable[dict[str, Any]]]] = {
    "unassign": unassign, "delete the holder": delete,
}


async def holder_and_queue(tenant: Tenant) -> tuple[str, str, list[str]]:
    """EMS with one seat, held directly by Holder; a licensed group whose two members wait."""
    await tenant.buy("EMS", 1)
    ems = (await product(tenant, "EMS"))["id"]
    holder = await tenant.create_user("Holder")
    assert (await assign(tenant, [holder], [{"productId": ems}]))["errors"] == []
    waiting = [await tenant.create_user(f"Waiting {i}") for i in range(2)]
    group = await tenant.create_group("Queue", waiting)
    await license_group(tenant, group, [{"productId": ems}])
    assert [(await states(tenant, u))[0][2:] for u in waiting] == [("ERROR", "COUNT_VIOLATION")] * 2
    return holder, ems, waiting


@pytest.mark.parametrize("freeing", list(FREEING))
async def test_r4_the_waiting_path_that_takes_a_freed_seat_is_in_the_summary(tenant: Tenant, freeing: str) -> None:
    holder, ems, waiting = await holder_and_queue(tenant)
    dry = await FREEING[freeing](tenant, holder, ems, True)
    assert dry["errors"] == [] and dry["changes"]["dryRun"] is True
    assert dry["changes"]["products"] == [
        {"product": {"skuPartNumber": "EMS"}, "consumedBefore": 1, "consumedAfter": 1, "totalUnits": 1}
    ]
    assert sorted((o["user"]["displayName"], o["assignedByGroup"] is not None, o["state"], o["removed"])
                  for o in dry["changes"]["outcomes"]) == [
        ("Holder", False, "ACTIVE", True),  # the holder's direct path ends …
        ("Waiting 0", True, "ACTIVE", False),  # … and the first in line takes the seat
    ]
    assert dry["changes"]["affectedUserCount"] == 2
    assert dry["changes"]["errorCounts"] == []
    assert [(await states(tenant, u))[0][2] for u in waiting] == ["ERROR", "ERROR"]  # the dry run stored nothing

    real = await FREEING[freeing](tenant, holder, ems, False)
    assert without_dry_run(real["changes"]) == without_dry_run(dry["changes"])
    assert (await product(tenant, "EMS"))["consumedUnits"] == real["changes"]["products"][0]["consumedAfter"]
    assert [(await states(tenant, u))[0][2] for u in waiting] == ["ACTIVE", "ERROR"]


async def test_r4_a_group_license_removed_hands_its_seats_to_another_groups_queue(tenant: Tenant) -> None:
    await tenant.buy("EMS", 2)
    ems = (await product(tenant, "EMS"))["id"]
    holders = await tenant.create_group("Holders", [await tenant.create_user(f"Holder {i}") for i in range(2)])
    await license_group(tenant, holders, [{"productId": ems}])
    waiting = [await tenant.create_user(f"Waiting {i}") for i in range(3)]
    await license_group(tenant, await tenant.create_group("Queue", waiting), [{"productId": ems}])
    i = {"groupId": holders, "addLicenses": [], "removeProductIds": [ems]}

    dry = (await tenant.ok(GROUP, {"i": {**i, "dryRun": True}}))["assignGroupLicenses"]
    assert dry["changes"]["products"] == [
        {"product": {"skuPartNumber": "EMS"}, "consumedBefore": 2, "consumedAfter": 2, "totalUnits": 2}
    ]
    taken = [o["user"]["displayName"] for o in dry["changes"]["outcomes"] if not o["removed"]]
    assert taken == ["Waiting 0", "Waiting 1"]
    assert dry["changes"]["affectedUserCount"] == 4
    real = (await tenant.ok(GROUP, {"i": i}))["assignGroupLicenses"]
    assert without_dry_run(real["changes"]) == without_dry_run(dry["changes"])
    assert (await product(tenant, "EMS"))["consumedUnits"] == 2
    assert [(await states(tenant, u))[0][2] for u in waiting] == ["ACTIVE", "ACTIVE", "ERROR"]
