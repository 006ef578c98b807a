"""The role matrix of SPEC §5 as declarative permission classes (top-level FORBIDDEN errors)."""

from __future__ import annotations

from typing import Any

from strawberry.permission import BasePermission
from strawberry.types import Info

from gql.auth import Role

G, B, L, U, R = (
    Role.GLOBAL_ADMINISTRATOR,
    Role.BILLING_ADMINISTRATOR,
    Role.LICENSE_ADMINISTRATOR,
    Role.USER_ADMINISTRATOR,
    Role.GLOBAL_READER,
)


class _RolePermission(BasePermission):
    roles: frozenset[Role] = frozenset()
    message = "You do not have permission to do this."
    error_extensions = {"code": "FORBIDDEN"}

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        return bool(info.context.principal.roles & self.roles)


class CanReadTenant(_RolePermission):
    roles = frozenset({G, B, L, U, R})
    message = "Reading this organisation's data needs an admin role (Global Reader or higher)."


class CanManageDirectory(_RolePermission):
    roles = frozenset({G, U})
    message = "Managing users and groups needs the Global Administrator or User Administrator role."


class CanSetUsageLocation(_RolePermission):
    roles = frozenset({G, L, U})
    message = "Changing users needs the Global, License or User Administrator role."


class CanManageLicenses(_RolePermission):
    roles = frozenset({G, L, U})
    message = "Changing licenses needs the Global, License or User Administrator role."


class CanManageSubscriptions(_RolePermission):
    roles = frozenset({G, B})
    message = "Managing subscriptions needs the Global Administrator or Billing Administrator role."


class CanManageTenant(_RolePermission):
    roles = frozenset({G})
    message = "Changing organisation settings needs the Global Administrator role."


class CanPurchase(BasePermission):
    """Global/Billing admins buy for the organisation; any user with a user account may buy self-service."""

    message = "Buying subscriptions for the organisation needs the Global Administrator or Billing Administrator role."
    error_extensions = {"code": "FORBIDDEN"}

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        principal = info.context.principal
        if principal.roles & CanManageSubscriptions.roles:
            return True
        data = kwargs.get("input")
        return bool(getattr(data, "self_service", False))


class CanManageDirectoryOrLicenses(_RolePermission):
    """updateUser: directory admins change anything; License admins only the usage location (D22)."""

    roles = frozenset({G, U, L})
    message = "Changing users needs the Global, User or License Administrator role."


class CanAssignLicenses(BasePermission):
    """License admins; or (D6, D22) a caller without a role assigning seats of their own
    self-service subscription — every added license names a `subscriptionId`, nothing is removed."""

    message = (
        "Changing licenses needs the Global, License or User Administrator role (a self-service purchaser "
        "may assign their own subscription's seats by passing `subscriptionId`)."
    )
    error_extensions = {"code": "FORBIDDEN"}

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        if info.context.principal.roles & CanManageLicenses.roles:
            return True
        data = kwargs.get("input")
        adds = getattr(data, "add_licenses", None) or []
        return bool(adds) and all(lic.subscription_id for lic in adds) and not getattr(data, "remove_product_ids", None)
