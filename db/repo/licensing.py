"""License paths, effective licenses and seat counters: the set-based reads and writes."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import delete, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from db.models import LicensePath, ProductPool, UserLicense

LP = LicensePath.__table__
UL = UserLicense.__table__
PP = ProductPool.__table__


async def pool_products_held(conn: AsyncConnection, tenant_id: str, user_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
    """Products for which these users hold a pool seat (not a self-service one)."""
    rows = await conn.execute(
        select(UL.c.product_id)
        .where(UL.c.tenant_id == tenant_id, UL.c.user_id.in_(list(user_ids)), UL.c.holds_seat, UL.c.subscription_id.is_(None))
        .distinct()
    )
    return {r[0] for r in rows}


async def release_users(conn: AsyncConnection, tenant_id: str, user_ids: Sequence[uuid.UUID]) -> int:
    """Remove every path and license of these users and give their pool seats back. Returns licenses freed."""
    ids = list(user_ids)
    freed = await conn.execute(
        delete(UL).where(UL.c.tenant_id == tenant_id, UL.c.user_id.in_(ids)).returning(UL.c.product_id, UL.c.holds_seat, UL.c.subscription_id)
    )
    per_product: dict[uuid.UUID, int] = {}
    count = 0
    for product_id, holds_seat, subscription_id in freed:
        if holds_seat:
            count += 1
            if subscription_id is None:
                per_product[product_id] = per_product.get(product_id, 0) + 1
    await conn.execute(delete(LP).where(LP.c.tenant_id == tenant_id, LP.c.user_id.in_(ids)))
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
        select(func.count()).where(UL.c.tenant_id == tenant_id, UL.c.user_id.in_(list(user_ids)), UL.c.holds_seat)
    )
    return int(row.scalar_one())
