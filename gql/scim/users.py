"""/scim/v2/Users (R29): the mapping of a SCIM User to a stored user, and its handlers.

userName = UPN, displayName (default userName), name.givenName/familyName, emails (the
primary or `work` one) = mail, active = accountEnabled, title = jobTitle, userType,
externalId, addresses[type eq "work"].country = usageLocation, enterprise department and
employeeNumber = employeeId. Every write is the GraphQL mutation's use case with
`from_identity_provider=True` (D27, D28); PATCH applies the operations to the current
representation with scim2-models and stores the result the same way as a PUT.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from scim2_models import (
    Address,
    Context,
    Email,
    EnterpriseUser,
    Meta,
    Name,
    PatchOp,
    PhoneNumber,
    SCIMException,
    User,
)
from starlette.responses import Response

from db.repo import scim as scim_reads
from db.repo.scim import FilterError, ScimUser
from gql.scim.filters import parse_filter
from gql.scim.protocol import (
    RETRY_AFTER,
    ScimError,
    json_body,
    require_patch_schema,
    scim_response,
    validation_failed,
)
from gql.scim.resources import Call, list_response, not_found, paging, resource_id, response_parameters
from services import directory
from services.directory import KEEP, ChangedMeanwhile, CreateUser, DeleteUser, UpdateUser
from services.ids import to_global_id


class StoredEmail(Email):
    value: str | None = None  # as given (scim2-models' EmailStr lower-cases the domain, D28); checked by services.validation


class ScimUserModel(User[EnterpriseUser]):
    emails: list[StoredEmail] | None = None  # type: ignore[assignment]


USER_TYPES = {"member": "MEMBER", "guest": "GUEST"}
ENTERPRISE_URN = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"

MAX_ATTEMPTS = 5  # a read-modify-write redone when the user changed in between


def to_model(call: Call, found: ScimUser) -> Any:
    u = found.user
    model = ScimUserModel(
        id=str(u.id), user_name=u.user_principal_name, display_name=u.display_name, external_id=u.external_id,
        name=Name(given_name=u.given_name, family_name=u.surname) if (u.given_name or u.surname) else None,
        title=u.job_title, user_type=u.user_type.capitalize(), active=u.account_enabled,
        # one mail, no `primary` flag and no `type` (the type given is not stored): /Schemas
        # publishes only what is stored and returned unchanged (D28)
        emails=[StoredEmail(value=u.mail)] if u.mail else None,
        addresses=[Address(country=u.usage_location)] if u.usage_location else None,
        meta=Meta(resource_type="User", created=u.created_at, last_modified=found.updated_at, location=call.location("Users", u.id)),
    )
    if u.department or u.employee_id:
        model[EnterpriseUser] = EnterpriseUser(department=u.department, employee_number=u.employee_id)
    return model


def _dump(call: Call, found: ScimUser) -> dict[str, Any]:
    return to_model(call, found).model_dump(  # type: ignore[no-any-return]
        scim_ctx=Context.RESOURCE_QUERY_RESPONSE, response_parameters=response_parameters(call.params)
    )


@dataclass(frozen=True)
class Fields:
    """What a SCIM User says of the stored columns."""

    user_name: str
    display_name: str
    given_name: str | None
    surname: str | None
    mail: str | None
    active: bool | None
    job_title: str | None
    user_type: str | None
    external_id: str | None
    usage_location: str | None
    department: str | None
    employee_id: str | None


def _pick(items: list[Any] | None, field: str) -> Any:
    """The primary entry, else the `work` one, else the first (RFC 7643 §2.4), of those with a value."""
    items = [i for i in items or [] if getattr(i, field)]
    if not items:
        return None
    return next((i for i in items if i.primary), None) or next((i for i in items if str(i.type or "") == "work"), None) or items[0]


def fields_of(model: Any) -> Fields:
    if not model.user_name:
        raise ScimError(400, "invalidValue", "userName is required.")
    email = _pick(model.emails, "value")
    address = _pick(model.addresses, "country")
    ext = model[EnterpriseUser]
    user_type = None
    if model.user_type is not None:
        user_type = USER_TYPES.get(str(model.user_type).lower())
        if user_type is None:
            raise ScimError(400, "invalidValue", f"userType is Member or Guest; got {str(model.user_type)[:40]!r}.")
    return Fields(
        user_name=model.user_name,
        display_name=model.display_name if model.display_name and model.display_name.strip() else model.user_name,
        given_name=model.name.given_name if model.name else None,
        surname=model.name.family_name if model.name else None,
        mail=email.value if email is not None else None,
        active=model.active,
        job_title=model.title,
        user_type=user_type,
        external_id=model.external_id,
        usage_location=address.country if address is not None else None,
        department=ext.department if ext is not None else None,
        employee_id=ext.employee_number if ext is not None else None,
    )


def _without_manager(body: dict[str, Any]) -> dict[str, Any]:
    """The body without the enterprise extension's `manager`: it is not stored, and Okta and
    Entra send it as `{"value": id, "displayName": …}` without the `$ref` scim2-models insists on
    (RFC 7643 §4.3: `$ref` is RECOMMENDED, not required), which refused the whole user."""
    for key, extension in body.items():
        if key.lower() == ENTERPRISE_URN.lower() and isinstance(extension, dict):
            kept = {k: v for k, v in extension.items() if k.lower() != "manager"}
            if len(kept) != len(extension):
                return {**body, key: kept}
    return body


def _parse(body: dict[str, Any], context: Context) -> Any:
    try:
        return ScimUserModel.model_validate(_without_manager(body), scim_ctx=context)
    except ValidationError as exc:
        raise validation_failed(exc) from exc


async def _read(call: Call, raw_id: str) -> ScimUser:
    key = resource_id(raw_id, "user")
    async with call.runtime.db.read() as conn:
        found = await scim_reads.user(conn, call.tenant_id, key)
    if found is None:
        raise not_found("user", key)
    return found


async def list_users(call: Call) -> Response:
    start, count = paging(call.params)
    node = parse_filter(call.params.get("filter"))
    try:
        async with call.runtime.db.read() as conn:
            total, page = await scim_reads.users_page(conn, call.tenant_id, node, offset=start - 1, limit=count)
    except FilterError as exc:
        raise ScimError(400, "invalidFilter", str(exc)) from exc
    return scim_response(list_response(total, start, [_dump(call, u) for u in page]))


async def get_user(call: Call, raw_id: str) -> Response:
    return scim_response(_dump(call, await _read(call, raw_id)))


async def create_user(call: Call) -> Response:
    f = fields_of(_parse(await json_body(call.request), Context.RESOURCE_CREATION_REQUEST))
    created = await directory.create_user(call.runtime, call.actor, CreateUser(
        user_principal_name=f.user_name, display_name=f.display_name, mail=f.mail, usage_location=f.usage_location,
        department=f.department, job_title=f.job_title, account_enabled=f.active, given_name=f.given_name,
        surname=f.surname, employee_id=f.employee_id, external_id=f.external_id, user_type=f.user_type or "MEMBER",
        from_identity_provider=True,
    ))
    found = ScimUser(created.user, created.user.created_at)  # a new user was last modified when created
    return scim_response(_dump(call, found), 201, {"Location": call.location("Users", created.user.id)})


async def _store(call: Call, found: ScimUser, f: Fields) -> Response:
    """Store every field a full representation gives (absent ones cleared, D27), as one updateUser."""
    await directory.update_user(call.runtime, call.actor, UpdateUser(
        user_id=to_global_id("User", found.user.id), user_principal_name=f.user_name, display_name=f.display_name,
        given_name=f.given_name, surname=f.surname, mail=f.mail,
        account_enabled=KEEP if f.active is None else f.active, job_title=f.job_title,
        user_type=KEEP if f.user_type is None else f.user_type, external_id=f.external_id,
        usage_location=f.usage_location, department=f.department, employee_id=f.employee_id,
        from_identity_provider=True, unchanged_since=found.updated_at,
    ))
    return scim_response(_dump(call, await _read(call, str(found.user.id))))


async def _read_modify_write(call: Call, raw_id: str, modify: Callable[[ScimUser], Fields]) -> Response:
    """Read the user, compute the new representation, store it unless the user changed in
    between — then read again and redo it (no lost update without ETags)."""
    for _attempt in range(MAX_ATTEMPTS):
        found = await _read(call, raw_id)
        try:
            return await _store(call, found, modify(found))
        except ChangedMeanwhile:
            continue
    # still changing under us: a busy resource, not a bad request — the client retries (D34)
    raise ScimError(503, None, f"The user kept changing while this request was applied ({MAX_ATTEMPTS} attempts); "
                    "nothing was changed. Retry the request.", {"Retry-After": RETRY_AFTER})


async def replace_user(call: Call, raw_id: str) -> Response:
    await _read(call, raw_id)  # 404 before the body is judged
    model = _parse(await json_body(call.request), Context.RESOURCE_REPLACEMENT_REQUEST)
    return await _read_modify_write(call, raw_id, lambda _found: fields_of(model))


async def patch_user(call: Call, raw_id: str) -> Response:
    await _read(call, raw_id)  # 404 before the body is judged
    body = await json_body(call.request)
    return await _read_modify_write(call, raw_id, lambda found: _patched(call, found, body))


# Entra's default mapping sends the manager as a bare id and phone numbers by value-filter path
# (`phoneNumbers[type eq "work"].value`); neither is stored, so both are a no-op (as nickName is):
# the id is read as {"value": id} and empty phone numbers of every type give a filter something
# to select.
MANAGER_PATH = f"{ENTERPRISE_URN}:manager".lower()
PHONE_TYPES = ("work", "mobile", "fax", "home", "pager", "other")
# Entra's default mapping also adds proxy addresses as `emails[type eq "other"].Value` and the
# office as `addresses[type eq "other"].Formatted`: only one email and one address are stored
# (the work ones), so adding a home or other one is a no-op, as phone numbers are (a replace
# whose filter selects nothing stays 400 noTarget, RFC 7644 §3.5.2.3)
UNSTORED_ADD = re.compile(
    r'^\s*(?:urn:ietf:params:scim:schemas:core:2\.0:user:)?(?:emails|addresses)\[\s*type\s+eq\s+"(?:home|other)"\s*\]',
    re.IGNORECASE,
)


def _stored_add(operation: Any) -> bool:
    """False for an `add` to a home or other email or address (not stored)."""
    if not isinstance(operation, dict) or str(operation.get("op", "")).lower() != "add":
        return True
    path = operation.get("path")
    return not (isinstance(path, str) and UNSTORED_ADD.match(path))


def _manager_as_object(operation: Any) -> Any:
    if isinstance(operation, dict) and isinstance(operation.get("value"), str):
        path = operation.get("path")
        if isinstance(path, str) and path.strip().lower() == MANAGER_PATH:
            return {**operation, "value": {"value": operation["value"]}}
    return operation


def _new_first(items: list[Any] | None, before: list[Any]) -> list[Any] | None:
    if not items:
        return items
    return [i for i in items if i not in before] + [i for i in items if i in before]


def _patched(call: Call, found: ScimUser, body: Any) -> Fields:
    """The user as the PATCH leaves it (scim2-models applies the operations)."""
    require_patch_schema(body)
    unstored_only = False
    if isinstance(body, dict) and isinstance(body.get("Operations"), list):
        operations = [_manager_as_object(op) for op in body["Operations"] if _stored_add(op)]
        unstored_only = bool(body["Operations"]) and not operations
        body = {**body, "Operations": operations}
    if unstored_only:  # nothing the PATCH asks is stored: the user as it is
        return fields_of(to_model(call, found))
    try:
        patch = PatchOp[ScimUserModel].model_validate(body, scim_ctx=Context.RESOURCE_PATCH_REQUEST)
        model = to_model(call, found)
        # Entra sets a missing address or email with a value-filter path (`addresses[type eq
        # "work"].country`): the stored entries are the work ones, and empty work entries give
        # that filter something to select
        for entry in [*(model.emails or []), *(model.addresses or [])]:
            entry.type = "work"
        model.emails = model.emails or [StoredEmail(type="work")]
        model.addresses = model.addresses or [Address(type="work")]
        model.phone_numbers = [PhoneNumber(type=t) for t in PHONE_TYPES]
        before = (list(model.emails), list(model.addresses))
        patch.patch(model)
        # one email and one address are stored: a value the PATCH brings goes first, so an added
        # work (or primary) one replaces the stored one instead of being dropped
        model.emails = _new_first(model.emails, before[0])
        model.addresses = _new_first(model.addresses, before[1])
    except ValidationError as exc:
        raise validation_failed(exc) from exc
    except (SCIMException, ValueError) as exc:  # scim2-models raises SCIMException with its scimType
        raise ScimError(400, getattr(exc, "scim_type", None) or "invalidValue", str(exc)) from exc
    return fields_of(model)


async def delete_user(call: Call, raw_id: str) -> Response:
    found = await _read(call, raw_id)
    await directory.delete_user(call.runtime, call.actor, DeleteUser(to_global_id("User", found.user.id)))
    return Response(status_code=204)
