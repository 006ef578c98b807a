"""SCIM bearer tokens (D34): stored by the SHA-256 of their secret, looked up by it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from db.models import ScimToken, Tenant
from db.records import TenantRecord

T = ScimToken.__table__
TN = Tenant.__table__
TENANT_COLUMNS = [TN.c.id, TN.c.display_name, TN.c.domain, TN.c.default_usage_location]
_MINUTE = timedelta(minutes=1)
COLUMNS = [T.c.tenant_id, T.c.id, T.c.name, T.c.created_at, T.c.expires_at, T.c.revoked_at, T.c.last_used_at]


@dataclass(frozen=True, slots=True)
class ScimTokenRecord:
    tenant_id: str
    id: uuid.UUID
    name: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None


async def insert_token(
    conn: AsyncConnection, tenant_id: str, name: str, token_hash: bytes, expires_at: datetime | None
) -> ScimTokenRecord:
    row = (
        await conn.execute(
            insert(T)
            .values(tenant_id=tenant_id, id=uuid.uuid4(), name=name, token_hash=token_hash, expires_at=expires_at)
            .returning(*COLUMNS)
        )
    ).one()
    return ScimTokenRecord(*row)


async def tokens_of(conn: AsyncConnection, tenant_id: str) -> list[ScimTokenRecord]:
    rows = await conn.execute(select(*COLUMNS).where(T.c.tenant_id == tenant_id).order_by(T.c.created_at, T.c.id))
    return [ScimTokenRecord(*r) for r in rows]


async def token_by_hash(conn: AsyncConnection, token_hash: bytes) -> tuple[ScimTokenRecord, TenantRecord] | None:
    """The token with this hash and its tenant, in one statement (every SCIM request asks)."""
    query = select(*COLUMNS, *TENANT_COLUMNS).join(TN, TN.c.id == T.c.tenant_id).where(T.c.token_hash == token_hash)
    row = (await conn.execute(query)).first()
    if row is None:
        return None
    width = len(COLUMNS)
    return ScimTokenRecord(*row[:width]), TenantRecord(*row[width:])


async def revoke(conn: AsyncConnection, tenant_id: str, token_id: uuid.UUID, now: datetime) -> ScimTokenRecord | None:
    """Revoke one token (the first revocation's time stays); None when the tenant has no such token."""
    row = (
        await conn.execute(
            update(T).where(T.c.tenant_id == tenant_id, T.c.id == token_id, T.c.revoked_at.is_(None))
            .values(revoked_at=now).returning(*COLUMNS)
        )
    ).first()
    if row is not None:
        return ScimTokenRecord(*row)
    row = (await conn.execute(select(*COLUMNS).where(T.c.tenant_id == tenant_id, T.c.id == token_id))).first()
    return ScimTokenRecord(*row) if row else None


async def mark_used(conn: AsyncConnection, tenant_id: str, token_id: uuid.UUID, now: datetime) -> None:
    """`last_used_at`, written at most once a minute per token (a sync sends thousands of requests)."""
    await conn.execute(
        update(T)
        .where(T.c.tenant_id == tenant_id, T.c.id == token_id)
        .where((T.c.last_used_at.is_(None)) | (T.c.last_used_at < now - _MINUTE))
        .values(last_used_at=now)
    )


