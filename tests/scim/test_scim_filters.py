"""SCIM filters run in SQL (R29, D29): every operator, and/or/not, parentheses, attribute paths."""

from __future__ import annotations

from typing import Any

import pytest

from tests.scim.conftest import ENTERPRISE, USER_SCHEMA, Scim


@pytest.fixture
async def people(scim: Scim) -> dict[str, str]:
    rows = [
        ("alice@contoso.example", "Alice", "alice@contoso.example", "NO", True, "Sales", "E1"),
        ("bob@contoso.example", "Bob", "bob@fabrikam.example", "SE", False, "Support", "E2"),
        ("carol_x@contoso.example", "Carol 100%", None, None, True, None, None),
    ]
    ids = {}
    for upn, display, mail, country, active, department, number in rows:
        body: dict[str, Any] = {"schemas": [USER_SCHEMA, ENTERPRISE], "userName": upn, "displayName": display, "active": active}
        if mail:
            body["emails"] = [{"value": mail, "type": "work", "primary": True}]
        if country:
            body["addresses"] = [{"type": "work", "country": country}]
        if department or number:
            body[ENTERPRISE] = {"department": department, "employeeNumber": number}
        ids[display.split()[0].lower()] = (await scim.ok("POST", "/Users", body, 201))["id"]
    return ids


async def names(scim: Scim, expression: str) -> list[str]:
    found = await scim.ok("GET", "/Users", filter=expression)
    assert found["totalResults"] == len(found["Resources"])
    return sorted(r["displayName"].split()[0].lower() for r in found["Resources"])


@pytest.mark.parametrize(("expression", "expected"), [
    ('userName eq "ALICE@contoso.example"', ["alice"]),
    ('userName ne "alice@contoso.example"', ["bob", "carol"]),
    ('displayName co "o"', ["bob", "carol"]),
    ('userName sw "b"', ["bob"]),
    ('userName ew "contoso.example"', ["alice", "bob", "carol"]),
    ('displayName co "100%"', ["carol"]),  # % and _ are literal characters
    ('userName co "_"', ["carol"]),
    ('emails pr', ["alice", "bob"]),
    ('emails.value pr', ["alice", "bob"]),
    ('displayName gt "Alice"', ["bob", "carol"]),
    ('displayName ge "Bob"', ["bob", "carol"]),
    ('displayName lt "Bob"', ["alice"]),
    ('displayName le "Bob"', ["alice", "bob"]),
    ('active eq true', ["alice", "carol"]),
    ('active eq false', ["bob"]),
    ('active ne true', ["bob"]),
    ('not (active eq true)', ["bob"]),
    ('title pr', []),
    ('not (title pr)', ["alice", "bob", "carol"]),
    ('userName sw "a" or userName sw "b"', ["alice", "bob"]),
    ('(userName sw "a" or userName sw "b") and active eq true', ["alice"]),
    ('userName sw "a" or (userName sw "b" and active eq true)', ["alice"]),
    ('emails[type eq "work"].value eq "bob@fabrikam.example"', ["bob"]),  # D29 attribute-path form
    ('emails[type eq "work" and value eq "bob@fabrikam.example"]', ["bob"]),  # D29 value-path form
    ('emails[type eq "work" and value co "contoso"]', ["alice"]),
    ('emails[type eq "home"]', []),
    # a value path needs a value satisfying the inner filter: none for a user without one
    ('emails[not (type eq "work")]', []),
    ('emails[not (type eq "home")]', ["alice", "bob"]),
    ('emails[not (value eq "alice@contoso.example")]', ["bob"]),
    ('addresses[not (country eq "NO")]', ["bob"]),
    ('not (emails[type eq "work"])', ["carol"]),
    ('emails[not (type eq "home")].value ne "bob@fabrikam.example"', ["alice"]),
    ('addresses[type eq "work"].country eq "no"', ["alice"]),
    # the work entry is the user's one email or address, stored or not: `ne` matches a user without one
    ('emails[type eq "work"].value ne "bob@fabrikam.example"', ["alice", "carol"]),
    ('emails[type eq "Work"].value ne "other@fabrikam.example"', ["alice", "bob", "carol"]),
    ('addresses[type eq "work"].country ne "NO"', ["bob", "carol"]),
    ('emails[type eq "work"].value pr', ["alice", "bob"]),
    ('not (emails[type eq "work"].value pr)', ["carol"]),
    ('addresses.country ne "NO"', ["bob", "carol"]),
    (f'{ENTERPRISE}:department eq "sales"', ["alice"]),
    (f'{ENTERPRISE}:employeeNumber eq "E2"', ["bob"]),
    ('urn:ietf:params:scim:schemas:core:2.0:User:userName eq "bob@contoso.example"', ["bob"]),
    ('name.givenName pr', []),
    ('addresses pr', ["alice", "bob"]),
    ('not (emails pr)', ["carol"]),
    ('meta.created gt "2000-01-01T00:00:00Z"', ["alice", "bob", "carol"]),
    ('meta.lastModified lt "2000-01-01T00:00:00Z"', []),
])
async def test_operators_and_paths(scim: Scim, people: dict[str, str], expression: str, expected: list[str]) -> None:
    assert await names(scim, expression) == expected


async def test_filter_by_id_and_external_id(scim: Scim, people: dict[str, str]) -> None:
    assert await names(scim, f'id eq "{people["bob"]}"') == ["bob"]


@pytest.mark.parametrize("expression", [
    'userName eq',
    'userName zz "a"',
    'nosuch eq "x"',
    'userName eq "a" and',
    'active eq "yes"',
    'meta.created gt "yesterday"',
    'urn:example:other:thing eq "x"',
    '((userName eq "a")',
])
async def test_invalid_filters(scim: Scim, expression: str) -> None:
    await scim.error("GET", "/Users", None, 400, "invalidFilter", filter=expression)


async def test_group_filters(scim: Scim, people: dict[str, str]) -> None:
    sales = await scim.create_group("Sales Team", [people["alice"], people["bob"]], externalId="Ext-Sales")
    await scim.create_group("Support Team", [people["bob"]])
    async def groups(expression: str) -> list[str]:
        found = await scim.ok("GET", "/Groups", filter=expression, excludedAttributes="members")
        return sorted(r["displayName"] for r in found["Resources"])
    assert await groups('displayName eq "sales team"') == ["Sales Team"]  # D28: ignoring case
    assert await groups('externalId eq "Ext-Sales"') == ["Sales Team"]
    assert await groups('externalId eq "ext-sales"') == []  # case-exact
    assert await groups(f'members[value eq "{people["bob"]}"]') == ["Sales Team", "Support Team"]
    assert await groups(f'members[value eq "{people["alice"]}"]') == ["Sales Team"]
    assert await groups(f'members.value eq "{people["alice"].upper()}"') == ["Sales Team"]
    assert await groups(f'displayName sw "S" and not (members[value eq "{people["alice"]}"])') == ["Support Team"]
    # a value filter is about one member: some member other than alice (both groups have bob),
    # some member other than bob (only Sales has alice); one member both alice and a User
    assert await groups(f'members[not (value eq "{people["alice"]}")]') == ["Sales Team", "Support Team"]
    assert await groups(f'members[not (value eq "{people["bob"]}")]') == ["Sales Team"]
    assert await groups(f'members[value eq "{people["alice"]}" and type eq "User"]') == ["Sales Team"]
    assert await groups(f'members[value eq "{people["alice"]}" and type eq "Group"]') == []
    assert await groups(f'id eq "{sales["id"]}"') == ["Sales Team"]
    await scim.create_group("Empty")
    assert await groups("members pr") == ["Sales Team", "Support Team"]
    assert await groups('members.type eq "User"') == ["Sales Team", "Support Team"]
    await scim.error("GET", "/Groups", None, 400, "invalidFilter", filter='userName eq "x"')


async def test_comparison_values_are_json_strings(scim: Scim) -> None:
    """RFC 7644 §3.4.2.2: `\\"` and `\\\\` escapes work, a bad escape is refused, and a quoted
    "null" is the text null while a bare null is null."""
    for name, title in (('q"uote', "null"), ("back\\slash", None), ("plain", "Boss")):
        await scim.create_user(name, **({"title": title} if title else {}))
    assert [u["userName"] for u in (await scim.ok("GET", "/Users", filter=r'userName eq "q\"uote"'))["Resources"]] == ['q"uote']
    assert [u["userName"] for u in (await scim.ok("GET", "/Users", filter=r'userName eq "back\\slash"'))["Resources"]] == ["back\\slash"]
    assert [u["userName"] for u in (await scim.ok("GET", "/Users", filter=r'userName eq "\u0070lain"'))["Resources"]] == ["plain"]
    await scim.error("GET", "/Users", None, 400, "invalidFilter", filter=r'userName eq "back\slash"')
    assert [u["userName"] for u in (await scim.ok("GET", "/Users", filter='title eq "null"'))["Resources"]] == ['q"uote']
    assert sorted(u["userName"] for u in (await scim.ok("GET", "/Users", filter="title eq null"))["Resources"]) == ["back\\slash"]
    await scim.create_group('Team "A"')
    assert (await scim.ok("GET", "/Groups", filter=r'displayName eq "team \"a\""'))["totalResults"] == 1


@pytest.mark.parametrize("resource", ["/Users", "/Groups"])
async def test_huge_start_index_is_an_empty_page_and_nul_in_a_filter_is_invalid(scim: Scim, resource: str) -> None:
    await scim.create_user("paged")
    await scim.create_group("Paged")
    for start in ("99999999999999999999", str(2**63 - 1), str(2**63)):
        page = await scim.ok("GET", resource, startIndex=start)
        assert page["Resources"] == [] and page["totalResults"] == 1, page
    attribute = "userName" if resource == "/Users" else "displayName"
    for value in ('"a\\u0000b"', '"a\x00b"'):
        await scim.error("GET", resource, None, 400, "invalidFilter", filter=f"{attribute} eq {value}")
    await scim.error("GET", resource, None, 400, "invalidFilter", filter='externalId eq "x\\u0000"')
