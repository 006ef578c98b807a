"""Path error codes (R4–R8), their precedence (D15), what caused them, and admin messages.

Messages say what is wrong and what to do about it (SPEC §6). They name plans by their
servicePlanName (D4 allows it) and products by their display name.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum


class ErrorCode(StrEnum):
    """Why an assignment path is in ERROR. Declared in D15 precedence order."""

    USAGE_LOCATION_REQUIRED = "USAGE_LOCATION_REQUIRED"
    PROHIBITED_IN_USAGE_LOCATION_VIOLATION = "PROHIBITED_IN_USAGE_LOCATION_VIOLATION"
    MUTUALLY_EXCLUSIVE_VIOLATION = "MUTUALLY_EXCLUSIVE_VIOLATION"
    DEPENDENCY_VIOLATION = "DEPENDENCY_VIOLATION"
    COUNT_VIOLATION = "COUNT_VIOLATION"

    @property
    def precedence(self) -> int:
        """0 for the code that wins when several apply (D15), higher for the later ones."""
        return _PRECEDENCE[self]


PRECEDENCE: tuple[ErrorCode, ...] = tuple(ErrorCode)
_PRECEDENCE = {code: rank for rank, code in enumerate(PRECEDENCE)}


@dataclass(frozen=True, slots=True)
class LocationProblem:
    """R8: the usage location a path was judged in (None when there is none)."""

    location: str | None


@dataclass(frozen=True, slots=True)
class ExclusivityConflict:
    """R6: `plan` of this path cannot be enabled together with `other_plan`, which an earlier
    path (`other_product_id` via `other_group_id`, None = direct) enables for the same user.
    For a path that enables both plans itself, the other path is the path itself."""

    plan: str
    other_plan: str
    other_product_id: str
    other_group_id: str | None


@dataclass(frozen=True, slots=True)
class MissingPrerequisite:
    """R7: `plan` of this path needs one of `any_of` enabled for the user, and none is."""

    plan: str
    any_of: tuple[str, ...]


ErrorDetail = LocationProblem | ExclusivityConflict | MissingPrerequisite


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def _any_of(plans: Iterable[str]) -> str:
    names = sorted(plans)
    if len(names) == 1:
        return names[0]
    return ", ".join(names[:-1]) + " or " + names[-1]


def usage_location_required_message(product_name: str, *, direct: bool) -> str:
    """R8: the user has no usage location (for group paths: nor does the tenant)."""
    if direct:
        return f"The user has no usage location: set one before assigning {product_name}."
    return (
        f"The user has no usage location and the tenant has no default: set the user's usage "
        f"location (or the tenant's default) so {product_name} can be assigned."
    )


def prohibited_location_message(product_name: str, location: str) -> str:
    """R8: the product may not be used in the user's usage location."""
    return (
        f"{product_name} is not available in usage location {location}: change the user's usage "
        f"location or remove the license."
    )


def mutually_exclusive_message(plan: str, product_name: str, other_plan: str, other_product_name: str) -> str:
    """R6: names both plans and both products, and says how to fix it."""
    return (
        f"{plan} ({product_name}) and {other_plan} ({other_product_name}) are mutually exclusive "
        f"and cannot both be enabled for a user: turn one of them off."
    )


def dependency_message(
    plan: str, product_name: str, any_of: Iterable[str], *, request_product_name: str | None = None
) -> str:
    """R7: names the dependent plan and product and the missing plan(s).

    With `request_product_name` (a direct unassign or plan change that would strand the
    dependent plan) the message says which change caused it and how to do it instead.
    """
    needs = _any_of(any_of)
    if request_product_name is not None and request_product_name != product_name:
        return (
            f"Changing {request_product_name} would leave {plan} ({product_name}) without {needs}, "
            f"which it requires: remove or turn off {plan} in the same request, or keep {needs} "
            f"enabled."
        )
    return (
        f"{plan} ({product_name}) requires {needs} to be enabled for the user: assign or turn on "
        f"{needs}, or turn {plan} off."
    )


def no_seat_message(product_name: str) -> str:
    """R4, group path: no seat of the product was free for this user."""
    return (
        f"No license of {product_name} is available for this user: buy more or unassign "
        f"licenses; the user gets one automatically when a seat frees up."
    )


def count_violation_message(
    product_name: str, needed: int, available: int, *, self_service_seats: int = 0
) -> str:
    """R4/D4, direct request: "N more licenses of X needed, M available: buy more or unassign".

    `available` may be negative when the product is over-assigned (R15); it is shown as 0
    with the overage. D6: self-service seats, when some exist, are pointed out as takeable.
    """
    text = f"{_plural(needed, 'more license')} of {product_name} needed, {max(available, 0)} available"
    if available < 0:
        text += f" ({-available} already over-assigned)"
    text += ": buy more or unassign."
    if self_service_seats > 0:
        text += (
            f" {_plural(self_service_seats, 'self-service seat')} of {product_name} exist: take "
            f"over the subscription to use them."
        )
    return text
