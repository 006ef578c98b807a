"""Subscriptions and the product pools' seat counters."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from db.models import ProductPool, Subscription
from db.records import SubscriptionRecord

S = Subscription.__table__
P = ProductPool.__table__
COLUMNS = [
    S.c.id, S.c.product_id, S.c.quantity, S.c.is_trial, S.c.is_self_service, S.c.purchased_by, S.c.starts_at,
    S.c.term_starts_at, S.c.term_ends_at, S.c.recurring_billing, S.c.cancelled_at,
]


async def tenant_subscriptions(conn: AsyncConnection, tenant_id: str) -> list[SubscriptionRecord]:
    rows = await conn.execute(select(*COLUMNS).where(S.c.tenant_id == tenant_id).order_by(S.c.created_seq))
    return [SubscriptionRecord.from_row(r) for r in rows]


async def subscriptions_by_ids(
    conn: AsyncConnection, tenant_id: str, ids: Sequence[uuid.UUID], *, for_update: bool = False
) -> dict[uuid.UUID, SubscriptionRecord]:
    if not ids:
        return {}
    query = select(*COLUMNS).where(S.c.tenant_id == tenant_id, S.c.id.in_(list(set(ids))))
    if for_update:
        query = query.with_for_update()
    return {r.id: SubscriptionRecord.from_row(r) for r in await conn.execute(query)}


async def insert_subscription(conn: AsyncConnection, tenant_id: str, values: dict[str, Any]) -> SubscriptionRecord:
    row = (await conn.execute(insert(S).values(tenant_id=tenant_id, id=uuid.uuid4(), **values).returning(*COLUMNS))).one()
    return SubscriptionRecord.from_row(row)


async def update_subscription(
    conn: AsyncConnection, tenant_id: str, subscription_id: uuid.UUID, values: dict[str, Any]
) -> SubscriptionRecord:
    row = (
        await conn.execute(
            update(S).where(S.c.tenant_id == tenant_id, S.c.id == subscription_id).values(**values).returning(*COLUMNS)
        )
    ).one()
    return SubscriptionRecord.from_row(row)


async def pool_consumed(conn: AsyncConnection, tenant_id: str, product_ids: Sequence[uuid.UUID] | None = None) -> dict[uuid.UUID, int]:
    query = select(P.c.product_id, P.c.consumed).where(P.c.tenant_id == tenant_id)
    if product_ids is not None:
        query = query.where(P.c.product_id.in_(list(product_ids)))
    return {r.product_id: int(r.consumed) for r in await conn.execute(query)}


async def lock_pools(conn: AsyncConnection, tenant_id: str, product_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, int]:
    """D21: lock the pool rows in product-id order (creating missing ones) and return their counters."""
    ordered = sorted(set(product_ids))
    if not ordered:
        return {}
    await conn.execute(
        pg_insert(P).values([{"tenant_id": tenant_id, "product_id": p, "consumed": 0} for p in ordered]).on_conflict_do_nothing()
    )
    rows = await conn.execute(
        select(P.c.product_id, P.c.consumed)
        .where(P.c.tenant_id == tenant_id, P.c.product_id.in_(ordered))
        .order_by(P.c.product_id)
        .with_for_update()
    )
    return {r.product_id: int(r.consumed) for r in rows}


async def not_deleted(conn: AsyncConnection) -> list[tuple[str, str, SubscriptionRecord]]:
    """Every tenant's subscriptions not yet stored as DELETED, with (tenant, stored status)."""
    rows = await conn.execute(select(S.c.tenant_id, S.c.stored_status, *COLUMNS).where(S.c.stored_status != "DELETED"))
    return [(r.tenant_id, r.stored_status, SubscriptionRecord.from_row(r)) for r in rows]


async def store_status(conn: AsyncConnection, tenant_id: str, subscription_id: uuid.UUID, status: str) -> None:
    await conn.execute(update(S).where(S.c.tenant_id == tenant_id, S.c.id == subscription_id).values(stored_status=status))
