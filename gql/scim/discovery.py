"""ServiceProviderConfig, ResourceTypes and Schemas (RFC 7643 §5–7). `/Schemas` lists only the
attributes this service stores and returns unchanged (D28)."""

from __future__ import annotations

from typing import Any

from engine.countries import COUNTRY_CODES

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
SPC = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"
RESOURCE_TYPE = "urn:ietf:params:scim:schemas:core:2.0:ResourceType"
SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Schema"
MAX_RESULTS = 100


def _attr(
    name: str, kind: str = "string", *, required: bool = False, case_exact: bool = False, uniqueness: str = "none",
    mutability: str = "readWrite", returned: str = "default", multi: bool = False, sub: list[dict[str, Any]] | None = None,
    canonical: list[str] | None = None, description: str = "", references: list[str] | None = None,
) -> dict[str, Any]:
    attr: dict[str, Any] = {
        "name": name, "type": kind, "multiValued": multi, "description": description or name, "required": required,
        "mutability": mutability, "returned": returned,
    }
    if kind in ("string", "reference"):
        attr |= {"caseExact": case_exact, "uniqueness": uniqueness}
    if canonical:
        attr["canonicalValues"] = canonical
    if sub:
        attr["subAttributes"] = sub
    if references:
        attr["referenceTypes"] = references
    return attr


USER_ATTRIBUTES = [
    _attr("userName", required=True, uniqueness="server", description="The user principal name, unique ignoring case."),
    _attr("name", "complex", sub=[_attr("givenName"), _attr("familyName")]),
    # displayName, userType and active always have a value (required): a missing displayName is
    # the userName; a missing userType or active is Member / true on a create, else kept
    _attr("displayName", required=True, description="Defaults to userName."),
    _attr("title", description="The job title."),
    _attr("userType", required=True, canonical=["Member", "Guest"]),
    _attr("active", "boolean", required=True, description="accountEnabled; false keeps the user's licenses."),
    # `type` is not published: one email and one address are stored, and they read back as the
    # "work" ones whatever type they were given (a "home" email returns as "work")
    _attr("emails", "complex", multi=True, description="The email stored as mail: the primary one, else the work one, else the first; read back as its value alone.", sub=[
        _attr("value"),
    ]),
    _attr("addresses", "complex", multi=True, description="The work address: its country is the usage location.", sub=[
        _attr("country", canonical=sorted(COUNTRY_CODES), description="ISO 3166-1 alpha-2 (usage location)."),
    ]),
]
# employeeNumber (employeeId) is accepted and returned but not published: D31 limits it to 16
# characters and a SCIM schema cannot say so, so a client filling it from /Schemas (scim2-tester)
# would send values the service must refuse. D28 asks only that what is published holds.
ENTERPRISE_ATTRIBUTES = [_attr("department")]
GROUP_ATTRIBUTES = [
    _attr("displayName", required=True),
    _attr("members", "complex", multi=True, description="Users and groups; read-only for a dynamic group.", sub=[
        _attr("value", mutability="immutable"),
        _attr("$ref", "reference", mutability="immutable", references=["User", "Group"]),
        _attr("type", mutability="immutable", canonical=["User", "Group"]),
    ]),
]


def _meta(base: str, kind: str, name: str) -> dict[str, Any]:
    return {"resourceType": kind, "location": f"{base}/{'Schemas' if kind == 'Schema' else 'ResourceTypes'}/{name}"}


def schemas(base: str) -> list[dict[str, Any]]:
    return [
        {"schemas": [SCHEMA], "id": USER, "name": "User", "description": "User Account", "attributes": USER_ATTRIBUTES,
         "meta": _meta(base, "Schema", USER)},
        {"schemas": [SCHEMA], "id": ENTERPRISE, "name": "EnterpriseUser", "description": "Enterprise User",
         "attributes": ENTERPRISE_ATTRIBUTES, "meta": _meta(base, "Schema", ENTERPRISE)},
        {"schemas": [SCHEMA], "id": GROUP, "name": "Group", "description": "Group (security-enabled)",
         "attributes": GROUP_ATTRIBUTES, "meta": _meta(base, "Schema", GROUP)},
    ]


def resource_types(base: str) -> list[dict[str, Any]]:
    return [
        {"schemas": [RESOURCE_TYPE], "id": "User", "name": "User", "endpoint": "/Users", "description": "User Account",
         "schema": USER, "schemaExtensions": [{"schema": ENTERPRISE, "required": False}],
         "meta": _meta(base, "ResourceType", "User")},
        {"schemas": [RESOURCE_TYPE], "id": "Group", "name": "Group", "endpoint": "/Groups", "description": "Group",
         "schema": GROUP, "schemaExtensions": [], "meta": _meta(base, "ResourceType", "Group")},
    ]


def service_provider_config(base: str) -> dict[str, Any]:
    return {
        "schemas": [SPC],
        "patch": {"supported": True},
        "bulk": {"supported": False, "maxOperations": 0, "maxPayloadSize": 0},
        "filter": {"supported": True, "maxResults": MAX_RESULTS},
        "changePassword": {"supported": False},
        "sort": {"supported": False},
        "etag": {"supported": False},
        "authenticationSchemes": [{
            "type": "oauthbearertoken", "name": "SCIM token", "primary": True,
            "description": "A bearer token from `licensing scim tokens create`.",
        }],
        "meta": {"resourceType": "ServiceProviderConfig", "location": f"{base}/ServiceProviderConfig"},
    }


def listed(resources: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"], "totalResults": len(resources),
        "startIndex": 1, "itemsPerPage": len(resources), "Resources": resources,
    }
