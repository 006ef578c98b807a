"""Relay global ids: base64("Type:key"), opaque to clients. Products and plans also accept GUIDs (D20)."""

from __future__ import annotations

import base64
import binascii
import uuid
from dataclasses import dataclass

TYPES = {"User", "Group", "Product", "ServicePlan", "Subscription", "Tenant", "AuditEvent"}


def to_global_id(type_name: str, key: object) -> str:
    return base64.b64encode(f"{type_name}:{key}".encode()).decode()


class BadId(ValueError):
    """An id that does not decode: INVALID_INPUT (D13)."""


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
