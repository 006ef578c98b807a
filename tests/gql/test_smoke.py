from __future__ import annotations

from tests.support import Tenant

VIEWER = "{ viewer { tenant { tenantId domain defaultUsageLocation } roles user { id } } }"


async def test_viewer_names_the_tenant_and_roles(tenant: Tenant) -> None:
    data = await tenant.ok(VIEWER)
    assert data["viewer"]["tenant"]["tenantId"] == tenant.id
    assert data["viewer"]["roles"] == ["GLOBAL_ADMINISTRATOR"]
    assert data["viewer"]["user"] is None
