"""The periodic job: subscription lifecycle (R15, D7, D23) and license-event retention (R26).

Status is always derived from dates when read; this job stores it for reporting and does the
one thing time itself cannot: licenses drawn from a self-service subscription that reached
DELETED are removed — with their license events and an audit event, actor `system` (D33).
A status change moves the pool figures (seats of an EXPIRED or DISABLED subscription leave
the pool), so it announces `seatsChanged`. Events older than LICENSING_EVENT_RETENTION_DAYS
are deleted. Several replicas may run it: a transaction-scoped advisory lock lets one of them
work per tick, the others skip.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from db.clock import Clock
from db.repo import audit, events, subscriptions
from db.repo.licensing import remove_self_service_licenses
from db.session import Database, lock_tenant_licenses, try_job_lock
from engine.subscription_lifecycle import SubscriptionStatus, view
from services.context import SYSTEM_ACTOR

LIFECYCLE_LOCK = 0x4C1C_0002


async def run_once(
    db: Database, clock: Clock, cancellation_window_days: int, event_retention_days: int | None = None
) -> int | None:
    """One pass over every tenant. Returns how many subscriptions changed status, or None if another replica holds the lock."""
    async with db.write() as conn:
        if not await try_job_lock(conn, LIFECYCLE_LOCK):
            return None
        changed = await _tick(conn, clock, timedelta(days=cancellation_window_days))
        if event_retention_days is not None:
            await events.delete_older_than(conn, clock.now() - timedelta(days=event_retention_days))
        return changed


async def _tick(conn: AsyncConnection, clock: Clock, window: timedelta) -> int:
    now = clock.now()
    changed = 0
    for tenant_id, stored_status, sub in await subscriptions.not_deleted(conn):
        status = view(sub.terms, now, window).status
        if status.value == stored_status:
            continue
        changed += 1
        await subscriptions.store_status(conn, tenant_id, sub.id, status.value)
        await events.notify_seats(conn, tenant_id, [sub.product_id])
        if status is SubscriptionStatus.DELETED and sub.is_self_service:
            await _remove_self_service(conn, tenant_id, sub.id, now)
    return changed


async def _remove_self_service(conn: AsyncConnection, tenant_id: str, subscription_id: uuid.UUID, now: datetime) -> None:
    """D23, D33: the licenses drawn from a DELETED self-service subscription go, with one
    REMOVED event each and an audit event, actor `system`."""
    await lock_tenant_licenses(conn, tenant_id)
    await events.stage(conn)
    await events.add_self_service_keys(conn, tenant_id, subscription_id)
    staged = await events.staged(conn)
    await remove_self_service_licenses(conn, tenant_id, subscription_id)
    if not staged:
        return
    number = await audit.reserve(conn, tenant_id)
    await events.append(conn, tenant_id, actor=SYSTEM_ACTOR, audit_id=number, now=now)
    await audit.append(
        conn, tenant_id, actor=SYSTEM_ACTOR, action="SELF_SERVICE_LICENSES_REMOVED", target_id=None,
        summary=f"Removed {staged} license(s) of a deleted self-service subscription", details={"licenses": staged},
        occurred_at=now, number=number,
    )
