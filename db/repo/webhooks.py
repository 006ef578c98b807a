"""Webhooks (R28) in SQL: registrations, their delivery state, and the batches they deliver.

A webhook's events are the tenant's license events after `last_delivered_seq` whose kind it
asks for (`kinds` empty: all). The batch in flight is remembered as (`pending_message_id`,
`pending_through_seq`): a retry reads back exactly the same events. A delivering replica locks
the webhook's row with `FOR UPDATE SKIP LOCKED`, so each webhook is delivered by one at a time.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from types import SimpleNamespace
from typing import Any

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from db.repo.events import EventRecord

WEBHOOKS_LOCK_NAMESPACE = 0x4C1C_0003  # pg_advisory_xact_lock(ns, hashtext(tenant)): the per-tenant cap

COLUMNS = (
    "id, url, description, kinds, secret, created_at, enabled, last_delivered_seq, last_success_at, last_failure_at, "
    "last_failure_reason, failing_since, attempts, next_attempt_at, pending_message_id, pending_through_seq"
)
# the events' columns, `paths` as text: decoded by orjson (a batch read ahead is 1,000 events)
_EVENT_COLUMNS = "seq, occurred_at, kind, user_id, user_principal_name, product_id, holds_seat, paths::text AS paths, actor, audit_id"
# the webhook's undelivered events of the kinds it asks for
_MATCHES = "(cardinality(w.kinds) = 0 OR e.kind = ANY(w.kinds))"


@dataclass(frozen=True, slots=True)
class WebhookRecord:
    tenant_id: str
    id: uuid.UUID
    url: str
    description: str | None
    kinds: tuple[str, ...]
    secret: str
    created_at: datetime
    enabled: bool
    last_delivered_seq: int
    last_success_at: datetime | None
    last_failure_at: datetime | None
    last_failure_reason: str | None
    failing_since: datetime | None
    attempts: int
    next_attempt_at: datetime | None
    pending_message_id: str | None
    pending_through_seq: int | None

    @classmethod
    def from_row(cls, tenant_id: str, r: Any) -> WebhookRecord:
        return cls(
            tenant_id, r.id, r.url, r.description, tuple(r.kinds or ()), r.secret, r.created_at, r.enabled,
            r.last_delivered_seq, r.last_success_at, r.last_failure_at, r.last_failure_reason, r.failing_since,
            r.attempts, r.next_attempt_at, r.pending_message_id, r.pending_through_seq,
        )


async def lock_tenant_webhooks(conn: AsyncConnection, tenant_id: str) -> None:
    """Serialises webhook creation per tenant, so two racing creations cannot pass the cap."""
    await conn.execute(
        text("SELECT pg_advisory_xact_lock(:ns, hashtext(:t))"), {"ns": WEBHOOKS_LOCK_NAMESPACE, "t": tenant_id}
    )


async def count(conn: AsyncConnection, tenant_id: str) -> int:
    return int((await conn.execute(text("SELECT count(*) FROM webhooks WHERE tenant_id = :t"), {"t": tenant_id})).scalar_one())


async def current_seq(conn: AsyncConnection, tenant_id: str) -> int:
    """The tenant's last event number taken so far: a new webhook starts after it (D26)."""
    row = await conn.execute(text("SELECT event_seq FROM tenants WHERE id = :t"), {"t": tenant_id})
    return int(row.scalar_one_or_none() or 0)


async def insert(
    conn: AsyncConnection, tenant_id: str, webhook_id: uuid.UUID, *, url: str, description: str | None,
    kinds: Sequence[str], secret: str, created_at: datetime, last_delivered_seq: int,
) -> WebhookRecord:
    row = (await conn.execute(
        text(
            "INSERT INTO webhooks (tenant_id, id, url, description, kinds, secret, created_at, last_delivered_seq) "
            f"VALUES (:t, :id, :url, :d, :k, :s, :c, :seq) RETURNING {COLUMNS}"
        ),
        {"t": tenant_id, "id": webhook_id, "url": url, "d": description, "k": list(kinds), "s": secret, "c": created_at,
         "seq": last_delivered_seq},
    )).one()
    return WebhookRecord.from_row(tenant_id, row)


async def get(conn: AsyncConnection, tenant_id: str, webhook_id: uuid.UUID, *, for_update: bool = False) -> WebhookRecord | None:
    lock = " FOR UPDATE" if for_update else ""
    row = (await conn.execute(
        text(f"SELECT {COLUMNS} FROM webhooks WHERE tenant_id = :t AND id = :id{lock}"), {"t": tenant_id, "id": webhook_id}
    )).one_or_none()
    return WebhookRecord.from_row(tenant_id, row) if row else None


async def lock_for_delivery(conn: AsyncConnection, tenant_id: str, webhook_id: uuid.UUID) -> WebhookRecord | None:
    """The enabled webhook's row, locked for this transaction; None when another replica is
    delivering it (or it is gone or disabled)."""
    row = (await conn.execute(
        text(f"SELECT {COLUMNS} FROM webhooks WHERE tenant_id = :t AND id = :id AND enabled FOR UPDATE SKIP LOCKED"),
        {"t": tenant_id, "id": webhook_id},
    )).one_or_none()
    return WebhookRecord.from_row(tenant_id, row) if row else None


async def tenant_webhooks(conn: AsyncConnection, tenant_id: str, ids: Sequence[uuid.UUID] | None = None) -> list[WebhookRecord]:
    """The tenant's webhooks (or those of `ids`), oldest first."""
    params: dict[str, Any] = {"t": tenant_id}
    where = "tenant_id = :t"
    if ids is not None:
        where += " AND id = ANY(:ids)"
        params["ids"] = list(ids)
    rows = await conn.execute(text(f"SELECT {COLUMNS} FROM webhooks WHERE {where} ORDER BY created_at, id"), params)
    return [WebhookRecord.from_row(tenant_id, r) for r in rows]


async def pending_counts(conn: AsyncConnection, tenant_id: str, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, int]:
    """Per webhook, how many events it has not delivered yet (of the kinds it asks for)."""
    if not ids:
        return {}
    rows = await conn.execute(
        text(
            "SELECT w.id, (SELECT count(*) FROM license_events e WHERE e.tenant_id = w.tenant_id "
            f"AND e.seq > w.last_delivered_seq AND {_MATCHES}) AS n "
            "FROM webhooks w WHERE w.tenant_id = :t AND w.id = ANY(:ids)"
        ),
        {"t": tenant_id, "ids": list(ids)},
    )
    return {r.id: int(r.n) for r in rows}


async def update(conn: AsyncConnection, tenant_id: str, webhook_id: uuid.UUID, **values: Any) -> WebhookRecord | None:
    """Set the given columns; returns the row as it is now (None: no such webhook)."""
    assignments = ", ".join(f"{name} = :v_{name}" for name in values)
    params = {"t": tenant_id, "id": webhook_id, **{f"v_{name}": value for name, value in values.items()}}
    if "kinds" in values:
        params["v_kinds"] = list(values["kinds"])
    row = (await conn.execute(
        text(f"UPDATE webhooks SET {assignments} WHERE tenant_id = :t AND id = :id RETURNING {COLUMNS}"), params
    )).one_or_none()
    return WebhookRecord.from_row(tenant_id, row) if row else None


async def delete(conn: AsyncConnection, tenant_id: str, webhook_id: uuid.UUID) -> bool:
    result = await conn.execute(text("DELETE FROM webhooks WHERE tenant_id = :t AND id = :id"), {"t": tenant_id, "id": webhook_id})
    return bool(result.rowcount)


async def due(conn: AsyncConnection, now: datetime, tenant_id: str | None = None) -> list[tuple[str, uuid.UUID]]:
    """(tenant, webhook) of every enabled webhook with something to deliver now: a batch in
    flight whose retry time has come, or undelivered events and no retry waiting."""
    params: dict[str, Any] = {"now": now}
    only = ""
    if tenant_id is not None:
        only = " AND w.tenant_id = :t"
        params["t"] = tenant_id
    rows = await conn.execute(
        text(
            "SELECT w.tenant_id, w.id FROM webhooks w WHERE w.enabled" + only + " "
            "AND coalesce(w.next_attempt_at, '-infinity') <= :now "
            "AND (w.pending_message_id IS NOT NULL OR EXISTS (SELECT 1 FROM license_events e "
            f"WHERE e.tenant_id = w.tenant_id AND e.seq > w.last_delivered_seq AND {_MATCHES})) "
            "ORDER BY w.tenant_id, w.created_at, w.id"
        ),
        params,
    )
    return [(r.tenant_id, r.id) for r in rows]


async def batch(
    conn: AsyncConnection, webhook: WebhookRecord, *, through: int | None = None, limit: int = 100
) -> list[EventRecord]:
    """The webhook's next events after its last delivered cursor, in cursor order (up to
    `through` when re-reading the batch in flight)."""
    return await events_after(conn, webhook.tenant_id, webhook.last_delivered_seq, webhook.kinds, through=through,
                              limit=limit)


async def events_after(
    conn: AsyncConnection, tenant_id: str, after: int, kinds: Sequence[str], *, through: int | None = None, limit: int
) -> list[EventRecord]:
    """Up to `limit` of the tenant's events after `after` (of `kinds`, or all), in cursor order:
    one range scan of the primary key (tenant_id, seq). Every event below the newest one read
    has committed (numbers follow commit order), so a read reaching seq N sees all up to N."""
    params: dict[str, Any] = {"t": tenant_id, "after": after, "n": limit}
    where = "tenant_id = :t AND seq > :after"
    if kinds:
        where += " AND kind = ANY(:kinds)"
        params["kinds"] = list(kinds)
    if through is not None:
        where += " AND seq <= :through"
        params["through"] = through
    rows = await conn.execute(
        text(f"SELECT {_EVENT_COLUMNS} FROM license_events WHERE {where} ORDER BY seq LIMIT :n"), params
    )
    return [_event(r) for r in rows]


def _event(r: Any) -> EventRecord:
    """EventRecord.from_row for a row whose `paths` is JSON text."""
    return EventRecord.from_row(SimpleNamespace(**{**r._mapping, "paths": orjson.loads(r.paths)}))
