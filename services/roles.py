"""The admin roles of SPEC §5, in their claim spellings."""

from __future__ import annotations

from enum import Enum


class Role(str, Enum):
    GLOBAL_ADMINISTRATOR = "GlobalAdministrator"
    BILLING_ADMINISTRATOR = "BillingAdministrator"
    LICENSE_ADMINISTRATOR = "LicenseAdministrator"
    USER_ADMINISTRATOR = "UserAdministrator"
    GLOBAL_READER = "GlobalReader"


CLAIM_ROLES = {r.value: r for r in Role}

READ_TENANT = frozenset(Role)
MANAGE_DIRECTORY = frozenset({Role.GLOBAL_ADMINISTRATOR, Role.USER_ADMINISTRATOR})
MANAGE_LICENSES = frozenset({Role.GLOBAL_ADMINISTRATOR, Role.LICENSE_ADMINISTRATOR, Role.USER_ADMINISTRATOR})
SET_USAGE_LOCATION = MANAGE_LICENSES
MANAGE_SUBSCRIPTIONS = frozenset({Role.GLOBAL_ADMINISTRATOR, Role.BILLING_ADMINISTRATOR})
MANAGE_TENANT = frozenset({Role.GLOBAL_ADMINISTRATOR})
READ_WEBHOOKS = frozenset({Role.GLOBAL_ADMINISTRATOR, Role.GLOBAL_READER})  # D30
MANAGE_WEBHOOKS = frozenset({Role.GLOBAL_ADMINISTRATOR})
