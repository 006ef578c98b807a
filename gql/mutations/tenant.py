"""updateTenant: organisation settings (the default usage location for group licenses, R8)."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from gql.changes import LicenseChangeSummary, changes_of
from gql.errors import UserError
from gql.inputs import UpdateTenantInput
from gql.mutations.common import Field, run
from gql.permissions import CanManageTenant
from gql.types import Tenant
from services import tenant


@strawberry.type
class UpdateTenantPayload:
    tenant: Tenant | None
    errors: list[UserError]
    changes: LicenseChangeSummary | None


async def update_tenant(info: Info, input: UpdateTenantInput) -> UpdateTenantPayload:
    location = tenant.KEEP if input.default_usage_location is strawberry.UNSET else input.default_usage_location
    done, errors = await run(info, tenant.update_tenant, tenant.UpdateTenant(location, dry_run=bool(input.dry_run)))
    if done is None:
        return UpdateTenantPayload(tenant=None, errors=errors, changes=None)
    return UpdateTenantPayload(tenant=Tenant.of(done.tenant), errors=[], changes=changes_of(done.changes))


FIELDS: dict[str, Field] = {"update_tenant": (update_tenant, UpdateTenantPayload, [CanManageTenant])}
