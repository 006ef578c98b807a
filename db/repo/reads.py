"""The hot statements of the read path, as plain SQL on the request snapshot's own asyncpg
connection (`Reader`): no SQL building and no result adaption per call, and asyncpg prepares
each statement once per connection. The same rows as their Core counterparts in
`db.repo.directory`, `db.repo.licensing` and `db.repo.subscriptions` (a test compares them).
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from json.encoder import encode_basestring_ascii
from typing import Any, NamedTuple

from db.availability import is_database_unavailable
from db.records import GroupRecord, OidcTrust, SubscriptionRecord, TenantRecord, UserRecord
from db.repo.paging import BAD_CURSOR, BadCursor, Page, decode_cursor, text_key

_USER = "u.id, u.user_principal_name, u.display_name, u.mail, u.user_type, u.usage_location, u.account_enabled, " \
        "u.department, u.job_title, u.created_at, u.created_seq, u.given_name, u.surname, u.employee_id, u.external_id"
_USER_WIDTH = 15  # the columns of _USER, in UserRecord's order
_GROUP = "g.id, g.display_name, g.description, g.security_enabled, g.created_at, g.membership_rule"


class Reader:
    """A read snapshot's asyncpg connection, counting its statements (the tests assert how many
    a query runs)."""

    def __init__(self, connection: Any, counted: Callable[[], None]) -> None:
        self.connection = connection
        self._counted = counted
        self.lost = False  # the server went away under it: the pool must not keep this connection

    async def fetch(self, sql: str, *args: Any) -> list[Any]:
        self._counted()
        try:
            return await self.connection.fetch(sql, *args)  # type: ignore[no-any-return]
        except Exception as exc:
            self.lost = self.lost or is_database_unavailable(exc)
            raise

    async def fetchrow(self, sql: str, *args: Any) -> Any:
        rows = await self.fetch(sql, *args)
        return rows[0] if rows else None


def _user(r: Any, at: int = 0) -> UserRecord:
    return UserRecord(*(r[i] for i in range(at, at + _USER_WIDTH)))


def _group(r: Any, at: int = 0) -> GroupRecord:
    return GroupRecord(*(r[i] for i in range(at, at + 6)))


# the tenant ($1) and the user its token's sub names (UPN lowered $2, or id $3)
_CALLER_FROM = """
FROM tenants t
LEFT JOIN LATERAL (
    SELECT * FROM users u
    WHERE u.tenant_id = t.id AND (lower(u.user_principal_name) COLLATE "C" = $2 OR u.id = $3)
    LIMIT 1
) u ON true
WHERE t.id = $1
"""
CALLER = f"SELECT t.id, t.display_name, t.domain, t.default_usage_location, {_USER}{_CALLER_FROM}"


async def caller(
    reader: Reader, tenant_id: str, sub: str, user_id: uuid.UUID | None
) -> tuple[TenantRecord, UserRecord | None] | None:
    """A token's tenant and the user its `sub` names (UPN, case-insensitive, or id; D5), in one
    statement; None when there is no such tenant."""
    if "\x00" in tenant_id:  # text cannot hold NUL: no tenant has such an id
        return None
    row = await reader.fetchrow(CALLER, tenant_id, None if "\x00" in sub else sub.lower(), user_id)
    if row is None:
        return None
    return TenantRecord(row[0], row[1], row[2], row[3]), (_user(row, 4) if row[4] is not None else None)


_SUBSCRIPTION = (
    "s.id, s.product_id, s.quantity, s.is_trial, s.is_self_service, s.purchased_by, s.starts_at, s.term_starts_at, "
    "s.term_ends_at, s.recurring_billing, s.cancelled_at"
)
CALLER_AND_POOL = f"""
SELECT t.id, t.display_name, t.domain, t.default_usage_location, {_USER},
       (SELECT array_agg(ROW({_SUBSCRIPTION}) ORDER BY s.created_seq) FROM subscriptions s WHERE s.tenant_id = t.id),
       (SELECT array_agg(ROW(p.product_id, p.consumed)) FROM product_pools p WHERE p.tenant_id = t.id){_CALLER_FROM}"""


async def caller_and_pool(
    reader: Reader, tenant_id: str, sub: str, user_id: uuid.UUID | None
) -> tuple[TenantRecord, UserRecord | None, list[SubscriptionRecord], dict[uuid.UUID, int]] | None:
    """`caller` and `tenant_pool` in one statement (a request that reads the tenant's pool: the
    Licenses page)."""
    if "\x00" in tenant_id:
        return None
    row = await reader.fetchrow(CALLER_AND_POOL, tenant_id, None if "\x00" in sub else sub.lower(), user_id)
    if row is None:
        return None
    at = 4 + _USER_WIDTH
    subs = [SubscriptionRecord(*s) for s in row[at] or ()]
    consumed = {p[0]: int(p[1]) for p in row[at + 1] or ()}
    user = _user(row, 4) if row[4] is not None else None
    return TenantRecord(row[0], row[1], row[2], row[3]), user, subs, consumed


OIDC_CALLER = f"""
SELECT t.id, t.display_name, t.domain, t.default_usage_location, t.oidc_issuer, t.oidc_audience, t.oidc_roles_claim,
       {_USER}
FROM tenants t
LEFT JOIN LATERAL (
    SELECT u.* FROM unnest($2::text[]) WITH ORDINALITY AS n(upn, place)
    JOIN users u ON u.tenant_id = t.id AND lower(u.user_principal_name) COLLATE "C" = n.upn
    ORDER BY n.place
    LIMIT 1
) u ON true
WHERE t.oidc_issuer = $1
"""


async def oidc_caller(
    reader: Reader, issuer: str, upns: Sequence[str]
) -> tuple[TenantRecord, OidcTrust, UserRecord | None] | None:
    """The tenant that trusts `issuer` (R31), its trust settings, and the first of `upns` (in
    order; case-insensitive) that is one of its users (D5), in one statement; None when no
    tenant trusts the issuer."""
    if "\x00" in issuer:
        return None
    names = [n.lower() for n in upns if "\x00" not in n]
    row = await reader.fetchrow(OIDC_CALLER, issuer, names)
    if row is None:
        return None
    tenant = TenantRecord(row[0], row[1], row[2], row[3])
    return tenant, OidcTrust(row[4], row[5], row[6]), (_user(row, 7) if row[7] is not None else None)


_USER_SORT = 'lower(u.display_name) COLLATE "C"'
USERS_PAGE = f"SELECT {_USER}, {_USER_SORT} FROM users u WHERE u.tenant_id = $1 ORDER BY {_USER_SORT}, u.id LIMIT $2"
USERS_PAGE_AFTER = (
    f"SELECT {_USER}, {_USER_SORT} FROM users u WHERE u.tenant_id = $1 AND ({_USER_SORT}, u.id) > ($3::text, $4::uuid) "
    f"ORDER BY {_USER_SORT}, u.id LIMIT $2"
)


def text_pair_cursor(first: str, second: str) -> str:
    """`paging.encode_cursor((first, second))` for two strings — the same text, without the JSON
    encoder's machinery (a page has a cursor per row)."""
    text = f"[{encode_basestring_ascii(first)}, {encode_basestring_ascii(second)}]"
    return base64.urlsafe_b64encode(text.encode()).decode()


def _users_after(after: str) -> tuple[str, uuid.UUID]:
    """The (sort key, user id) a users-page cursor holds; `BadCursor` for one this API never returned."""
    values = decode_cursor(after, 2)
    try:
        return text_key(values[0]), uuid.UUID(text_key(values[1]))
    except (TypeError, ValueError, AttributeError) as exc:
        raise BadCursor(BAD_CURSOR) from exc


def _users_page(rows: Sequence[Any], first: int, after: str | None) -> Page[UserRecord]:
    """The page of users `rows` (fetched with `first + 1` as the limit) make, with their cursors."""
    kept = rows[:first]
    return Page(
        items=[_user(r) for r in kept],
        cursors=[text_pair_cursor(r[_USER_WIDTH], str(r[0])) for r in kept],
        has_next=len(rows) > first,
        has_previous=after is not None,
    )


async def users_page(reader: Reader, tenant_id: str, *, first: int, after: str | None) -> Page[UserRecord]:
    """A page of all the tenant's users by display name, as `directory.users_page` with no filter
    (the same rows, cursors and refusal of a cursor this API never returned)."""
    if after is None:
        rows = await reader.fetch(USERS_PAGE, tenant_id, first + 1)
    else:
        sort, user_id = _users_after(after)
        rows = await reader.fetch(USERS_PAGE_AFTER, tenant_id, first + 1, sort, user_id)
    return _users_page(rows, first, after)


USERS_BY_IDS = f"SELECT {_USER} FROM users u WHERE u.tenant_id = $1 AND u.id = ANY($2::uuid[])"
GROUPS_BY_IDS = f"SELECT {_GROUP} FROM groups g WHERE g.tenant_id = $1 AND g.id = ANY($2::uuid[])"


async def users_by_ids(reader: Reader, tenant_id: str, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, UserRecord]:
    if not ids:
        return {}
    return {r[0]: _user(r) for r in await reader.fetch(USERS_BY_IDS, tenant_id, list(set(ids)))}


async def groups_by_ids(reader: Reader, tenant_id: str, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, GroupRecord]:
    if not ids:
        return {}
    return {r[0]: _group(r) for r in await reader.fetch(GROUPS_BY_IDS, tenant_id, list(set(ids)))}


FIRST_GROUPS = f"""
SELECT u.uid, {_GROUP}
FROM unnest($2::uuid[]) AS u(uid)
CROSS JOIN LATERAL (
    SELECT gr.* FROM group_user_members m
    JOIN groups gr ON gr.tenant_id = m.tenant_id AND gr.id = m.group_id
    WHERE m.tenant_id = $1 AND m.user_id = u.uid
    ORDER BY lower(gr.display_name) COLLATE "C", gr.id
    LIMIT $3
) g
"""


async def first_groups_of_users(
    reader: Reader, tenant_id: str, user_ids: Sequence[uuid.UUID], limit: int
) -> dict[uuid.UUID, list[GroupRecord]]:
    """The first `limit` direct groups (by display name) of each user, in one statement."""
    result: dict[uuid.UUID, list[GroupRecord]] = {u: [] for u in user_ids}
    if user_ids:
        for r in await reader.fetch(FIRST_GROUPS, tenant_id, list(user_ids), limit):
            result[r[0]].append(_group(r, 1))
    return result


# A group's direct members as `Group.members` pages them (db.repo.directory.direct_members_page:
# groups first, then users, each by lower-cased display name, then id), the first `limit` of
# each of many groups in one statement; and their counts.
FIRST_MEMBERS = """
SELECT g.gid, m.kind, m.sort, m.id
FROM unnest($2::uuid[]) AS g(gid)
CROSS JOIN LATERAL (
    SELECT x.kind, x.sort, x.id FROM (
        SELECT 0 AS kind, lower(gr.display_name) COLLATE "C" AS sort, gr.id
        FROM group_group_members e JOIN groups gr ON gr.tenant_id = e.tenant_id AND gr.id = e.member_group_id
        WHERE e.tenant_id = $1 AND e.group_id = g.gid
        UNION ALL
        SELECT 1, lower(u.display_name) COLLATE "C", u.id
        FROM group_user_members m JOIN users u ON u.tenant_id = m.tenant_id AND u.id = m.user_id
        WHERE m.tenant_id = $1 AND m.group_id = g.gid
    ) x
    ORDER BY x.kind, x.sort, x.id
    LIMIT $3
) m
"""
MEMBER_COUNTS = """
SELECT g.gid,
       (SELECT count(*) FROM group_group_members e JOIN groups gr ON gr.tenant_id = e.tenant_id AND gr.id = e.member_group_id
        WHERE e.tenant_id = $1 AND e.group_id = g.gid)
     + (SELECT count(*) FROM group_user_members m JOIN users u ON u.tenant_id = m.tenant_id AND u.id = m.user_id
        WHERE m.tenant_id = $1 AND m.group_id = g.gid)
FROM unnest($2::uuid[]) AS g(gid)
"""


async def first_members_of_groups(
    reader: Reader, tenant_id: str, group_ids: Sequence[uuid.UUID], limit: int
) -> dict[uuid.UUID, list[tuple[int, str, uuid.UUID]]]:
    """The first `limit` direct members (kind 0 a group, 1 a user; sort key; id) of each group."""
    result: dict[uuid.UUID, list[tuple[int, str, uuid.UUID]]] = {g: [] for g in group_ids}
    if group_ids:
        for r in await reader.fetch(FIRST_MEMBERS, tenant_id, list(group_ids), limit):
            result[r[0]].append((int(r[1]), r[2], r[3]))
    return result


async def direct_member_counts_of_groups(reader: Reader, tenant_id: str, group_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, int]:
    if not group_ids:
        return {}
    return {r[0]: int(r[1]) for r in await reader.fetch(MEMBER_COUNTS, tenant_id, list(group_ids))}


GROUP_COUNTS = """
SELECT user_id, count(*) FROM group_user_members WHERE tenant_id = $1 AND user_id = ANY($2::uuid[]) GROUP BY user_id
"""


async def direct_group_counts_of_users(reader: Reader, tenant_id: str, user_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, int]:
    counts = {u: 0 for u in user_ids}
    counts.update({r[0]: int(r[1]) for r in await reader.fetch(GROUP_COUNTS, tenant_id, list(user_ids))})
    return counts


class PathRow(NamedTuple):
    user_id: uuid.UUID
    product_id: uuid.UUID
    group_id: uuid.UUID
    disabled_plan_ids: list[uuid.UUID] | None
    state: str
    error_code: str | None
    error_message: str | None
    updated_at: datetime
    queue_seq: int


PATHS = """
SELECT user_id, product_id, group_id, disabled_plan_ids, state, error_code, error_message, updated_at, queue_seq
FROM license_paths WHERE tenant_id = $1 AND user_id = ANY($2::uuid[])
"""
SEATS = "SELECT user_id, product_id FROM user_licenses WHERE tenant_id = $1 AND user_id = ANY($2::uuid[]) AND holds_seat"


async def paths_of_users(reader: Reader, tenant_id: str, user_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[PathRow]]:
    """Every path of these users (one statement, for the DataLoader)."""
    result: dict[uuid.UUID, list[PathRow]] = {u: [] for u in user_ids}
    for r in await reader.fetch(PATHS, tenant_id, list(user_ids)):
        result[r[0]].append(PathRow(*r))
    return result


async def seats_of_users(reader: Reader, tenant_id: str, user_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, set[uuid.UUID]]:
    """Products for which each user holds a seat."""
    result: dict[uuid.UUID, set[uuid.UUID]] = {u: set() for u in user_ids}
    for r in await reader.fetch(SEATS, tenant_id, list(user_ids)):
        result[r[0]].add(r[1])
    return result


PATHS_AND_SEATS = """
SELECT false, user_id, product_id, group_id, disabled_plan_ids, state, error_code, error_message, updated_at, queue_seq
FROM license_paths WHERE tenant_id = $1 AND user_id = ANY($2::uuid[])
UNION ALL
SELECT true, user_id, product_id, NULL, NULL, NULL, NULL, NULL, NULL, NULL
FROM user_licenses WHERE tenant_id = $1 AND user_id = ANY($2::uuid[]) AND holds_seat
"""


async def paths_and_seats_of_users(
    reader: Reader, tenant_id: str, user_ids: Sequence[uuid.UUID]
) -> tuple[dict[uuid.UUID, list[PathRow]], dict[uuid.UUID, set[uuid.UUID]]]:
    """`paths_of_users` and `seats_of_users` in one statement (a users page's licenses)."""
    paths: dict[uuid.UUID, list[PathRow]] = {u: [] for u in user_ids}
    seats: dict[uuid.UUID, set[uuid.UUID]] = {u: set() for u in user_ids}
    for r in await reader.fetch(PATHS_AND_SEATS, tenant_id, list(user_ids)):
        if r[0]:
            seats[r[1]].add(r[2])
        else:
            paths[r[1]].append(PathRow(*tuple(r)[1:]))
    return paths, seats


async def tenant_pool(reader: Reader, tenant_id: str) -> tuple[list[SubscriptionRecord], dict[uuid.UUID, int]]:
    """The tenant's subscriptions (in purchase order) and every pool's seat counter, in one statement."""
    rows = await reader.fetch(POOL_IN_ORDER, tenant_id)
    subs = [SubscriptionRecord(*tuple(r)[:11]) for r in rows if r[0] is not None]
    consumed = {r[1]: int(r[11]) for r in rows if r[0] is None}
    return subs, consumed


POOL_IN_ORDER = """
SELECT * FROM (
    SELECT s.id, s.product_id, s.quantity, s.is_trial, s.is_self_service, s.purchased_by, s.starts_at, s.term_starts_at,
           s.term_ends_at, s.recurring_billing, s.cancelled_at, NULL::int AS consumed, s.created_seq AS position
    FROM subscriptions s WHERE s.tenant_id = $1
    UNION ALL
    SELECT NULL, p.product_id, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, p.consumed, NULL
    FROM product_pools p WHERE p.tenant_id = $1
) pool ORDER BY position
"""


class UsersPageWith(NamedTuple):
    """A users page and what its nodes will ask for, read in one statement (`users_page_with`)."""

    page: Page[UserRecord]
    paths: dict[uuid.UUID, list[PathRow]] | None  # None: not read
    seats: dict[uuid.UUID, set[uuid.UUID]] | None
    first_groups: dict[uuid.UUID, list[GroupRecord]] | None


_PAGE_PATHS = """(SELECT array_agg(ROW(p.product_id, p.group_id, p.disabled_plan_ids, p.state, p.error_code, p.error_message,
                             p.updated_at, p.queue_seq))
        FROM license_paths p WHERE p.tenant_id = $1 AND p.user_id = u.id)"""
_PAGE_SEATS = "(SELECT array_agg(l.product_id) FROM user_licenses l WHERE l.tenant_id = $1 AND l.user_id = u.id AND l.holds_seat)"
# $3 is the groups' limit, $4/$5 the cursor's key (the numbers do not depend on which parts are read)
_PAGE_GROUPS = """(SELECT array_agg(ROW(g.id, g.display_name, g.description, g.security_enabled, g.created_at, g.membership_rule)
                ORDER BY lower(g.display_name) COLLATE "C", g.id)
        FROM (SELECT gr.* FROM group_user_members m
              JOIN groups gr ON gr.tenant_id = m.tenant_id AND gr.id = m.group_id
              WHERE m.tenant_id = $1 AND m.user_id = u.id
              ORDER BY lower(gr.display_name) COLLATE "C", gr.id
              LIMIT $3) g)"""


def _users_page_with_sql(licenses: bool, groups: bool, after: bool) -> str:
    parts = [_PAGE_PATHS, _PAGE_SEATS] if licenses else []
    if groups:
        parts.append(_PAGE_GROUPS)
    else:
        parts.append("$3::int")  # keeps $3 typed and used
    keyset = f" AND ({_USER_SORT}, u.id) > ($4::text, $5::uuid)" if after else ""
    return (
        f"SELECT {_USER}, u.sort, {', '.join(parts)}\n"
        f"FROM (SELECT u.*, {_USER_SORT} AS sort FROM users u WHERE u.tenant_id = $1{keyset} "
        f"ORDER BY {_USER_SORT}, u.id LIMIT $2) u\nORDER BY u.sort, u.id"
    )


USERS_PAGE_WITH = {
    (licenses, groups, after): _users_page_with_sql(licenses, groups, after)
    for licenses in (False, True) for groups in (False, True) for after in (False, True)
}


async def users_page_with(
    reader: Reader, tenant_id: str, *, first: int, after: str | None, licenses: bool, groups_limit: int | None
) -> UsersPageWith:
    """`users_page`, with — for the page's users, in the same statement — their paths and seats
    (`paths_and_seats_of_users`) when `licenses`, and their first `groups_limit` direct groups
    (`first_groups_of_users`) when that is given."""
    groups = groups_limit is not None
    sql = USERS_PAGE_WITH[(licenses, groups, after is not None)]
    limit = groups_limit if groups_limit is not None else 0
    if after is None:
        rows = await reader.fetch(sql, tenant_id, first + 1, limit)
    else:
        sort, user_id = _users_after(after)
        rows = await reader.fetch(sql, tenant_id, first + 1, limit, sort, user_id)
    page = _users_page(rows, first, after)
    rows = rows[:first]
    at = _USER_WIDTH + 1
    paths: dict[uuid.UUID, list[PathRow]] | None = None
    seats: dict[uuid.UUID, set[uuid.UUID]] | None = None
    first_groups: dict[uuid.UUID, list[GroupRecord]] | None = None
    if licenses:
        paths = {r[0]: [PathRow(r[0], *p) for p in r[at] or ()] for r in rows}
        seats = {r[0]: set(r[at + 1] or ()) for r in rows}
        at += 2
    if groups:
        first_groups = {r[0]: [GroupRecord(*g) for g in r[at] or ()] for r in rows}
    return UsersPageWith(page, paths, seats, first_groups)
