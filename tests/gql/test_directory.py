"""Users, guests, groups and memberships through the API (SPEC §1, R10, R17, D3, D10, D12, D17, D19)."""

from __future__ import annotations

from tests.support import Tenant

USERS = """
query($f: UserFilter, $first: Int, $after: String) {
  users(filter: $f, first: $first, after: $after) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { node { id displayName userPrincipalName userType usageLocation } }
  }
}"""

GROUP = """
query($id: ID!) {
  group(id: $id) {
    displayName
    members { totalCount edges { node { __typename ... on User { displayName } ... on Group { displayName } } } }
    transitiveMembers { totalCount edges { node { displayName } } }
  }
}"""


async def test_typeahead_search_matches_prefixes_of_name_words_upn_and_mail(tenant: Tenant) -> None:
    await tenant.create_user("Megan Bowen")
    await tenant.create_user("Alex Wilber", mail="awilber@mail.example")
    await tenant.create_user("Lee Gu")

    async def names(term: str) -> list[str]:
        data = await tenant.ok(USERS, {"f": {"search": term}})
        return [e["node"]["displayName"] for e in data["users"]["edges"]]

    assert await names("meg") == ["Megan Bowen"]
    assert await names("BOW") == ["Megan Bowen"]  # any word of the display name, any case
    assert await names("awil") == ["Alex Wilber"]  # mail
    assert await names("lee.") == ["Lee Gu"]  # UPN
    assert await names("zzz") == []
    assert await names("%") == []  # LIKE wildcards are literal


async def test_users_are_ordered_by_name_and_paged_with_cursors(tenant: Tenant) -> None:
    for name in ["delta", "Alpha", "charlie", "Bravo", "echo"]:
        await tenant.create_user(name)
    first = await tenant.ok(USERS, {"first": 2})
    assert [e["node"]["displayName"] for e in first["users"]["edges"]] == ["Alpha", "Bravo"]
    assert first["users"]["totalCount"] == 5
    assert first["users"]["pageInfo"]["hasNextPage"] is True
    rest = await tenant.ok(USERS, {"first": 10, "after": first["users"]["pageInfo"]["endCursor"]})
    assert [e["node"]["displayName"] for e in rest["users"]["edges"]] == ["charlie", "delta", "echo"]
    assert rest["users"]["pageInfo"]["hasNextPage"] is False


async def test_first_over_100_is_a_top_level_error(tenant: Tenant) -> None:
    body = await tenant.gql(USERS, {"first": 101})
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    body = await tenant.gql(USERS, {"first": -1})
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


INVITE = """
mutation($i: InviteGuestInput!) {
  inviteGuest(input: $i) { user { id userPrincipalName userType mail usageLocation } errors { code field message } }
}"""


async def test_r17_guests_get_an_ext_upn_and_can_be_filtered(tenant: Tenant) -> None:
    await tenant.create_user("Member One")
    payload = await tenant.mutate("inviteGuest", INVITE, {"i": {"email": "ada@partner.example", "displayName": "Ada", "usageLocation": "no"}})
    user = payload["user"]
    assert user["userPrincipalName"] == f"ada_partner.example#EXT#@{tenant.domain}"
    assert user["userType"] == "GUEST"
    assert user["usageLocation"] == "NO"
    data = await tenant.ok(USERS, {"f": {"userType": "GUEST"}})
    assert [e["node"]["id"] for e in data["users"]["edges"]] == [user["id"]]
    again = (await tenant.ok(INVITE, {"i": {"email": "ada@partner.example", "displayName": "Ada"}}))["inviteGuest"]
    assert again["errors"][0]["code"] == "ALREADY_EXISTS"


async def test_r10_nested_groups_reach_every_user_and_cycles_terminate(tenant: Tenant) -> None:
    ann = await tenant.create_user("Ann")
    bob = await tenant.create_user("Bob")
    cid = await tenant.create_user("Cid")
    inner = await tenant.create_group("Inner", [cid])
    middle = await tenant.create_group("Middle", [bob, inner])
    outer = await tenant.create_group("Outer", [ann, middle])
    # a cycle: Inner contains Outer
    await tenant.mutate(
        "addGroupMembers",
        "mutation($i: GroupMembersInput!) { addGroupMembers(input: $i) { group { id } errors { code message } } }",
        {"i": {"groupId": inner, "memberIds": [outer]}},
    )
    data = await tenant.ok(GROUP, {"id": outer})
    group = data["group"]
    assert [(e["node"]["__typename"], e["node"]["displayName"]) for e in group["members"]["edges"]] == [
        ("Group", "Middle"),
        ("User", "Ann"),
    ]
    assert group["members"]["totalCount"] == 2
    assert [e["node"]["displayName"] for e in group["transitiveMembers"]["edges"]] == ["Ann", "Bob", "Cid"]
    assert group["transitiveMembers"]["totalCount"] == 3
    member_of = await tenant.ok(
        "query($id: ID!) { user(id: $id) { direct: memberOf { totalCount } all: memberOf(transitive: true) { edges { node { displayName } } } } }",
        {"id": cid},
    )
    assert member_of["user"]["direct"]["totalCount"] == 1
    assert [e["node"]["displayName"] for e in member_of["user"]["all"]["edges"]] == ["Inner", "Middle", "Outer"]
    data = await tenant.ok(USERS, {"f": {"memberOfGroupId": middle}})
    assert sorted(e["node"]["displayName"] for e in data["users"]["edges"]) == ["Ann", "Bob", "Cid"]


async def test_d17_adding_a_group_to_itself_is_invalid_and_changes_nothing(tenant: Tenant) -> None:
    group = await tenant.create_group("Solo")
    data = await tenant.ok(
        "mutation($i: GroupMembersInput!) { addGroupMembers(input: $i) { group { id } errors { code field } } }",
        {"i": {"groupId": group, "memberIds": [group]}},
    )
    assert data["addGroupMembers"]["errors"] == [{"code": "INVALID_INPUT", "field": "input.memberIds.0"}]
    after = await tenant.ok(GROUP, {"id": group})
    assert after["group"]["members"]["totalCount"] == 0


async def test_deleting_a_user_or_a_group_deletes_its_memberships(tenant: Tenant) -> None:
    """Memberships have no foreign keys (migration 0012): the deletions remove them, and a user
    re-created under the same name is in no group."""
    from sqlalchemy import text

    from services.ids import from_global_id

    ann = await tenant.create_user("Ann")
    bob = await tenant.create_user("Bob")
    staff = await tenant.create_group("Staff", [ann, bob])
    other = await tenant.create_group("Other", [ann, bob])

    async def rows() -> set[tuple[str, str]]:
        async with tenant.api.database().read() as conn:
            found = await conn.execute(
                text("SELECT group_id, user_id FROM group_user_members WHERE tenant_id = :t"), {"t": tenant.id}
            )
            return {(str(r.group_id), str(r.user_id)) for r in found}

    def key(group: str, user: str) -> tuple[str, str]:
        return (from_global_id(group).key, from_global_id(user).key)

    assert await rows() == {key(g, u) for g in (staff, other) for u in (ann, bob)}
    gone = await tenant.ok("mutation($i: DeleteUserInput!) { deleteUser(input: $i) { errors { code } } }", {"i": {"userId": ann}})
    assert gone["deleteUser"]["errors"] == []
    assert await rows() == {key(staff, bob), key(other, bob)}
    gone = await tenant.ok("mutation($i: DeleteGroupInput!) { deleteGroup(input: $i) { errors { code } } }", {"i": {"groupId": other}})
    assert gone["deleteGroup"]["errors"] == []
    assert await rows() == {key(staff, bob)}
    again = await tenant.create_user("Ann")
    member_of = "query($id: ID!) { user(id: $id) { memberOf(first: 10) { edges { node { id } } } } }"
    assert (await tenant.ok(member_of, {"id": again}))["user"]["memberOf"]["edges"] == []
    assert (await tenant.ok(member_of, {"id": bob}))["user"]["memberOf"]["edges"] == [{"node": {"id": staff}}]
