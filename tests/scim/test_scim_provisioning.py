"""A full provisioning cycle as Microsoft Entra's client sends it, with licenses following each
step in the same transaction (R29, R30, D27, D28, D34)."""

from __future__ import annotations

import uuid

from services.ids import to_global_id
from tests.gql.test_assign_licenses import product
from tests.gql.test_group_licenses import license_group, states
from tests.scim.conftest import ENTERPRISE, USER_SCHEMA, Scim

AUDIT = "query { auditLog(first: 50) { edges { node { actor action } } } }"
EVENTS = "query($u: ID!) { user(id: $u) { licenseHistory(first: 20) { edges { node { kind actor holdsSeat } } } } }"


def gid(kind: str, scim_id: str) -> str:
    return to_global_id(kind, uuid.UUID(scim_id))


async def test_entra_cycle_create_update_deactivate_group_membership_delete(scim: Scim) -> None:
    tenant = scim.tenant
    await tenant.buy("EMS", 1)
    ems = (await product(tenant, "EMS"))["id"]
    # the admin licenses a group in the admin center first; Entra provisions it empty
    group = await scim.create_group("Sales", externalId="entra-group-1")
    await license_group(tenant, gid("Group", group["id"]), [{"productId": ems}])

    # 1. Entra looks the user up before it creates them
    found = await scim.ok("GET", "/Users", filter='userName eq "ada@contoso.example"')
    assert found["totalResults"] == 0 and found["Resources"] == []
    ada = await scim.create_user(
        "ada@contoso.example", externalId="0f6b-ada", active=True, displayName="Ada Lovelace",
        name={"givenName": "Ada", "familyName": "Lovelace"},
        emails=[{"primary": True, "type": "work", "value": "ada@contoso.example"}],
        addresses=[{"type": "work", "primary": False, "country": "NO"}], title="Engineer",
        **{"schemas": [USER_SCHEMA, ENTERPRISE], ENTERPRISE: {"department": "R&D", "employeeNumber": "E-1"}},
    )
    ada_gid = gid("User", ada["id"])
    found = await scim.ok("GET", "/Users", filter='userName eq "ADA@contoso.example"')
    assert [u["id"] for u in found["Resources"]] == [ada["id"]]

    # 2. membership by PATCH: the group license follows at once
    await scim.patch(f"/Groups/{group['id']}", {"op": "Add", "path": "members", "value": [{"value": ada["id"]}]}, status=204)
    assert await states(tenant, ada_gid) == [("EMS", gid("Group", group["id"]), "ACTIVE", None)]
    assert (await product(tenant, "EMS"))["consumedUnits"] == 1

    # 3. update by PATCH Replace with string booleans, as Entra sends it
    updated = await scim.patch(f"/Users/{ada['id']}", {"op": "Replace", "path": "title", "value": "Staff Engineer"},
                               {"op": "Replace", "path": "active", "value": "True"})
    assert updated["title"] == "Staff Engineer" and updated["active"] is True

    # 4. deactivate: accountEnabled false, the license stays (D34)
    off = await scim.patch(f"/Users/{ada['id']}", {"op": "Replace", "path": "active", "value": "False"})
    assert off["active"] is False
    assert await states(tenant, ada_gid) == [("EMS", gid("Group", group["id"]), "ACTIVE", None)]
    assert (await product(tenant, "EMS"))["consumedUnits"] == 1

    # 5. a second user waits for the seat; removing Ada from the group hands it over (R4)
    bob = await scim.create_user("bob@contoso.example", addresses=[{"type": "work", "country": "SE"}])
    await scim.patch(f"/Groups/{group['id']}", {"op": "Add", "path": "members", "value": [{"value": bob["id"]}]}, status=204)
    assert await states(tenant, gid("User", bob["id"])) == [("EMS", gid("Group", group["id"]), "ERROR", "COUNT_VIOLATION")]
    await scim.patch(f"/Groups/{group['id']}", {"op": "Remove", "path": "members", "value": [{"value": ada["id"]}]}, status=204)
    assert await states(tenant, ada_gid) == []
    assert await states(tenant, gid("User", bob["id"])) == [("EMS", gid("Group", group["id"]), "ACTIVE", None)]

    # 6. deprovision: DELETE frees the seat
    await scim.ok("DELETE", f"/Users/{bob['id']}", status=204)
    assert (await product(tenant, "EMS"))["consumedUnits"] == 0
    await scim.error("GET", f"/Users/{bob['id']}", status=404)

    # every change is audited as scim:<token name>, and the license events carry the same actor
    log = (await tenant.ok(AUDIT))["auditLog"]["edges"]
    scim_actions = [e["node"]["action"] for e in log if e["node"]["actor"] == "scim:entra"]
    assert {"USER_CREATED", "USER_UPDATED", "GROUP_MEMBERS_ADDED", "GROUP_MEMBERS_REMOVED", "USER_DELETED", "GROUP_CREATED"} <= set(scim_actions)
    history = (await tenant.ok(EVENTS, {"u": ada_gid}))["user"]["licenseHistory"]["edges"]
    assert [(e["node"]["kind"], e["node"]["actor"]) for e in history] == [("REMOVED", "scim:entra"), ("ADDED", "scim:entra")]


async def test_d27_removing_the_usage_location_is_applied_and_frees_the_seat(scim_no_default: Scim) -> None:
    scim = scim_no_default
    tenant = scim.tenant
    await tenant.buy("EMS", 1)
    ems = (await product(tenant, "EMS"))["id"]
    user = await scim.create_user("cy@contoso.example", addresses=[{"type": "work", "country": "no"}])
    assert user["addresses"] == [{"country": "NO"}]  # D29: stored upper-case
    group = await scim.create_group("Licensed", [user["id"]])
    await license_group(tenant, gid("Group", group["id"]), [{"productId": ems}])
    assert (await product(tenant, "EMS"))["consumedUnits"] == 1
    # GraphQL would refuse this (D1); SCIM applies it and the path records the error (D27, D28)
    changed = await scim.patch(f"/Users/{user['id']}", {"op": "remove", "path": 'addresses[type eq "work"].country'})
    assert "addresses" not in changed or not any(a.get("country") for a in changed["addresses"])
    assert await states(tenant, gid("User", user["id"])) == [("EMS", gid("Group", group["id"]), "ERROR", "USAGE_LOCATION_REQUIRED")]
    assert (await product(tenant, "EMS"))["consumedUnits"] == 0


async def test_okta_put_without_addresses_clears_the_usage_location(scim_no_default: Scim) -> None:
    scim = scim_no_default
    tenant = scim.tenant
    await tenant.buy("EMS", 1)
    ems = (await product(tenant, "EMS"))["id"]
    user = await scim.create_user("dee@contoso.example", addresses=[{"type": "work", "country": "US"}], title="Ops")
    group = await scim.create_group("Okta group", [user["id"]])
    await license_group(tenant, gid("Group", group["id"]), [{"productId": ems}])
    body = {"schemas": [USER_SCHEMA], "id": user["id"], "userName": "dee@contoso.example", "active": True, "title": "Ops"}
    put = await scim.ok("PUT", f"/Users/{user['id']}", body)
    assert "addresses" not in put
    assert await states(tenant, gid("User", user["id"])) == [("EMS", gid("Group", group["id"]), "ERROR", "USAGE_LOCATION_REQUIRED")]
    assert (await product(tenant, "EMS"))["consumedUnits"] == 0


async def test_a_provisioned_attribute_moves_dynamic_membership(scim: Scim) -> None:
    tenant = scim.tenant
    await tenant.buy("EMS", 5)
    ems = (await product(tenant, "EMS"))["id"]
    created = await tenant.mutate(
        "createGroup", "mutation($i: CreateGroupInput!) { createGroup(input: $i) { group { id } errors { code message } } }",
        {"i": {"displayName": "Sales (dynamic)", "membershipRule": 'user.department -eq "Sales"'}},
    )
    dynamic = created["group"]["id"]
    await license_group(tenant, dynamic, [{"productId": ems}])
    user = await scim.create_user("eve@contoso.example", addresses=[{"type": "work", "country": "DE"}])
    assert await states(tenant, gid("User", user["id"])) == []
    await scim.patch(f"/Users/{user['id']}", {"op": "Add", "path": f"{ENTERPRISE}:department", "value": "Sales"})
    assert await states(tenant, gid("User", user["id"])) == [("EMS", dynamic, "ACTIVE", None)]
    await scim.patch(f"/Users/{user['id']}", {"op": "Replace", "path": f"{ENTERPRISE}:department", "value": "Support"})
    assert await states(tenant, gid("User", user["id"])) == []
