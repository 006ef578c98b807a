"""Audit events (R21): appended by every mutation that changes something; newest first.

Each tenant numbers its own events 1, 2, 3, … (`tenants.audit_seq`, migration 0004), so one
tenant's ids say nothing about another's activity. The counter is taken with UPDATE … RETURNING
in the statement that inserts the event: its row lock makes a tenant's writers take turns for
the rest of their transaction (the license changes already hold the tenant's advisory lock), and
a rolled-back change gives its number back, so the numbers have no gaps.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, Text, bindparam, func, insert, select, update
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncConnection

from db.models import AuditEvent, Tenant
from db.records import AuditRecord
from db.repo.paging import Page, int_key, keyset_page

A = AuditEvent.__table__
T = Tenant.__table__
MAX_NUMBER = 2**63 - 1  # bigint: a larger key in an id names no event


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
    number: int | None = None,
) -> int:
    """Append one event; returns its number in the tenant. `number`: one taken before with
    `reserve` (the change's license events already point at it)."""
    params = {
        "tid": tenant_id, "occurred_at": occurred_at, "actor": actor, "action": action, "target_id": target_id,
        "summary": summary, "details": details or {},
    }
    if number is not None:
        params["number"] = number
    return int((await conn.execute(_APPEND[number is not None], params)).scalar_one())


def _append_statement(reserved: bool) -> Any:
    """The INSERT of `append`, built once (its values are bound parameters)."""
    if reserved:
        taken: Any = bindparam("number", type_=BigInteger)
    else:
        cte = (
            update(T).where(T.c.id == bindparam("tid")).values(audit_seq=T.c.audit_seq + 1).returning(T.c.audit_seq.label("id"))
        ).cte("next_number")
        taken = cte.c.id
    row = select(
        bindparam("tid", type_=Text), taken, bindparam("occurred_at", type_=DateTime(timezone=True)),
        bindparam("actor", type_=Text), bindparam("action", type_=Text), bindparam("target_id", type_=Text),
        bindparam("summary", type_=Text), bindparam("details", type_=JSONB),
    )
    columns = ["tenant_id", "id", "occurred_at", "actor", "action", "target_id", "summary", "details"]
    return insert(A).from_select(columns, row).returning(A.c.id)


_APPEND = {False: _append_statement(False), True: _append_statement(True)}


async def reserve(conn: AsyncConnection, tenant_id: str) -> int:
    """Take the tenant's next event number now, for an event appended later in this transaction
    (a rolled-back change gives it back, as `append` does)."""
    stmt = update(T).where(T.c.id == tenant_id).values(audit_seq=T.c.audit_seq + 1).returning(T.c.audit_seq)
    return int((await conn.execute(stmt)).scalar_one())


async def events_page(conn: AsyncConnection, tenant_id: str, *, first: int, after: str | None) -> Page[AuditRecord]:
    """Newest first, by the tenant's event number. A cursor names its tenant and number: one
    from another tenant, or from before migration 0004 (a bare global id), is a bad cursor."""

    def cast_after(values: list[object]) -> list[object]:
        if values[0] != tenant_id:
            raise ValueError("a cursor of another tenant")
        return [tenant_id, int_key(values[1])]

    query = select(A.c.tenant_id, A.c.id, A.c.occurred_at, A.c.actor, A.c.action, A.c.target_id, A.c.summary).where(
        A.c.tenant_id == tenant_id
    )
    return await keyset_page(
        conn, query, [A.c.tenant_id, A.c.id], first=first, after=after, descending=True,
        key_of=lambda r: (r.tenant_id, r.id), convert=lambda r: AuditRecord(*r[1:]), cast_after=cast_after,
    )


async def events_count(conn: AsyncConnection, tenant_id: str) -> int:
    return int((await conn.execute(select(func.count()).select_from(A).where(A.c.tenant_id == tenant_id))).scalar_one())


async def event_by_id(conn: AsyncConnection, tenant_id: str, event_id: int) -> AuditRecord | None:
    if not 1 <= event_id <= MAX_NUMBER:
        return None
    query = select(A.c.id, A.c.occurred_at, A.c.actor, A.c.action, A.c.target_id, A.c.summary).where(
        A.c.tenant_id == tenant_id, A.c.id == event_id
    )
    row = (await conn.execute(query)).first()
    return AuditRecord(*row) if row else None


async def events_by_ids(conn: AsyncConnection, tenant_id: str, event_ids: Sequence[int]) -> dict[int, AuditRecord]:
    """The tenant's audit events of these numbers, one statement (numbers out of range name none)."""
    wanted = sorted({i for i in event_ids if 1 <= i <= MAX_NUMBER})
    if not wanted:
        return {}
    query = select(A.c.id, A.c.occurred_at, A.c.actor, A.c.action, A.c.target_id, A.c.summary).where(
        A.c.tenant_id == tenant_id, A.c.id.in_(wanted)
    )
    return {row.id: AuditRecord(*row) for row in await conn.execute(query)}
