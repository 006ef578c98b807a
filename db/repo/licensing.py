"""License paths, effective licenses and seat counters: the set-based reads and writes."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from db.models import LicensePath, ProductPool, UserLicense
from db.sql import any_uuid

LP = LicensePath.__table__
UL = UserLicense.__table__
PP = ProductPool.__table__


async def pool_products_held(conn: AsyncConnection, tenant_id: str, user_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
    """Products for which these users hold a pool seat (not a self-service one)."""
    rows = await conn.execute(
        select(UL.c.product_id)
        .where(UL.c.tenant_id == tenant_id, UL.c.user_id == any_uuid(list(user_ids)), UL.c.holds_seat, UL.c.subscription_id.is_(None))
        .distinct()
    )
    return {r[0] for r in rows}


async def release_users(conn: AsyncConnection, tenant_id: str, user_ids: Sequence[uuid.UUID]) -> int:
    """Remove every path and license of these users and give their pool seats back. Returns licenses freed."""
    ids = list(user_ids)
    freed = await conn.execute(
        delete(UL).where(UL.c.tenant_id == tenant_id, UL.c.user_id == any_uuid(ids)).returning(UL.c.product_id, UL.c.holds_seat, UL.c.subscription_id)
    )
    per_product: dict[uuid.UUID, int] = {}
    count = 0
    for product_id, holds_seat, subscription_id in freed:
        if holds_seat:
            count += 1
            if subscription_id is None:
                per_product[product_id] = per_product.get(product_id, 0) + 1
    await conn.execute(delete(LP).where(LP.c.tenant_id == tenant_id, LP.c.user_id == any_uuid(ids)))
    for product_id in sorted(per_product):
        await conn.execute(
            update(PP)
            .where(PP.c.tenant_id == tenant_id, PP.c.product_id == product_id)
            .values(consumed=PP.c.consumed - per_product[product_id])
        )
    return count


async def self_service_seats_used(conn: AsyncConnection, tenant_id: str, subscription_id: uuid.UUID) -> int:
    row = await conn.execute(
        select(func.count()).where(UL.c.tenant_id == tenant_id, UL.c.subscription_id == subscription_id, UL.c.holds_seat)
    )
    return int(row.scalar_one())


async def take_over_seats(conn: AsyncConnection, tenant_id: str, subscription_id: uuid.UUID, product_id: uuid.UUID) -> int:
    """R3: licenses drawn from a self-service subscription join the pool when it is taken over."""
    moved = await conn.execute(
        update(UL)
        .where(UL.c.tenant_id == tenant_id, UL.c.subscription_id == subscription_id)
        .values(subscription_id=None)
        .returning(UL.c.holds_seat)
    )
    seats = sum(1 for (holds,) in moved if holds)
    await conn.execute(
        update(LP).where(LP.c.tenant_id == tenant_id, LP.c.subscription_id == subscription_id).values(subscription_id=None)
    )
    if seats:
        await conn.execute(
            text(
                "INSERT INTO product_pools (tenant_id, product_id, consumed) VALUES (:t, :p, :n) "
                "ON CONFLICT (tenant_id, product_id) DO UPDATE SET consumed = product_pools.consumed + EXCLUDED.consumed"
            ),
            {"t": tenant_id, "p": product_id, "n": seats},
        )
    return seats





async def licenses_held(conn: AsyncConnection, tenant_id: str, user_ids: Sequence[uuid.UUID]) -> int:
    """How many seats (pool or self-service) these users hold."""
    row = await conn.execute(
        select(func.count()).where(UL.c.tenant_id == tenant_id, UL.c.user_id == any_uuid(list(user_ids)), UL.c.holds_seat)
    )
    return int(row.scalar_one())


async def paths_of_users(conn: AsyncConnection, tenant_id: str, user_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[Any]]:
    """Every path of these users (one statement, for the DataLoader)."""
    rows = await conn.execute(
        select(
            LP.c.user_id, LP.c.product_id, LP.c.group_id, LP.c.disabled_plan_ids, LP.c.state, LP.c.error_code,
            LP.c.error_message, LP.c.updated_at, LP.c.queue_seq,
        ).where(LP.c.tenant_id == tenant_id, LP.c.user_id == any_uuid(list(user_ids)))
    )
    result: dict[uuid.UUID, list[Any]] = {u: [] for u in user_ids}
    for r in rows:
        result[r.user_id].append(r)
    return result


async def seats_of_users(conn: AsyncConnection, tenant_id: str, user_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, set[uuid.UUID]]:
    """Products for which each user holds a seat."""
    rows = await conn.execute(
        select(UL.c.user_id, UL.c.product_id).where(UL.c.tenant_id == tenant_id, UL.c.user_id == any_uuid(list(user_ids)), UL.c.holds_seat)
    )
    result: dict[uuid.UUID, set[uuid.UUID]] = {u: set() for u in user_ids}
    for r in rows:
        result[r.user_id].add(r.product_id)
    return result


async def waiting_users(conn: AsyncConnection, tenant_id: str, product_ids: Sequence[uuid.UUID], limit: int) -> list[uuid.UUID]:
    """Users whose paths wait for a seat of these products, first in line first (R4, D2)."""
    rows = await conn.execute(
        select(LP.c.user_id, func.min(LP.c.queue_seq).label("first"))
        .where(
            LP.c.tenant_id == tenant_id, LP.c.product_id == any_uuid(list(product_ids)), LP.c.state == "ERROR",
            LP.c.error_code == "COUNT_VIOLATION",
        )
        .group_by(LP.c.user_id)
        .order_by("first")
        .limit(limit)
    )
    return [r.user_id for r in rows]


async def users_relying_on_default_location(conn: AsyncConnection, tenant_id: str) -> list[uuid.UUID]:
    """Users without a usage location who have group paths (R8: the tenant default applies to them)."""
    rows = await conn.execute(
        text(
            "SELECT DISTINCT p.user_id FROM license_paths p JOIN users u ON u.tenant_id = p.tenant_id AND u.id = p.user_id "
            "WHERE p.tenant_id = :t AND p.group_id <> '00000000-0000-0000-0000-000000000000' AND u.usage_location IS NULL"
        ),
        {"t": tenant_id},
    )
    return [r[0] for r in rows]
