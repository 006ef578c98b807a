"""Mutation inputs (names per schema-contract.graphql)."""

from __future__ import annotations

from datetime import datetime

import strawberry

from gql.types import AssignMode


@strawberry.input
class LicenseInput:
    product_id: strawberry.ID
    disabled_service_plan_ids: list[strawberry.ID] | None = strawberry.field(default_factory=list)
    subscription_id: strawberry.ID | None = None


@strawberry.input
class AssignLicensesInput:
    user_ids: list[strawberry.ID]
    add_licenses: list[LicenseInput] | None = strawberry.field(default_factory=list)
    remove_product_ids: list[strawberry.ID] | None = strawberry.field(default_factory=list)
    mode: AssignMode | None = AssignMode.ADD
    dry_run: bool | None = False


@strawberry.input
class UpdateUserServicePlansInput:
    user_id: strawberry.ID
    product_id: strawberry.ID
    disabled_service_plan_ids: list[strawberry.ID]
    dry_run: bool | None = False


@strawberry.input
class ReprocessLicensesInput:
    user_ids: list[strawberry.ID] | None = None
    group_id: strawberry.ID | None = None
    dry_run: bool | None = False


@strawberry.input
class CreateUserInput:
    user_principal_name: str
    display_name: str
    mail: str | None = None
    usage_location: str | None = None
    department: str | None = None
    job_title: str | None = None
    account_enabled: bool | None = True
    licenses: list[LicenseInput] | None = strawberry.field(default_factory=list)
    dry_run: bool | None = False
    given_name: str | None = None
    surname: str | None = None
    employee_id: str | None = None


@strawberry.input
class UpdateUserInput:
    user_id: strawberry.ID
    display_name: str | None = strawberry.UNSET
    usage_location: str | None = strawberry.UNSET
    department: str | None = strawberry.UNSET
    job_title: str | None = strawberry.UNSET
    account_enabled: bool | None = strawberry.UNSET
    dry_run: bool | None = False
    given_name: str | None = strawberry.UNSET
    surname: str | None = strawberry.UNSET
    employee_id: str | None = strawberry.UNSET
    mail: str | None = strawberry.UNSET


@strawberry.input
class DeleteUserInput:
    user_id: strawberry.ID
    dry_run: bool | None = False


@strawberry.input
class InviteGuestInput:
    email: str
    display_name: str
    usage_location: str | None = None


@strawberry.input
class CreateGroupInput:
    display_name: str
    description: str | None = None
    security_enabled: bool | None = True
    member_ids: list[strawberry.ID] | None = strawberry.field(default_factory=list)
    membership_rule: str | None = None  # makes the group dynamic (R22); memberIds must then be empty


@strawberry.input
class UpdateGroupInput:
    group_id: strawberry.ID
    display_name: str | None = strawberry.UNSET
    description: str | None = strawberry.UNSET
    # null: becomes an assigned group keeping its members; omitted: unchanged (R22)
    membership_rule: str | None = strawberry.UNSET
    dry_run: bool | None = False


@strawberry.input
class DeleteGroupInput:
    group_id: strawberry.ID
    dry_run: bool | None = False


@strawberry.input
class GroupMembersInput:
    group_id: strawberry.ID
    member_ids: list[strawberry.ID]
    dry_run: bool | None = False


@strawberry.input
class AssignGroupLicensesInput:
    group_id: strawberry.ID
    add_licenses: list[LicenseInput] | None = strawberry.field(default_factory=list)
    remove_product_ids: list[strawberry.ID] | None = strawberry.field(default_factory=list)
    dry_run: bool | None = False


@strawberry.input
class PurchaseSubscriptionInput:
    product_id: strawberry.ID
    quantity: int
    is_trial: bool | None = False
    self_service: bool | None = False
    starts_at: datetime | None = None
    recurring_billing: bool | None = True
    dry_run: bool | None = False


@strawberry.input
class UpdateSubscriptionQuantityInput:
    subscription_id: strawberry.ID
    quantity: int
    dry_run: bool | None = False


@strawberry.input
class SubscriptionIdInput:
    subscription_id: strawberry.ID
    dry_run: bool | None = False


@strawberry.input
class SetRecurringBillingInput:
    subscription_id: strawberry.ID
    enabled: bool
    dry_run: bool | None = False


@strawberry.input
class UpdateTenantInput:
    default_usage_location: str | None = strawberry.UNSET
    dry_run: bool | None = False
