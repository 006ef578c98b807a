"""The audit log (R21): newest first."""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.types import Info

from db.records import AuditRecord
from db.repo import audit
from gql.errors import page_size
from gql.types.common import Connection, Node, connection, fetch_page
from services.ids import numbered_id


@strawberry.type
class AuditEvent(Node):
    occurred_at: datetime
    actor: str
    action: str
    target_id: strawberry.ID | None
    summary: str

    @staticmethod
    def of(e: AuditRecord, tenant_id: str) -> AuditEvent:
        return AuditEvent(
            id=strawberry.ID(numbered_id("AuditEvent", tenant_id, e.id)),
            occurred_at=e.occurred_at,
            actor=e.actor,
            action=e.action,
            target_id=strawberry.ID(e.target_id) if e.target_id else None,
            summary=e.summary,
        )


async def audit_connection(info: Info, first: int | None, after: str | None) -> Connection[AuditEvent]:
    n = page_size(first)
    ctx = info.context
    page = await fetch_page(info, lambda c: audit.events_page(c, ctx.tenant_id, first=n, after=after))

    async def count() -> int:
        return await ctx.read(lambda c: audit.events_count(c, ctx.tenant_id))

    return connection(page, [AuditEvent.of(e, info.context.tenant_id) for e in page.items], count)
