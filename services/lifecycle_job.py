"""The periodic subscription lifecycle job (R15, D7, D23).

Status is always derived from dates when read; this job stores it for reporting and does the
one thing time itself cannot: licenses drawn from a self-service subscription that reached
DELETED are removed. Several replicas may run it: a transaction-scoped advisory lock lets one
of them work per tick, the others skip.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from db.clock import Clock
from db.repo import events, subscriptions
from db.repo.licensing import remove_self_service_licenses
from db.session import Database, try_job_lock
from engine.subscription_lifecycle import SubscriptionStatus, view

LIFECYCLE_LOCK = 0x4C1C_0002


async def run_once(db: Database, clock: Clock, cancellation_window_days: int) -> int | None:
    """One pass over every tenant. Returns how many subscriptions changed status, or None if another replica holds the lock."""
    async with db.write() as conn:
        if not await try_job_lock(conn, LIFECYCLE_LOCK):
            return None
        return await _tick(conn, clock, timedelta(days=cancellation_window_days))


async def _tick(conn: AsyncConnection, clock: Clock, window: timedelta) -> int:
    now = clock.now()
    changed = 0
    for tenant_id, stored_status, sub in await subscriptions.not_deleted(conn):
        status = view(sub.terms, now, window).status
        if status.value == stored_status:
            continue
        changed += 1
        await subscriptions.store_status(conn, tenant_id, sub.id, status.value)
        await events.notify_seats(conn, tenant_id, [sub.product_id])  # D33: clock-driven pool figures (seatsChanged)
        if status is SubscriptionStatus.DELETED and sub.is_self_service:
            await remove_self_service_licenses(conn, tenant_id, sub.id)
    return changed
