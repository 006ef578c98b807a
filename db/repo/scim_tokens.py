"""SCIM bearer tokens (D34): stored by the SHA-256 of their secret, looked up by it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from db.models import ScimToken
from db.records import TenantRecord
from db.repo.reads import Reader
from db.session import Database

T = ScimToken.__table__
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


BY_HASH = """
SELECT k.tenant_id, k.id, k.name, k.created_at, k.expires_at, k.revoked_at, k.last_used_at,
       t.id, t.display_name, t.domain, t.default_usage_location
FROM scim_tokens k JOIN tenants t ON t.id = k.tenant_id
WHERE k.token_hash = $1
"""


async def lookup(db: Database, token_hash: bytes) -> tuple[ScimTokenRecord, TenantRecord] | None:
    """The token with this hash and its tenant. Every SCIM request asks, so: one prepared
    statement on a pooled connection outside any transaction (one round trip, no BEGIN and
    COMMIT, no SQL building)."""
    async with db.engine.connect() as conn:
        reader = Reader((await conn.get_raw_connection()).driver_connection, db.count_statement)
        try:
            row = await reader.fetchrow(BY_HASH, token_hash)
        finally:
            if reader.lost:
                await conn.invalidate()  # SQLAlchemy did not see the plain statement fail
    return _found(row) if row is not None else None


def _found(row: Any) -> tuple[ScimTokenRecord, TenantRecord]:
    width = len(COLUMNS)
    return ScimTokenRecord(*(row[i] for i in range(width))), TenantRecord(*(row[i] for i in range(width, width + 4)))


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


