"""The organisation itself."""

from __future__ import annotations

import strawberry

from db.records import TenantRecord
from gql.types.common import Node
from services.ids import to_global_id


@strawberry.type
class Tenant(Node):
    tenant_id: str
    display_name: str
    domain: str
    default_usage_location: str | None

    @staticmethod
    def of(t: TenantRecord) -> Tenant:
        return Tenant(
            id=strawberry.ID(to_global_id("Tenant", t.id)),
            tenant_id=t.id,
            display_name=t.display_name,
            domain=t.domain,
            default_usage_location=t.default_usage_location,
        )
