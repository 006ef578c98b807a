"""Tenants: creating one (the CLI) and updateTenant (the default usage location, R8)."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any

from db.records import TenantRecord
from db.repo import licensing, tenants
from db.session import Database
from services import validation as v
from services.change import begin
from services.context import Actor, Runtime
from services.errors import ErrorCode, refuse
from services.ids import to_global_id
from services.license_changes import Proposal, decide_and_write
from services.summaries import ChangeSummary

TENANT_ID = re.compile(r"^[a-z0-9][a-z0-9\-]{1,62}$")
DOMAIN = re.compile(r"^(?=.{3,253}$)[a-z0-9](?:[a-z0-9\-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9\-]*[a-z0-9])?)+$")


def tenant_id_arg(value: str, field: str = "id") -> str:
    tid = v.no_nul(value, field).strip().lower()
    if not TENANT_ID.match(tid):
        raise v.invalid(field, "the tenant ID must be 2–63 characters of lower-case letters, digits and hyphens, e.g. contoso.")
    return tid


@dataclass(frozen=True)
class CreateTenant:
    tenant_id: str
    display_name: str
    domain: str | None = None
    default_usage_location: str | None = None


async def create_tenant(db: Database, request: CreateTenant) -> TenantRecord:
    """A new organisation (the CLI's `tenants create`). Refused when the id is taken."""
    tid = tenant_id_arg(request.tenant_id)
    name = v.required_text(request.display_name, "--name")
    domain = v.no_nul(request.domain or f"{tid}.example", "--domain").strip().lower()
    if not DOMAIN.match(domain):
        raise v.invalid("--domain", f"--domain {domain!r} is not a domain name like contoso.example.")
    location = v.usage_location(request.default_usage_location, "--default-usage-location")
    async with db.write() as conn:
        if await tenants.get_tenant(conn, tid):
            raise refuse(ErrorCode.ALREADY_EXISTS, f"a tenant {tid!r} already exists.")
        return await tenants.create_tenant(conn, tid, name, domain, location)


KEEP: Any = object()


@dataclass(frozen=True)
class UpdateTenant:
    default_usage_location: Any = KEEP  # None clears the default (D8)
    dry_run: bool = False


@dataclass(frozen=True)
class TenantChanged:
    tenant: TenantRecord
    changes: ChangeSummary


async def update_tenant(rt: Runtime, actor: Actor, request: UpdateTenant) -> TenantChanged:
    """R8: the tenant default applies to group paths of users without a location; a new default
    re-evaluates them and records their errors (D1)."""
    async with begin(rt, actor, dry_run=request.dry_run, license_lock=True) as change:
        current = await tenants.get_tenant(change.conn, change.tenant_id)
        assert current is not None
        if request.default_usage_location is KEEP:
            return TenantChanged(current, ChangeSummary(change.dry_run))
        location = v.usage_location(request.default_usage_location, "input.defaultUsageLocation")
        if location == current.default_usage_location:
            return TenantChanged(current, ChangeSummary(change.dry_run))
        if change.dry_run:
            updated = replace(current, default_usage_location=location)
        else:
            updated = await tenants.update_tenant(change.conn, change.tenant_id, {"default_usage_location": location})
        ids = await licensing.users_relying_on_default_location(change.conn, change.tenant_id)
        changes = ChangeSummary(change.dry_run)
        if ids:
            proposal = Proposal(user_ids=set(ids), changes_default_location=True, new_default_location=location)
            changes = await decide_and_write(change, proposal)
        await change.audit(
            "TENANT_UPDATED",
            f"Default usage location changed from {current.default_usage_location or 'none'} to {location or 'none'}",
            target_id=to_global_id("Tenant", updated.id),
        )
        return TenantChanged(updated, changes)


async def find_tenant(db: Database, tenant_id: str) -> TenantRecord | None:
    async with db.read() as conn:
        return await tenants.get_tenant(conn, tenant_id)
