"""GraphQL object types, by domain (names per schema-contract.graphql)."""

from gql.types.audit import AuditEvent, audit_connection
from gql.types.catalog import PrepaidUnits, ServicePlan
from gql.types.common import (
    AssignmentState,
    AssignMode,
    Connection,
    Edge,
    Node,
    PageInfo,
    Role,
    SubscriptionStatus,
    UserType,
    connection,
    fetch_page,
    page_info,
)
from gql.types.directory import (
    DirectoryObject,
    Group,
    GroupLicense,
    LicenseAssignmentState,
    Product,
    Subscription,
    User,
    UserLicense,
    Viewer,
    user_connection,
)
from gql.types.filters import GroupFilter, UserFilter, group_filter_spec, user_filter_spec
from gql.types.tenant import Tenant

__all__ = [
    "AssignMode", "AssignmentState", "AuditEvent", "Connection", "DirectoryObject", "Edge", "Group", "GroupFilter",
    "GroupLicense", "LicenseAssignmentState", "Node", "PageInfo", "PrepaidUnits", "Product", "Role", "ServicePlan",
    "Subscription", "SubscriptionStatus", "Tenant", "User", "UserFilter", "UserLicense", "UserType", "Viewer",
    "audit_connection", "connection", "fetch_page", "group_filter_spec", "page_info", "user_connection", "user_filter_spec",
]
