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

import engine
from db.clock import Clock
from db.config import get_settings
from db.repo import audit, events, subscriptions, tenants
from db.repo.licensing import remove_self_service_licenses
from db.session import Database, lock_tenant_licenses, try_job_lock
from engine.subscription_lifecycle import SubscriptionStatus, view
from services import license_changes
from services.change import Change
from services.context import SYSTEM_ACTOR, Actor, Runtime

LIFECYCLE_LOCK = 0x4C1C_0002


async def run_once(
    db: Database, clock: Clock, cancellation_window_days: int, event_retention_days: int | None = None,
    *, runtime: Runtime | None = None,
) -> int | None:
    """One pass over every tenant. Returns how many subscriptions changed status, or None if another replica holds the lock.
    `runtime` (the app's) judges the licenses a deleted self-service subscription leaves with
    another path; without it one is loaded when needed."""
    async with db.write() as conn:
        if not await try_job_lock(conn, LIFECYCLE_LOCK):
            return None
        changed = await _tick(conn, clock, timedelta(days=cancellation_window_days), _Judge(db, clock, runtime))
        if event_retention_days is not None:
            await events.delete_older_than(conn, clock.now() - timedelta(days=event_retention_days))
        return changed


class _Judge:
    """Re-decides users with the license engine, inside the job's transaction (R13)."""

    def __init__(self, db: Database, clock: Clock, runtime: Runtime | None) -> None:
        self.db, self.clock, self.runtime = db, clock, runtime

    async def loaded(self) -> Runtime:
        if self.runtime is None:
            self.runtime = await Runtime.load(self.db, self.clock, get_settings())
        return self.runtime

    async def no_seat_message(self, product_id: uuid.UUID) -> str:
        product = (await self.loaded()).catalog.products.get(product_id)
        return engine.no_seat_message(product.display_name if product else str(product_id))

    async def __call__(self, conn: AsyncConnection, tenant_id: str, user_ids: list[uuid.UUID], now: datetime) -> None:
        tenant = await tenants.get_tenant(conn, tenant_id)
        assert tenant is not None
        change = Change(conn, Actor.system(tenant), await self.loaded(), False, now, _license_locked=True)
        decision = await license_changes.decide(change, license_changes.Proposal(user_ids=set(user_ids)), direct=False)
        summary = decision.summary(change).merged(await license_changes.write(change, decision), change.catalog)
        if license_changes.changed_anything(summary, decision):
            await change.audit(
                "LICENSES_REPROCESSED",
                f"Judged {len(user_ids)} license(s) left by a deleted self-service subscription for a pool seat",
                users=len(user_ids),
            )


async def _tick(conn: AsyncConnection, clock: Clock, window: timedelta, judge: _Judge) -> int:
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
            await _remove_self_service(conn, tenant_id, sub.id, now, judge, await judge.no_seat_message(sub.product_id))
    return changed


async def _remove_self_service(
    conn: AsyncConnection, tenant_id: str, subscription_id: uuid.UUID, now: datetime, judge: _Judge, no_seat: str
) -> None:
    """D23, D33: the licenses drawn from a DELETED self-service subscription go, with one
    REMOVED event each and an audit event, actor `system`. A user who also holds the product
    through a group keeps that path: it is then judged for a pool seat like any other (a
    second change of the job, with its own events and audit event)."""
    await lock_tenant_licenses(conn, tenant_id)
    await events.stage(conn)
    await events.add_self_service_keys(conn, tenant_id, subscription_id)
    staged = await events.staged(conn)
    left_with_paths = await remove_self_service_licenses(conn, tenant_id, subscription_id, no_seat)
    if not staged:
        return
    number = await audit.reserve(conn, tenant_id)
    await events.append(conn, tenant_id, actor=SYSTEM_ACTOR, audit_id=number, now=now)
    await audit.append(
        conn, tenant_id, actor=SYSTEM_ACTOR, action="SELF_SERVICE_LICENSES_REMOVED", target_id=None,
        summary=f"Removed {staged} license(s) of a deleted self-service subscription", details={"licenses": staged},
        occurred_at=now, number=number,
    )
    if left_with_paths:
        await judge(conn, tenant_id, left_with_paths, now)
