"""Live updates (R27): follow a tenant's license events and seat pools as changes commit.

`follow_events` replays the events after a cursor, then streams each new one, in cursor order,
read from the log in pages (never from a notification's payload), each page with one
statement (its own snapshot, no transaction around it): a subscription holds no snapshot while it waits, and a notification
(db.notifications) only tells it to read again. A subscriber reads at its own pace — a slow
one slows nobody else — but once it has caught up with the log, falling more than `MAX_LAG`
events behind what was announced (counting only events it may see) ends it with
`SubscriberTooSlow`; resuming after its last cursor loses nothing. A replay from an old
cursor is read at the subscriber's pace, however far behind it starts.

`follow_seats` yields the products whose pool figures changed, with the pool they were read
from (compared with the figures last yielded, so an announcement that changed nothing visible
yields nothing).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Set

from db.repo import events, reads
from db.repo.events import EVENTS_CHANNEL, SEATS_CHANNEL, EventFilter, EventRecord
from db.repo.reads import Reader
from engine.subscription_pool import PoolFigures
from services.context import Actor, Runtime
from services.pools import TenantPool

PAGE = 500  # events read per statement
MAX_LAG = 10_000  # R27: announced but not yet delivered events past which a subscription ends


class SubscriberTooSlow(Exception):
    """A subscription fell more than MAX_LAG events behind (R27)."""

    def __init__(self, behind: int, last_seq: int) -> None:
        super().__init__(
            f"This subscription fell more than {MAX_LAG} events behind ({behind} at least) and was ended; "
            "subscribe again with `after` set to the last cursor you received: nothing is lost."
        )
        self.behind = behind  # how many (visible) events it was behind, at least
        self.last_seq = last_seq  # the cursor it had reached: resume after it


def _narrowed(spec: EventFilter) -> bool:
    return spec != EventFilter()


async def follow_events(
    runtime: Runtime, actor: Actor, spec: EventFilter, after: int | None
) -> AsyncIterator[list[EventRecord]]:
    """Pages of the events matching `spec` after the cursor `after` (None: from now on), oldest
    first, forever. The next page is read once the consumer asks for it: what was yielded
    counts as delivered then."""
    db, tenant_id = runtime.db, actor.tenant_id
    async with db.notifications.watch(tenant_id, EVENTS_CHANNEL) as watch:
        position = after
        if position is None:
            async with db.live_read() as conn:
                position = await events.last_seq(conn, tenant_id)
        live = after is None  # caught up with the log at least once: the lag rule applies
        while True:
            watch.clear()
            caught_up = False
            while not caught_up:
                if live:  # before each page: one change of more than MAX_LAG events ends it at once
                    await _check_lag(runtime, tenant_id, spec, position, watch.notified_seq)
                async with db.live_read() as conn:  # one statement, one snapshot
                    page, newest = await events.page_upto(conn, tenant_id, spec, after=position, first=PAGE)
                scanned = newest if len(page) < PAGE else page[-1].seq
                if page:
                    yield page
                position = max(position, scanned)  # delivered, or known to be none of its business
                caught_up = len(page) < PAGE
            live = True
            if watch.notified_seq <= position:
                await watch.wait()


async def _check_lag(runtime: Runtime, tenant_id: str, spec: EventFilter, position: int, notified: int) -> None:
    behind = notified - position
    if behind <= MAX_LAG:
        return
    if _narrowed(spec):  # count only what it may see (bounded: at most MAX_LAG + 1 rows)
        async with runtime.db.live_read() as conn:
            behind = await events.count_between(conn, tenant_id, spec, after=position, upto=notified, limit=MAX_LAG + 1)
        if behind <= MAX_LAG:
            return
    raise SubscriberTooSlow(behind, position)


async def read_pool(runtime: Runtime, tenant_id: str) -> TenantPool:
    """The tenant's subscriptions and seat counters, in one statement (the Licenses page's)."""
    db = runtime.db
    async with db.live_read() as conn:
        raw = await conn.get_raw_connection()
        subs, consumed = await reads.tenant_pool(Reader(raw.driver_connection, db.count_statement), tenant_id)
    return TenantPool(subs, consumed, runtime.clock.now(), runtime.cancellation_window)


async def follow_seats(
    runtime: Runtime, actor: Actor, product_ids: Set[uuid.UUID] | None
) -> AsyncIterator[tuple[TenantPool, list[uuid.UUID]]]:
    """Each time pool figures of these products (None: every product the tenant owns, at that
    moment) change: the pool they were read from and the products that changed."""
    tenant_id = actor.tenant_id

    def wanted(pool: TenantPool) -> Set[uuid.UUID]:
        return product_ids if product_ids is not None else set(pool.owned_product_ids())

    async with runtime.db.notifications.watch(tenant_id, SEATS_CHANNEL) as watch:
        pool = await read_pool(runtime, tenant_id)
        shown: dict[uuid.UUID, PoolFigures] = {pid: pool.figures(pid) for pid in wanted(pool)}
        while True:
            await watch.wait()
            watch.clear()
            announced, reconnected = watch.take_products()
            if not reconnected and product_ids is not None:
                announced &= product_ids
            if not announced and not reconnected:
                continue
            pool = await read_pool(runtime, tenant_id)
            candidates = wanted(pool) if reconnected else announced & wanted(pool)
            changed = sorted((pid for pid in candidates if pool.figures(pid) != shown.get(pid)), key=str)
            for pid in changed:
                shown[pid] = pool.figures(pid)
            if changed:
                yield pool, changed
