"""The role matrix of SPEC §5 (and D22) as declarative permission classes: a refusal is a
top-level FORBIDDEN error, before the resolver runs."""

from __future__ import annotations

import dataclasses
from typing import Any

import strawberry
from strawberry.permission import BasePermission
from strawberry.types import Info

from gql.errors import forbidden
from services import roles
from services.roles import Role

_UNSET = strawberry.UNSET
_LICENSE_ADMIN_MAY_SET = frozenset({"user_id", "usage_location", "dry_run"})  # of UpdateUserInput (D22)


class _RolePermission(BasePermission):
    roles: frozenset[Role] = frozenset()
    message = "You do not have permission to do this."
    error_extensions = {"code": "FORBIDDEN"}

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        return info.context.actor.has_any(self.roles)  # type: ignore[no-any-return]


class CanReadTenant(_RolePermission):
    roles = roles.READ_TENANT
    message = "Reading this organisation's data needs an admin role (Global Reader or higher)."


class CanManageDirectory(_RolePermission):
    roles = roles.MANAGE_DIRECTORY
    message = "Managing users and groups needs the Global Administrator or User Administrator role."


class CanManageLicenses(_RolePermission):
    roles = roles.MANAGE_LICENSES
    message = "Changing licenses needs the Global, License or User Administrator role."


class CanManageSubscriptions(_RolePermission):
    roles = roles.MANAGE_SUBSCRIPTIONS
    message = "Managing subscriptions needs the Global Administrator or Billing Administrator role."


class CanManageTenant(_RolePermission):
    roles = roles.MANAGE_TENANT
    message = "Changing organisation settings needs the Global Administrator role."


class CanReadWebhooks(_RolePermission):
    roles = roles.READ_WEBHOOKS
    message = "Reading webhooks needs the Global Administrator or Global Reader role."


class CanManageWebhooks(_RolePermission):
    roles = roles.MANAGE_WEBHOOKS
    message = "Managing webhooks needs the Global Administrator role."


class CanCreateUser(BasePermission):
    """createUser: directory admins; with `licenses`, also a license role (Global or User
    Administrator have both)."""

    message = "Managing users and groups needs the Global Administrator or User Administrator role."
    error_extensions = {"code": "FORBIDDEN"}

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        actor = info.context.actor
        if not actor.has_any(roles.MANAGE_DIRECTORY):
            return False
        data = kwargs.get("input")
        return not getattr(data, "licenses", None) or bool(actor.has_any(roles.MANAGE_LICENSES))


class CanUpdateUser(BasePermission):
    """updateUser: directory admins change anything; a License Administrator only the usage
    location (D22)."""

    message = "Changing users needs the Global, User or License Administrator role."
    error_extensions = {"code": "FORBIDDEN"}

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        actor = info.context.actor
        if actor.has_any(roles.MANAGE_DIRECTORY):
            return True
        if not actor.has_any(roles.SET_USAGE_LOCATION):
            return False
        data = kwargs.get("input")
        # every attribute but the usage location, so that a field added to the input is covered too
        others = [f.name for f in dataclasses.fields(data) if f.name not in _LICENSE_ADMIN_MAY_SET]
        if any(getattr(data, name, None) is not _UNSET for name in others):
            raise forbidden("A License Administrator may change only a user's usage location.")
        return True


class CanPurchase(BasePermission):
    """Global/Billing admins buy for the organisation; any user with a user account may buy self-service."""

    message = "Buying subscriptions for the organisation needs the Global Administrator or Billing Administrator role."
    error_extensions = {"code": "FORBIDDEN"}

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        if info.context.actor.has_any(roles.MANAGE_SUBSCRIPTIONS):
            return True
        return bool(getattr(kwargs.get("input"), "self_service", False))


class CanAssignLicenses(BasePermission):
    """License admins; or (D6, D22) a caller without a role assigning seats of their own
    self-service subscription — every added license names a `subscriptionId`, nothing is
    removed or replaced."""

    message = (
        "Changing licenses needs the Global, License or User Administrator role (a self-service purchaser "
        "may assign their own subscription's seats by passing `subscriptionId`)."
    )
    error_extensions = {"code": "FORBIDDEN"}

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        if info.context.actor.has_any(roles.MANAGE_LICENSES):
            return True
        data = kwargs.get("input")
        adds = getattr(data, "add_licenses", None) or []
        replacing = getattr(getattr(data, "mode", None), "value", "ADD") == "REPLACE"
        return (
            bool(adds) and all(lic.subscription_id for lic in adds) and not getattr(data, "remove_product_ids", None)
            and not replacing
        )
