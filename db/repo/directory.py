"""Users, groups and memberships (direct and transitive)."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    bindparam,
    delete,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
    text,
    union,
    update,
)
from sqlalchemy.dialects.postgresql import UUID as PG_UUID
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from db.models import (
    ERROR_STATE,
    Group,
    GroupGroupMember,
    GroupLicense,
    GroupUserMember,
    LicensePath,
    Tenant,
    User,
    UserLicense,
)
from db.records import GroupRecord, TenantRecord, UserRecord
from db.repo.paging import Page, int_key, keyset_page, text_key
from db.session import TENANT_LOCK_NAMESPACE
from db.sql import any_uuid

U = User.__table__
G = Group.__table__
GUM = GroupUserMember.__table__
GGM = GroupGroupMember.__table__
GL = GroupLicense.__table__
LP = LicensePath.__table__
UL = UserLicense.__table__
T = Tenant.__table__

USER_COLUMNS = [
    U.c.id, U.c.user_principal_name, U.c.display_name, U.c.mail, U.c.user_type, U.c.usage_location,
    U.c.account_enabled, U.c.department, U.c.job_title, U.c.created_at, U.c.created_seq,
    U.c.given_name, U.c.surname, U.c.employee_id, U.c.external_id,
]
GROUP_COLUMNS = [G.c.id, G.c.display_name, G.c.description, G.c.security_enabled, G.c.created_at, G.c.membership_rule]

user_sort = func.lower(U.c.display_name).collate("C")
group_sort = func.lower(G.c.display_name).collate("C")


def _uuid_key(values: list[Any]) -> list[Any]:
    return [text_key(values[0]), uuid.UUID(text_key(values[1]))]


# ------------------------------------------------------------------------------ users


@dataclass(frozen=True)
class UserFilterSpec:
    search: str | None = None
    user_type: str | None = None
    has_product_id: uuid.UUID | None = None
    license_state: str | None = None
    member_of_group_id: uuid.UUID | None = None
    unlicensed: bool | None = None


def _like_prefix(term: str) -> str:
    return term.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def descendant_groups(tenant_id: str, group_id: uuid.UUID) -> Any:
    """CTE: the group and every group nested in it, at any depth (UNION stops cycles)."""
    base = select(literal(group_id, PG_UUID(as_uuid=True)).label("id"))
    cte = base.cte("descendants", recursive=True)
    step = select(GGM.c.member_group_id).where(GGM.c.tenant_id == tenant_id, GGM.c.group_id == cte.c.id)
    return cte.union(step)


def _user_conditions(tenant_id: str, spec: UserFilterSpec) -> list[ColumnElement[bool]]:
    conds: list[ColumnElement[bool]] = [U.c.tenant_id == tenant_id]
    if spec.search:
        pattern = _like_prefix(spec.search.strip())
        conds.append(
            or_(
                func.lower(U.c.display_name).collate("C").like(pattern),
                func.lower(U.c.user_principal_name).collate("C").like(pattern),
                func.lower(U.c.mail).collate("C").like(pattern),
                func.lower(U.c.display_name).collate("C").like("% " + pattern),
            )
        )
    if spec.user_type:
        conds.append(U.c.user_type == spec.user_type)
    if spec.has_product_id is not None:
        conds.append(
            exists().where(UL.c.tenant_id == tenant_id, UL.c.user_id == U.c.id, UL.c.product_id == spec.has_product_id)
        )
    if spec.license_state is not None:
        conds.append(exists().where(LP.c.tenant_id == tenant_id, LP.c.user_id == U.c.id, LP.c.state == spec.license_state))
    if spec.unlicensed is not None:
        has_path = exists().where(LP.c.tenant_id == tenant_id, LP.c.user_id == U.c.id)
        conds.append(~has_path if spec.unlicensed else has_path)
    if spec.member_of_group_id is not None:
        groups = descendant_groups(tenant_id, spec.member_of_group_id)
        conds.append(
            exists().where(GUM.c.tenant_id == tenant_id, GUM.c.user_id == U.c.id, GUM.c.group_id.in_(select(groups.c.id)))
        )
    return conds


async def users_page(
    conn: AsyncConnection, tenant_id: str, spec: UserFilterSpec, *, first: int, after: str | None
) -> Page[UserRecord]:
    query = select(*USER_COLUMNS, user_sort.label("sort")).where(*_user_conditions(tenant_id, spec))
    return await keyset_page(
        conn, query, [user_sort, U.c.id], first=first, after=after,
        key_of=lambda r: (r.sort, str(r.id)), convert=UserRecord.from_row, cast_after=_uuid_key,
    )


async def users_count(conn: AsyncConnection, tenant_id: str, spec: UserFilterSpec) -> int:
    return int((await conn.execute(select(func.count()).select_from(U).where(*_user_conditions(tenant_id, spec)))).scalar_one())


async def users_by_ids(conn: AsyncConnection, tenant_id: str, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, UserRecord]:
    if not ids:
        return {}
    rows = await conn.execute(select(*USER_COLUMNS).where(U.c.tenant_id == tenant_id, U.c.id == any_uuid(set(ids))))
    return {r.id: UserRecord.from_row(r) for r in rows}


async def user_by_upn(conn: AsyncConnection, tenant_id: str, upn: str) -> UserRecord | None:
    row = (
        await conn.execute(
            select(*USER_COLUMNS).where(
                U.c.tenant_id == tenant_id, func.lower(U.c.user_principal_name).collate("C") == upn.lower()
            )
        )
    ).first()
    return UserRecord.from_row(row) if row else None


async def upn_taken(conn: AsyncConnection, tenant_id: str, upn: str, *, except_id: uuid.UUID | None = None) -> bool:
    query = select(U.c.id).where(U.c.tenant_id == tenant_id, func.lower(U.c.user_principal_name).collate("C") == upn.lower())
    if except_id is not None:
        query = query.where(U.c.id != except_id)
    return (await conn.execute(query.limit(1))).first() is not None


async def external_id_taken(conn: AsyncConnection, tenant_id: str, external_id: str, *, except_id: uuid.UUID | None = None) -> bool:
    """D31: an external id is case-exact and unique per tenant."""
    query = select(U.c.id).where(U.c.tenant_id == tenant_id, U.c.external_id == external_id)
    if except_id is not None:
        query = query.where(U.c.id != except_id)
    return (await conn.execute(query.limit(1))).first() is not None


def _upn_is(tenant_id: str, upn: str) -> ColumnElement[bool]:
    return and_(U.c.tenant_id == tenant_id, func.lower(U.c.user_principal_name).collate("C") == upn.lower())


async def names_taken(conn: AsyncConnection, tenant_id: str, upn: str, external_id: str | None) -> tuple[bool, bool]:
    """`upn_taken` and `external_id_taken` of a new user, in one statement."""
    upn_query = select(U.c.id).where(_upn_is(tenant_id, upn))
    if external_id is None:
        return (await conn.execute(upn_query.limit(1))).first() is not None, False
    ext_query = select(U.c.id).where(U.c.tenant_id == tenant_id, U.c.external_id == external_id)
    row = (await conn.execute(select(upn_query.limit(1).exists(), ext_query.limit(1).exists()))).one()
    return bool(row[0]), bool(row[1])


@functools.cache
def _insert_if_free(columns: tuple[str, ...], with_external_id: bool, lock: bool) -> Any:
    """The statement of `insert_user_if_free`, built once per shape (bound parameters: the
    columns by name, `tid`, `upn` lowered, `external_id`, `ns`)."""
    free: list[ColumnElement[bool]] = [~select(U.c.id).where(
        U.c.tenant_id == bindparam("tid"), func.lower(U.c.user_principal_name).collate("C") == bindparam("upn"),
    ).exists()]
    if with_external_id:
        free.append(~select(U.c.id).where(U.c.tenant_id == bindparam("tid"), U.c.external_id == bindparam("xid")).exists())
    source = select(*(bindparam(f"v_{c}", type_=U.c[c].type) for c in columns)).where(*free)
    if lock:  # D21's tenant license lock (db.session.lock_tenant_licenses), taken by the same statement
        source = source.select_from(select(func.pg_advisory_xact_lock(bindparam("ns"), func.hashtext(bindparam("tid")))).subquery())
    return insert(U).from_select(list(columns), source).returning(*USER_COLUMNS)


async def insert_user_if_free(
    conn: AsyncConnection, tenant_id: str, values: dict[str, Any], *, lock_licenses: bool = False
) -> UserRecord | None:
    """`insert_user` unless its UPN (case-insensitive) or external id is taken: None then.
    The check and the insert are one statement (INSERT … SELECT … WHERE NOT EXISTS);
    `lock_licenses`: it also takes the tenant's license lock (when it inserts)."""
    row_values = {"tenant_id": tenant_id, "id": uuid.uuid4(), **values}
    external_id = values.get("external_id")
    stmt = _insert_if_free(tuple(row_values), external_id is not None, lock_licenses)
    params = {f"v_{c}": v for c, v in row_values.items()}
    params.update(tid=tenant_id, upn=values["user_principal_name"].lower(), xid=external_id, ns=TENANT_LOCK_NAMESPACE)
    row = (await conn.execute(stmt, params)).first()
    return UserRecord.from_row(row) if row is not None else None


async def insert_user(conn: AsyncConnection, tenant_id: str, values: dict[str, Any]) -> UserRecord:
    row = (
        await conn.execute(insert(U).values(tenant_id=tenant_id, id=uuid.uuid4(), **values).returning(*USER_COLUMNS))
    ).one()
    return UserRecord.from_row(row)


async def update_user(conn: AsyncConnection, tenant_id: str, user_id: uuid.UUID, values: dict[str, Any]) -> UserRecord:
    row = (
        await conn.execute(
            update(U).where(U.c.tenant_id == tenant_id, U.c.id == user_id).values(updated_at=func.now(), **values).returning(*USER_COLUMNS)
        )
    ).one()
    return UserRecord.from_row(row)


async def lock_user_version(conn: AsyncConnection, tenant_id: str, user_id: uuid.UUID) -> Any:
    """The user's `updated_at`, its row locked for the rest of the transaction."""
    query = select(U.c.updated_at).where(U.c.tenant_id == tenant_id, U.c.id == user_id).with_for_update()
    return (await conn.execute(query)).scalar_one_or_none()


async def delete_user(conn: AsyncConnection, tenant_id: str, user_id: uuid.UUID) -> None:
    """The user and their group memberships (which have no foreign key: migration 0012)."""
    await conn.execute(delete(GUM).where(GUM.c.tenant_id == tenant_id, GUM.c.user_id == user_id))
    await conn.execute(delete(U).where(U.c.tenant_id == tenant_id, U.c.id == user_id))


# ------------------------------------------------------------------------------ groups


@dataclass(frozen=True)
class GroupFilterSpec:
    search: str | None = None
    has_licenses: bool | None = None
    has_members_with_license_errors: bool | None = None
    dynamic: bool | None = None  # True: dynamic groups only; False: assigned only


def _group_conditions(tenant_id: str, spec: GroupFilterSpec) -> list[ColumnElement[bool]]:
    conds: list[ColumnElement[bool]] = [G.c.tenant_id == tenant_id]
    if spec.search:
        pattern = _like_prefix(spec.search.strip())
        conds.append(or_(group_sort.like(pattern), group_sort.like("% " + pattern)))
    if spec.has_licenses is not None:
        has = exists().where(GL.c.tenant_id == tenant_id, GL.c.group_id == G.c.id)
        conds.append(has if spec.has_licenses else ~has)
    if spec.has_members_with_license_errors is not None:
        has = exists().where(LP.c.tenant_id == tenant_id, LP.c.group_id == G.c.id, LP.c.state == ERROR_STATE)
        conds.append(has if spec.has_members_with_license_errors else ~has)
    if spec.dynamic is not None:
        conds.append(G.c.membership_rule.is_not(None) if spec.dynamic else G.c.membership_rule.is_(None))
    return conds


async def groups_page(
    conn: AsyncConnection, tenant_id: str, spec: GroupFilterSpec, *, first: int, after: str | None
) -> Page[GroupRecord]:
    query = select(*GROUP_COLUMNS, group_sort.label("sort")).where(*_group_conditions(tenant_id, spec))
    return await keyset_page(
        conn, query, [group_sort, G.c.id], first=first, after=after,
        key_of=lambda r: (r.sort, str(r.id)), convert=GroupRecord.from_row, cast_after=_uuid_key,
    )


async def groups_count(conn: AsyncConnection, tenant_id: str, spec: GroupFilterSpec) -> int:
    query = select(func.count()).select_from(G).where(*_group_conditions(tenant_id, spec))
    return int((await conn.execute(query)).scalar_one())


async def groups_by_ids(conn: AsyncConnection, tenant_id: str, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, GroupRecord]:
    if not ids:
        return {}
    rows = await conn.execute(select(*GROUP_COLUMNS).where(G.c.tenant_id == tenant_id, G.c.id == any_uuid(set(ids))))
    return {r.id: GroupRecord.from_row(r) for r in rows}


async def insert_group(conn: AsyncConnection, tenant_id: str, values: dict[str, Any]) -> GroupRecord:
    row = (
        await conn.execute(insert(G).values(tenant_id=tenant_id, id=uuid.uuid4(), **values).returning(*GROUP_COLUMNS))
    ).one()
    return GroupRecord.from_row(row)


async def update_group(conn: AsyncConnection, tenant_id: str, group_id: uuid.UUID, values: dict[str, Any]) -> GroupRecord:
    row = (
        await conn.execute(
            update(G).where(G.c.tenant_id == tenant_id, G.c.id == group_id).values(updated_at=func.now(), **values).returning(*GROUP_COLUMNS)
        )
    ).one()
    return GroupRecord.from_row(row)


async def touch_group(conn: AsyncConnection, tenant_id: str, group_id: uuid.UUID) -> None:
    """Its members changed: SCIM's meta.lastModified moves."""
    await conn.execute(update(G).where(G.c.tenant_id == tenant_id, G.c.id == group_id).values(updated_at=func.now()))


async def delete_group(conn: AsyncConnection, tenant_id: str, group_id: uuid.UUID) -> None:
    """The group and its user memberships (which have no foreign key: migration 0012); its
    nested-group edges go by their keys' ON DELETE CASCADE."""
    await conn.execute(delete(GUM).where(GUM.c.tenant_id == tenant_id, GUM.c.group_id == group_id))
    await conn.execute(delete(G).where(G.c.tenant_id == tenant_id, G.c.id == group_id))


async def group_has_licenses(conn: AsyncConnection, tenant_id: str, group_id: uuid.UUID) -> bool:
    query = select(GL.c.product_id).where(GL.c.tenant_id == tenant_id, GL.c.group_id == group_id).limit(1)
    return (await conn.execute(query)).first() is not None


# ------------------------------------------------------------------------------ membership


async def add_members(
    conn: AsyncConnection, tenant_id: str, group_id: uuid.UUID, user_ids: Iterable[uuid.UUID], group_ids: Iterable[uuid.UUID]
) -> tuple[list[uuid.UUID], list[uuid.UUID]]:
    """Adds members set-based; existing members are a no-op (D17). Returns what was newly added."""
    users = sorted(set(user_ids))
    groups = sorted(set(group_ids))
    added_users: list[uuid.UUID] = []
    added_groups: list[uuid.UUID] = []
    if users:
        stmt = (
            pg_insert(GUM)
            .from_select(
                ["tenant_id", "group_id", "user_id"],
                select(literal(tenant_id), literal(group_id, PG_UUID(as_uuid=True)), U.c.id)
                .where(U.c.tenant_id == tenant_id, U.c.id == any_uuid(users))
                .order_by(U.c.created_seq),
            )
            .on_conflict_do_nothing()
            .returning(GUM.c.user_id)
        )
        added_users = [r[0] for r in await conn.execute(stmt)]
    if groups:
        stmt = (
            pg_insert(GGM)
            .values([{"tenant_id": tenant_id, "group_id": group_id, "member_group_id": g} for g in groups])
            .on_conflict_do_nothing()
            .returning(GGM.c.member_group_id)
        )
        added_groups = [r[0] for r in await conn.execute(stmt)]
    return added_users, added_groups


async def remove_members(
    conn: AsyncConnection, tenant_id: str, group_id: uuid.UUID, user_ids: Iterable[uuid.UUID], group_ids: Iterable[uuid.UUID]
) -> tuple[list[uuid.UUID], list[uuid.UUID]]:
    users = list(set(user_ids))
    groups = list(set(group_ids))
    removed_users: list[uuid.UUID] = []
    removed_groups: list[uuid.UUID] = []
    if users:
        stmt = (
            delete(GUM)
            .where(GUM.c.tenant_id == tenant_id, GUM.c.group_id == group_id, GUM.c.user_id == any_uuid(users))
            .returning(GUM.c.user_id)
        )
        removed_users = [r[0] for r in await conn.execute(stmt)]
    if groups:
        stmt = (
            delete(GGM)
            .where(GGM.c.tenant_id == tenant_id, GGM.c.group_id == group_id, GGM.c.member_group_id == any_uuid(groups))
            .returning(GGM.c.member_group_id)
        )
        removed_groups = [r[0] for r in await conn.execute(stmt)]
    return removed_users, removed_groups


# Direct members: groups first, then users, each by display name (D19).
def _direct_members_query(tenant_id: str, group_id: uuid.UUID) -> Select[Any]:
    groups = (
        select(
            literal(0).label("kind"),
            group_sort.label("sort"),
            G.c.id.label("id"),
        )
        .join(GGM, and_(GGM.c.tenant_id == G.c.tenant_id, GGM.c.member_group_id == G.c.id))
        .where(GGM.c.tenant_id == tenant_id, GGM.c.group_id == group_id)
    )
    users = (
        select(
            literal(1).label("kind"),
            user_sort.label("sort"),
            U.c.id.label("id"),
        )
        .join(GUM, and_(GUM.c.tenant_id == U.c.tenant_id, GUM.c.user_id == U.c.id))
        .where(GUM.c.tenant_id == tenant_id, GUM.c.group_id == group_id)
    )
    return union(groups, users).subquery("members")


async def direct_members_page(
    conn: AsyncConnection, tenant_id: str, group_id: uuid.UUID, *, first: int, after: str | None
) -> Page[tuple[str, uuid.UUID]]:
    sub = _direct_members_query(tenant_id, group_id)
    query = select(sub.c.kind, sub.c.sort, sub.c.id)
    return await keyset_page(
        conn, query, [sub.c.kind, sub.c.sort, sub.c.id], first=first, after=after,
        key_of=lambda r: (r.kind, r.sort, str(r.id)),
        convert=lambda r: ("Group" if r.kind == 0 else "User", r.id),
        cast_after=lambda v: [int_key(v[0]), text_key(v[1]), uuid.UUID(text_key(v[2]))],
    )


async def member_of_page(
    conn: AsyncConnection, tenant_id: str, user_id: uuid.UUID, *, transitive: bool, first: int, after: str | None
) -> Page[GroupRecord]:
    query = select(*GROUP_COLUMNS, group_sort.label("sort")).where(G.c.tenant_id == tenant_id)
    query = query.where(G.c.id.in_(select(_member_of_ids(tenant_id, user_id, transitive).c.id)))
    return await keyset_page(
        conn, query, [group_sort, G.c.id], first=first, after=after,
        key_of=lambda r: (r.sort, str(r.id)), convert=GroupRecord.from_row, cast_after=_uuid_key,
    )


async def member_of_count(conn: AsyncConnection, tenant_id: str, user_id: uuid.UUID, *, transitive: bool) -> int:
    ids = _member_of_ids(tenant_id, user_id, transitive)
    return int((await conn.execute(select(func.count()).select_from(ids))).scalar_one())


def _member_of_ids(tenant_id: str, user_id: uuid.UUID, transitive: bool) -> Any:
    direct = select(GUM.c.group_id.label("id")).where(GUM.c.tenant_id == tenant_id, GUM.c.user_id == user_id)
    if not transitive:
        return direct.subquery("member_of")
    cte = direct.cte("ancestors", recursive=True)
    step = select(GGM.c.group_id).where(GGM.c.tenant_id == tenant_id, GGM.c.member_group_id == cte.c.id)
    return cte.union(step)


async def first_groups_of_users(
    conn: AsyncConnection, tenant_id: str, user_ids: Sequence[uuid.UUID], limit: int
) -> dict[uuid.UUID, list[GroupRecord]]:
    """The first `limit` direct groups (by display name) of each user, in one statement (DataLoader)."""
    if not user_ids:
        return {}
    rows = await conn.execute(
        text(
            """
            SELECT u.uid AS user_id, g.id, g.display_name, g.description, g.security_enabled, g.created_at, g.membership_rule
            FROM unnest(CAST(:ids AS uuid[])) AS u(uid)
            CROSS JOIN LATERAL (
                SELECT gr.id, gr.display_name, gr.description, gr.security_enabled, gr.created_at, gr.membership_rule
                FROM group_user_members m
                JOIN groups gr ON gr.tenant_id = m.tenant_id AND gr.id = m.group_id
                WHERE m.tenant_id = :tid AND m.user_id = u.uid
                ORDER BY lower(gr.display_name) COLLATE "C", gr.id
                LIMIT :lim
            ) g
            """
        ),
        {"ids": list(user_ids), "tid": tenant_id, "lim": limit},
    )
    result: dict[uuid.UUID, list[GroupRecord]] = {u: [] for u in user_ids}
    for r in rows:
        result[r.user_id].append(GroupRecord.from_row(r))
    return result


async def direct_group_counts_of_users(
    conn: AsyncConnection, tenant_id: str, user_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, int]:
    rows = await conn.execute(
        select(GUM.c.user_id, func.count())
        .where(GUM.c.tenant_id == tenant_id, GUM.c.user_id == any_uuid(list(user_ids)))
        .group_by(GUM.c.user_id)
    )
    counts = {u: 0 for u in user_ids}
    counts.update({r[0]: int(r[1]) for r in rows})
    return counts


# One primary-key probe per id (`OFFSET 0` keeps each probe its own sub-plan): for 10,000 ids
# of a 1,000,000-user tenant the planner's `id = ANY(…)` chose a parallel scan of every user
# (170 ms; the probes: 20 ms).
EXISTING_USERS = text("""
SELECT i.id FROM unnest(CAST(:ids AS uuid[])) AS i(id)
CROSS JOIN LATERAL (SELECT 1 FROM users u WHERE u.tenant_id = :t AND u.id = i.id OFFSET 0) found
""")


async def existing_ids(
    conn: AsyncConnection, tenant_id: str, user_ids: Sequence[uuid.UUID], group_ids: Sequence[uuid.UUID]
) -> tuple[set[uuid.UUID], set[uuid.UUID]]:
    users: set[uuid.UUID] = set()
    groups: set[uuid.UUID] = set()
    if user_ids:
        found = await conn.execute(EXISTING_USERS, {"t": tenant_id, "ids": list(user_ids)})
        users = {r[0] for r in found}
    if group_ids:
        groups = {
            r[0] for r in await conn.execute(select(G.c.id).where(G.c.tenant_id == tenant_id, G.c.id == any_uuid(list(group_ids))))
        }
    return users, groups


async def is_transitive_member(conn: AsyncConnection, tenant_id: str, user_id: uuid.UUID, group_id: uuid.UUID) -> bool:
    ids = _member_of_ids(tenant_id, user_id, True)
    row = (await conn.execute(select(ids.c.id).where(ids.c.id == group_id).limit(1))).first()
    return row is not None


async def current_members(
    conn: AsyncConnection, tenant_id: str, group_id: uuid.UUID, user_ids: Sequence[uuid.UUID], group_ids: Sequence[uuid.UUID]
) -> tuple[set[uuid.UUID], set[uuid.UUID]]:
    """Which of these users and groups are direct members of the group now."""
    users: set[uuid.UUID] = set()
    groups: set[uuid.UUID] = set()
    if user_ids:
        rows = await conn.execute(
            select(GUM.c.user_id).where(GUM.c.tenant_id == tenant_id, GUM.c.group_id == group_id, GUM.c.user_id == any_uuid(list(user_ids)))
        )
        users = {r[0] for r in rows}
    if group_ids:
        rows = await conn.execute(
            select(GGM.c.member_group_id).where(
                GGM.c.tenant_id == tenant_id, GGM.c.group_id == group_id, GGM.c.member_group_id == any_uuid(list(group_ids))
            )
        )
        groups = {r[0] for r in rows}
    return users, groups


async def transitive_member_ids(conn: AsyncConnection, tenant_id: str, group_id: uuid.UUID) -> list[uuid.UUID]:
    """Every user reached through the group and the groups nested in it (R10)."""
    groups = descendant_groups(tenant_id, group_id)
    rows = await conn.execute(
        select(GUM.c.user_id).where(GUM.c.tenant_id == tenant_id, GUM.c.group_id.in_(select(groups.c.id))).distinct()
    )
    return [r[0] for r in rows]


async def caller(
    conn: AsyncConnection, tenant_id: str, sub: str, user_id: uuid.UUID | None
) -> tuple[TenantRecord, UserRecord | None] | None:
    """A token's tenant and the user its `sub` names (UPN, case-insensitive, or id; D5), in one
    statement; None when there is no such tenant."""
    if "\x00" in tenant_id:  # text cannot hold NUL: no tenant has such an id
        return None
    upn = None if "\x00" in sub else sub.lower()
    user = (
        select(*USER_COLUMNS)
        .where(
            U.c.tenant_id == T.c.id,
            or_(func.lower(U.c.user_principal_name).collate("C") == upn, U.c.id == user_id),
        )
        .limit(1)
        .lateral("u")
    )
    row = (
        await conn.execute(
            select(T.c.id.label("t_id"), T.c.display_name.label("t_name"), T.c.domain.label("t_domain"),
                   T.c.default_usage_location.label("t_location"), user)
            .select_from(T.outerjoin(user, literal(True)))
            .where(T.c.id == tenant_id)
        )
    ).first()
    if row is None:
        return None
    tenant = TenantRecord(row.t_id, row.t_name, row.t_domain, row.t_location)
    return tenant, UserRecord.from_row(row) if row.id is not None else None


async def direct_member_keys(conn: AsyncConnection, tenant_id: str, group_id: uuid.UUID) -> tuple[list[uuid.UUID], list[uuid.UUID]]:
    """The group's direct user members and group members, by id."""
    users = await conn.execute(
        select(GUM.c.user_id).where(GUM.c.tenant_id == tenant_id, GUM.c.group_id == group_id).order_by(GUM.c.user_id)
    )
    groups = await conn.execute(
        select(GGM.c.member_group_id).where(GGM.c.tenant_id == tenant_id, GGM.c.group_id == group_id).order_by(GGM.c.member_group_id)
    )
    return list(users.scalars()), list(groups.scalars())
