"""Dynamic groups in SQL (R22–R24): the tenant's rules, who matches one, and their memberships.

A rule is evaluated here for a whole tenant with `membership_rule_sql.predicate` (the same tree
`engine.membership_rules` evaluates for a handful of users), always in user creation order, so
ties between users who start to match in one change go by creation order (D24). Each statement
that evaluates a rule runs under the rule timeout (D32): its regular expressions are bounded,
the tenant is not.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager

from sqlalchemy import Boolean, ColumnElement, Text, column, func, literal, select, text, values
from sqlalchemy.dialects.postgresql import UUID as PG_UUID
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import FromClause

from db.models import Group, GroupUserMember, User
from db.repo.membership_rule_sql import predicate
from db.sql import any_uuid
from engine.membership_rules import PROPERTIES, Rule

U = User.__table__
G = Group.__table__
GUM = GroupUserMember.__table__


@asynccontextmanager
async def rule_timeout(conn: AsyncConnection, timeout_ms: int) -> AsyncIterator[None]:
    """Statements inside run under `timeout_ms` (SQLSTATE 57014 when it passes); the transaction's
    own timeout is restored afterwards."""
    before = (await conn.execute(text("SELECT current_setting('statement_timeout')"))).scalar_one()
    await conn.execute(text("SELECT set_config('statement_timeout', :v, true)"), {"v": f"{int(timeout_ms)}ms"})
    try:
        yield
    finally:
        await conn.execute(text("SELECT set_config('statement_timeout', :v, true)"), {"v": before})


async def rules(conn: AsyncConnection, tenant_id: str) -> dict[uuid.UUID, str]:
    """Every dynamic group of the tenant and its rule."""
    rows = await conn.execute(
        select(G.c.id, G.c.membership_rule).where(G.c.tenant_id == tenant_id, G.c.membership_rule.is_not(None))
    )
    return {r.id: r.membership_rule for r in rows}


async def dynamic_memberships(
    conn: AsyncConnection, tenant_id: str, user_ids: Sequence[uuid.UUID]
) -> list[tuple[uuid.UUID, uuid.UUID, str]]:
    """(group, user, group's display name) for each dynamic group these users are members of."""
    rows = await conn.execute(
        text(
            "SELECT m.group_id, m.user_id, g.display_name FROM group_user_members m "
            "JOIN groups g ON g.tenant_id = m.tenant_id AND g.id = m.group_id "
            "WHERE m.tenant_id = :t AND m.user_id = ANY(CAST(:ids AS uuid[])) AND g.membership_rule IS NOT NULL "
            "ORDER BY m.group_id, m.user_id"
        ),
        {"t": tenant_id, "ids": list(user_ids)},
    )
    return [(r.group_id, r.user_id, r.display_name) for r in rows]


async def count(conn: AsyncConnection, tenant_id: str) -> int:
    query = select(func.count()).select_from(G).where(G.c.tenant_id == tenant_id, G.c.membership_rule.is_not(None))
    return int((await conn.execute(query)).scalar_one())


async def matching_count(conn: AsyncConnection, tenant_id: str, rule: Rule) -> int:
    query = select(func.count()).select_from(U).where(U.c.tenant_id == tenant_id, predicate(rule, U))
    return int((await conn.execute(query)).scalar_one())


async def matching_ids(conn: AsyncConnection, tenant_id: str, rule: Rule, *, limit: int | None = None) -> list[uuid.UUID]:
    """The users matching `rule`, in creation order."""
    query = select(U.c.id).where(U.c.tenant_id == tenant_id, predicate(rule, U)).order_by(U.c.created_seq)
    if limit is not None:
        query = query.limit(limit)
    return [r[0] for r in await conn.execute(query)]


async def membership_moves(
    conn: AsyncConnection, tenant_id: str, group_id: uuid.UUID, rule: Rule
) -> tuple[list[uuid.UUID], list[uuid.UUID]]:
    """Who would join (matches, not a member) and who would leave (a member, no longer matches)
    if the group's members were made to follow `rule`; both in user creation order."""
    matches = predicate(rule, U)
    member = (
        select(GUM.c.user_id)
        .where(GUM.c.tenant_id == tenant_id, GUM.c.group_id == group_id, GUM.c.user_id == U.c.id)
        .exists()
    )
    query = (
        select(U.c.id, matches.label("matches"))
        .where(U.c.tenant_id == tenant_id, matches != member)
        .order_by(U.c.created_seq)
    )
    joined: list[uuid.UUID] = []
    left: list[uuid.UUID] = []
    for user_id, now_matches in await conn.execute(query):
        (joined if now_matches else left).append(user_id)
    return joined, left


async def add_rule_members(conn: AsyncConnection, tenant_id: str, group_id: uuid.UUID, rule: Rule) -> int:
    """Every matching user becomes a member, in creation order (their places, D2); returns how many."""
    stmt = pg_insert(GUM).from_select(
        ["tenant_id", "group_id", "user_id"],
        select(literal(tenant_id), literal(group_id, PG_UUID(as_uuid=True)), U.c.id)
        .where(U.c.tenant_id == tenant_id, predicate(rule, U))
        .order_by(U.c.created_seq),
    ).on_conflict_do_nothing()
    result = await conn.execute(stmt)
    return int(result.rowcount or 0)


async def memberships(
    conn: AsyncConnection, tenant_id: str, user_ids: Sequence[uuid.UUID], group_ids: Iterable[uuid.UUID]
) -> set[tuple[uuid.UUID, uuid.UUID]]:
    """(group, user) for these users' memberships in these groups."""
    groups = list(group_ids)
    if not user_ids or not groups:
        return set()
    rows = await conn.execute(
        select(GUM.c.group_id, GUM.c.user_id).where(
            GUM.c.tenant_id == tenant_id, GUM.c.user_id == any_uuid(user_ids), GUM.c.group_id == any_uuid(groups)
        )
    )
    return {(r.group_id, r.user_id) for r in rows}


async def has_group_members(conn: AsyncConnection, tenant_id: str, group_id: uuid.UUID) -> bool:
    row = await conn.execute(
        text("SELECT 1 FROM group_group_members WHERE tenant_id = :t AND group_id = :g LIMIT 1"),
        {"t": tenant_id, "g": group_id},
    )
    return row.first() is not None


RULES_PER_STATEMENT = 50  # rule columns per SELECT (each a few bind parameters)


async def matches_of_users(
    conn: AsyncConnection, tenant_id: str, user_ids: Sequence[uuid.UUID], rules: dict[uuid.UUID, Rule]
) -> set[tuple[uuid.UUID, uuid.UUID]]:
    """(group, user) for each of these stored users and each rule they match."""
    return await _matches(conn, U, rules, U.c.tenant_id == tenant_id, U.c.id == any_uuid(user_ids))


async def _matches(
    conn: AsyncConnection, users: FromClause, rules: dict[uuid.UUID, Rule], *where: ColumnElement[bool]
) -> set[tuple[uuid.UUID, uuid.UUID]]:
    """(group, user) for each user of `users` (filtered by `where`) and each rule it matches:
    one scan per RULES_PER_STATEMENT rules, every rule a column."""
    found: set[tuple[uuid.UUID, uuid.UUID]] = set()
    items = list(rules.items())
    for start in range(0, len(items), RULES_PER_STATEMENT):
        chunk = items[start : start + RULES_PER_STATEMENT]
        query = select(users.c.id, *(predicate(rule, users).label(f"r{i}") for i, (_, rule) in enumerate(chunk))).where(*where)
        for row in await conn.execute(query):
            for i, (group_id, _) in enumerate(chunk):
                if row[i + 1]:
                    found.add((group_id, row[0]))
    return found


async def created_order(conn: AsyncConnection, tenant_id: str, user_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, int]:
    rows = await conn.execute(select(U.c.id, U.c.created_seq).where(U.c.tenant_id == tenant_id, U.c.id == any_uuid(user_ids)))
    return {r.id: r.created_seq for r in rows}


async def users_named(conn: AsyncConnection, tenant_id: str, user_ids: Sequence[uuid.UUID]) -> list[tuple[str, str]]:
    """(userPrincipalName, displayName) of these users, in the order given."""
    rows = await conn.execute(
        select(U.c.id, U.c.user_principal_name, U.c.display_name).where(U.c.tenant_id == tenant_id, U.c.id == any_uuid(user_ids))
    )
    by_id = {r.id: (r.user_principal_name, r.display_name) for r in rows}
    return [by_id[u] for u in user_ids if u in by_id]


async def member_count(conn: AsyncConnection, tenant_id: str, group_id: uuid.UUID) -> int:
    query = select(func.count()).select_from(GUM).where(GUM.c.tenant_id == tenant_id, GUM.c.group_id == group_id)
    return int((await conn.execute(query)).scalar_one())


async def matches_of_values(
    conn: AsyncConnection, users: Sequence[dict[str, object]], rules: dict[uuid.UUID, Rule]
) -> set[tuple[uuid.UUID, uuid.UUID]]:
    """(group, user) for users given as values (keys: `id` and the users columns the rules read),
    each rule evaluated by PostgreSQL over a VALUES list shaped like the users table: for users
    not stored as they are (a dry run), and for rules that the caller keeps off Python's `re`."""
    if not users or not rules:
        return set()
    names = ["id", *sorted(set(PROPERTIES.values()))]
    types = {"id": PG_UUID(as_uuid=True), "account_enabled": Boolean()}
    rows = values(*(column(n, types.get(n, Text())) for n in names), name="users").data(
        [tuple(user.get(n) for n in names) for user in users]
    )
    return await _matches(conn, rows, rules)
