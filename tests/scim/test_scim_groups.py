"""/scim/v2/Groups (R29, D34): members by PATCH in every client's form, limits, deletion rules."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from services.ids import from_global_id, to_global_id
from tests.gql.test_assign_licenses import product
from tests.gql.test_group_licenses import license_group
from tests.scim.conftest import GROUP_SCHEMA, PATCH_OP, Scim

GROUP = "query($id: ID!) { group(id: $id) { displayName securityEnabled membershipRule members(first: 50) { totalCount } } }"


def gid(kind: str, scim_id: str) -> str:
    return to_global_id(kind, uuid.UUID(scim_id))


async def member_ids(scim: Scim, group_id: str) -> list[str]:
    return sorted(m["value"] for m in (await scim.ok("GET", f"/Groups/{group_id}")).get("members", []))


async def test_post_creates_a_security_enabled_assigned_group_with_members(scim: Scim) -> None:
    ann = await scim.create_user("ann@contoso.example")
    inner = await scim.create_group("Inner")
    group = await scim.create_group("Outer", [ann["id"], inner["id"]], externalId="okta-00g1")
    assert group["externalId"] == "okta-00g1" and group["meta"]["resourceType"] == "Group"
    assert sorted((m["value"], m["type"]) for m in group["members"]) == sorted([(ann["id"], "User"), (inner["id"], "Group")])
    assert all(m["$ref"].endswith(m["value"]) for m in group["members"])
    stored = (await scim.tenant.ok(GROUP, {"id": gid("Group", group["id"])}))["group"]
    assert stored == {"displayName": "Outer", "securityEnabled": True, "membershipRule": None, "members": {"totalCount": 2}}
    await scim.error("POST", "/Groups", {"schemas": [GROUP_SCHEMA], "displayName": "Twin", "externalId": "okta-00g1"}, 409, "uniqueness")
    await scim.error("POST", "/Groups", {"schemas": [GROUP_SCHEMA]}, 400, "invalidValue")
    await scim.error("POST", "/Groups", {"schemas": [GROUP_SCHEMA], "displayName": "X", "members": [{"value": str(uuid.uuid4())}]}, 400, "invalidValue")


async def test_entra_member_add_and_remove_forms(scim: Scim) -> None:
    a, b, c = [(await scim.create_user(f"m{i}@contoso.example"))["id"] for i in range(3)]
    created = await scim.create_group("Members")
    group = created["id"]
    await scim.patch(f"/Groups/{group}", {"op": "Add", "path": "members", "value": [{"value": a}, {"value": b}, {"value": c}]}, status=204)
    assert await member_ids(scim, group) == sorted([a, b, c])
    assert (await scim.ok("GET", f"/Groups/{group}"))["meta"]["lastModified"] > created["meta"]["lastModified"]
    # Entra: Remove with path members and a value list
    await scim.patch(f"/Groups/{group}", {"op": "Remove", "path": "members", "value": [{"value": a}]}, status=204)
    assert await member_ids(scim, group) == sorted([b, c])
    # RFC 7644 value-filter form
    await scim.patch(f"/Groups/{group}", {"op": "remove", "path": f'members[value eq "{b}"]'}, status=204)
    assert await member_ids(scim, group) == [c]
    # adding a member twice and removing a non-member are no-ops
    await scim.patch(f"/Groups/{group}", {"op": "add", "path": "members", "value": [{"value": c}]},
                     {"op": "remove", "path": "members", "value": [{"value": a}]}, status=204)
    assert await member_ids(scim, group) == [c]


async def test_okta_patch_without_path_and_replace_members(scim: Scim) -> None:
    a, b = [(await scim.create_user(f"o{i}@contoso.example"))["id"] for i in range(2)]
    group = (await scim.create_group("Okta", [a]))["id"]
    await scim.patch(f"/Groups/{group}", {"op": "replace", "value": {"id": group, "displayName": "Okta renamed"}}, status=204)
    await scim.patch(f"/Groups/{group}", {"op": "replace", "path": "members", "value": [{"value": b}]}, status=204)
    got = await scim.ok("GET", f"/Groups/{group}")
    assert got["displayName"] == "Okta renamed" and [m["value"] for m in got["members"]] == [b]
    await scim.patch(f"/Groups/{group}", {"op": "remove", "path": "members"}, status=204)
    assert await member_ids(scim, group) == []
    await scim.patch(f"/Groups/{group}", {"op": "replace", "path": "externalId", "value": "ext-okta"}, status=204)
    assert (await scim.ok("GET", f"/Groups/{group}"))["externalId"] == "ext-okta"
    await scim.error("PATCH", f"/Groups/{group}", {"schemas": [PATCH_OP], "Operations": [{"op": "remove", "path": "displayName"}]}, 400, "mutability")
    await scim.error("PATCH", f"/Groups/{group}", {"schemas": [PATCH_OP], "Operations": [{"op": "add", "path": "owner", "value": "x"}]}, 400, "invalidPath")
    await scim.error("PATCH", f"/Groups/{group}", {"schemas": [PATCH_OP], "Operations": [{"op": "move", "path": "members"}]}, 400, "invalidSyntax")


async def test_put_replaces_name_and_members(scim: Scim) -> None:
    a, b = [(await scim.create_user(f"p{i}@contoso.example"))["id"] for i in range(2)]
    group = (await scim.create_group("Put", [a]))["id"]
    body = {"schemas": [GROUP_SCHEMA], "displayName": "Put 2", "members": [{"value": b}]}
    out = await scim.ok("PUT", f"/Groups/{group}", body)
    assert out["displayName"] == "Put 2" and [m["value"] for m in out["members"]] == [b]


async def test_dynamic_group_members_are_read_only(scim: Scim) -> None:
    created = await scim.tenant.mutate(
        "createGroup", "mutation($i: CreateGroupInput!) { createGroup(input: $i) { group { id } errors { code message } } }",
        {"i": {"displayName": "Dynamic", "membershipRule": 'user.department -eq "Sales"'}},
    )
    dynamic = str(from_global_id(created["group"]["id"]).uuid())
    user = (await scim.create_user("dyn@contoso.example"))["id"]
    await scim.error("PATCH", f"/Groups/{dynamic}", {"schemas": [PATCH_OP], "Operations": [{"op": "add", "path": "members", "value": [{"value": user}]}]},
                     400, "mutability")
    await scim.patch(f"/Groups/{dynamic}", {"op": "replace", "path": "displayName", "value": "Dynamic 2"}, status=204)


async def test_deleting_a_licensed_group_is_409_and_an_unlicensed_one_204(scim: Scim) -> None:
    await scim.tenant.buy("EMS", 1)
    ems = (await product(scim.tenant, "EMS"))["id"]
    licensed = (await scim.create_group("Licensed"))["id"]
    await license_group(scim.tenant, gid("Group", licensed), [{"productId": ems}])
    error = await scim.error("DELETE", f"/Groups/{licensed}", None, 409)
    assert "remove its licenses first" in error["detail"]
    plain = (await scim.create_group("Plain"))["id"]
    await scim.ok("DELETE", f"/Groups/{plain}", status=204)
    await scim.error("GET", f"/Groups/{plain}", None, 404)


async def test_too_many_members_to_show_unless_excluded(scim: Scim, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("gql.scim.groups.MAX_MEMBERS_SHOWN", 2)
    ids = [(await scim.create_user(f"t{i}@contoso.example"))["id"] for i in range(3)]
    created = await scim.create_group("Big", ids)  # the write succeeded: its answer leaves the members out
    assert "members" not in created
    group = created["id"]
    await scim.error("GET", f"/Groups/{group}", None, 400, "tooMany")
    await scim.error("GET", "/Groups", None, 400, "tooMany")
    slim = await scim.ok("GET", f"/Groups/{group}", excludedAttributes="members")
    assert "members" not in slim and slim["displayName"] == "Big"
    assert (await scim.ok("GET", "/Groups", excludedAttributes="members"))["totalResults"] == 1


async def test_patch_over_the_member_limit_is_too_many(scim: Scim, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = scim.tenant.api.app.state.runtime.settings
    monkeypatch.setattr(settings, "max_members_per_call", 2)
    ids = [(await scim.create_user(f"l{i}@contoso.example"))["id"] for i in range(3)]
    group = (await scim.create_group("Limited"))["id"]
    await scim.error("PATCH", f"/Groups/{group}", {"schemas": [PATCH_OP], "Operations": [{"op": "add", "path": "members", "value": [{"value": i} for i in ids]}]},
                     400, "tooMany")
    assert await member_ids(scim, group) == []


async def test_r30_a_patch_is_one_transaction(scim: Scim) -> None:
    """A PATCH renaming a group and adding members, one of which cannot be added (the group
    itself), changes nothing at all: not the name, not the other members."""
    ann = (await scim.create_user("ann@contoso.example"))["id"]
    group = (await scim.create_group("Before"))["id"]
    body = {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [
        {"op": "Replace", "path": "displayName", "value": "After"},
        {"op": "Add", "path": "members", "value": [{"value": ann}, {"value": group}]},
    ]}
    refused = await scim.error("PATCH", f"/Groups/{group}", body, 400, "invalidValue")
    assert "member of itself" in refused["detail"]
    stored = await scim.ok("GET", f"/Groups/{group}")
    assert stored["displayName"] == "Before" and stored.get("members", []) == []
    audit = await scim.tenant.ok("{ auditLog(first: 5) { edges { node { action } } } }")
    assert "GROUP_UPDATED" not in [e["node"]["action"] for e in audit["auditLog"]["edges"]]
    # and a PUT replacing name and members commits both together
    await scim.ok("PUT", f"/Groups/{group}", {"schemas": [GROUP_SCHEMA], "displayName": "After", "members": [{"value": ann}]})
    stored = await scim.ok("GET", f"/Groups/{group}")
    assert stored["displayName"] == "After" and [m["value"] for m in stored["members"]] == [ann]


async def test_group_patch_judges_paths_and_schemas_as_user_patch_does(scim: Scim) -> None:
    """id is read-only (mutability) on both; a URN-qualified path is accepted (RFC 7644 §3.10);
    a PatchOp without the PatchOp schema is refused on both, and nothing is applied."""
    group = (await scim.create_group("Judged"))["id"]
    user = (await scim.create_user("judged@contoso.example"))["id"]
    for resource in (f"/Groups/{group}", f"/Users/{user}"):
        await scim.error("PATCH", resource, {"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "id", "value": "x"}]},
                         400, "mutability")
        for schemas in ({"schemas": ["urn:wrong"]}, {}):
            op = {"op": "replace", "path": "displayName", "value": "Applied"}
            await scim.error("PATCH", resource, {**schemas, "Operations": [op]}, 400, "invalidValue")
    assert (await scim.ok("GET", f"/Groups/{group}"))["displayName"] == "Judged"
    assert (await scim.ok("GET", f"/Users/{user}"))["displayName"] == "judged@contoso.example"
    await scim.patch(f"/Groups/{group}", {"op": "replace", "path": f"{GROUP_SCHEMA}:displayName", "value": "Qualified"}, status=204)
    assert (await scim.ok("GET", f"/Groups/{group}"))["displayName"] == "Qualified"
    await scim.patch(f"/Groups/{group}", {"op": "add", "path": f"{GROUP_SCHEMA}:members", "value": [{"value": user}]}, status=204)
    assert await member_ids(scim, group) == [user]


async def test_members_is_read_in_any_case_on_post_and_put(scim: Scim) -> None:
    """RFC 7643 §2.1: attribute names are case-insensitive (DisplayName already was)."""
    a, b = [(await scim.create_user(f"case{i}@contoso.example"))["id"] for i in range(2)]
    created = await scim.ok("POST", "/Groups", {"schemas": [GROUP_SCHEMA], "DisplayName": "Cased", "Members": [{"value": a}]}, 201)
    assert [m["value"] for m in created["members"]] == [a]
    await scim.ok("PUT", f"/Groups/{created['id']}", {"schemas": [GROUP_SCHEMA], "displayName": "Cased", "MEMBERS": [{"value": b}]})
    assert await member_ids(scim, created["id"]) == [b]
    await scim.ok("PUT", f"/Groups/{created['id']}", {"schemas": [GROUP_SCHEMA], "displayName": "Cased"})
    assert await member_ids(scim, created["id"]) == []


STATES = "query($id: ID!) { user(id: $id) { licenseAssignmentStates { state error { code } } } }"
AUDIT_ACTIONS = "{ auditLog(first: 20) { edges { node { action } } } }"


async def test_r30_d14_a_patch_is_judged_on_where_its_operations_leave_the_members(scim: Scim) -> None:
    """Operations apply in order (RFC 7644 §3.5.2) and the PATCH is judged on the result: a
    member removed and added again in one PATCH stays as they were — their seat kept (D14),
    nothing audited or appended; one added and then removed is not added."""
    t = scim.tenant
    await t.buy("EMS", 1)
    ems = (await product(t, "EMS"))["id"]
    holder, waiting, other = [(await scim.create_user(f"s{i}@contoso.example", name={"givenName": f"S{i}"}))["id"]
                              for i in range(3)]
    group = (await scim.create_group("Seated", [holder, waiting]))["id"]
    await license_group(t, gid("Group", group), [{"productId": ems}])

    async def seat_states() -> list[str]:
        return [(await t.ok(STATES, {"id": gid("User", u)}))["user"]["licenseAssignmentStates"][0]["state"] for u in (holder, waiting)]

    assert await seat_states() == ["ACTIVE", "ERROR"]
    audits = len((await t.ok(AUDIT_ACTIONS))["auditLog"]["edges"])
    events = (await t.ok("{ licenseEvents(first: 1) { totalCount } }"))["licenseEvents"]["totalCount"]
    await scim.patch(f"/Groups/{group}", {"op": "remove", "path": f'members[value eq "{holder}"]'},
                     {"op": "add", "path": "members", "value": [{"value": holder}]}, status=204)
    assert await member_ids(scim, group) == sorted([holder, waiting])
    assert await seat_states() == ["ACTIVE", "ERROR"]  # the holder kept the seat
    assert len((await t.ok(AUDIT_ACTIONS))["auditLog"]["edges"]) == audits
    assert (await t.ok("{ licenseEvents(first: 1) { totalCount } }"))["licenseEvents"]["totalCount"] == events
    # added, then removed: not a member; removed after a replace: not in the replacement
    await scim.patch(f"/Groups/{group}", {"op": "add", "path": "members", "value": [{"value": other}]},
                     {"op": "remove", "path": "members", "value": [{"value": other}]}, status=204)
    assert await member_ids(scim, group) == sorted([holder, waiting])
    await scim.patch(f"/Groups/{group}", {"op": "replace", "path": "members", "value": [{"value": holder}, {"value": other}]},
                     {"op": "remove", "path": f'members[value eq "{other}"]'}, status=204)
    assert await member_ids(scim, group) == [holder]


async def test_d17_removing_an_id_that_names_nobody_is_a_no_op(scim: Scim) -> None:
    """Entra removes the memberships of a user it has just deprovisioned: the id names nobody
    any more, so it is no member, and removing a non-member changes nothing (D17)."""
    gone, stays = [(await scim.create_user(f"g{i}@contoso.example"))["id"] for i in range(2)]
    group = (await scim.create_group("Team", [gone, stays]))["id"]
    await scim.ok("DELETE", f"/Users/{gone}", status=204)
    await scim.patch(f"/Groups/{group}", {"op": "Remove", "path": "members", "value": [{"value": gone}]}, status=204)
    await scim.patch(f"/Groups/{group}", {"op": "remove", "path": f'members[value eq "{gone}"]'}, status=204)
    await scim.patch(f"/Groups/{group}", {"op": "remove", "path": 'members[value eq "not-a-guid"]'}, status=204)
    assert await member_ids(scim, group) == [stays]
    # adding an id that names nobody is still refused
    await scim.error("PATCH", f"/Groups/{group}", {"schemas": [PATCH_OP], "Operations": [
        {"op": "add", "path": "members", "value": [{"value": gone}]}]}, 400, "invalidValue")


async def test_rfc7644_a_replace_or_add_whose_member_filter_selects_nothing_is_no_target(scim: Scim) -> None:
    """§3.5.2.3: a value filter on members that matches no member is 400 noTarget, nothing
    applied; one that matches is replaced by the given member (or, with `.value`, the given id)."""
    a, b, c = [(await scim.create_user(f"n{i}@contoso.example"))["id"] for i in range(3)]
    group = (await scim.create_group("Targets", [a]))["id"]

    async def refused(*operations: dict[str, Any], scim_type: str) -> None:
        await scim.error("PATCH", f"/Groups/{group}", {"schemas": [PATCH_OP], "Operations": list(operations)}, 400, scim_type)
        assert await member_ids(scim, group) == [a]

    for op in ("replace", "add"):
        for path in (f'members[value eq "{b}"]', f'members[value eq "{b}"].value', f'members[value eq "{b}"].display'):
            await refused({"op": op, "path": path, "value": [{"value": c}]}, scim_type="noTarget")
    # judged as the operations so far leave the group: b added first is a member, a removed first is not
    await refused({"op": "remove", "path": "members", "value": [{"value": a}]},
                  {"op": "replace", "path": f'members[value eq "{a}"]', "value": [{"value": c}]}, scim_type="noTarget")
    await refused({"op": "add", "path": f'members[value eq "{a}"]', "value": [{"value": c}]}, scim_type="invalidPath")
    await refused({"op": "replace", "path": f'members[value eq "{a}"].display', "value": "A"}, scim_type="mutability")
    await scim.patch(f"/Groups/{group}", {"op": "add", "path": "members", "value": [{"value": b}]},
                     {"op": "replace", "path": f'members[value eq "{b}"]', "value": [{"value": c}]}, status=204)
    assert await member_ids(scim, group) == sorted([a, c])
    await scim.patch(f"/Groups/{group}", {"op": "replace", "path": f'members[value eq "{c}"].value', "value": b}, status=204)
    assert await member_ids(scim, group) == sorted([a, b])


async def test_d17_a_member_deleted_while_its_removal_waits_is_no_member_and_the_rest_applies(
    scim: Scim, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An identity provider deprovisions a user and removes their memberships at once: the
    removal was checked before the deletion committed, and reaches the change after it. The
    removed id then names nobody — no member (D17) — and the PATCH's other operations apply."""
    from gql.scim import groups as scim_groups
    from services import groups as group_use_cases

    gone, stays, joins = [(await scim.create_user(f"r{i}@contoso.example"))["id"] for i in range(3)]
    group = (await scim.create_group("Racing", [gone, stays]))["id"]
    real = group_use_cases.change_group

    async def deleted_meanwhile(*args: Any, **kwargs: Any) -> Any:
        await scim.ok("DELETE", f"/Users/{gone}", status=204)
        return await real(*args, **kwargs)

    monkeypatch.setattr(scim_groups.groups, "change_group", deleted_meanwhile)
    for remove in ({"op": "Remove", "path": "members", "value": [{"value": gone}]},
                   {"op": "remove", "path": f'members[value eq "{gone}"]'}):
        await scim.patch(f"/Groups/{group}", remove, {"op": "add", "path": "members", "value": [{"value": joins}]}, status=204)
        monkeypatch.setattr(scim_groups.groups, "change_group", real)
        assert await member_ids(scim, group) == sorted([stays, joins])
        await scim.patch(f"/Groups/{group}", {"op": "remove", "path": "members", "value": [{"value": joins}]}, status=204)
        gone = (await scim.create_user(f"again-{remove['op']}@contoso.example"))["id"]
        await scim.patch(f"/Groups/{group}", {"op": "add", "path": "members", "value": [{"value": gone}]}, status=204)
        monkeypatch.setattr(scim_groups.groups, "change_group", deleted_meanwhile)


async def test_a_replacement_may_drop_more_members_than_a_request_may_name(scim: Scim, monkeypatch: pytest.MonkeyPatch) -> None:
    """The per-request bound counts the member values a request carries, not the removals a
    PUT or a `replace members` implies: a group with more members than the bound can still be
    replaced, cleared and renamed by PUT (which clears the members it omits, D27)."""
    settings = scim.tenant.api.app.state.runtime.settings
    ids = [(await scim.create_user(f"b{i}@contoso.example"))["id"] for i in range(5)]
    group = (await scim.create_group("Bigger", ids[:4]))["id"]
    monkeypatch.setattr(settings, "max_members_per_call", 2)
    await scim.patch(f"/Groups/{group}", {"op": "replace", "path": "members", "value": [{"value": ids[4]}]}, status=204)
    assert await member_ids(scim, group) == [ids[4]]
    monkeypatch.setattr(settings, "max_members_per_call", 10)
    await scim.patch(f"/Groups/{group}", {"op": "add", "path": "members", "value": [{"value": i} for i in ids[:4]]}, status=204)
    monkeypatch.setattr(settings, "max_members_per_call", 2)
    renamed = await scim.ok("PUT", f"/Groups/{group}", {"schemas": [GROUP_SCHEMA], "displayName": "Renamed"})
    assert renamed["displayName"] == "Renamed" and await member_ids(scim, group) == []
    await scim.error("PUT", f"/Groups/{group}", {"schemas": [GROUP_SCHEMA], "displayName": "Three",
                                                 "members": [{"value": i} for i in ids[:3]]}, 400, "tooMany")
