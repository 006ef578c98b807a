"""The SCIM protocol around the handlers: the media type, error bodies (RFC 7644 §3.12), the
mapping of refused use cases to status and `scimType`, reading a request body."""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError
from scim2_models import Error
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Scope

from gql.http.limits import Refusal
from services.change import TRY_AGAIN
from services.errors import ErrorCode, Refused

MEDIA_TYPE = "application/scim+json"
RETRY_AFTER = "1"


class ScimError(Exception):
    """An answer other than success: status, `scimType` (or None) and a detail for the admin."""

    def __init__(self, status: int, scim_type: str | None, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.scim_type = scim_type
        self.detail = detail
        self.headers = headers or {}


def scim_response(body: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(body, ensure_ascii=False), status, headers=headers, media_type=MEDIA_TYPE)


def error_response(error: ScimError) -> Response:
    body = Error(status=error.status, scim_type=error.scim_type, detail=error.detail).model_dump()
    return scim_response(body, error.status, error.headers)


def limit_refusal(scope: Scope, refusal: Refusal) -> Response:
    """The HTTP limits' refusal (413, 503, 408) as a SCIM error (D36)."""
    scim_type = "tooMany" if refusal.status == 413 else None
    return error_response(ScimError(refusal.status, scim_type, refusal.message, dict(refusal.headers or {})))


def refused(exc: Refused) -> ScimError:
    """A use case's refusal as SCIM: taken names 409 uniqueness, bad values 400 invalidValue, a
    dynamic group's members 400 mutability, a licensed group 409, a lock timeout 503."""
    problem = exc.problems[0]
    detail = " ".join(p.message for p in exc.problems)
    code = problem.code
    if code == ErrorCode.ALREADY_EXISTS:
        return ScimError(409, "uniqueness", detail)
    if code == ErrorCode.DYNAMIC_MEMBERSHIP:
        return ScimError(400, "mutability", detail)
    if code == ErrorCode.GROUP_HAS_LICENSES:
        return ScimError(409, None, detail)
    if code == ErrorCode.NOT_FOUND:
        if problem.field and problem.field.startswith("input.memberIds"):
            return ScimError(400, "invalidValue", detail)
        return ScimError(404, None, detail)
    if code == ErrorCode.OTHER and problem.message == TRY_AGAIN:
        return ScimError(503, None, detail, {"Retry-After": RETRY_AFTER})
    if code == ErrorCode.INVALID_INPUT:
        return ScimError(400, "invalidValue", detail)
    return ScimError(400, None, detail)


def validation_failed(exc: ValidationError) -> ScimError:
    first = exc.errors()[0] if exc.errors() else {}
    scim_type = str(first.get("type", "")).removeprefix("scim_")
    where = ".".join(str(p) for p in first.get("loc", ()))
    message = first.get("msg", "the request body is not a valid SCIM resource")
    known = {"invalidValue", "invalidSyntax", "mutability", "noTarget", "invalidPath", "uniqueness"}
    return ScimError(400, scim_type if scim_type in known else "invalidValue", f"{where}: {message}" if where else message)


PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def require_patch_schema(body: dict[str, Any]) -> None:
    """RFC 7644 §3.5.2: a PATCH body's `schemas` holds the PatchOp URI (400 invalidValue, as
    scim2-models answers for Users)."""
    schemas = body.get("schemas")
    if not isinstance(schemas, list) or PATCH_OP.lower() not in [str(s).lower() for s in schemas]:
        raise ScimError(400, "invalidValue", f"schemas must contain the base schema '{PATCH_OP}'.")


async def json_body(request: Request) -> dict[str, Any]:
    """The request's JSON object (400 invalidSyntax when it is not one)."""
    raw = await request.body()
    try:
        body = json.loads(raw) if raw else None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ScimError(400, "invalidSyntax", f"The request body is not JSON: {exc}.") from exc
    if not isinstance(body, dict):
        raise ScimError(400, "invalidSyntax", "The request body must be a JSON object.")
    return body
