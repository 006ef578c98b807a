"""Filters of the users and groups lists (D10, D23)."""

from __future__ import annotations

import uuid

import strawberry
from strawberry.types import Info

from db.repo import directory
from gql.errors import public_error
from gql.types.common import AssignmentState, GroupMembershipType, UserType
from services import validation as v
from services.errors import Refused
from services.ids import product_id_arg, uuid_arg

_NO_MATCH = uuid.UUID(int=0)


@strawberry.input
class UserFilter:
    search: str | None = None
    user_type: UserType | None = None
    has_product_id: strawberry.ID | None = None
    license_state: AssignmentState | None = None  # type: ignore[valid-type]
    member_of_group_id: strawberry.ID | None = None
    unlicensed: bool | None = None


@strawberry.input
class GroupFilter:
    search: str | None = None
    has_licenses: bool | None = None
    has_members_with_license_errors: bool | None = None
    membership_type: GroupMembershipType | None = None


def user_filter_spec(info: Info, f: UserFilter | None) -> directory.UserFilterSpec:
    """The filter as SQL conditions; a bad id or search term is a top-level INVALID_INPUT."""
    if f is None:
        return directory.UserFilterSpec()
    try:
        catalog = info.context.catalog
        product_id = product_id_arg(catalog, f.has_product_id, "filter.hasProductId") if f.has_product_id else None
        group_id = uuid_arg(f.member_of_group_id, "Group", "filter.memberOfGroupId") if f.member_of_group_id else None
        search = v.search_term(f.search, "filter.search")
    except Refused as exc:
        raise public_error(exc) from exc
    return directory.UserFilterSpec(
        search=search,
        user_type=f.user_type.value if f.user_type else None,
        has_product_id=product_id if product_id is not None or f.has_product_id is None else _NO_MATCH,
        license_state=f.license_state.value if f.license_state else None,
        member_of_group_id=group_id if group_id is not None or f.member_of_group_id is None else _NO_MATCH,
        unlicensed=f.unlicensed,
    )


def group_filter_spec(f: GroupFilter | None) -> directory.GroupFilterSpec:
    try:
        search = v.search_term(f.search, "filter.search") if f else None
    except Refused as exc:
        raise public_error(exc) from exc
    return directory.GroupFilterSpec(
        search=search,
        has_licenses=f.has_licenses if f else None,
        has_members_with_license_errors=f.has_members_with_license_errors if f else None,
        dynamic=(f.membership_type == GroupMembershipType.DYNAMIC) if f and f.membership_type else None,
    )
