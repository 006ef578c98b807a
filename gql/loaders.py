"""Request-scoped DataLoaders, one per (entity, key), named <Result>By<Key>Loader.

Every list field resolves through these, so the number of SQL statements of a query does not
grow with the number of rows returned. Results come back aligned with the keys. A loader is
made when first used: most requests need two or three of them.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from functools import cached_property
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection
from strawberry.dataloader import DataLoader

from db.records import AuditRecord, GroupRecord, SubscriptionRecord, UserRecord
from db.repo import audit, group_licenses, reads
from db.repo.reads import PathRow, Reader
from services.context import Runtime
from services.pools import TenantPool

Read = Callable[[Callable[[AsyncConnection], Awaitable[Any]]], Awaitable[Any]]
ReadRaw = Callable[[Callable[[Reader], Awaitable[Any]]], Awaitable[Any]]


class Loaders:
    """The request's loaders: `read`/`read_raw` run statements on the request's snapshot."""

    def __init__(self, read: Read, read_raw: ReadRaw, tenant_id: str, runtime: Runtime) -> None:
        self.read, self.read_raw, self.tenant_id, self.runtime = read, read_raw, tenant_id, runtime
        self.unsaved_users: dict[uuid.UUID, UserRecord] = {}  # dry-run payloads name users never stored
        # read ahead for a page of users (gql.types.directory.prefetch_page): resolvers take these
        # without awaiting
        self.ready_paths: dict[uuid.UUID, list[PathRow]] = {}
        self.ready_seats: dict[uuid.UUID, set[uuid.UUID]] = {}
        self.ready_first_groups: dict[tuple[uuid.UUID, int], list[GroupRecord]] = {}
        # users already read (a page's): the loader takes them from here (a dict entry, where
        # priming the loader would make a future per user)
        self.ready_users: dict[uuid.UUID, UserRecord] = {}
        self.ready_pool: TenantPool | None = None  # once read: the Licenses page's figures resolve without awaiting

    async def prefetch_licenses(self, user_ids: Sequence[uuid.UUID]) -> None:
        """Paths and seats of these users, one statement; primed into the loaders too."""
        wanted = [u for u in user_ids if u not in self.ready_paths]
        if not wanted:
            return
        paths, seats = await self.read_raw(lambda r: reads.paths_and_seats_of_users(r, self.tenant_id, wanted))
        self.prime_licenses(paths, seats)

    def prime_licenses(self, paths: dict[uuid.UUID, list[PathRow]], seats: dict[uuid.UUID, set[uuid.UUID]]) -> None:
        """Paths and seats read ahead (a users page reads them with the page); the loaders take
        them from here too."""
        self.ready_paths.update(paths)
        self.ready_seats.update(seats)

    async def prefetch_first_groups(self, user_ids: Sequence[uuid.UUID], limit: int) -> None:
        found = await self.read_raw(lambda r: reads.first_groups_of_users(r, self.tenant_id, list(user_ids), limit))
        self.prime_first_groups(found, limit)

    def prime_first_groups(self, found: dict[uuid.UUID, list[GroupRecord]], limit: int) -> None:
        ready = self.ready_first_groups
        for user_id, groups in found.items():
            ready[(user_id, limit)] = groups

    # ---------------------------------------------------------------------- directory

    async def _users(self, keys: Sequence[uuid.UUID]) -> list[UserRecord | None]:
        ready = self.ready_users
        missing = [k for k in keys if k not in ready]
        found = await self.read_raw(lambda r: reads.users_by_ids(r, self.tenant_id, missing)) if missing else {}
        return [ready.get(k) or found.get(k) for k in keys]

    async def _groups(self, keys: Sequence[uuid.UUID]) -> list[GroupRecord | None]:
        found = await self.read_raw(lambda r: reads.groups_by_ids(r, self.tenant_id, keys))
        return [found.get(k) for k in keys]

    async def _first_groups(self, keys: Sequence[tuple[uuid.UUID, int]]) -> list[list[GroupRecord]]:
        ready = self.ready_first_groups
        by_limit: dict[int, list[uuid.UUID]] = defaultdict(list)
        for user_id, limit in keys:
            if (user_id, limit) not in ready:
                by_limit[limit].append(user_id)
        found: dict[tuple[uuid.UUID, int], list[GroupRecord]] = {}
        for limit, ids in by_limit.items():
            rows = await self.read_raw(lambda r, ids=ids, limit=limit: reads.first_groups_of_users(r, self.tenant_id, ids, limit))
            for user_id, groups in rows.items():
                found[(user_id, limit)] = groups
        return [ready[k] if k in ready else found.get(k, []) for k in keys]

    async def _group_counts(self, keys: Sequence[uuid.UUID]) -> list[int]:
        counts = await self.read_raw(lambda r: reads.direct_group_counts_of_users(r, self.tenant_id, keys))
        return [counts.get(k, 0) for k in keys]

    async def _first_members(self, keys: Sequence[tuple[uuid.UUID, int]]) -> list[list[tuple[int, str, uuid.UUID]]]:
        by_limit: dict[int, list[uuid.UUID]] = defaultdict(list)
        for group_id, limit in keys:
            by_limit[limit].append(group_id)
        found: dict[tuple[uuid.UUID, int], list[tuple[int, str, uuid.UUID]]] = {}
        for limit, ids in by_limit.items():
            rows = await self.read_raw(lambda r, ids=ids, limit=limit: reads.first_members_of_groups(r, self.tenant_id, ids, limit))
            for group_id, members in rows.items():
                found[(group_id, limit)] = members
        return [found.get(k, []) for k in keys]

    async def _member_counts(self, keys: Sequence[uuid.UUID]) -> list[int]:
        counts = await self.read_raw(lambda r: reads.direct_member_counts_of_groups(r, self.tenant_id, keys))
        return [counts.get(k, 0) for k in keys]

    @cached_property
    def first_members_by_group(self) -> DataLoader[tuple[uuid.UUID, int], list[tuple[int, str, uuid.UUID]]]:
        """`Group.members`' first page of many groups in one statement (kind, sort key, id)."""
        return DataLoader(load_fn=self._first_members)

    @cached_property
    def member_count_by_group(self) -> DataLoader[uuid.UUID, int]:
        return DataLoader(load_fn=self._member_counts)

    @cached_property
    def user_by_id(self) -> DataLoader[uuid.UUID, UserRecord | None]:
        return DataLoader(load_fn=self._users)

    @cached_property
    def group_by_id(self) -> DataLoader[uuid.UUID, GroupRecord | None]:
        return DataLoader(load_fn=self._groups)

    @cached_property
    def first_groups_by_user(self) -> DataLoader[tuple[uuid.UUID, int], list[GroupRecord]]:
        return DataLoader(load_fn=self._first_groups)

    @cached_property
    def group_count_by_user(self) -> DataLoader[uuid.UUID, int]:
        return DataLoader(load_fn=self._group_counts)

    # ---------------------------------------------------------------------- licenses

    async def _paths(self, keys: Sequence[uuid.UUID]) -> list[list[PathRow]]:
        ready = self.ready_paths
        missing = [k for k in keys if k not in ready]
        found = await self.read_raw(lambda r: reads.paths_of_users(r, self.tenant_id, missing)) if missing else {}
        return [ready[k] if k in ready else found.get(k, []) for k in keys]

    async def _seats(self, keys: Sequence[uuid.UUID]) -> list[set[uuid.UUID]]:
        ready = self.ready_seats
        missing = [k for k in keys if k not in ready]
        found = await self.read_raw(lambda r: reads.seats_of_users(r, self.tenant_id, missing)) if missing else {}
        return [ready[k] if k in ready else found.get(k, set()) for k in keys]

    def prime_pool(self, subs: list[SubscriptionRecord], consumed: dict[uuid.UUID, int]) -> None:
        """The tenant's pool, read with the caller in the snapshot's first statement."""
        pool = self.ready_pool = TenantPool(subs, consumed, self.runtime.clock.now(), self.runtime.cancellation_window)
        self.tenant_pool_by_tenant.prime(self.tenant_id, pool)

    async def _pool(self, keys: Sequence[str]) -> list[TenantPool]:
        subs, consumed = await self.read_raw(lambda r: reads.tenant_pool(r, self.tenant_id))
        pool = self.ready_pool = TenantPool(subs, consumed, self.runtime.clock.now(), self.runtime.cancellation_window)
        return [pool for _ in keys]

    @cached_property
    def paths_by_user(self) -> DataLoader[uuid.UUID, list[PathRow]]:
        return DataLoader(load_fn=self._paths)

    @cached_property
    def seats_by_user(self) -> DataLoader[uuid.UUID, set[uuid.UUID]]:
        return DataLoader(load_fn=self._seats)

    @cached_property
    def tenant_pool_by_tenant(self) -> DataLoader[str, TenantPool]:
        return DataLoader(load_fn=self._pool)

    async def tenant_pool(self) -> TenantPool:
        return await self.tenant_pool_by_tenant.load(self.tenant_id)

    # ---------------------------------------------------------------------- group licenses

    async def _gls_by_group(self, keys: Sequence[uuid.UUID]) -> list[list[Any]]:
        found = await self.read(lambda c: group_licenses.of_groups(c, self.tenant_id, keys))
        return [found.get(k, []) for k in keys]

    async def _gls_by_product(self, keys: Sequence[uuid.UUID]) -> list[list[Any]]:
        found = await self.read(lambda c: group_licenses.of_products(c, self.tenant_id, keys))
        return [found.get(k, []) for k in keys]

    async def _group_errors(self, keys: Sequence[uuid.UUID]) -> list[bool]:
        found = await self.read(lambda c: group_licenses.groups_with_errors(c, self.tenant_id, keys))
        return [k in found for k in keys]

    @cached_property
    def group_licenses_by_group(self) -> DataLoader[uuid.UUID, list[Any]]:
        return DataLoader(load_fn=self._gls_by_group)

    @cached_property
    def group_licenses_by_product(self) -> DataLoader[uuid.UUID, list[Any]]:
        return DataLoader(load_fn=self._gls_by_product)

    @cached_property
    def has_errors_by_group(self) -> DataLoader[uuid.UUID, bool]:
        return DataLoader(load_fn=self._group_errors)

    # ---------------------------------------------------------------------- audit

    async def _audit_events(self, keys: Sequence[int]) -> list[AuditRecord | None]:
        found = await self.read(lambda c: audit.events_by_ids(c, self.tenant_id, keys))
        return [found.get(k) for k in keys]

    @cached_property
    def audit_event_by_id(self) -> DataLoader[int, AuditRecord | None]:
        """A page of license events names the audit events of their changes: one statement."""
        return DataLoader(load_fn=self._audit_events)
