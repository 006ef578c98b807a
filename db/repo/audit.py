"""Audit events (R21): appended by every mutation that changes something; newest first."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from db.models import AuditEvent
from db.records import AuditRecord
from db.repo.paging import Page, int_key, keyset_page

A = AuditEvent.__table__


async def append(
    conn: AsyncConnection,
    tenant_id: str,
    *,
    actor: str,
    action: str,
    target_id: str | None,
    summary: str,
    details: dict[str, Any] | None = None,
    occurred_at: datetime,
) -> None:
    await conn.execute(
        insert(A).values(
            tenant_id=tenant_id, actor=actor, action=action, target_id=target_id, summary=summary,
            details=details or {}, occurred_at=occurred_at,
        )
    )


async def events_page(conn: AsyncConnection, tenant_id: str, *, first: int, after: str | None) -> Page[AuditRecord]:
    query = select(A.c.id, A.c.occurred_at, A.c.actor, A.c.action, A.c.target_id, A.c.summary).where(A.c.tenant_id == tenant_id)
    return await keyset_page(
        conn, query, [A.c.id], first=first, after=after, descending=True,
        key_of=lambda r: (r.id,), convert=lambda r: AuditRecord(*r), cast_after=lambda v: [int_key(v[0])],
    )


async def events_count(conn: AsyncConnection, tenant_id: str) -> int:
    return int((await conn.execute(select(func.count()).select_from(A).where(A.c.tenant_id == tenant_id))).scalar_one())


async def event_by_id(conn: AsyncConnection, tenant_id: str, event_id: int) -> AuditRecord | None:
    query = select(A.c.id, A.c.occurred_at, A.c.actor, A.c.action, A.c.target_id, A.c.summary).where(
        A.c.tenant_id == tenant_id, A.c.id == event_id
    )
    row = (await conn.execute(query)).first()
    return AuditRecord(*row) if row else None
