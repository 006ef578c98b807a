"""The per-request context: who is calling (an `Actor`), what the process holds (a `Runtime`),
the request's loaders and its one read snapshot.

Reads of a request share one connection in one REPEATABLE READ read-only transaction, opened
lazily; loader batches and resolvers take turns on it (an asyncio.Lock), because a connection
must never run two statements at once. A mutation's use case works in its own transaction
and, once it is over, the snapshot is dropped so the payload is read after the change.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection

from db.availability import is_database_unavailable
from db.repo.catalog import Catalog
from db.repo.reads import Reader
from gql.loaders import Loaders
from services.context import Actor, Runtime

T = TypeVar("T")


class _EndSnapshot(Exception):
    """Thrown into the snapshot's context manager to end its transaction with a rollback."""


class OneStatementOnly(RuntimeError):
    """A request opened for one statement (`gql.one_statement`) asked for a second: it would not
    read the first one's snapshot, so it is refused (a field on that list that should not be)."""


@dataclass
class Context:
    runtime: Runtime
    actor: Actor
    request: Any = None
    _conn: AsyncConnection | None = None
    _cm: AbstractAsyncContextManager[AsyncConnection] | None = None
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _loaders: Loaders | None = None
    _reader: Reader | None = None
    # the request is answered by its first statement (gql.one_statement): no explicit
    # transaction, since one statement is its own snapshot; a second one is refused
    one_statement: bool = False
    changed: bool = False  # a change was made in this request (the snapshot was reset for it)

    @property
    def tenant_id(self) -> str:
        return self.actor.tenant.id

    @property
    def catalog(self) -> Catalog:
        return self.runtime.catalog

    @property
    def loaders(self) -> Loaders:
        if self._loaders is None:
            self._loaders = Loaders(self.read, self.read_raw, self.tenant_id, self.runtime)
        return self._loaders

    # the read snapshot -------------------------------------------------------------------
    async def read(self, work: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        """Run `work` on the request's snapshot connection, one statement batch at a time."""
        async with self._lock:
            if self.one_statement:
                raise OneStatementOnly("this request was to be answered by one statement")
            return await work(await self._snapshot())

    async def read_raw(self, work: Callable[[Reader], Awaitable[T]]) -> T:
        """Run `work` with plain SQL on the same snapshot (db.repo.reads: the hot statements)."""
        async with self._lock:
            if self._reader is None:
                raw = await (await self._snapshot()).get_raw_connection()
                reader = Reader(raw.driver_connection, self.runtime.db.count_statement)
                if self.one_statement:  # no BEGIN: the one statement is its own snapshot
                    self._reader = reader
                    return await work(reader)
                try:
                    await _begin(raw.dbapi_connection)
                except Exception as exc:
                    reader.lost = is_database_unavailable(exc)  # then closing invalidates the connection
                    self._reader = reader
                    raise
                self._reader = reader
            elif self.one_statement:
                raise OneStatementOnly("this request was to be answered by one statement")
            return await work(self._reader)

    async def _snapshot(self) -> AsyncConnection:
        if self._conn is None:
            self._cm = self.runtime.db.read()
            self._conn = await self._cm.__aenter__()
        return self._conn

    async def reset_snapshot(self) -> None:
        """Drop the snapshot and the loaders' caches (after a change, dry or not)."""
        async with self._lock:
            await self._close_locked()
            self.one_statement = False  # what comes next is read the usual way
            self.changed = True
        self._loaders = None

    async def close(self) -> None:
        async with self._lock:
            await self._close_locked()

    async def _close_locked(self) -> None:
        if self._cm is not None:
            if self._reader is not None and self._reader.lost and self._conn is not None:
                await self._conn.invalidate()  # SQLAlchemy did not see the plain statement fail
            cm, self._cm, self._conn, self._reader = self._cm, None, None, None
            # a read-only snapshot has nothing to commit: end it by rolling back, which also
            # works when a read was cancelled mid-statement (graphql-core cancels the sibling
            # fields of one that errs) and left the transaction invalid
            await cm.__aexit__(_EndSnapshot, _EndSnapshot(), None)


async def _begin(adapted: Any) -> None:
    """BEGIN the snapshot's transaction (REPEATABLE READ, READ ONLY, as `Database.read` set it) if
    SQLAlchemy has not yet: its asyncpg adapter begins only at its own first statement, so plain
    statements run first would each see a snapshot of their own. The adapter's own `BEGIN`, so
    SQLAlchemy ends it as if it had begun it."""
    async with adapted._execute_mutex:
        if adapted._transaction is None:
            await adapted._start_transaction()
