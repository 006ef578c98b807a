"""Live updates (R27): one LISTEN connection per process, fanned out to its subscribers.

Committed changes announce themselves with `pg_notify` (db.repo.events): `license_events`
carries `<tenant>:<last seq>`, `license_seats` carries `<tenant>:<product>,<product>…`. One
dedicated asyncpg connection per process listens on both channels and hands each payload to the
`Watch`es of its tenant. A watch holds cursors and ids, never event bodies: the newest announced
seq, the products whose pools were announced, and a wake-up. Subscribers read what they stream
from the log (the truth, whichever replica wrote it); a notification only says "read again".

The connection starts with the first watch and reconnects with backoff when lost; on reconnect
every watch is woken with `reconnected` set, because notifications sent while it was down are
gone — the subscriber re-reads from its own cursor, so nothing is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg

from db.repo.events import EVENTS_CHANNEL, SEATS_CHANNEL

log = logging.getLogger("licensing.notifications")

APPLICATION_NAME = "licensing-listen"  # how the LISTEN connection shows in pg_stat_activity
FIRST_RETRY_SECONDS = 0.1
MAX_RETRY_SECONDS = 5.0
PING_SECONDS = 30.0  # a half-open TCP connection never reports itself lost: ask now and then
LISTEN_WAIT_SECONDS = 10.0  # how long a new watch waits for the connection before giving up


class ListenUnavailable(ConnectionError):
    """No LISTEN connection to PostgreSQL (an OSError: reported as DATABASE_UNAVAILABLE)."""


class Watch:
    """One subscriber's buffer: cursors and ids only."""

    __slots__ = ("_wake", "notified_seq", "products", "reconnected", "tenant_id", "waiting")

    def __init__(self, tenant_id: str) -> None:
        self.tenant_id = tenant_id
        self.notified_seq = 0  # the newest event cursor announced since the watch began
        self.products: set[uuid.UUID] = set()  # pools announced since the subscriber last took them
        self.reconnected = False  # notifications may have been missed: re-read everything
        self.waiting = False  # in `wait`: the subscriber has read all it knew of
        self._wake = asyncio.Event()

    def clear(self) -> None:
        """Before reading: whatever is announced from now on wakes the next `wait`."""
        self._wake.clear()

    async def wait(self) -> None:
        self.waiting = True
        try:
            await self._wake.wait()
        finally:
            self.waiting = False

    def take_products(self) -> tuple[set[uuid.UUID], bool]:
        """The products announced since the last call, and whether the connection was re-made."""
        products, reconnected = self.products, self.reconnected
        self.products, self.reconnected = set(), False
        return products, reconnected

    def _announce_seq(self, seq: int) -> None:
        if seq > self.notified_seq:
            self.notified_seq = seq
        self._wake.set()

    def _announce_products(self, products: set[uuid.UUID]) -> None:
        self.products |= products
        self._wake.set()

    def _announce_reconnect(self) -> None:
        self.reconnected = True
        self._wake.set()


class Notifications:
    """The process's LISTEN connection and its subscribers, per channel and tenant."""

    def __init__(self, dsn: str) -> None:
        self._dsn = dsn
        self._watches: dict[str, dict[str, set[Watch]]] = {EVENTS_CHANNEL: {}, SEATS_CHANNEL: {}}
        self._listening = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.connections_made = 0  # for tests and figures: 1 + reconnects

    @contextlib.asynccontextmanager
    async def watch(self, tenant_id: str, channel: str) -> AsyncIterator[Watch]:
        """A watch of one tenant's announcements on `channel`, registered before it is returned
        and only once the connection listens: anything committed after the caller's next read
        begins is announced to it."""
        watch = Watch(tenant_id)
        tenants = self._watches[channel]
        tenants.setdefault(tenant_id, set()).add(watch)
        try:
            if self._task is None or self._task.done():
                self._task = asyncio.create_task(self._run(), name="licensing-listen")
            try:
                await asyncio.wait_for(self._listening.wait(), LISTEN_WAIT_SECONDS)
            except TimeoutError as exc:
                raise ListenUnavailable("cannot LISTEN for changes: PostgreSQL is unreachable") from exc
            yield watch
        finally:
            watchers = tenants.get(tenant_id)
            if watchers is not None:
                watchers.discard(watch)
                if not watchers:
                    del tenants[tenant_id]

    def watch_count(self, tenant_id: str | None = None, *, waiting: bool = False) -> int:
        """How many watches (of a tenant; only those waiting): for tests and figures."""
        return sum(
            1 for tenants in self._watches.values() for tid, watchers in tenants.items() for w in watchers
            if (tenant_id is None or tid == tenant_id) and (w.waiting or not waiting)
        )

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # the connection -----------------------------------------------------------------------
    async def _run(self) -> None:
        delay = FIRST_RETRY_SECONDS
        while True:
            try:
                await self._listen()
                log.warning("LISTEN connection lost; reconnecting")
                delay = FIRST_RETRY_SECONDS
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - any failure: reconnect after a pause
                log.warning("LISTEN connection failed (%s); retrying in %.1f s", exc, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, MAX_RETRY_SECONDS)

    async def _listen(self) -> None:
        """One connection's life: LISTEN on both channels, return when it is lost."""
        conn = await asyncpg.connect(self._dsn, server_settings={"application_name": APPLICATION_NAME})
        lost = asyncio.Event()
        try:
            conn.add_termination_listener(lambda _c: lost.set())
            await conn.add_listener(EVENTS_CHANNEL, self._on_events)
            await conn.add_listener(SEATS_CHANNEL, self._on_seats)
            self.connections_made += 1
            self._listening.set()
            if self.connections_made > 1:
                log.info("LISTEN connection re-established; subscribers re-read from their cursors")
                self._wake_all()
            while not lost.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(lost.wait(), PING_SECONDS)
                if not lost.is_set():
                    await asyncio.wait_for(conn.execute("SELECT 1"), PING_SECONDS)
        finally:
            self._listening.clear()
            conn.terminate()

    def _wake_all(self) -> None:
        for tenants in self._watches.values():
            for watchers in tenants.values():
                for watch in watchers:
                    watch._announce_reconnect()

    def _on_events(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        tenant_id, _, seq = payload.rpartition(":")
        watchers = self._watches[EVENTS_CHANNEL].get(tenant_id)
        if not watchers or not seq.isdigit():
            return
        for watch in watchers:
            watch._announce_seq(int(seq))

    def _on_seats(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        tenant_id, _, ids = payload.rpartition(":")
        watchers = self._watches[SEATS_CHANNEL].get(tenant_id)
        if not watchers:
            return
        try:
            products = {uuid.UUID(p) for p in ids.split(",") if p}
        except ValueError:
            log.warning("ignored a malformed %s payload: %r", SEATS_CHANNEL, payload)
            return
        for watch in watchers:
            watch._announce_products(products)
