"""Request-scoped DataLoaders, one per (entity, key), named <Result>By<Key>Loader.

Every list field resolves through these, so the number of SQL statements of a query does not
grow with the number of rows returned. Results come back aligned with the keys.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from strawberry.dataloader import DataLoader

from db.records import GroupRecord, SubscriptionRecord, UserRecord
from db.repo import directory, group_licenses, licensing, subscriptions
from engine.subscription_lifecycle import SubscriptionTerms
from engine.subscription_pool import PoolFigures, SubscriptionFacts, pool_figures

if TYPE_CHECKING:
    from gql.context import Context


def subscription_terms(s: SubscriptionRecord) -> SubscriptionTerms:
    return SubscriptionTerms(s.term_starts_at, s.term_ends_at, s.is_trial, s.recurring_billing, s.cancelled_at)


class TenantPool:
    """All of the tenant's subscriptions and seat counters, read once per request (a handful of rows)."""

    def __init__(self, subs: list[SubscriptionRecord], consumed: dict[uuid.UUID, int], ctx: Context) -> None:
        self.subscriptions = subs
        self.by_product: dict[uuid.UUID, list[SubscriptionRecord]] = defaultdict(list)
        for s in subs:
            self.by_product[s.product_id].append(s)
        self.consumed = consumed
        self._now = ctx.services.clock.now()
        self._window = timedelta(days=ctx.settings.cancellation_window_days)
        self._figures: dict[uuid.UUID, PoolFigures] = {}

    def figures(self, product_id: uuid.UUID) -> PoolFigures:
        """Computed once per product and request (every tenant field of a product reads it)."""
        cached = self._figures.get(product_id)
        if cached is None:
            cached = self._figures[product_id] = self._compute(product_id)
        return cached

    def _compute(self, product_id: uuid.UUID) -> PoolFigures:
        facts = [
            SubscriptionFacts(s.quantity, s.is_self_service, subscription_terms(s)) for s in self.by_product.get(product_id, [])
        ]
        return pool_figures(facts, self.consumed.get(product_id, 0), self._now, self._window)

    def owned_product_ids(self) -> list[uuid.UUID]:
        return list(self.by_product)


class Loaders:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        tid = ctx.tenant_id
        self.unsaved_users: dict[uuid.UUID, UserRecord] = {}  # dry-run payloads name users never stored

        async def users(keys: Sequence[uuid.UUID]) -> list[UserRecord | None]:
            found = await ctx.read(lambda c: directory.users_by_ids(c, tid, keys))
            return [found.get(k) for k in keys]

        async def groups(keys: Sequence[uuid.UUID]) -> list[GroupRecord | None]:
            found = await ctx.read(lambda c: directory.groups_by_ids(c, tid, keys))
            return [found.get(k) for k in keys]

        async def first_groups(keys: Sequence[tuple[uuid.UUID, int]]) -> list[list[GroupRecord]]:
            by_limit: dict[int, list[uuid.UUID]] = defaultdict(list)
            for user_id, limit in keys:
                by_limit[limit].append(user_id)
            found: dict[tuple[uuid.UUID, int], list[GroupRecord]] = {}
            for limit, ids in by_limit.items():
                rows = await ctx.read(lambda c, ids=ids, limit=limit: directory.first_groups_of_users(c, tid, ids, limit))
                for user_id, groups_ in rows.items():
                    found[(user_id, limit)] = groups_
            return [found.get(k, []) for k in keys]

        async def group_counts(keys: Sequence[uuid.UUID]) -> list[int]:
            counts = await ctx.read(lambda c: directory.direct_group_counts_of_users(c, tid, keys))
            return [counts.get(k, 0) for k in keys]

        async def pool(keys: Sequence[str]) -> list[TenantPool]:
            async def load(c):  # type: ignore[no-untyped-def]
                return await subscriptions.tenant_subscriptions(c, tid), await subscriptions.pool_consumed(c, tid)

            subs, consumed = await ctx.read(load)
            tenant_pool = TenantPool(subs, consumed, ctx)
            return [tenant_pool for _ in keys]

        async def paths(keys: Sequence[uuid.UUID]) -> list[list[Any]]:
            found = await ctx.read(lambda c: licensing.paths_of_users(c, tid, keys))
            return [found.get(k, []) for k in keys]

        async def seats(keys: Sequence[uuid.UUID]) -> list[set[uuid.UUID]]:
            found = await ctx.read(lambda c: licensing.seats_of_users(c, tid, keys))
            return [found.get(k, set()) for k in keys]

        async def gls_by_group(keys: Sequence[uuid.UUID]) -> list[list[Any]]:
            found = await ctx.read(lambda c: group_licenses.of_groups(c, tid, keys))
            return [found.get(k, []) for k in keys]

        async def gls_by_product(keys: Sequence[uuid.UUID]) -> list[list[Any]]:
            found = await ctx.read(lambda c: group_licenses.of_products(c, tid, keys))
            return [found.get(k, []) for k in keys]

        async def group_errors(keys: Sequence[uuid.UUID]) -> list[bool]:
            found = await ctx.read(lambda c: group_licenses.groups_with_errors(c, tid, keys))
            return [k in found for k in keys]

        self.group_licenses_by_group = DataLoader(load_fn=gls_by_group)
        self.group_licenses_by_product = DataLoader(load_fn=gls_by_product)
        self.has_errors_by_group = DataLoader(load_fn=group_errors)
        self.paths_by_user = DataLoader(load_fn=paths)
        self.seats_by_user = DataLoader(load_fn=seats)
        self.user_by_id = DataLoader(load_fn=users)
        self.group_by_id = DataLoader(load_fn=groups)
        self.first_groups_by_user = DataLoader(load_fn=first_groups)
        self.group_count_by_user = DataLoader(load_fn=group_counts)
        self.tenant_pool_by_tenant = DataLoader(load_fn=pool)

    async def tenant_pool(self) -> TenantPool:
        return await self.tenant_pool_by_tenant.load(self.ctx.tenant_id)
