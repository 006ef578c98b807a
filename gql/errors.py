"""Errors as GraphQL shows them: business refusals in payloads (`UserError`), top-level errors
for authorization and bad arguments. `user_errors` and `public_error` are the one place a
service's `Problem` becomes either.
"""

from __future__ import annotations

import strawberry
from graphql import GraphQLError

from services.errors import ErrorCode as ServiceErrorCode
from services.errors import Problem, Refused
from services.ids import to_global_id

ErrorCode = strawberry.enum(ServiceErrorCode, name="ErrorCode")


@strawberry.type
class UserError:
    code: ErrorCode  # type: ignore[valid-type]
    message: str
    field: str | None = None
    user_id: strawberry.ID | None = None
    product_id: strawberry.ID | None = None
    group_id: strawberry.ID | None = None


@strawberry.type
class LicenseError:
    code: ErrorCode  # type: ignore[valid-type]
    message: str


def _gid(type_name: str, value: object) -> strawberry.ID | None:
    return None if value is None else strawberry.ID(to_global_id(type_name, value))


def user_error(problem: Problem) -> UserError:
    return UserError(
        code=problem.code, message=problem.message, field=problem.field, user_id=_gid("User", problem.user_id),
        product_id=_gid("Product", problem.product_id), group_id=_gid("Group", problem.group_id),
    )


def user_errors(refused: Refused) -> list[UserError]:
    """A refused mutation's `errors`."""
    return [user_error(p) for p in refused.problems]


class PublicError(GraphQLError):
    """A top-level GraphQL error meant for the client (never masked)."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message, extensions={"code": code})


def public_error(refused: Refused) -> PublicError:
    """A refused argument of a query: a top-level error with the problem's code (D13)."""
    problem = refused.problems[0]
    return PublicError(problem.message, problem.code.value)


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
