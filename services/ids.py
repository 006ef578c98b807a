"""Ids as clients pass them: Relay global ids, base64("Type:key"), opaque to clients; products
and plans also accept their GUIDs (D20). Malformed → INVALID_INPUT, well-formed but naming
nothing (or an object of another type) → NOT_FOUND (D13).

Use cases take ids as the client gave them and decode them here, so every entry point
refuses a bad id the same way, naming the input path.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from dataclasses import dataclass

from db.repo.catalog import Catalog
from services.errors import ErrorCode, Problem, Refused

TYPES = {"User", "Group", "Product", "ServicePlan", "Subscription", "Tenant", "AuditEvent", "LicenseEvent", "Webhook"}


def to_global_id(type_name: str, key: object) -> str:
    return base64.b64encode(f"{type_name}:{key}".encode()).decode()


class BadId(ValueError):
    """An id that does not decode: INVALID_INPUT (D13)."""


MAX_NUMBER = 2**63 - 1  # numbered objects are bigints: a larger number names none


def numbered_id(type_name: str, tenant_id: str, number: int) -> str:
    """The id of an object numbered per tenant (audit and license events): the key names the
    tenant too, so one tenant's id never names another tenant's object of the same number (§5)."""
    return to_global_id(type_name, f"{tenant_id}:{number}")


def number_in_tenant(key: str, tenant_id: str) -> int | None:
    """The number a `numbered_id` key gives for this tenant; None when it names another
    tenant's object (or a number no object can have). BadId when it does not decode."""
    tenant, _sep, number = key.rpartition(":")
    if not (number.isascii() and number.isdigit()):  # int() also takes " 7", "1_0", "٧"
        raise BadId(key)
    value = int(number)
    return value if tenant == tenant_id and 1 <= value <= MAX_NUMBER else None


@dataclass(frozen=True)
class GlobalId:
    type_name: str
    key: str

    def uuid(self) -> uuid.UUID:
        try:
            return uuid.UUID(self.key)
        except ValueError as exc:
            raise BadId(self.key) from exc


def from_global_id(value: str) -> GlobalId:
    try:
        text = base64.b64decode(value.encode(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise BadId(value) from exc
    type_name, sep, key = text.partition(":")
    if not sep or type_name not in TYPES or not key:
        raise BadId(value)
    return GlobalId(type_name, key)


def parse_uuid_id(value: str, type_name: str, *, accept_guid: bool = False) -> uuid.UUID | None:
    """The uuid behind a global id of `type_name`; None when it decodes to another type (NOT_FOUND).

    Raises BadId when it does not decode at all. With `accept_guid`, a bare GUID is accepted too.
    """
    if accept_guid:
        try:
            return uuid.UUID(value)
        except ValueError:
            pass
    gid = from_global_id(value)
    if gid.type_name != type_name:
        return None
    return gid.uuid()


def _invalid(field: str, value: str, type_name: str) -> Refused:
    shown = value if len(value) <= 60 else value[:57] + "..."
    return Refused([Problem(
        ErrorCode.INVALID_INPUT, f"`{field}` is not a valid {type_name} id ({shown!r}); pass the `id` the API returned.", field
    )])


def uuid_arg(value: str, type_name: str, field: str) -> uuid.UUID | None:
    """The uuid of a global id of `type_name`; None if it names another type; INVALID_INPUT if malformed."""
    try:
        return parse_uuid_id(value, type_name)
    except BadId as exc:
        raise _invalid(field, value, type_name) from exc


def product_id_arg(catalog: Catalog, value: str, field: str) -> uuid.UUID | None:
    """A product by Relay id or skuId GUID (D20); None when no catalog product has it."""
    try:
        pid = parse_uuid_id(value, "Product", accept_guid=True)
    except BadId as exc:
        raise _invalid(field, value, "Product") from exc
    return pid if pid is not None and pid in catalog.products else None


def plan_id_arg(catalog: Catalog, value: str, field: str) -> uuid.UUID:
    try:
        pid = parse_uuid_id(value, "ServicePlan", accept_guid=True)
    except BadId as exc:
        raise _invalid(field, value, "ServicePlan") from exc
    if pid is None or pid not in catalog.plans:
        raise Refused([Problem(ErrorCode.INVALID_INPUT, f"`{field}` names no service plan of the catalog.", field)])
    return pid
