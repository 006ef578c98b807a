"""Webhooks (R28, D30, D33): the `Webhook` type, `webhooks`, `node` of a Webhook.

Readable by a Global Administrator or Global Reader; the secret is never shown here (only once,
by createWebhook) and the URL is shown without its user-info.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

import strawberry
from strawberry.types import Info

from db.repo import webhooks as rows
from db.repo.webhooks import WebhookRecord
from gql.types.common import Node
from gql.types.events import LicenseEventKind, event_cursor
from services import roles
from services.ids import to_global_id
from services.webhook_urls import display_url


@strawberry.type
class Webhook(Node):
    url: str  # without user-info (D33)
    description: str | None
    kinds: list[LicenseEventKind]  # empty: all
    created_at: datetime
    enabled: bool
    last_delivered_cursor: str | None
    last_success_at: datetime | None
    last_failure_at: datetime | None
    last_failure_reason: str | None
    record: strawberry.Private[WebhookRecord]
    pending_: strawberry.Private[int | None] = None

    @staticmethod
    def of(w: WebhookRecord, pending: int | None = None) -> Webhook:
        return Webhook(
            id=strawberry.ID(to_global_id("Webhook", w.id)), url=display_url(w.url), description=w.description,
            kinds=[LicenseEventKind(k) for k in w.kinds], created_at=w.created_at, enabled=w.enabled,
            last_delivered_cursor=event_cursor(w.last_delivered_seq) if w.last_delivered_seq else None,
            last_success_at=w.last_success_at, last_failure_at=w.last_failure_at,
            last_failure_reason=w.last_failure_reason, record=w, pending_=pending,
        )

    @strawberry.field
    async def pending_event_count(self, info: Info) -> int:
        """Events after lastDeliveredCursor of the kinds it asks for, not delivered yet."""
        if self.pending_ is None:
            ctx = info.context
            counts = await ctx.read(lambda c: rows.pending_counts(c, ctx.tenant_id, [self.record.id]))
            self.pending_ = counts.get(self.record.id, 0)
        return self.pending_


async def webhooks_of(info: Info, ids: Sequence[uuid.UUID] | None = None) -> list[Webhook]:
    """The tenant's webhooks (or those of `ids`), oldest first, with their pending counts."""
    ctx = info.context
    found = await ctx.read(lambda c: rows.tenant_webhooks(c, ctx.tenant_id, ids))
    counts = await ctx.read(lambda c: rows.pending_counts(c, ctx.tenant_id, [w.id for w in found]))
    return [Webhook.of(w, counts.get(w.id, 0)) for w in found]


async def webhook_node(info: Info, key: str) -> Webhook | None:
    """`node` of a Webhook: null for a caller who may not read webhooks (D30)."""
    if not info.context.actor.has_any(roles.READ_WEBHOOKS):
        return None
    found = await webhooks_of(info, [uuid.UUID(key)])
    return found[0] if found else None
