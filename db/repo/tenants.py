"""Tenants."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from db.models import Tenant
from db.records import OidcTrust, TenantRecord

T = Tenant.__table__
COLUMNS = [T.c.id, T.c.display_name, T.c.domain, T.c.default_usage_location]
OIDC_ISSUER_INDEX = "tenants_oidc_issuer"


class IssuerTaken(Exception):
    """Another tenant already trusts this OpenID Connect issuer (the unique index said so)."""


async def get_tenant(conn: AsyncConnection, tenant_id: str) -> TenantRecord | None:
    row = (await conn.execute(select(*COLUMNS).where(T.c.id == tenant_id))).first()
    return TenantRecord(*row) if row else None


async def get_oidc_trust(conn: AsyncConnection, tenant_id: str) -> OidcTrust | None:
    row = (
        await conn.execute(select(T.c.oidc_issuer, T.c.oidc_audience, T.c.oidc_roles_claim).where(T.c.id == tenant_id))
    ).first()
    return OidcTrust(row[0], row[1], row[2]) if row and row[0] is not None else None


async def tenant_trusting(conn: AsyncConnection, issuer: str) -> str | None:
    """The id of the tenant that trusts `issuer`, if any."""
    return (await conn.execute(select(T.c.id).where(T.c.oidc_issuer == issuer))).scalar()


async def create_tenant(
    conn: AsyncConnection, tenant_id: str, display_name: str, domain: str, default_usage_location: str | None,
    oidc: OidcTrust | None = None,
) -> TenantRecord:
    values: dict[str, Any] = dict(id=tenant_id, display_name=display_name, domain=domain, default_usage_location=default_usage_location)
    if oidc is not None:
        values.update(_oidc_values(oidc))
    with _issuer_unique():
        row = (await conn.execute(insert(T).values(**values).returning(*COLUMNS))).one()
    return TenantRecord(*row)


async def update_tenant(conn: AsyncConnection, tenant_id: str, values: dict[str, Any]) -> TenantRecord:
    with _issuer_unique():
        row = (await conn.execute(update(T).where(T.c.id == tenant_id).values(**values).returning(*COLUMNS))).one()
    return TenantRecord(*row)


def oidc_values(oidc: OidcTrust | None) -> dict[str, Any]:
    """The columns that set (or, for None, clear) a tenant's trusted issuer."""
    if oidc is None:
        return {"oidc_issuer": None, "oidc_audience": None, "oidc_roles_claim": "roles"}
    return _oidc_values(oidc)


def _oidc_values(oidc: OidcTrust) -> dict[str, Any]:
    return {"oidc_issuer": oidc.issuer, "oidc_audience": oidc.audience, "oidc_roles_claim": oidc.roles_claim}


@contextlib.contextmanager
def _issuer_unique() -> Iterator[None]:
    """A clash on the unique issuer index becomes IssuerTaken: the database decides, so two
    commands racing cannot both win (the caller's transaction is then rolled back)."""
    try:
        yield
    except IntegrityError as exc:
        if OIDC_ISSUER_INDEX in str(exc.orig):
            raise IssuerTaken() from exc
        raise
