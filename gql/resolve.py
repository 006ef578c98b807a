"""Turning client ids into keys: malformed → INVALID_INPUT, well-formed but unknown → NOT_FOUND (D13)."""

from __future__ import annotations

import uuid

from strawberry.types import Info

from gql.errors import ErrorCode, PublicError, Refused, UserError
from gql.ids import BadId, from_global_id, parse_uuid_id


class ArgError(Exception):
    def __init__(self, code: ErrorCode, field: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.field = field
        self.message = message

    def as_refusal(self) -> Refused:
        return Refused([UserError(code=self.code, message=self.message, field=self.field)])

    def as_public(self) -> PublicError:
        return PublicError(self.message, self.code.value)


def _invalid(field: str, value: str, type_name: str) -> ArgError:
    shown = value if len(value) <= 60 else value[:57] + "..."
    return ArgError(
        ErrorCode.INVALID_INPUT, field, f"`{field}` is not a valid {type_name} id ({shown!r}); pass the `id` the API returned."
    )


def uuid_arg(value: str, type_name: str, field: str) -> uuid.UUID | None:
    """The uuid of a global id of `type_name`; None if it names another type; ArgError if malformed."""
    try:
        return parse_uuid_id(value, type_name)
    except BadId as exc:
        raise _invalid(field, value, type_name) from exc


def product_id_arg(info: Info, value: str, field: str) -> uuid.UUID | None:
    """A product by Relay id or skuId GUID (D20); None when no catalog product has it."""
    catalog = info.context.catalog
    try:
        pid = parse_uuid_id(value, "Product", accept_guid=True)
    except BadId as exc:
        raise _invalid(field, value, "Product") from exc
    return pid if pid is not None and pid in catalog.products else None


def plan_id_arg(info: Info, value: str, field: str) -> uuid.UUID:
    catalog = info.context.catalog
    try:
        pid = parse_uuid_id(value, "ServicePlan", accept_guid=True)
    except BadId as exc:
        raise _invalid(field, value, "ServicePlan") from exc
    if pid is None or pid not in catalog.plans:
        raise ArgError(ErrorCode.INVALID_INPUT, field, f"`{field}` names no service plan of the catalog.")
    return pid


def node_type(value: str) -> str:
    try:
        return from_global_id(value).type_name
    except BadId as exc:
        raise _invalid("id", value, "node") from exc


def not_found(field: str, what: str) -> Refused:
    return Refused([UserError(code=ErrorCode.NOT_FOUND, message=f"No {what} has the id given in `{field}`.", field=field)])
