"""License-changing mutations: assignLicenses, updateUserServicePlans, reprocessLicenses,
assignGroupLicenses, and the re-evaluation hooks other mutations call.

The licensing engine is being built under the engine and group-licensing issues; until it is
wired here these mutations answer with an explicit error, and the hooks have nothing to
re-evaluate (no license paths can exist yet).
"""

from __future__ import annotations

import uuid

import strawberry
from sqlalchemy.ext.asyncio import AsyncConnection
from strawberry.types import Info

from gql.changes import LicenseChangeSummary, summary
from gql.context import Context
from gql.errors import ErrorCode, UserError
from gql.inputs import (
    AssignGroupLicensesInput,
    AssignLicensesInput,
    CreateUserInput,
    ReprocessLicensesInput,
    UpdateUserServicePlansInput,
)
from gql.permissions import CanManageLicenses
from gql.types import Group, User

NOT_YET = UserError(
    code=ErrorCode.OTHER,
    message="License assignment is not available in this version of the service yet; nothing was changed.",
)


@strawberry.type
class AssignLicensesPayload:
    users: list[User]
    errors: list[UserError]
    changes: LicenseChangeSummary | None


@strawberry.type
class UpdateUserServicePlansPayload:
    user: User | None
    errors: list[UserError]
    changes: LicenseChangeSummary | None


@strawberry.type
class ReprocessLicensesPayload:
    errors: list[UserError]
    changes: LicenseChangeSummary | None


@strawberry.type
class AssignGroupLicensesPayload:
    group: Group | None
    errors: list[UserError]
    changes: LicenseChangeSummary | None


async def assign_licenses(info: Info, input: AssignLicensesInput) -> AssignLicensesPayload:
    return AssignLicensesPayload(users=[], errors=[NOT_YET], changes=None)


async def update_user_service_plans(info: Info, input: UpdateUserServicePlansInput) -> UpdateUserServicePlansPayload:
    return UpdateUserServicePlansPayload(user=None, errors=[NOT_YET], changes=None)


async def reprocess_licenses(info: Info, input: ReprocessLicensesInput) -> ReprocessLicensesPayload:
    return ReprocessLicensesPayload(errors=[NOT_YET], changes=None)


async def assign_group_licenses(info: Info, input: AssignGroupLicensesInput) -> AssignGroupLicensesPayload:
    return AssignGroupLicensesPayload(group=None, errors=[NOT_YET], changes=None)


async def create_user_with_licenses(info: Info, input: CreateUserInput):  # type: ignore[no-untyped-def]
    from gql.mutations.users import CreateUserPayload

    return CreateUserPayload(user=None, errors=[NOT_YET], changes=None)


async def reevaluate_after_location_change(
    conn: AsyncConnection, ctx: Context, user_ids: list[uuid.UUID], *, dry_run: bool
) -> LicenseChangeSummary:
    return summary(dry_run=dry_run)


async def reevaluate_after_tenant_location_change(conn: AsyncConnection, ctx: Context, *, dry_run: bool) -> LicenseChangeSummary:
    return summary(dry_run=dry_run)


async def recover_after_seats_freed(conn: AsyncConnection, ctx: Context, product_ids: list[uuid.UUID]) -> None:
    return None


LICENSE_FIELDS = {"assign_licenses", "update_user_service_plans", "reprocess_licenses", "assign_group_licenses"}

FIELDS = {
    "assign_licenses": (assign_licenses, AssignLicensesPayload, [CanManageLicenses]),
    "update_user_service_plans": (update_user_service_plans, UpdateUserServicePlansPayload, [CanManageLicenses]),
    "reprocess_licenses": (reprocess_licenses, ReprocessLicensesPayload, [CanManageLicenses]),
    "assign_group_licenses": (assign_group_licenses, AssignGroupLicensesPayload, [CanManageLicenses]),
}
