"""Error codes and the two kinds of failure: business errors in payloads, top-level GraphQL errors."""

from __future__ import annotations

from enum import Enum
from typing import Any

import strawberry
from graphql import GraphQLError


@strawberry.enum
class ErrorCode(Enum):
    COUNT_VIOLATION = "COUNT_VIOLATION"
    MUTUALLY_EXCLUSIVE_VIOLATION = "MUTUALLY_EXCLUSIVE_VIOLATION"
    DEPENDENCY_VIOLATION = "DEPENDENCY_VIOLATION"
    USAGE_LOCATION_REQUIRED = "USAGE_LOCATION_REQUIRED"
    PROHIBITED_IN_USAGE_LOCATION_VIOLATION = "PROHIBITED_IN_USAGE_LOCATION_VIOLATION"
    INHERITED_LICENSE = "INHERITED_LICENSE"
    SELF_SERVICE_SUBSCRIPTION = "SELF_SERVICE_SUBSCRIPTION"
    GLOBAL_ADMINISTRATOR_REQUIRED = "GLOBAL_ADMINISTRATOR_REQUIRED"
    TOO_MANY_USERS = "TOO_MANY_USERS"
    NOT_FOUND = "NOT_FOUND"
    INVALID_INPUT = "INVALID_INPUT"
    ALREADY_EXISTS = "ALREADY_EXISTS"
    NOT_ASSIGNED = "NOT_ASSIGNED"
    SEATS_IN_USE = "SEATS_IN_USE"
    CANCELLATION_WINDOW_PASSED = "CANCELLATION_WINDOW_PASSED"
    SUBSCRIPTION_NOT_ACTIVE = "SUBSCRIPTION_NOT_ACTIVE"
    GROUP_HAS_LICENSES = "GROUP_HAS_LICENSES"
    GROUP_NOT_SECURITY_ENABLED = "GROUP_NOT_SECURITY_ENABLED"
    OTHER = "OTHER"


@strawberry.type
class UserError:
    code: ErrorCode
    message: str
    field: str | None = None
    user_id: strawberry.ID | None = None
    product_id: strawberry.ID | None = None
    group_id: strawberry.ID | None = None


@strawberry.type
class LicenseError:
    code: ErrorCode
    message: str


class Refused(Exception):
    """A business failure: the mutation's transaction is rolled back and `errors` returned."""

    def __init__(self, errors: list[UserError]) -> None:
        super().__init__("; ".join(e.message for e in errors))
        self.errors = errors


def refuse(code: ErrorCode, message: str, **kwargs: Any) -> Refused:
    return Refused([UserError(code=code, message=message, **kwargs)])


class PublicError(GraphQLError):
    """A top-level GraphQL error meant for the client (never masked)."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message, extensions={"code": code})


def bad_user_input(message: str) -> PublicError:
    return PublicError(message, "BAD_USER_INPUT")


def forbidden(message: str = "You do not have permission to do this.") -> PublicError:
    return PublicError(message, "FORBIDDEN")


MAX_PAGE = 100
DEFAULT_PAGE = 50


def page_size(first: int | None) -> int:
    """`first` defaults to 50; outside 0…100 is an error, never silently clamped (D9)."""
    if first is None:
        return DEFAULT_PAGE
    if first < 0 or first > MAX_PAGE:
        raise bad_user_input(f"`first` must be between 0 and {MAX_PAGE}; got {first}. Page with `after` for more.")
    return first


# PostgreSQL cannot be reached (restarting, failing over, full): HTTP 503 with Retry-After.
DATABASE_UNAVAILABLE = "DATABASE_UNAVAILABLE"
DATABASE_RETRY_AFTER_SECONDS = 5
DATABASE_UNAVAILABLE_MESSAGE = (
    "The database is unavailable right now (it may be restarting). Try again in a few seconds; "
    "if you were making a change, check whether it was made before repeating it."
)
