"""The catalog's plans (tenant-independent). Products, which also carry tenant figures, are
with the tenant's objects (`gql.types.directory`)."""

from __future__ import annotations

import uuid

import strawberry

from db.repo.catalog import PlanInfo
from gql.types.common import Node
from services.ids import to_global_id

# Immutable catalog objects, built once per process (the catalog never changes while it runs).
_PLANS: dict[uuid.UUID, ServicePlan] = {}


@strawberry.type
class ServicePlan(Node):
    service_plan_id: str
    service_plan_name: str
    display_name: str

    @staticmethod
    def of(plan: PlanInfo) -> ServicePlan:
        """One instance per plan for the process (keyed by id)."""
        found = _PLANS.get(plan.id)
        if found is None:
            found = _PLANS[plan.id] = ServicePlan(
                id=strawberry.ID(to_global_id("ServicePlan", plan.id)),
                service_plan_id=str(plan.id),
                service_plan_name=plan.name,
                display_name=plan.display_name,
            )
        return found


@strawberry.type
class PrepaidUnits:
    enabled: int
    warning: int
    suspended: int
