"""What Users and Groups handlers share: the actor's runtime, paging and attribute parameters,
ids, and list responses."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from scim2_models import ResponseParameters
from starlette.requests import Request

from gql.scim.discovery import MAX_RESULTS
from gql.scim.protocol import ScimError
from services.context import Actor, Runtime

LIST_RESPONSE = "urn:ietf:params:scim:api:messages:2.0:ListResponse"


@dataclass(frozen=True)
class Call:
    """One authenticated SCIM request."""

    request: Request
    runtime: Runtime
    actor: Actor
    search: Mapping[str, str] | None = None  # the parameters of a POST …/.search body

    @property
    def params(self) -> Mapping[str, str]:
        """The query parameters (filter, startIndex, count, attributes, excludedAttributes)."""
        return self.search if self.search is not None else self.request.query_params

    @property
    def base(self) -> str:
        return f"{str(self.request.base_url).rstrip('/')}/scim/v2"

    def location(self, kind: str, key: uuid.UUID) -> str:
        return f"{self.base}/{kind}/{key}"

    @property
    def tenant_id(self) -> str:
        return self.actor.tenant_id


def resource_id(raw: str, kind: str) -> uuid.UUID:
    """A SCIM id is the object's GUID; anything else names nothing (404)."""
    try:
        return uuid.UUID(raw)
    except ValueError as exc:
        raise ScimError(404, None, f"No {kind} has the id {raw[:80]!r}.") from exc


def not_found(kind: str, key: uuid.UUID | str) -> ScimError:
    return ScimError(404, None, f"No {kind} has the id {key}.")


def _names(raw: str | None) -> list[str] | None:
    if raw is None:
        return None
    names = [n.strip() for n in raw.split(",") if n.strip()]
    return names or None


def response_parameters(params: Mapping[str, str]) -> ResponseParameters:
    attributes = _names(params.get("attributes"))
    excluded = _names(params.get("excludedAttributes"))
    try:
        return ResponseParameters(attributes=attributes, excluded_attributes=excluded)
    except ValueError as exc:
        raise ScimError(400, "invalidValue", f"attributes/excludedAttributes: {exc}") from exc


def excludes(params: ResponseParameters, attribute: str) -> bool:
    """Whether the response leaves `attribute` out (excluded, or not among `attributes`)."""
    excluded = [str(a).lower() for a in params.excluded_attributes or []]
    if attribute.lower() in excluded:
        return True
    wanted = [str(a).lower().split(".")[0] for a in params.attributes or []]
    return bool(wanted) and attribute.lower() not in wanted


def _int_param(params: Mapping[str, str], name: str, default: int) -> int:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ScimError(400, "invalidValue", f"{name} must be an integer; got {raw[:40]!r}.") from exc


MAX_START_INDEX = 2**63 - 1  # past every result; the SQL offset (start - 1) is a bigint


def paging(params: Mapping[str, str]) -> tuple[int, int]:
    """(startIndex, count): startIndex below 1 counts as 1, count is 0–100 (RFC 7644 §3.4.2.4);
    a startIndex past the results is an empty page (one beyond a bigint counts as the largest)."""
    start = min(MAX_START_INDEX, max(1, _int_param(params, "startIndex", 1)))
    count = min(MAX_RESULTS, max(0, _int_param(params, "count", MAX_RESULTS)))
    return start, count


def search_parameters(body: dict[str, Any]) -> dict[str, str]:
    """A SearchRequest body (RFC 7644 §3.4.3) as the query parameters of a GET."""
    params: dict[str, str] = {}
    for key in ("filter", "startIndex", "count"):
        if body.get(key) is not None:
            params[key] = str(body[key])
    for key in ("attributes", "excludedAttributes"):
        value = body.get(key)
        if value is not None:
            params[key] = ",".join(str(v) for v in value) if isinstance(value, list) else str(value)
    if body.get("sortBy") is not None:
        raise ScimError(400, "invalidValue", "Sorting is not supported (ServiceProviderConfig sort.supported is false).")
    return params


def list_response(total: int, start: int, resources: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "schemas": [LIST_RESPONSE], "totalResults": total, "startIndex": start, "itemsPerPage": len(resources),
        "Resources": resources,
    }
