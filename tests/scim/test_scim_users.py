"""/scim/v2/Users: the R29 mapping, each client habit as its own case, D28/D31 edges, errors."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

import gql.scim.users as scim_users
from services.ids import to_global_id
from tests.scim.conftest import ENTERPRISE, PATCH_OP, USER_SCHEMA, Scim

FULL = {
    "schemas": [USER_SCHEMA, ENTERPRISE],
    "userName": "grace@contoso.example",
    "externalId": "Ext-Grace",
    "displayName": "Grace Hopper",
    "name": {"givenName": "Grace", "familyName": "Hopper"},
    "emails": [{"value": "grace@contoso.example"}],  # `type` is not stored, nor published (D28)
    "addresses": [{"country": "US"}],
    "active": True,
    "title": "Rear Admiral",
    "userType": "Member",
    ENTERPRISE: {"department": "Navy", "employeeNumber": "E-1906"},
}
USER_FIELDS = "query($id: ID!) { user(id: $id) { userPrincipalName displayName givenName surname mail accountEnabled jobTitle userType externalId usageLocation department employeeId } }"


async def test_r29_every_published_attribute_round_trips(scim: Scim) -> None:
    created = await scim.ok("POST", "/Users", FULL, 201)
    for key in ("userName", "externalId", "displayName", "name", "emails", "addresses", "active", "title", "userType", ENTERPRISE):
        assert created[key] == FULL[key], key
    assert created["meta"]["resourceType"] == "User"
    assert created["meta"]["location"].endswith(f"/scim/v2/Users/{created['id']}")
    assert created["meta"]["created"] and created["meta"]["lastModified"]
    fetched = await scim.ok("GET", f"/Users/{created['id']}")
    assert fetched == created
    stored = (await scim.tenant.ok(USER_FIELDS, {"id": to_global_id("User", uuid.UUID(created["id"]))}))["user"]
    assert stored == {
        "userPrincipalName": "grace@contoso.example", "displayName": "Grace Hopper", "givenName": "Grace", "surname": "Hopper",
        "mail": "grace@contoso.example", "accountEnabled": True, "jobTitle": "Rear Admiral", "userType": "MEMBER",
        "externalId": "Ext-Grace", "usageLocation": "US", "department": "Navy", "employeeId": "E-1906",
    }


async def test_entra_capitalised_ops_and_string_booleans(scim: Scim) -> None:
    user = await scim.create_user("h1@contoso.example")
    out = await scim.patch(f"/Users/{user['id']}", {"op": "Replace", "path": "active", "value": "False"})
    assert out["active"] is False
    out = await scim.patch(f"/Users/{user['id']}", {"op": "Add", "path": "displayName", "value": "H One"})
    assert out["displayName"] == "H One"
    out = await scim.patch(f"/Users/{user['id']}", {"op": "Replace", "value": {"active": "True", "title": "Lead"}})
    assert (out["active"], out["title"]) == (True, "Lead")


async def test_entra_filter_username_before_create(scim: Scim) -> None:
    await scim.create_user("Finder@Contoso.example")
    for name in ("finder@contoso.example", "FINDER@CONTOSO.EXAMPLE"):
        found = await scim.ok("GET", "/Users", filter=f'userName eq "{name}"')
        assert [u["userName"] for u in found["Resources"]] == ["Finder@Contoso.example"]  # stored as given (D28)


async def test_entra_value_filter_paths_in_patch(scim: Scim) -> None:
    user = await scim.create_user("p1@contoso.example", emails=[{"value": "p1@contoso.example", "type": "work", "primary": True}])
    out = await scim.patch(
        f"/Users/{user['id']}",
        {"op": "Replace", "path": 'emails[type eq "work"].value', "value": "p1.new@contoso.example"},
        {"op": "Replace", "path": 'addresses[type eq "work"].country', "value": "se"},
        {"op": "Replace", "path": "name.givenName", "value": "Pia"},
        {"op": "Add", "path": f"{ENTERPRISE}:employeeNumber", "value": "42"},
    )
    assert out["emails"][0]["value"] == "p1.new@contoso.example"
    assert out["addresses"] == [{"country": "SE"}]
    assert out["name"]["givenName"] == "Pia" and out[ENTERPRISE]["employeeNumber"] == "42"
    out = await scim.patch(f"/Users/{user['id']}", {"op": "remove", "path": "name.givenName"})
    assert "name" not in out


async def test_external_id_round_trips_case_exact_and_is_unique(scim: Scim) -> None:
    user = await scim.create_user("x1@contoso.example", externalId="AbC-1")
    assert user["externalId"] == "AbC-1"
    other = await scim.create_user("x2@contoso.example", externalId="abc-1")  # case-exact: a different id
    assert other["externalId"] == "abc-1"
    await scim.error("POST", "/Users", {"schemas": [USER_SCHEMA], "userName": "x3@contoso.example", "externalId": "AbC-1"}, 409, "uniqueness")
    await scim.error("PATCH", f"/Users/{other['id']}", {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                     "Operations": [{"op": "replace", "path": "externalId", "value": "AbC-1"}]}, 409, "uniqueness")
    found = await scim.ok("GET", "/Users", filter='externalId eq "AbC-1"')
    assert [u["id"] for u in found["Resources"]] == [user["id"]]


async def test_d28_user_name_without_at_sign_defaults_display_name_and_is_unique_ignoring_case(scim: Scim) -> None:
    user = await scim.create_user("bjensen")
    assert (user["userName"], user["displayName"]) == ("bjensen", "bjensen")
    await scim.error("POST", "/Users", {"schemas": [USER_SCHEMA], "userName": "BJensen"}, 409, "uniqueness")
    await scim.error("POST", "/Users", {"schemas": [USER_SCHEMA], "userName": "x" * 114}, 400, "invalidValue")
    other = await scim.create_user("other")
    await scim.error("PUT", f"/Users/{other['id']}", {"schemas": [USER_SCHEMA], "userName": "BJENSEN"}, 409, "uniqueness")


@pytest.mark.parametrize(("body", "what"), [
    ({"name": {"givenName": "g" * 65}}, "givenName"),
    ({"externalId": "e" * 257}, "externalId"),
    ({ENTERPRISE: {"employeeNumber": "1" * 17}, "schemas": [USER_SCHEMA, ENTERPRISE]}, "employeeId"),
    ({"addresses": [{"type": "work", "country": "XX"}]}, "usageLocation"),
    ({"displayName": "nul\x00"}, "displayName"),
    ({"userType": "Robot"}, "userType"),
])
async def test_d31_limits_and_d8_rules_hold_over_scim(scim: Scim, body: dict[str, object], what: str) -> None:
    error = await scim.error("POST", "/Users", {"schemas": [USER_SCHEMA], "userName": "limits@contoso.example", **body}, 400, "invalidValue")
    assert what in error["detail"], error


async def test_put_replaces_the_representation(scim: Scim) -> None:
    user = await scim.ok("POST", "/Users", FULL, 201)
    body = {"schemas": [USER_SCHEMA], "userName": "grace.h@contoso.example", "displayName": "G. Hopper", "active": False}
    out = await scim.ok("PUT", f"/Users/{user['id']}", body)
    assert (out["userName"], out["displayName"], out["active"]) == ("grace.h@contoso.example", "G. Hopper", False)
    for gone in ("name", "emails", "addresses", "title", ENTERPRISE):
        assert gone not in out, gone
    assert "externalId" not in out  # a PUT that leaves an attribute out clears it


async def test_patch_errors(scim: Scim) -> None:
    user = await scim.create_user("pe@contoso.example")
    path = f"/Users/{user['id']}"
    patch_op = ["urn:ietf:params:scim:api:messages:2.0:PatchOp"]
    await scim.error("PATCH", path, {"schemas": patch_op, "Operations": [{"op": "jump", "path": "title"}]}, 400, "invalidValue")
    removed = await scim.error("PATCH", path, {"schemas": patch_op, "Operations": [{"op": "remove", "path": "userName"}]}, 400, "mutability")
    assert "required" in removed["detail"]
    await scim.error("PATCH", path, {"schemas": patch_op, "Operations": "nope"}, 400, "invalidValue")
    await scim.error("PATCH", path, None, 400, "invalidSyntax")
    await scim.error("PATCH", "/Users/not-a-guid", {"schemas": patch_op, "Operations": []}, 404)


async def test_entra_adds_a_missing_address_and_email_by_value_filter_path(scim: Scim) -> None:
    user = await scim.create_user("bare@contoso.example")
    assert "addresses" not in user and "emails" not in user
    out = await scim.patch(
        f"/Users/{user['id']}",
        {"op": "Add", "path": 'addresses[type eq "work"].country', "value": "fi"},
        {"op": "Add", "path": 'emails[type eq "work"].value', "value": "bare@contoso.example"},
    )
    assert out["addresses"] == [{"country": "FI"}]
    assert out["emails"][0]["value"] == "bare@contoso.example"


async def test_attributes_and_excluded_attributes(scim: Scim) -> None:
    user = await scim.ok("POST", "/Users", FULL, 201)
    only = await scim.ok("GET", f"/Users/{user['id']}", attributes="userName,emails.value")
    assert set(only) == {"schemas", "id", "userName", "emails"} and only["emails"] == [{"value": "grace@contoso.example"}]
    without = await scim.ok("GET", f"/Users/{user['id']}", excludedAttributes="emails,name")
    assert "emails" not in without and "name" not in without and without["userName"] == "grace@contoso.example"
    listed = await scim.ok("GET", "/Users", attributes="userName")
    assert all(set(r) == {"schemas", "id", "userName"} for r in listed["Resources"])


async def test_paging_with_start_index_and_count(scim: Scim) -> None:
    ids = [(await scim.create_user(f"page{i}@contoso.example"))["id"] for i in range(5)]
    first = await scim.ok("GET", "/Users", startIndex=1, count=2)
    assert (first["totalResults"], first["startIndex"], first["itemsPerPage"]) == (5, 1, 2)
    second = await scim.ok("GET", "/Users", startIndex=3, count=2)
    last = await scim.ok("GET", "/Users", startIndex=5, count=2)
    assert [r["id"] for r in first["Resources"] + second["Resources"] + last["Resources"]] == ids
    none = await scim.ok("GET", "/Users", count=0)
    assert (none["totalResults"], none["Resources"]) == (5, [])
    capped = await scim.ok("GET", "/Users", count=1000)
    assert capped["itemsPerPage"] == 5  # count is capped at 100
    await scim.error("GET", "/Users", None, 400, "invalidValue", count="many")


async def test_delete_then_gone(scim: Scim) -> None:
    user = await scim.create_user("gone@contoso.example")
    await scim.ok("DELETE", f"/Users/{user['id']}", status=204)
    await scim.error("DELETE", f"/Users/{user['id']}", status=404)
    await scim.error("GET", f"/Users/{user['id']}", status=404)


async def test_post_search_takes_the_parameters_in_the_body(scim: Scim) -> None:
    await scim.create_user("s1@contoso.example")
    await scim.create_user("s2@contoso.example")
    body = {"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"], "filter": 'userName sw "s"',
            "attributes": ["userName"], "startIndex": 2, "count": 1}
    found = await scim.ok("POST", "/Users/.search", body)
    assert (found["totalResults"], found["startIndex"]) == (2, 2)
    assert [set(r) for r in found["Resources"]] == [{"schemas", "id", "userName"}]
    assert found["Resources"][0]["userName"] == "s2@contoso.example"
    await scim.error("POST", "/Users/.search", {"sortBy": "userName"}, 400, "invalidValue")
    await scim.error("POST", "/.search", {}, 501)
    await scim.error("GET", "/Users/.search", None, 405)



async def test_a_patch_never_overwrites_a_change_made_after_it_read_the_user(
    scim: Scim, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No ETags: a PATCH stores only if the user is still as it read it (UpdateUser.unchanged_since,
    checked under the row's lock), else it reads again and redoes the PATCH — no lost update."""
    user = await scim.create_user("race@contoso.example", title="Before")
    real_read = scim_users._read
    reads = {"n": 0}

    async def read_then_someone_else_writes(call: object, raw_id: str) -> object:
        found = await real_read(call, raw_id)  # type: ignore[arg-type]
        reads["n"] += 1
        if reads["n"] == 2:  # the PATCH's first read of the user: another admin changes it now
            changed = await scim.tenant.ok(
                "mutation($i: UpdateUserInput!) { updateUser(input: $i) { errors { code } } }",
                {"i": {"userId": to_global_id("User", uuid.UUID(raw_id)), "jobTitle": "Changed meanwhile"}},
            )
            assert changed["updateUser"]["errors"] == []
        return found

    monkeypatch.setattr(scim_users, "_read", read_then_someone_else_writes)
    await scim.patch(f"/Users/{user['id']}", {"op": "Replace", "path": "displayName", "value": "New name"})
    monkeypatch.setattr(scim_users, "_read", real_read)
    stored = await scim.ok("GET", f"/Users/{user['id']}")
    assert stored["displayName"] == "New name" and stored["title"] == "Changed meanwhile"
    assert reads["n"] == 4  # the 404 check, the read that found it changed, the read it redid, the answer


async def test_entra_default_mapping_phone_numbers_and_manager_are_a_no_op(scim: Scim) -> None:
    """Entra's default mapping sends phone numbers by value-filter path and the manager as a bare
    id; neither is stored, so they change nothing (like nickName), alone or with stored ones."""
    user = await scim.create_user("phones@contoso.example", title="Before")
    path = f"/Users/{user['id']}"
    manager = (await scim.create_user("boss@contoso.example"))["id"]
    out = await scim.patch(
        path,
        {"op": "Add", "path": 'phoneNumbers[type eq "work"].value', "value": "+47 3"},
        {"op": "Replace", "path": 'phoneNumbers[type eq "mobile"].value', "value": "+47 4"},
        {"op": "Add", "path": f"{ENTERPRISE}:manager", "value": manager},
        {"op": "Replace", "path": "title", "value": "After"},
    )
    assert out["title"] == "After" and "phoneNumbers" not in out
    assert "manager" not in out.get(ENTERPRISE, {})
    out = await scim.patch(path, {"op": "Add", "path": f"{ENTERPRISE}:manager", "value": manager})
    assert out["title"] == "After"
    await scim.patch(path, {"op": "Replace", "path": 'phoneNumbers[type eq "fax"].value', "value": "1"})
    await scim.patch(path, {"op": "Remove", "path": f"{ENTERPRISE}:manager"})


async def test_patch_add_of_another_work_email_replaces_the_stored_one(scim: Scim) -> None:
    """One email (and one address) is stored: an added work or primary value takes effect (it is
    not dropped); an added non-primary value of another type leaves the work one in place."""
    user = await scim.create_user("mails@contoso.example", emails=[{"value": "old@contoso.example", "type": "work"}],
                                  addresses=[{"type": "work", "country": "NO"}])
    path = f"/Users/{user['id']}"
    out = await scim.patch(path, {"op": "add", "path": "emails", "value": [{"value": "new@contoso.example", "type": "work"}]})
    assert [e["value"] for e in out["emails"]] == ["new@contoso.example"]
    out = await scim.patch(path, {"op": "add", "path": "emails", "value": [{"value": "home@contoso.example", "type": "home"}]})
    assert [e["value"] for e in out["emails"]] == ["new@contoso.example"]
    out = await scim.patch(path, {"op": "add", "path": "emails", "value": [{"value": "p@contoso.example", "primary": True}]})
    assert [e["value"] for e in out["emails"]] == ["p@contoso.example"]
    out = await scim.patch(path, {"op": "add", "value": {"emails": [{"value": "nopath@contoso.example", "type": "work"}]}})
    assert [e["value"] for e in out["emails"]] == ["nopath@contoso.example"]
    out = await scim.patch(path, {"op": "add", "path": "addresses", "value": [{"type": "work", "country": "se"}]})
    assert out["addresses"] == [{"country": "SE"}]
    out = await scim.patch(path, {"op": "Replace", "path": 'emails[type eq "work"].value', "value": "entra@contoso.example"})
    assert [e["value"] for e in out["emails"]] == ["entra@contoso.example"]


async def test_a_value_filter_matching_nothing_is_a_no_op_for_remove_and_no_target_for_replace(scim: Scim) -> None:
    """RFC 7644 §3.5.2.2's example: removing what a filter does not select changes nothing and
    succeeds; §3.5.2.3: a replace whose filter matches nothing is 400 noTarget. Entra's forms
    (`emails[type eq "work"]…`) always select the work entry."""
    user = await scim.create_user("nomatch@contoso.example", emails=[{"value": "w@contoso.example", "type": "work"}])
    path = f"/Users/{user['id']}"
    out = await scim.patch(path, {"op": "remove", "path": 'emails[type eq "home"]'})
    assert [e["value"] for e in out["emails"]] == ["w@contoso.example"]
    await scim.error("PATCH", path, {"schemas": [PATCH_OP], "Operations": [
        {"op": "replace", "path": 'emails[type eq "home"].value', "value": "h@contoso.example"}]}, 400, "noTarget")
    out = await scim.patch(path, {"op": "Remove", "path": 'emails[type eq "work"].value'})
    assert "emails" not in out
    out = await scim.patch(path, {"op": "Remove", "path": 'emails[type eq "work"].value'})  # nothing left: still a no-op
    assert "emails" not in out


async def test_d28_an_email_reads_back_as_given_without_a_type_the_service_does_not_store(scim: Scim) -> None:
    """One mail is stored, not its type: /Schemas does not publish emails.type or addresses.type
    and responses carry none, so nothing reads back changed (a "home" email was returned as "work")."""
    user = await scim.create_user("carl", emails=[{"value": "carl@Math.example", "type": "home"}],
                                  addresses=[{"type": "home", "country": "DE"}])
    assert user["emails"] == [{"value": "carl@Math.example"}] and user["addresses"] == [{"country": "DE"}]
    assert (await scim.ok("GET", f"/Users/{user['id']}"))["emails"] == [{"value": "carl@Math.example"}]
    schema = await scim.ok("GET", f"/Schemas/{USER_SCHEMA}")
    for name in ("emails", "addresses"):
        attribute = next(a for a in schema["attributes"] if a["name"] == name)
        assert "type" not in [s["name"] for s in attribute["subAttributes"]], name
    # the stored email is the work one for filters and Entra's PATCH paths
    assert (await scim.ok("GET", "/Users", filter='emails[type eq "work"].value eq "carl@math.example"'))["totalResults"] == 1
    out = await scim.patch(f"/Users/{user['id']}", {"op": "Replace", "path": 'emails[type eq "work"].value', "value": "c@math.example"})
    assert out["emails"] == [{"value": "c@math.example"}]
    await scim.error("POST", "/Users", {"schemas": [USER_SCHEMA], "userName": "bad", "emails": [{"value": "not-a-mail"}]},
                     400, "invalidValue")


async def test_okta_and_entra_send_the_manager_without_ref_and_it_is_ignored(scim: Scim) -> None:
    """RFC 7643 §4.3: the manager's `$ref` is RECOMMENDED, not required; it is not stored."""
    boss = await scim.create_user("boss@contoso.example")
    body = {"schemas": [USER_SCHEMA, ENTERPRISE], "userName": "report@contoso.example",
            ENTERPRISE: {"department": "Sales", "manager": {"value": boss["id"], "displayName": "Boss"}}}
    created = await scim.ok("POST", "/Users", body, 201)
    assert created[ENTERPRISE]["department"] == "Sales"
    replaced = await scim.ok("PUT", f"/Users/{created['id']}", {**body, ENTERPRISE: {"department": "Ops", "manager": {"value": boss["id"]}}})
    assert replaced[ENTERPRISE]["department"] == "Ops"


async def test_entra_default_mappings_for_other_emails_and_addresses_are_no_ops(scim: Scim) -> None:
    """Entra adds proxy addresses as emails[type eq "other"].Value and the office as
    addresses[type eq "other"].Formatted: not stored, so a no-op — and the PATCH's other
    operations apply (the whole PATCH was 400 noTarget)."""
    user = await scim.create_user("mapped@contoso.example", emails=[{"value": "w@contoso.example", "type": "work"}])
    path = f"/Users/{user['id']}"
    out = await scim.patch(
        path,
        {"op": "Add", "path": 'emails[type eq "other"].Value', "value": "smtp:alias@contoso.example"},
        {"op": "Add", "path": 'addresses[type eq "other"].Formatted', "value": "Building 4"},
        {"op": "Replace", "path": "title", "value": "Lead"},
    )
    assert out["title"] == "Lead" and [e["value"] for e in out["emails"]] == ["w@contoso.example"]
    alone = await scim.patch(path, {"op": "Add", "path": 'emails[type eq "other"].Value', "value": "smtp:x@contoso.example"})
    assert [e["value"] for e in alone["emails"]] == ["w@contoso.example"]


async def test_a_user_that_keeps_changing_under_a_patch_is_503_retry_after_not_400(
    scim: Scim, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each attempt of a read-modify-write found the user changed since it read it: a busy
    resource the client retries (D34: contention is 503 with Retry-After), nothing changed."""
    from gql.scim import users as scim_users
    from services.directory import ChangedMeanwhile
    from services.errors import ErrorCode, Problem

    user = await scim.create_user("busy@contoso.example")
    attempts = 0

    async def always_changed(*_args: Any) -> Any:
        nonlocal attempts
        attempts += 1
        raise ChangedMeanwhile([Problem(ErrorCode.OTHER, "changed meanwhile")])

    monkeypatch.setattr(scim_users, "_store", always_changed)
    response = await scim.request("PATCH", f"/Users/{user['id']}", {"schemas": [PATCH_OP], "Operations": [
        {"op": "replace", "path": "title", "value": "Never"}]})
    assert response.status_code == 503, response.text
    assert response.headers["Retry-After"] == "1" and attempts == scim_users.MAX_ATTEMPTS
    assert "Retry the request" in response.json()["detail"]
    monkeypatch.undo()
    assert "title" not in await scim.ok("GET", f"/Users/{user['id']}")
