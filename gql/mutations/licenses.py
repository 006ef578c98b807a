"""assignLicenses (R12), updateUserServicePlans (R14), reprocessLicenses (R13), assignGroupLicenses (R18)."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from gql.changes import LicenseChangeSummary, changes_of
from gql.errors import UserError
from gql.inputs import (
    AssignGroupLicensesInput,
    AssignLicensesInput,
    ReprocessLicensesInput,
    UpdateUserServicePlansInput,
)
from gql.mutations.common import Field, licenses_of, run
from gql.permissions import CanAssignLicenses, CanManageLicenses
from gql.types import AssignMode, Group, User
from services import licenses


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
    request = licenses.AssignLicenses(
        user_ids=list(input.user_ids), add_licenses=licenses_of(input.add_licenses),
        remove_product_ids=list(input.remove_product_ids or []), replace=input.mode == AssignMode.REPLACE,
        dry_run=bool(input.dry_run),
    )
    done, errors = await run(info, licenses.assign_licenses, request)
    if done is None:
        return AssignLicensesPayload(users=[], errors=errors, changes=None)
    return AssignLicensesPayload(users=[User.of(u) for u in done.users], errors=[], changes=changes_of(done.changes))


async def update_user_service_plans(info: Info, input: UpdateUserServicePlansInput) -> UpdateUserServicePlansPayload:
    request = licenses.UpdateUserServicePlans(
        input.user_id, input.product_id, list(input.disabled_service_plan_ids), dry_run=bool(input.dry_run)
    )
    done, errors = await run(info, licenses.update_user_service_plans, request)
    if done is None:
        return UpdateUserServicePlansPayload(user=None, errors=errors, changes=None)
    return UpdateUserServicePlansPayload(user=User.of(done.user), errors=[], changes=changes_of(done.changes))


async def reprocess_licenses(info: Info, input: ReprocessLicensesInput) -> ReprocessLicensesPayload:
    request = licenses.ReprocessLicenses(
        list(input.user_ids) if input.user_ids is not None else None, input.group_id, dry_run=bool(input.dry_run)
    )
    done, errors = await run(info, licenses.reprocess_licenses, request)
    return ReprocessLicensesPayload(errors=errors, changes=changes_of(done))


async def assign_group_licenses(info: Info, input: AssignGroupLicensesInput) -> AssignGroupLicensesPayload:
    request = licenses.AssignGroupLicenses(
        input.group_id, licenses_of(input.add_licenses), list(input.remove_product_ids or []), dry_run=bool(input.dry_run)
    )
    done, errors = await run(info, licenses.assign_group_licenses, request)
    if done is None:
        return AssignGroupLicensesPayload(group=None, errors=errors, changes=None)
    return AssignGroupLicensesPayload(group=Group.of(done.group), errors=[], changes=changes_of(done.changes))


FIELDS: dict[str, Field] = {
    "assign_licenses": (assign_licenses, AssignLicensesPayload, [CanAssignLicenses]),
    "update_user_service_plans": (update_user_service_plans, UpdateUserServicePlansPayload, [CanManageLicenses]),
    "reprocess_licenses": (reprocess_licenses, ReprocessLicensesPayload, [CanManageLicenses]),
    "assign_group_licenses": (assign_group_licenses, AssignGroupLicensesPayload, [CanManageLicenses]),
}
