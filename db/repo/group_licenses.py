"""Group licenses (R18): which products a group hands to its transitive members."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, func, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from db.models import ERROR_STATE, GroupLicense, LicensePath
from db.records import UserRecord
from db.repo.directory import USER_COLUMNS, U, user_sort
from db.repo.paging import Page, keyset_page, text_key

GL = GroupLicense.__table__
LP = LicensePath.__table__
COLUMNS = [GL.c.group_id, GL.c.product_id, GL.c.disabled_plan_ids, GL.c.assigned_at, GL.c.active_count, GL.c.error_count]


async def of_groups(conn: AsyncConnection, tenant_id: str, group_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[Any]]:
    rows = await conn.execute(select(*COLUMNS).where(GL.c.tenant_id == tenant_id, GL.c.group_id.in_(list(group_ids))))
    result: dict[uuid.UUID, list[Any]] = {g: [] for g in group_ids}
    for r in rows:
        result[r.group_id].append(r)
    return result


async def of_products(conn: AsyncConnection, tenant_id: str, product_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[Any]]:
    rows = await conn.execute(select(*COLUMNS).where(GL.c.tenant_id == tenant_id, GL.c.product_id.in_(list(product_ids))))
    result: dict[uuid.UUID, list[Any]] = {p: [] for p in product_ids}
    for r in rows:
        result[r.product_id].append(r)
    return result


async def upsert(conn: AsyncConnection, tenant_id: str, group_id: uuid.UUID, licenses: dict[uuid.UUID, frozenset[uuid.UUID]]) -> None:
    """New group licenses get their place in line now; an existing one keeps it, only its disabled plans change (D18)."""
    if not licenses:
        return
    stmt = pg_insert(GL).values(
        [
            {"tenant_id": tenant_id, "group_id": group_id, "product_id": p, "disabled_plan_ids": sorted(d)}
            for p, d in sorted(licenses.items())
        ]
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=[GL.c.tenant_id, GL.c.group_id, GL.c.product_id],
        set_={"disabled_plan_ids": stmt.excluded.disabled_plan_ids},
    )
    await conn.execute(stmt)


async def remove(conn: AsyncConnection, tenant_id: str, group_id: uuid.UUID, product_ids: Sequence[uuid.UUID]) -> None:
    if product_ids:
        await conn.execute(
            delete(GL).where(GL.c.tenant_id == tenant_id, GL.c.group_id == group_id, GL.c.product_id.in_(list(product_ids)))
        )


def _error_members(tenant_id: str, group_id: uuid.UUID) -> Any:
    return (
        select(LP.c.user_id)
        .where(LP.c.tenant_id == tenant_id, LP.c.group_id == group_id, LP.c.state == ERROR_STATE)
        .distinct()
        .subquery("erroring")
    )


async def members_with_errors_page(
    conn: AsyncConnection, tenant_id: str, group_id: uuid.UUID, *, first: int, after: str | None
) -> Page[UserRecord]:
    erroring = _error_members(tenant_id, group_id)
    query = select(*USER_COLUMNS, user_sort.label("sort")).where(U.c.tenant_id == tenant_id, U.c.id.in_(select(erroring.c.user_id)))
    return await keyset_page(
        conn, query, [user_sort, U.c.id], first=first, after=after,
        key_of=lambda r: (r.sort, str(r.id)), convert=UserRecord.from_row,
        cast_after=lambda v: [text_key(v[0]), uuid.UUID(text_key(v[1]))],
    )


async def members_with_errors_count(conn: AsyncConnection, tenant_id: str, group_id: uuid.UUID) -> int:
    erroring = _error_members(tenant_id, group_id)
    return int((await conn.execute(select(func.count()).select_from(erroring))).scalar_one())


async def groups_with_errors(conn: AsyncConnection, tenant_id: str, group_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
    rows = await conn.execute(
        text(
            "SELECT DISTINCT group_id FROM group_licenses WHERE tenant_id = :t AND group_id = ANY(:g) AND error_count > 0"
        ),
        {"t": tenant_id, "g": list(group_ids)},
    )
    return {r[0] for r in rows}
