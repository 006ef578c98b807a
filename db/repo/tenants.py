"""Tenants."""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from db.models import Tenant
from db.records import TenantRecord

T = Tenant.__table__
COLUMNS = [T.c.id, T.c.display_name, T.c.domain, T.c.default_usage_location]


async def get_tenant(conn: AsyncConnection, tenant_id: str) -> TenantRecord | None:
    row = (await conn.execute(select(*COLUMNS).where(T.c.id == tenant_id))).first()
    return TenantRecord(*row) if row else None


async def create_tenant(conn: AsyncConnection, tenant_id: str, display_name: str, domain: str, default_usage_location: str | None) -> TenantRecord:
    row = (
        await conn.execute(
            insert(T)
            .values(id=tenant_id, display_name=display_name, domain=domain, default_usage_location=default_usage_location)
            .returning(*COLUMNS)
        )
    ).one()
    return TenantRecord(*row)


async def update_tenant(conn: AsyncConnection, tenant_id: str, values: dict[str, Any]) -> TenantRecord:
    row = (await conn.execute(update(T).where(T.c.id == tenant_id).values(**values).returning(*COLUMNS))).one()
    return TenantRecord(*row)
