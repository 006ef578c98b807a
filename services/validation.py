"""Input validation (D8): trimmed strings, Entra's limits, ISO usage locations, quantities.

Each check raises `Refused` with INVALID_INPUT naming the input path, so the use case is
refused and nothing changes. Every entry point (GraphQL, the CLI's imports, SCIM) uses these.
Text never contains NUL: PostgreSQL cannot store it, and no admin means it.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence

from engine.countries import normalize_usage_location
from services.errors import Refused, invalid

MAX_DISPLAY_NAME = 256
MAX_UPN = 113
MAX_TEXT = 1024
MAX_GIVEN_NAME = 64  # D31 (Entra's limits)
MAX_SURNAME = 64
MAX_EMPLOYEE_ID = 16
MAX_EXTERNAL_ID = 256
MAX_QUANTITY = 1_000_000
_MAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_UPN_LOCAL = re.compile(r"^[A-Za-z0-9._%+\-'#!$&*=?^`{|}~]+$")
_DOMAIN = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?)*$")


__all__ = ["Refused", "invalid"]


def no_nul(value: str, field: str) -> str:
    """Refuse a NUL character (U+0000) anywhere in a text input, and a lone surrogate (JSON's
    "\ud800" escape without its pair), which is not Unicode text and cannot be stored or compared."""
    if "\x00" in value:
        raise invalid(field, f"`{field}` contains a NUL character (U+0000), which text cannot hold; remove it.")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise invalid(field, f"`{field}` contains an unpaired surrogate ({value[exc.start]!r} at position {exc.start}), "
                      "which is not Unicode text: send valid UTF-8.") from exc
    return value


def search_term(value: str | None, field: str) -> str | None:
    """A search filter: trimmed, None when empty, no NUL."""
    if value is None:
        return None
    return no_nul(value, field).strip() or None


def required_text(value: str, field: str, *, max_length: int = MAX_DISPLAY_NAME) -> str:
    cleaned = no_nul(value, field).strip()
    if not cleaned:
        raise invalid(field, f"`{field}` is required and cannot be empty.")
    if len(cleaned) > max_length:
        raise invalid(field, f"`{field}` is {len(cleaned)} characters long; the limit is {max_length}: shorten it.")
    return cleaned


def optional_text(value: str | None, field: str, *, max_length: int = MAX_TEXT) -> str | None:
    if value is None:
        return None
    cleaned = no_nul(value, field).strip()
    if len(cleaned) > max_length:
        raise invalid(field, f"`{field}` is {len(cleaned)} characters long; the limit is {max_length}: shorten it.")
    return cleaned or None


def given_name(value: str | None, field: str) -> str | None:
    """D31: trimmed, at most 64 characters, empty or None → None (cleared)."""
    return optional_text(value, field, max_length=MAX_GIVEN_NAME)


def surname(value: str | None, field: str) -> str | None:
    return optional_text(value, field, max_length=MAX_SURNAME)


def employee_id(value: str | None, field: str) -> str | None:
    return optional_text(value, field, max_length=MAX_EMPLOYEE_ID)


def external_id(value: str | None, field: str) -> str | None:
    """D31: the identity provider's id, case-exact, at most 256 characters, empty → None."""
    return optional_text(value, field, max_length=MAX_EXTERNAL_ID)


def identity_provider_user_name(value: str, field: str) -> str:
    """D28: a SCIM `userName` is the UPN as given, 1–113 characters, no "@" needed (RFC 7643)."""
    return required_text(value, field, max_length=MAX_UPN)


def user_principal_name(value: str, field: str) -> str:
    upn = required_text(value, field, max_length=MAX_UPN)
    local, at, domain = upn.partition("@")
    if upn.count("@") != 1 or not local or not domain or not _UPN_LOCAL.match(local) or not _DOMAIN.match(domain):
        raise invalid(
            field, f"`{field}` must look like name@domain (exactly one @, no spaces, at most {MAX_UPN} characters); got {upn[:120]!r}."
        )
    return upn


def mail_address(value: str | None, field: str, *, required: bool = False) -> str | None:
    if value is not None:
        no_nul(value, field)
    if value is None or not value.strip():
        if required:
            raise invalid(field, f"`{field}` is required: give an email address like ada@partner.example.")
        return None
    mail = value.strip()
    if len(mail) > 254 or not _MAIL.match(mail):
        raise invalid(field, f"`{field}` is not a valid email address ({mail[:120]!r}).")
    return mail


def usage_location(value: str | None, field: str) -> str | None:
    """An officially assigned ISO 3166-1 alpha-2 code, any case in, upper case out; None/empty clears."""
    if value is None or not no_nul(value, field).strip():
        return None
    try:
        return normalize_usage_location(value.strip())
    except ValueError as exc:
        raise invalid(
            field, f"`{field}` must be a two-letter ISO 3166-1 country code such as NO or US; {value.strip()[:40]!r} is not one."
        ) from exc


def quantity(value: int, field: str) -> int:
    if value < 1 or value > MAX_QUANTITY:
        raise invalid(field, f"`{field}` must be between 1 and {MAX_QUANTITY:,}; got {value}.")
    return value


def no_duplicates(ids: Sequence[uuid.UUID], raw: Sequence[str], field: str) -> None:
    seen: set[uuid.UUID] = set()
    for index, key in enumerate(ids):
        if key in seen:
            raise invalid(f"{field}.{index}", f"`{field}` names {raw[index]!r} more than once.")
        seen.add(key)


def bounded(items: Sequence[object], field: str, limit: int, hint: str) -> None:
    if len(items) > limit:
        raise invalid(field, f"`{field}` has {len(items):,} entries; at most {limit:,} per call. {hint}")
