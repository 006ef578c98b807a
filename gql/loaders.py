"""Request-scoped DataLoaders, one per (entity, key), named <Result>By<Key>Loader.

Every list field resolves through these, so the number of SQL statements of a query does not
grow with the number of rows returned. Results come back aligned with the keys.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection
from strawberry.dataloader import DataLoader

from db.records import GroupRecord, UserRecord
from db.repo import directory, group_licenses, licensing, subscriptions
from services.context import Runtime
from services.pools import TenantPool

T = TypeVar("T")
Read = Callable[[Callable[[AsyncConnection], Awaitable[Any]]], Awaitable[Any]]


class Loaders:
    """The request's loaders: `read` runs a statement on the request's snapshot."""

    def __init__(self, read: Read, tenant_id: str, runtime: Runtime) -> None:
        self.tenant_id = tid = tenant_id
        self.unsaved_users: dict[uuid.UUID, UserRecord] = {}  # dry-run payloads name users never stored

        async def users(keys: Sequence[uuid.UUID]) -> list[UserRecord | None]:
            found = await read(lambda c: directory.users_by_ids(c, tid, keys))
            return [found.get(k) for k in keys]

        async def groups(keys: Sequence[uuid.UUID]) -> list[GroupRecord | None]:
            found = await read(lambda c: directory.groups_by_ids(c, tid, keys))
            return [found.get(k) for k in keys]

        async def first_groups(keys: Sequence[tuple[uuid.UUID, int]]) -> list[list[GroupRecord]]:
            by_limit: dict[int, list[uuid.UUID]] = defaultdict(list)
            for user_id, limit in keys:
                by_limit[limit].append(user_id)
            found: dict[tuple[uuid.UUID, int], list[GroupRecord]] = {}
            for limit, ids in by_limit.items():
                rows = await read(lambda c, ids=ids, limit=limit: directory.first_groups_of_users(c, tid, ids, limit))
                for user_id, groups_ in rows.items():
                    found[(user_id, limit)] = groups_
            return [found.get(k, []) for k in keys]

        async def group_counts(keys: Sequence[uuid.UUID]) -> list[int]:
            counts = await read(lambda c: directory.direct_group_counts_of_users(c, tid, keys))
            return [counts.get(k, 0) for k in keys]

        async def pool(keys: Sequence[str]) -> list[TenantPool]:
            async def load(c):  # type: ignore[no-untyped-def]
                return await subscriptions.tenant_subscriptions(c, tid), await subscriptions.pool_consumed(c, tid)

            subs, consumed = await read(load)
            tenant_pool = TenantPool(subs, consumed, runtime.clock.now(), runtime.cancellation_window)
            return [tenant_pool for _ in keys]

        async def paths(keys: Sequence[uuid.UUID]) -> list[list[Any]]:
            found = await read(lambda c: licensing.paths_of_users(c, tid, keys))
            return [found.get(k, []) for k in keys]

        async def seats(keys: Sequence[uuid.UUID]) -> list[set[uuid.UUID]]:
            found = await read(lambda c: licensing.seats_of_users(c, tid, keys))
            return [found.get(k, set()) for k in keys]

        async def gls_by_group(keys: Sequence[uuid.UUID]) -> list[list[Any]]:
            found = await read(lambda c: group_licenses.of_groups(c, tid, keys))
            return [found.get(k, []) for k in keys]

        async def gls_by_product(keys: Sequence[uuid.UUID]) -> list[list[Any]]:
            found = await read(lambda c: group_licenses.of_products(c, tid, keys))
            return [found.get(k, []) for k in keys]

        async def group_errors(keys: Sequence[uuid.UUID]) -> list[bool]:
            found = await read(lambda c: group_licenses.groups_with_errors(c, tid, keys))
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
        return await self.tenant_pool_by_tenant.load(self.tenant_id)  # type: ignore[no-any-return]
