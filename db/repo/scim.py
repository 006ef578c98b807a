"""SCIM reads (R29): filters compiled to SQL, pages by startIndex/count, group members.

A SCIM filter arrives here as a small tree (`Compare`, `And`, `Or`, `Not`) over canonical
attribute names (lower case, dotted: `emails.value`); `user_condition` / `group_condition`
compile it to one WHERE condition, so a filter never runs in Python over the tenant. Every
comparison is wrapped in coalesce(…, false): an absent attribute does not match, and `not`
of it does (RFC 7644 §3.4.2.2). Strings compare ignoring case except `id` and `externalId`
(caseExact in RFC 7643 and D31). LIKE patterns escape the client's `%`, `_` and `\\`.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    and_,
    cast,
    exists,
    false,
    func,
    literal,
    not_,
    or_,
    select,
    true,
)
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.types import Text

from db.models import Group, GroupGroupMember, GroupUserMember, User
from db.records import UserRecord
from db.repo.directory import USER_COLUMNS
from db.sql import any_uuid

U = User.__table__
G = Group.__table__
GUM = GroupUserMember.__table__
GGM = GroupGroupMember.__table__

Value = str | bool | datetime | None


@dataclass(frozen=True)
class Compare:
    attr: str  # canonical: lower case, dotted (`name.givenname`)
    op: str  # eq ne co sw ew gt ge lt le pr
    value: Value = None


@dataclass(frozen=True)
class And:
    left: Node
    right: Node


@dataclass(frozen=True)
class Or:
    left: Node
    right: Node


@dataclass(frozen=True)
class Not:
    inner: Node


@dataclass(frozen=True)
class Some:
    """`members[…]`: some one member satisfies the whole inner filter (a multi-valued attribute:
    `members[not (value eq "x")]` is a group with a member other than x)."""

    attr: str
    inner: Node


Node = Compare | And | Or | Not | Some


class FilterError(ValueError):
    """A filter that names an attribute the resource does not have, or compares it wrongly."""


# kind: "ci" text ignoring case, "exact" text, "bool", "time"; a callable builds the column per tenant
USER_ATTRIBUTES: dict[str, tuple[str, Any]] = {
    "id": ("exact", cast(U.c.id, Text)),
    "username": ("ci", U.c.user_principal_name),
    "displayname": ("ci", U.c.display_name),
    "externalid": ("exact", U.c.external_id),
    "name": ("ci", func.coalesce(U.c.given_name, U.c.surname)),
    "name.givenname": ("ci", U.c.given_name),
    "name.familyname": ("ci", U.c.surname),
    "emails": ("ci", U.c.mail),  # `emails pr`
    "emails.value": ("ci", U.c.mail),
    "emails.type": ("ci", None),
    "active": ("bool", U.c.account_enabled),
    "title": ("ci", U.c.job_title),
    "usertype": ("ci", U.c.user_type),
    "addresses": ("ci", U.c.usage_location),
    "addresses.country": ("ci", U.c.usage_location),
    "addresses.type": ("ci", None),
    "department": ("ci", U.c.department),
    "employeenumber": ("ci", U.c.employee_id),
    "meta.created": ("time", U.c.created_at),
    "meta.lastmodified": ("time", U.c.updated_at),
}
GROUP_ATTRIBUTES: dict[str, tuple[str, Any]] = {
    "id": ("exact", cast(G.c.id, Text)),
    "displayname": ("ci", G.c.display_name),
    "externalid": ("exact", G.c.external_id),
    "members": ("members", None),  # `members pr`
    "members.value": ("members", None),
    "members.type": ("members", None),
    "meta.created": ("time", G.c.created_at),
    "meta.lastmodified": ("time", G.c.updated_at),
}
# a user has at most one email ("work") and one address ("work"): their `type` exists with the value
TYPED = {"emails.type": U.c.mail, "addresses.type": U.c.usage_location}


def _like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _text_compare(column: Any, op: str, value: Value, *, ignore_case: bool) -> ColumnElement[bool]:
    if not isinstance(value, str):
        raise FilterError(f"the {op} comparison needs a string value")
    left, right = (func.lower(column), value.lower()) if ignore_case else (column, value)
    if op == "eq":
        return left == right  # type: ignore[no-any-return]
    if op == "ne":  # an absent attribute is not equal to the value
        return or_(column.is_(None), left != right)
    if op in ("co", "sw", "ew"):
        pattern = _like(right)
        pattern = {"co": f"%{pattern}%", "sw": f"{pattern}%", "ew": f"%{pattern}"}[op]
        return left.like(pattern, escape="\\")  # type: ignore[no-any-return]
    left = left.collate("C")
    return {"gt": left > right, "ge": left >= right, "lt": left < right, "le": left <= right}[op]  # type: ignore[no-any-return]


def _compare(column: Any, kind: str, op: str, value: Value) -> ColumnElement[bool]:
    if op == "pr":
        return column.is_not(None)  # type: ignore[no-any-return]
    if kind == "bool":
        if not isinstance(value, bool) or op not in ("eq", "ne"):
            raise FilterError("a boolean attribute takes eq or ne with true or false")
        return (column == value) if op == "eq" else or_(column.is_(None), column != value)
    if kind == "time":
        if not isinstance(value, datetime):
            raise FilterError("a dateTime attribute compares with a quoted xsd:dateTime such as \"2026-01-31T00:00:00Z\"")
        ops = {"eq": column == value, "ne": column != value, "gt": column > value, "ge": column >= value,
               "lt": column < value, "le": column <= value}
        if op not in ops:
            raise FilterError(f"{op} does not apply to a dateTime")
        return ops[op]  # type: ignore[no-any-return]
    if value is None or isinstance(value, bool | datetime):
        if kind == "ci" and isinstance(value, datetime):
            raise FilterError("a string attribute compares with a string")
        if value is None and op in ("eq", "ne"):
            return column.is_(None) if op == "eq" else column.is_not(None)  # type: ignore[no-any-return]
        raise FilterError("a string attribute compares with a string")
    return _text_compare(column, op, value, ignore_case=kind == "ci")


def _user_compare(tenant_id: str, node: Compare) -> ColumnElement[bool]:
    if node.attr not in USER_ATTRIBUTES:
        raise FilterError(f"Users have no filterable attribute {node.attr!r}")
    kind, column = USER_ATTRIBUTES[node.attr]
    if node.attr in TYPED:
        present = TYPED[node.attr].is_not(None)
        return and_(present, _compare(literal("work"), "ci", node.op, node.value)) if node.op != "pr" else present
    return _compare(column, kind, node.op, node.value)


def _member_row(table: Any, column: Any, kind: str, node: Node) -> ColumnElement[bool]:
    """The inner filter of `members[…]` over one member row (`column`: the member's id)."""
    if isinstance(node, Compare):
        if node.attr not in ("members", "members.value", "members.type"):
            raise FilterError(f"Group members have no filterable attribute {node.attr!r}")
        if node.op == "pr":
            return true()  # a member row has a value and a type
        by_value = node.attr in ("members", "members.value")
        target = cast(column, Text) if by_value else literal(kind)
        return func.coalesce(_compare(target, "exact" if by_value else "ci", node.op, _lower_uuid(node)), false())  # type: ignore[no-any-return]
    if isinstance(node, And):
        return and_(_member_row(table, column, kind, node.left), _member_row(table, column, kind, node.right))
    if isinstance(node, Or):
        return or_(_member_row(table, column, kind, node.left), _member_row(table, column, kind, node.right))
    if isinstance(node, Not):
        return not_(_member_row(table, column, kind, node.inner))
    raise FilterError("A value filter inside a value filter is not supported.")


def _members_some(tenant_id: str, node: Some) -> ColumnElement[bool]:
    """`members[…]`: EXISTS one member row, of either table, satisfying the inner filter."""
    branches = []
    for table, column, kind in ((GUM, GUM.c.user_id, "User"), (GGM, GGM.c.member_group_id, "Group")):
        query = select(1).select_from(table).where(
            table.c.tenant_id == tenant_id, table.c.group_id == G.c.id, _member_row(table, column, kind, node.inner)
        )
        branches.append(exists(query.correlate(G)))
    return or_(*branches)


def _members_compare(tenant_id: str, node: Compare) -> ColumnElement[bool]:
    """`members[value eq "…"]`, `members.type eq "User"`, `members pr`: EXISTS over both member tables."""
    value = _lower_uuid(node)
    branches = []
    for table, column, kind in ((GUM, GUM.c.user_id, "User"), (GGM, GGM.c.member_group_id, "Group")):
        query = select(1).select_from(table).where(table.c.tenant_id == tenant_id, table.c.group_id == G.c.id)
        if node.op != "pr":
            by_value = node.attr in ("members", "members.value")
            target = cast(column, Text) if by_value else literal(kind)
            query = query.where(_compare(target, "exact" if by_value else "ci", node.op, value))
        branches.append(exists(query.correlate(G)))
    return or_(*branches)


def _lower_uuid(node: Compare) -> Value:
    """Ids are stored as uuids, whose text is lower case: an id given in upper case still matches."""
    return node.value.lower() if node.attr == "members.value" and isinstance(node.value, str) else node.value


def _group_compare(tenant_id: str, node: Compare) -> ColumnElement[bool]:
    if node.attr not in GROUP_ATTRIBUTES:
        raise FilterError(f"Groups have no filterable attribute {node.attr!r}")
    kind, column = GROUP_ATTRIBUTES[node.attr]
    if kind == "members":
        return _members_compare(tenant_id, node)
    if node.attr == "id" and isinstance(node.value, str):
        node = Compare(node.attr, node.op, node.value.lower())
    return _compare(column, kind, node.op, node.value)


def _compile(tenant_id: str, node: Node, leaf: Any) -> ColumnElement[bool]:
    if isinstance(node, Compare):
        return func.coalesce(leaf(tenant_id, node), false())  # type: ignore[no-any-return]
    if isinstance(node, And):
        return and_(_compile(tenant_id, node.left, leaf), _compile(tenant_id, node.right, leaf))
    if isinstance(node, Or):
        return or_(_compile(tenant_id, node.left, leaf), _compile(tenant_id, node.right, leaf))
    if isinstance(node, Some):
        if leaf is not _group_compare or node.attr != "members":
            raise FilterError(f"{node.attr!r} has no values to filter")
        return _members_some(tenant_id, node)
    return not_(_compile(tenant_id, node.inner, leaf))


def user_condition(tenant_id: str, node: Node | None) -> ColumnElement[bool]:
    """FilterError for an attribute Users do not have or a value of the wrong type."""
    return _compile(tenant_id, node, _user_compare) if node is not None else true()


def group_condition(tenant_id: str, node: Node | None) -> ColumnElement[bool]:
    return _compile(tenant_id, node, _group_compare) if node is not None else true()


# ------------------------------------------------------------------------------ users


@dataclass(frozen=True)
class ScimUser:
    user: UserRecord
    updated_at: datetime


async def users_page(
    conn: AsyncConnection, tenant_id: str, node: Node | None, *, offset: int, limit: int
) -> tuple[int, list[ScimUser]]:
    """(totalResults, the page) in creation order."""
    condition = user_condition(tenant_id, node)
    total = int((await conn.execute(select(func.count()).select_from(U).where(U.c.tenant_id == tenant_id, condition))).scalar_one())
    if limit == 0:
        return total, []
    rows = await conn.execute(
        select(*USER_COLUMNS, U.c.updated_at).where(U.c.tenant_id == tenant_id, condition)
        .order_by(U.c.created_seq, U.c.id).offset(offset).limit(limit)
    )
    return total, [ScimUser(UserRecord.from_row(r), r.updated_at) for r in rows]


async def user(conn: AsyncConnection, tenant_id: str, user_id: uuid.UUID) -> ScimUser | None:
    row = (await conn.execute(select(*USER_COLUMNS, U.c.updated_at).where(U.c.tenant_id == tenant_id, U.c.id == user_id))).first()
    return ScimUser(UserRecord.from_row(row), row.updated_at) if row else None


# ------------------------------------------------------------------------------ groups


@dataclass(frozen=True)
class ScimGroup:
    id: uuid.UUID
    display_name: str
    external_id: str | None
    dynamic: bool
    created_at: datetime
    updated_at: datetime
    member_count: int


@dataclass(frozen=True)
class ScimMember:
    id: uuid.UUID
    display: str
    type: str  # "User" or "Group"


def _group_query(tenant_id: str) -> Any:
    users = select(func.count()).select_from(GUM).where(GUM.c.tenant_id == tenant_id, GUM.c.group_id == G.c.id).scalar_subquery()
    groups = select(func.count()).select_from(GGM).where(GGM.c.tenant_id == tenant_id, GGM.c.group_id == G.c.id).scalar_subquery()
    return select(
        G.c.id, G.c.display_name, G.c.external_id, G.c.membership_rule.is_not(None).label("dynamic"), G.c.created_at,
        G.c.updated_at, (users + groups).label("member_count"),
    ).where(G.c.tenant_id == tenant_id)


async def groups_page(
    conn: AsyncConnection, tenant_id: str, node: Node | None, *, offset: int, limit: int
) -> tuple[int, list[ScimGroup]]:
    condition = group_condition(tenant_id, node)
    total = int((await conn.execute(select(func.count()).select_from(G).where(G.c.tenant_id == tenant_id, condition))).scalar_one())
    if limit == 0:
        return total, []
    rows = await conn.execute(_group_query(tenant_id).where(condition).order_by(G.c.created_at, G.c.id).offset(offset).limit(limit))
    return total, [ScimGroup(*r) for r in rows]


async def group(conn: AsyncConnection, tenant_id: str, group_id: uuid.UUID) -> ScimGroup | None:
    row = (await conn.execute(_group_query(tenant_id).where(G.c.id == group_id))).first()
    return ScimGroup(*row) if row else None


async def members_of(conn: AsyncConnection, tenant_id: str, group_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[ScimMember]]:
    """The direct members of these groups (users in creation order, then groups)."""
    found: dict[uuid.UUID, list[ScimMember]] = {g: [] for g in group_ids}
    if not group_ids:
        return found
    ids = list(group_ids)
    users = (
        select(GUM.c.group_id, U.c.id, U.c.display_name, literal("User"))
        .join(U, and_(U.c.tenant_id == GUM.c.tenant_id, U.c.id == GUM.c.user_id))
        .where(GUM.c.tenant_id == tenant_id, GUM.c.group_id == any_uuid(ids))
        .order_by(GUM.c.group_id, U.c.created_seq)
    )
    groups = (
        select(GGM.c.group_id, G.c.id, G.c.display_name, literal("Group"))
        .join(G, and_(G.c.tenant_id == GGM.c.tenant_id, G.c.id == GGM.c.member_group_id))
        .where(GGM.c.tenant_id == tenant_id, GGM.c.group_id == any_uuid(ids))
        .order_by(GGM.c.group_id, G.c.created_at)
    )
    for query in (users, groups):
        for gid, mid, display, kind in await conn.execute(query):
            found[gid].append(ScimMember(mid, display, kind))
    return found


async def member_kinds(
    conn: AsyncConnection, tenant_id: str, ids: Sequence[uuid.UUID]
) -> tuple[set[uuid.UUID], set[uuid.UUID]]:
    """Which of these ids are the tenant's users, which its groups (a SCIM member `value` is either)."""
    if not ids:
        return set(), set()
    users = {r[0] for r in await conn.execute(select(U.c.id).where(U.c.tenant_id == tenant_id, U.c.id == any_uuid(ids)))}
    groups = {r[0] for r in await conn.execute(select(G.c.id).where(G.c.tenant_id == tenant_id, G.c.id == any_uuid(ids)))}
    return users, groups


async def is_member(conn: AsyncConnection, tenant_id: str, group_id: uuid.UUID, member_id: uuid.UUID) -> bool:
    """Whether this user or group is a direct member of the group."""
    users = select(GUM.c.user_id).where(GUM.c.tenant_id == tenant_id, GUM.c.group_id == group_id, GUM.c.user_id == member_id)
    groups = select(GGM.c.member_group_id).where(
        GGM.c.tenant_id == tenant_id, GGM.c.group_id == group_id, GGM.c.member_group_id == member_id
    )
    return (await conn.execute(select(exists(users) | exists(groups)))).scalar_one()
