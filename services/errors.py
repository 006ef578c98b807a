"""Problems a use case refuses with: one error-code enum for every entry point.

A refused use case raises `Refused(problems)`; its transaction is rolled back and nothing
changes. GraphQL maps each `Problem` to a `UserError` (gql/errors.py), the CLI prints the
messages, SCIM maps them to SCIM errors.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

import engine

# The path error codes come from the engine (R4–R8, in D15 precedence); the rest are the
# refusals of admin operations.
_OPERATION_CODES = (
    "INHERITED_LICENSE",
    "SELF_SERVICE_SUBSCRIPTION",
    "GLOBAL_ADMINISTRATOR_REQUIRED",
    "TOO_MANY_USERS",
    "NOT_FOUND",
    "INVALID_INPUT",
    "ALREADY_EXISTS",
    "NOT_ASSIGNED",
    "SEATS_IN_USE",
    "CANCELLATION_WINDOW_PASSED",
    "SUBSCRIPTION_NOT_ACTIVE",
    "GROUP_HAS_LICENSES",
    "GROUP_NOT_SECURITY_ENABLED",
    "DYNAMIC_MEMBERSHIP",
    "OTHER",
)
ErrorCode = StrEnum(  # type: ignore[misc]
    "ErrorCode", [(c.value, c.value) for c in engine.ErrorCode] + [(c, c) for c in _OPERATION_CODES], module=__name__
)
"""Every code a refusal or a path error can carry (the GraphQL enum `ErrorCode`)."""


@dataclass(frozen=True, slots=True)
class Problem:
    """One reason a use case was refused: what is wrong and what to do, for an admin.

    `field` names the input path (`input.userIds.3`) where one input is at fault; the ids name
    the user, product or group concerned."""

    code: ErrorCode
    message: str
    field: str | None = None
    user_id: uuid.UUID | None = None
    product_id: uuid.UUID | None = None
    group_id: uuid.UUID | None = None


class Refused(Exception):
    """A business refusal: the use case's transaction is rolled back, `problems` say why."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(p.message for p in self.problems))


def refuse(code: ErrorCode, message: str, **kwargs: object) -> Refused:
    return Refused([Problem(code, message, **kwargs)])  # type: ignore[arg-type]


def invalid(field: str, message: str) -> Refused:
    """INVALID_INPUT naming the input path (D8)."""
    return Refused([Problem(ErrorCode.INVALID_INPUT, message, field=field)])


def not_found(field: str, what: str) -> Refused:
    return Refused([Problem(ErrorCode.NOT_FOUND, f"No {what} has the id given in `{field}`.", field=field)])


def path_code(code: engine.ErrorCode) -> ErrorCode:
    """The refusal code of an engine path error (the same name)."""
    return ErrorCode(code.value)
