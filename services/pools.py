"""Seat pools (R2): a product's figures from the tenant's subscriptions and its seat counter.

The one place pool figures are computed: the Licenses page, change summaries and every
use case that checks free seats read them from here.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from db.records import SubscriptionRecord
from db.repo import subscriptions as subscription_repo
from engine.subscription_pool import PoolFigures, SubscriptionFacts, pool_figures


def figures_of(
    subs: Iterable[SubscriptionRecord], consumed: Mapping[uuid.UUID, int], product_ids: Iterable[uuid.UUID],
    now: datetime, window: timedelta,
) -> dict[uuid.UUID, PoolFigures]:
    """Pool figures of these products from given subscriptions and counters (a dry run passes
    the subscriptions as the change would leave them)."""
    by_product: dict[uuid.UUID, list[SubscriptionFacts]] = {}
    for s in subs:
        by_product.setdefault(s.product_id, []).append(SubscriptionFacts(s.quantity, s.is_self_service, s.terms))
    return {pid: pool_figures(by_product.get(pid, []), consumed.get(pid, 0), now, window) for pid in product_ids}


async def read_figures(
    conn: AsyncConnection, tenant_id: str, product_ids: Sequence[uuid.UUID], now: datetime, window: timedelta
) -> dict[uuid.UUID, PoolFigures]:
    """Pool figures of some products, read in the caller's transaction."""
    subs = await subscription_repo.tenant_subscriptions(conn, tenant_id)
    consumed = await subscription_repo.pool_consumed(conn, tenant_id, list(product_ids))
    return figures_of(subs, consumed, product_ids, now, window)


class TenantPool:
    """All of a tenant's subscriptions and seat counters (a handful of rows), with each
    product's figures computed once."""

    def __init__(self, subs: list[SubscriptionRecord], consumed: Mapping[uuid.UUID, int], now: datetime, window: timedelta) -> None:
        self.subscriptions = subs
        self.by_product: dict[uuid.UUID, list[SubscriptionRecord]] = {}
        for s in subs:
            self.by_product.setdefault(s.product_id, []).append(s)
        self.consumed = consumed
        self._now, self._window = now, window
        self._figures: dict[uuid.UUID, PoolFigures] = {}

    def figures(self, product_id: uuid.UUID) -> PoolFigures:
        found = self._figures.get(product_id)
        if found is None:
            found = self._figures[product_id] = figures_of(
                self.by_product.get(product_id, []), self.consumed, [product_id], self._now, self._window
            )[product_id]
        return found

    def owned_product_ids(self) -> list[uuid.UUID]:
        return list(self.by_product)
