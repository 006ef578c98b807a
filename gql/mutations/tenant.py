"""updateTenant: organisation settings (the default usage location for group licenses, R8)."""

from __future__ import annotations

from dataclasses import replace

import strawberry
from sqlalchemy.ext.asyncio import AsyncConnection
from strawberry.types import Info

from db.records import TenantRecord
from db.repo import tenants
from gql import validation as v
from gql.changes import LicenseChangeSummary, summary
from gql.errors import UserError
from gql.inputs import UpdateTenantInput
from gql.mutations.common import record, run_mutation
from gql.permissions import CanManageTenant
from gql.types import Tenant


@strawberry.type
class UpdateTenantPayload:
    tenant: Tenant | None
    errors: list[UserError]
    changes: LicenseChangeSummary | None


async def update_tenant(info: Info, input: UpdateTenantInput) -> UpdateTenantPayload:
    ctx = info.context
    dry_run = bool(input.dry_run)

    async def work(conn: AsyncConnection) -> tuple[TenantRecord, LicenseChangeSummary]:
        current = await tenants.get_tenant(conn, ctx.tenant_id)
        assert current is not None
        if input.default_usage_location is strawberry.UNSET:
            return current, summary(dry_run=dry_run)
        location = v.usage_location(input.default_usage_location, "input.defaultUsageLocation")
        if location == current.default_usage_location:
            return current, summary(dry_run=dry_run)
        if dry_run:
            updated = replace(current, default_usage_location=location)
        else:
            updated = await tenants.update_tenant(conn, ctx.tenant_id, {"default_usage_location": location})
        from gql.mutations.licenses import reevaluate_after_tenant_location_change

        changes = await reevaluate_after_tenant_location_change(conn, ctx, location, dry_run=dry_run)
        await record(
            conn, ctx, "TENANT_UPDATED",
            f"Default usage location changed from {current.default_usage_location or 'none'} to {location or 'none'}",
            target_id=Tenant.of(updated).id, dry_run=dry_run,
        )
        return updated, changes

    result, errors = await run_mutation(info, work, dry_run=dry_run, license_lock=True)
    if result is None:
        return UpdateTenantPayload(tenant=None, errors=errors, changes=None)
    tenant, changes = result
    return UpdateTenantPayload(tenant=Tenant.of(tenant), errors=[], changes=changes)


FIELDS = {"update_tenant": (update_tenant, UpdateTenantPayload, [CanManageTenant])}
