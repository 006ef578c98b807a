"""The periodic subscription lifecycle job (R15, D7, D23).

Status is always derived from dates when read; this job stores it for reporting and does the
one thing time itself cannot: licenses drawn from a self-service subscription that reached
DELETED are removed. Several replicas may run it: a transaction-scoped advisory lock lets one
of them work per tick, the others skip.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import delete, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from db.clock import Clock
from db.models import LicensePath, Subscription, UserLicense
from db.records import SubscriptionRecord
from db.repo.subscriptions import COLUMNS
from db.session import Database
from engine.subscription_lifecycle import SubscriptionStatus, SubscriptionTerms, view

LIFECYCLE_LOCK = 0x4C1C_0002
S = Subscription.__table__


def _terms(s: SubscriptionRecord) -> SubscriptionTerms:
    return SubscriptionTerms(s.term_starts_at, s.term_ends_at, s.is_trial, s.recurring_billing, s.cancelled_at)


async def run_once(db: Database, clock: Clock, cancellation_window_days: int) -> int | None:
    """One pass over every tenant. Returns how many subscriptions changed status, or None if another replica holds the lock."""
    async with db.write() as conn:
        got = (await conn.execute(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": LIFECYCLE_LOCK})).scalar_one()
        if not got:
            return None
        return await _tick(conn, clock, timedelta(days=cancellation_window_days))


async def _tick(conn: AsyncConnection, clock: Clock, window: timedelta) -> int:
    now = clock.now()
    rows = (await conn.execute(select(S.c.tenant_id, S.c.stored_status, *COLUMNS).where(S.c.stored_status != "DELETED"))).all()
    changed = 0
    for row in rows:
        sub = SubscriptionRecord.from_row(row)
        status = view(_terms(sub), now, window).status
        if status.value == row.stored_status:
            continue
        changed += 1
        await conn.execute(
            update(S).where(S.c.tenant_id == row.tenant_id, S.c.id == sub.id).values(stored_status=status.value)
        )
        if status is SubscriptionStatus.DELETED and sub.is_self_service:
            await remove_self_service_licenses(conn, row.tenant_id, sub.id)
    return changed


async def remove_self_service_licenses(conn: AsyncConnection, tenant_id: str, subscription_id: uuid.UUID) -> None:
    """D23: licenses drawn from a self-service subscription that reached DELETED are removed."""
    UL, LP = UserLicense.__table__, LicensePath.__table__
    await conn.execute(delete(LP).where(LP.c.tenant_id == tenant_id, LP.c.subscription_id == subscription_id))
    await conn.execute(delete(UL).where(UL.c.tenant_id == tenant_id, UL.c.subscription_id == subscription_id))
