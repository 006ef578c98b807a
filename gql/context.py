"""The per-request context: who is calling, the catalog, the clock, and one read snapshot.

Reads of a request share one connection in one REPEATABLE READ read-only transaction, opened
lazily; loader batches and resolvers take turns on it (an asyncio.Lock), because a connection
must never run two statements at once. A mutation works in its own write transaction and,
once it has committed, drops the snapshot so the payload is read after the change.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection

from db.clock import Clock
from db.config import Settings
from db.records import TenantRecord, UserRecord
from db.repo.catalog import Catalog
from db.session import Database
from gql.auth import Role

if TYPE_CHECKING:
    from gql.loaders import Loaders

T = TypeVar("T")

READ_ROLES = frozenset(Role)


@dataclass(frozen=True)
class Principal:
    tenant: TenantRecord
    sub: str
    roles: frozenset[Role]
    user: UserRecord | None  # the caller's own user, when `sub` names one (D5)

    @property
    def can_read_tenant(self) -> bool:
        return bool(self.roles & READ_ROLES)

    def has_any(self, *roles: Role) -> bool:
        return bool(self.roles.intersection(roles))


@dataclass
class AppServices:
    """What the process holds: immutable, shared by every request."""

    settings: Settings
    db: Database
    catalog: Catalog
    clock: Clock
    engine_catalog: Any = None  # engine.Catalog built from `catalog` (immutable)
    engine_rules: Any = None  # engine.ServicePlanRules

    def __post_init__(self) -> None:
        if self.engine_catalog is None:
            from db.license_changes import engine_catalog

            self.engine_catalog, self.engine_rules = engine_catalog(self.catalog)


@dataclass
class Context:
    services: AppServices
    principal: Principal
    request: Any = None
    _conn: AsyncConnection | None = None
    _cm: AbstractAsyncContextManager[AsyncConnection] | None = None
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _loaders: Loaders | None = None

    # conveniences ------------------------------------------------------------------------
    @property
    def tenant_id(self) -> str:
        return self.principal.tenant.id

    @property
    def catalog(self) -> Catalog:
        return self.services.catalog

    @property
    def settings(self) -> Settings:
        return self.services.settings

    @property
    def db(self) -> Database:
        return self.services.db

    @property
    def loaders(self) -> Loaders:
        if self._loaders is None:
            from gql.loaders import Loaders

            self._loaders = Loaders(self)
        return self._loaders

    # the read snapshot -------------------------------------------------------------------
    async def read(self, work: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        """Run `work` on the request's snapshot connection, one statement batch at a time."""
        async with self._lock:
            if self._conn is None:
                self._cm = self.db.read()
                self._conn = await self._cm.__aenter__()
            return await work(self._conn)

    async def reset_snapshot(self) -> None:
        """Drop the snapshot and the loaders' caches (after a mutation committed)."""
        async with self._lock:
            await self._close_locked()
        self._loaders = None

    async def close(self) -> None:
        async with self._lock:
            await self._close_locked()

    async def _close_locked(self) -> None:
        if self._cm is not None:
            cm, self._cm, self._conn = self._cm, None, None
            await cm.__aexit__(None, None, None)

    @asynccontextmanager
    async def write(self, *, dry_run: bool) -> AsyncIterator[AsyncConnection]:
        async with self.db.write(dry_run=dry_run) as conn:
            yield conn
