"""The users' givenName, surname, employeeId and externalId, and mail on updateUser (D31, D8).

Through the API on a real PostgreSQL: created, updated, cleared and read back on both read
paths (a single user and the users page); trimmed; an empty value is null; the limits (64, 64,
16) hold to the character; a NUL is refused; every refusal names its field and changes nothing
(the user, the audit log). externalId is only read here (SCIM sets it).
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text

from db.repo import directory, reads
from db.repo.reads import Reader
from gql.auth import Role
from services.ids import from_global_id
from tests.support import Tenant

FIELDS = "id userPrincipalName displayName mail givenName surname employeeId externalId department"
CREATE = "mutation($i: CreateUserInput!) { createUser(input: $i) { user { " + FIELDS + " } errors { code field message } } }"
UPDATE = "mutation($i: UpdateUserInput!) { updateUser(input: $i) { user { " + FIELDS + " } errors { code field message } } }"
ONE = "query($id: ID!) { user(id: $id) { " + FIELDS + " } }"
PAGE = "{ users(first: 100) { edges { node { " + FIELDS + " } } } }"
AUDIT = "{ auditLog(first: 100) { totalCount edges { node { action summary } } } }"

# GraphQL name → (limit, the column the audit names)
LIMITS = {"givenName": (64, "given_name"), "surname": (64, "surname"), "employeeId": (16, "employee_id")}


async def read_user(tenant: Tenant, user_id: str) -> dict[str, Any]:
    """The user as `user(id:)` (the loaders' plain SQL) and the users page (Core) both give it; they agree."""
    one = (await tenant.ok(ONE, {"id": user_id}))["user"]
    on_page = [e["node"] for e in (await tenant.ok(PAGE))["users"]["edges"] if e["node"]["id"] == user_id]
    assert on_page == [one]
    return one  # type: ignore[no-any-return]


async def audit_count(tenant: Tenant) -> int:
    return (await tenant.ok(AUDIT))["auditLog"]["totalCount"]  # type: ignore[no-any-return]


async def refused(tenant: Tenant, query: str, variables: dict[str, Any], field: str, *, contains: str = "") -> dict[str, Any]:
    body = await tenant.gql(query, variables)
    assert "errors" not in body, body["errors"]
    (payload,) = body["data"].values()
    assert payload["user"] is None
    (error,) = payload["errors"]
    assert (error["code"], error["field"]) == ("INVALID_INPUT", field), payload
    assert contains.lower() in error["message"].lower(), error["message"]
    return error  # type: ignore[no-any-return]


async def new_user(tenant: Tenant, local: str, **fields: Any) -> dict[str, Any]:
    payload = await tenant.mutate(
        "createUser", CREATE, {"i": {"userPrincipalName": f"{local}@{tenant.domain}", "displayName": local.title(), **fields}}
    )
    return payload["user"]  # type: ignore[no-any-return]


# ---------------------------------------------------------------------------- create and read


async def test_d31_create_user_stores_the_fields_trimmed_and_every_read_returns_them(tenant: Tenant) -> None:
    user = await new_user(tenant, "ada", givenName="  Ada ", surname="\tLovelace  ", employeeId=" E-0042 ")
    expected = {"givenName": "Ada", "surname": "Lovelace", "employeeId": "E-0042", "externalId": None}
    assert {k: user[k] for k in expected} == expected
    assert {k: v for k, v in (await read_user(tenant, user["id"])).items() if k in expected} == expected


async def test_d31_left_out_or_empty_the_fields_are_null(tenant: Tenant) -> None:
    plain = await new_user(tenant, "plain")
    empty = await new_user(tenant, "empty", givenName="", surname="   ", employeeId=None)
    for user in (plain, empty):
        stored = await read_user(tenant, user["id"])
        assert (stored["givenName"], stored["surname"], stored["employeeId"], stored["externalId"]) == (None,) * 4


async def test_d31_external_id_is_read_only_here_and_shown_as_stored(tenant: Tenant) -> None:
    user = await new_user(tenant, "scim")
    uid = from_global_id(user["id"]).uuid()
    async with tenant.api.database().write() as conn:
        await conn.execute(text("UPDATE users SET external_id = 'Ext-ID 7' WHERE tenant_id = :t AND id = :u"), {"t": tenant.id, "u": uid})
    assert (await read_user(tenant, user["id"]))["externalId"] == "Ext-ID 7"
    for query, variables in [
        (CREATE, {"i": {"userPrincipalName": f"x@{tenant.domain}", "displayName": "X", "externalId": "mine"}}),
        (UPDATE, {"i": {"userId": user["id"], "externalId": "mine"}}),
    ]:
        body = await tenant.gql(query, variables)
        assert body.get("data") is None and "externalId" in body["errors"][0]["message"], body
    assert (await read_user(tenant, user["id"]))["externalId"] == "Ext-ID 7"


# ---------------------------------------------------------------------------- update


async def test_d31_update_user_sets_trims_keeps_and_clears_each_field(tenant: Tenant) -> None:
    user = await new_user(tenant, "bea", givenName="Bea", surname="Baker", employeeId="7", department="Sales")
    uid = user["id"]
    changed = await tenant.mutate("updateUser", UPDATE, {"i": {"userId": uid, "givenName": " Beatrice ", "employeeId": " 0007 "}})
    assert (changed["user"]["givenName"], changed["user"]["surname"], changed["user"]["employeeId"]) == ("Beatrice", "Baker", "0007")
    stored = await read_user(tenant, uid)
    assert (stored["givenName"], stored["surname"], stored["employeeId"], stored["department"]) == ("Beatrice", "Baker", "0007", "Sales")
    # omitted fields stay; null and empty (after trimming) clear
    await tenant.mutate("updateUser", UPDATE, {"i": {"userId": uid, "givenName": None, "surname": "  ", "employeeId": ""}})
    stored = await read_user(tenant, uid)
    assert (stored["givenName"], stored["surname"], stored["employeeId"], stored["department"]) == (None, None, None, "Sales")
    assert stored["displayName"] == "Bea"


async def test_d31_update_user_audits_the_fields_it_changed(tenant: Tenant) -> None:
    user = await new_user(tenant, "cal")
    await tenant.mutate(
        "updateUser", UPDATE,
        {"i": {"userId": user["id"], "givenName": "Cal", "surname": "Carter", "employeeId": "C1", "mail": "cal@mail.example"}},
    )
    latest = (await tenant.ok(AUDIT))["auditLog"]["edges"][0]["node"]
    assert latest["action"] == "USER_UPDATED"
    for column in ("given_name", "surname", "employee_id", "mail"):
        assert column in latest["summary"], latest["summary"]
    async with tenant.api.database().read() as conn:
        details = (
            await conn.execute(
                text("SELECT details FROM audit_events WHERE tenant_id = :t AND action = 'USER_UPDATED' ORDER BY id DESC LIMIT 1"),
                {"t": tenant.id},
            )
        ).scalar_one()
    assert details["fields"] == ["employee_id", "given_name", "mail", "surname"]


async def test_d31_a_dry_run_update_shows_the_fields_and_stores_nothing(tenant: Tenant) -> None:
    user = await new_user(tenant, "dry", givenName="Dry")
    events = await audit_count(tenant)
    payload = await tenant.mutate("updateUser", UPDATE, {"i": {"userId": user["id"], "givenName": "Wet", "mail": "w@x.example", "dryRun": True}})
    assert (payload["user"]["givenName"], payload["user"]["mail"]) == ("Wet", "w@x.example")
    stored = await read_user(tenant, user["id"])
    assert (stored["givenName"], stored["mail"]) == ("Dry", None)
    assert await audit_count(tenant) == events


# ---------------------------------------------------------------------------- limits and NUL


@pytest.mark.parametrize("field", sorted(LIMITS))
async def test_d31_each_limit_holds_to_the_character(tenant: Tenant, field: str) -> None:
    limit, _ = LIMITS[field]
    at_limit, over = "é" * limit, "é" * (limit + 1)  # characters, not bytes
    created = await new_user(tenant, "limit", **{field: f"  {at_limit}  "})
    assert created[field] == at_limit
    other = await new_user(tenant, "other", **{field: "short"})
    assert (await tenant.mutate("updateUser", UPDATE, {"i": {"userId": other["id"], field: at_limit}}))["user"][field] == at_limit

    before = {created["id"]: await read_user(tenant, created["id"]), other["id"]: await read_user(tenant, other["id"])}
    events, users = await audit_count(tenant), len((await tenant.ok(PAGE))["users"]["edges"])
    error = await refused(
        tenant, CREATE, {"i": {"userPrincipalName": f"over@{tenant.domain}", "displayName": "Over", field: over}}, f"input.{field}",
        contains=f"limit is {limit}",
    )
    assert "shorten" in error["message"]
    await refused(tenant, UPDATE, {"i": {"userId": other["id"], field: over, "department": "Changed"}}, f"input.{field}",
                  contains=f"limit is {limit}")
    assert len((await tenant.ok(PAGE))["users"]["edges"]) == users
    assert {uid: await read_user(tenant, uid) for uid in before} == before
    assert await audit_count(tenant) == events


async def test_d31_a_nul_character_is_refused_naming_the_field(tenant: Tenant) -> None:
    user = await new_user(tenant, "nul", givenName="Nul", surname="Null", employeeId="N0")
    before, events = await read_user(tenant, user["id"]), await audit_count(tenant)
    for field in (*LIMITS, "mail"):
        value = "n\x00@mail.example" if field == "mail" else "A\x00B"
        await refused(tenant, UPDATE, {"i": {"userId": user["id"], field: value}}, f"input.{field}", contains="NUL")
        if field != "mail":
            await refused(
                tenant, CREATE, {"i": {"userPrincipalName": f"new@{tenant.domain}", "displayName": "New", field: value}},
                f"input.{field}", contains="remove it",
            )
    assert await read_user(tenant, user["id"]) == before
    assert await audit_count(tenant) == events
    assert len((await tenant.ok(PAGE))["users"]["edges"]) == 1


# ---------------------------------------------------------------------------- mail on update


async def test_d8_update_user_sets_validates_and_clears_mail(tenant: Tenant) -> None:
    user = await new_user(tenant, "mia", mail="mia@old.example")
    uid = user["id"]
    assert (await tenant.mutate("updateUser", UPDATE, {"i": {"userId": uid, "mail": "  mia@new.example "}}))["user"]["mail"] == "mia@new.example"
    assert (await read_user(tenant, uid))["mail"] == "mia@new.example"
    events = await audit_count(tenant)
    for bad in ("not-an-address", "two@@at.example", "mia@new example.com"):
        await refused(tenant, UPDATE, {"i": {"userId": uid, "mail": bad}}, "input.mail", contains="valid email")
    assert (await read_user(tenant, uid))["mail"] == "mia@new.example"
    assert await audit_count(tenant) == events
    await tenant.mutate("updateUser", UPDATE, {"i": {"userId": uid, "displayName": "Mia M"}})
    assert (await read_user(tenant, uid))["mail"] == "mia@new.example"  # left out: kept
    await tenant.mutate("updateUser", UPDATE, {"i": {"userId": uid, "mail": None}})
    assert (await read_user(tenant, uid))["mail"] is None
    await tenant.mutate("updateUser", UPDATE, {"i": {"userId": uid, "mail": "mia@new.example"}})
    await tenant.mutate("updateUser", UPDATE, {"i": {"userId": uid, "mail": "   "}})
    assert (await read_user(tenant, uid))["mail"] is None


# ---------------------------------------------------------------------------- roles (D22)


@pytest.mark.parametrize("field, value", [("givenName", "X"), ("surname", "Y"), ("employeeId", "1"), ("mail", "x@y.example")])
async def test_d22_a_license_administrator_may_not_change_the_new_fields(tenant: Tenant, field: str, value: str) -> None:
    user = await new_user(tenant, "lic")
    before = await read_user(tenant, user["id"])
    token = tenant.token(Role.LICENSE_ADMINISTRATOR)
    body = await tenant.gql(UPDATE, {"i": {"userId": user["id"], field: value}}, token=token)
    assert [(e.get("extensions") or {}).get("code") for e in body["errors"]] == ["FORBIDDEN"], body
    assert await read_user(tenant, user["id"]) == before
    moved = await tenant.ok(UPDATE, {"i": {"userId": user["id"], "usageLocation": "NO"}}, token=token)
    assert moved["updateUser"]["errors"] == []


# ---------------------------------------------------------------------------- the two read paths


async def test_the_plain_user_reads_carry_the_new_fields_like_the_core_ones(tenant: Tenant) -> None:
    full = await new_user(tenant, "full", givenName="Full", surname="Field", employeeId="F-1")
    bare = await new_user(tenant, "bare")
    ids = [from_global_id(u["id"]).uuid() for u in (full, bare)]
    db = tenant.api.database()
    async with db.write() as conn:
        await conn.execute(text("UPDATE users SET external_id = 'ext-1' WHERE tenant_id = :t AND id = :u"), {"t": tenant.id, "u": ids[0]})
    async with db.read() as conn:
        raw = (await conn.get_raw_connection()).driver_connection
        reader = Reader(raw, lambda: None)
        plain, core = await reads.users_by_ids(reader, tenant.id, ids), await directory.users_by_ids(conn, tenant.id, ids)
        assert plain == core
        page = await directory.users_page(conn, tenant.id, directory.UserFilterSpec(), first=10, after=None)
        assert {u.id: u for u in page.items} == core
    record = core[ids[0]]
    assert (record.given_name, record.surname, record.employee_id, record.external_id) == ("Full", "Field", "F-1", "ext-1")
    assert (core[ids[1]].given_name, core[ids[1]].external_id) == (None, None)
