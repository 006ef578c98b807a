"""Engine, connections and transactions.

A GraphQL query runs in one read-only REPEATABLE READ transaction (one snapshot); a change in
one write transaction; a dry run in a REPEATABLE READ snapshot that is always rolled back. Core statements throughout (the ORM models
give the shape; bulk work needs set-based SQL).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from db.notifications import Notifications
from db.urls import async_url, libpq_url

TENANT_LOCK_NAMESPACE = 0x4C1C  # first key of pg_advisory_xact_lock(int, int) for tenant license locks


class Database:
    def __init__(self, url: str, *, pool_size: int = 10, lock_timeout_ms: int = 10_000) -> None:
        self.url = url
        self.lock_timeout_ms = lock_timeout_ms
        # lock_timeout is set for the connection's session when it connects (asyncpg sends it in
        # the startup packet), not by a SET LOCAL per write transaction: one round trip fewer each
        self.engine: AsyncEngine = create_async_engine(
            async_url(url), pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=False,
            connect_args={"server_settings": {"lock_timeout": f"{int(lock_timeout_ms)}ms"}},
        )
        self.statement_count = 0
        self.live_reads = asyncio.Semaphore(max(1, pool_size // 2))  # see live_read
        self.notifications = Notifications(libpq_url(url))  # LISTEN for live updates: connects at the first watch

        @event.listens_for(self.engine.sync_engine, "before_cursor_execute")
        def _count(*_args: object) -> None:
            self.statement_count += 1

    def count_statement(self) -> None:
        """One statement run outside SQLAlchemy (db.repo.reads)."""
        self.statement_count += 1

    async def dispose(self) -> None:
        await self.notifications.stop()
        await self.engine.dispose()

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """One consistent snapshot: REPEATABLE READ, READ ONLY."""
        async with self.engine.connect() as conn:
            await conn.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
            async with conn.begin():
                yield conn

    @asynccontextmanager
    async def live_read(self) -> AsyncIterator[AsyncConnection]:
        """A live subscription's short read: no transaction, each statement its own snapshot (one
        round trip). At most half the pool at once, so that a change announced to hundreds of
        subscribers never keeps requests waiting for a connection."""
        async with self.live_reads, self.engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            yield conn

    @asynccontextmanager
    async def scratch(self) -> AsyncIterator[AsyncConnection]:
        """A dry run's transaction: one REPEATABLE READ snapshot, always rolled back.

        Not READ ONLY: a dry run stages its batch in temporary tables (db.group_bulk), which
        PostgreSQL refuses to create in a read-only transaction. It takes no locks and stores
        nothing."""
        async with self.engine.connect() as conn:
            await conn.execution_options(isolation_level="REPEATABLE READ")
            trans = await conn.begin()
            try:
                yield conn
            finally:
                await trans.rollback()

    @asynccontextmanager
    async def write(self, *, dry_run: bool = False) -> AsyncIterator[AsyncConnection]:
        """One write transaction; rolled back at the end when `dry_run` (nothing stored)."""
        async with self.engine.connect() as conn:
            trans = await conn.begin()
            try:
                yield conn
            except BaseException:
                await trans.rollback()
                raise
            if dry_run:
                await trans.rollback()
            else:
                await trans.commit()

    async def ping(self) -> bool:
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        return True


async def lock_tenant_licenses(conn: AsyncConnection, tenant_id: str) -> None:
    """D21: every license-affecting mutation first takes the tenant's transaction-scoped lock."""
    await conn.execute(
        text("SELECT pg_advisory_xact_lock(:ns, hashtext(:tid))"), {"ns": TENANT_LOCK_NAMESPACE, "tid": tenant_id}
    )


async def try_job_lock(conn: AsyncConnection, key: int) -> bool:
    """A periodic job's transaction-scoped lock: True for the one replica that gets it."""
    return bool((await conn.execute(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": key})).scalar_one())
