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


QUANTITY = (
    "mutation($i: UpdateSubscriptionQuantityInput!) { updateSubscriptionQuantity(input: $i) { errors { code message } "
    f"{CHANGES} }} }}"
)
MEMBERS = f"mutation($i: GroupMembersInput!) {{ removeGroupMembers(input: $i) {{ errors {{ code message }} {CHANGES} }} }}"


async def audio_waits_for_skype(tenant: Tenant, skype_holders: list[str]) -> tuple[str, str, str]:
    """One seat each of Skype for Business Online (Plan 2) and Audio Conferencing (which needs
    Skype's plan, R7). Wes waits for Skype (COUNT_VIOLATION) behind the holders, so his Audio
    Conferencing path is in DEPENDENCY_VIOLATION and takes no seat. Returns the Skype
    subscription, Wes and the holders' group."""
    skype_sub = await tenant.buy("MCOSTANDARD", 1)
    await tenant.buy("MCOMEETADV", 1)
    skype, audio = [(await product(tenant, s))["id"] for s in ("MCOSTANDARD", "MCOMEETADV")]
    wes = await tenant.create_user("Wes")
    holders = await tenant.create_group("Skype holders", skype_holders)
    for group in (holders, await tenant.create_group("Skype for Wes", [wes])):
        await license_group(tenant, group, [{"productId": skype}])
    await license_group(tenant, await tenant.create_group("Audio", [wes]), [{"productId": audio}])
    assert sorted(s[0::2] for s in await states(tenant, wes)) == [("MCOMEETADV", "ERROR"), ("MCOSTANDARD", "ERROR")]
    assert (await product(tenant, "MCOMEETADV"))["consumedUnits"] == 0
    return skype_sub, wes, holders


@pytest.mark.parametrize("freeing", ["a member leaves", "a seat is bought"])
async def test_r7_a_dependent_path_that_recovers_with_the_seat_shows_its_own_products_seats(tenant: Tenant, freeing: str) -> None:
    """The freed (or bought) Skype seat goes to Wes, whose Audio Conferencing path then recovers
    and takes that product's seat: the summary lists both products, as the pools show them after."""
    holder = await tenant.create_user("Hal")
    skype_sub, wes, holders = await audio_waits_for_skype(tenant, [holder])
    if freeing == "a member leaves":
        i, query, field = {"groupId": holders, "memberIds": [holder]}, MEMBERS, "removeGroupMembers"
        skype_after = (1, 1, 1)
    else:
        i, query, field = {"subscriptionId": skype_sub, "quantity": 2}, QUANTITY, "updateSubscriptionQuantity"
        skype_after = (1, 2, 2)
    dry = (await tenant.ok(query, {"i": {**i, "dryRun": True}}))[field]
    assert dry["errors"] == []
    seats = {s["product"]["skuPartNumber"]: (s["consumedBefore"], s["consumedAfter"], s["totalUnits"])
             for s in dry["changes"]["products"]}
    assert seats == {"MCOMEETADV": (0, 1, 1), "MCOSTANDARD": skype_after}
    assert ("Wes", "MCOMEETADV", "ACTIVE") in [
        (o["user"]["displayName"], o["product"]["skuPartNumber"], o["state"]) for o in dry["changes"]["outcomes"]
    ]
    assert (await product(tenant, "MCOMEETADV"))["consumedUnits"] == 0  # the dry run stored nothing
    real = (await tenant.ok(query, {"i": i}))[field]
    assert without_dry_run(real["changes"]) == without_dry_run(dry["changes"])
    for sku, (_, consumed, total) in seats.items():
        pool = await product(tenant, sku)
        assert (pool["consumedUnits"], pool["totalUnits"]) == (consumed, total), sku
    assert sorted(s[0::2] for s in await states(tenant, wes)) == [("MCOMEETADV", "ACTIVE"), ("MCOSTANDARD", "ACTIVE")]


CREATE = """
mutation($i: CreateUserInput!) { createUser(input: $i) { user { id } errors { code field userId productId } changes { dryRun } } }"""


async def test_d16_a_refused_create_user_names_no_user(tenant: Tenant) -> None:
    """The refused new user is rolled back: its license problems carry no user id (one would name
    nothing, and differ between the dry run and the real run)."""
    await tenant.buy("EMS", 1)
    ems = (await product(tenant, "EMS"))["id"]
    i = {"userPrincipalName": f"nowhere@{tenant.domain}", "displayName": "Nowhere", "licenses": [{"productId": ems}]}
    dry = (await tenant.ok(CREATE, {"i": {**i, "dryRun": True}}))["createUser"]
    real = (await tenant.ok(CREATE, {"i": i}))["createUser"]
    assert dry == real
    assert real["user"] is None and real["changes"] is None
    assert [(e["code"], e["userId"], e["productId"]) for e in real["errors"]] == [("USAGE_LOCATION_REQUIRED", None, ems)]
    assert (await tenant.ok("{ users(first: 5) { totalCount } }"))["users"]["totalCount"] == 0


async def test_d16_a_removed_path_shows_the_error_it_had(tenant: Tenant) -> None:
    """A removed path is listed as it was stored: ERROR with its error (`error` is null only
    when ACTIVE), after the change's own errors — decided in SQL (a member leaves) or by the
    engine (the user is deleted)."""
    await tenant.buy("EMS", 1)
    ems = (await product(tenant, "EMS"))["id"]
    users = [await tenant.create_user(f"Member {i}") for i in range(3)]
    group = await tenant.create_group("Queue", users)
    await license_group(tenant, group, [{"productId": ems}])
    left = (await tenant.ok(MEMBERS, {"i": {"groupId": group, "memberIds": [users[1]]}}))["removeGroupMembers"]
    deleted = (await tenant.ok(DELETE, {"i": {"userId": users[2]}}))["deleteUser"]
    for payload in (left, deleted):
        assert [(o["state"], o["error"]["code"] if o["error"] else None, o["removed"]) for o in payload["changes"]["outcomes"]] == [
            ("ERROR", "COUNT_VIOLATION", True)
        ]
        assert payload["changes"]["errorCounts"] == []  # the change left no path in error
