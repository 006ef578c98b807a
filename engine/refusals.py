"""D1, D4, D16: when a direct change (assignLicenses, updateUserServicePlans, createUser,
updateUser) must be refused, and the errors to report.

The caller evaluates the affected users twice — as they are, and as the request would leave
them (its new direct paths at `FRONT_OF_QUEUE`, edited paths marked `edited`) — and asks
which paths the request would newly put into ERROR. Any such path refuses the whole request.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from engine.errors import (
    ErrorCode,
    ExclusivityConflict,
    MissingPrerequisite,
    count_violation_message,
    dependency_message,
)
from engine.facts import Catalog, PathKey
from engine.results import Evaluation, PathState

_NO_SELF_SERVICE: Mapping[str, int] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Refusal:
    """One reported failure of a direct request: per user × product with its highest-precedence
    code, or COUNT_VIOLATION once per product with `user_id` None (D4, D16)."""

    code: ErrorCode
    product_id: str
    user_id: str | None
    message: str


def newly_errored(before: Evaluation | Iterable[PathState], after: Evaluation) -> tuple[PathState, ...]:
    """Paths in ERROR after the change that were ACTIVE (or did not exist) before it (D1).

    A path already in ERROR may change its code without counting here.
    """
    prior: dict[PathKey, PathState] = {
        state.key: state for state in (before.paths if isinstance(before, Evaluation) else before)
    }
    failing: list[PathState] = []
    for state in after.paths:
        if state.is_active:
            continue
        was = prior.get(state.key)
        if was is None or was.is_active:
            failing.append(state)
    return tuple(failing)


def direct_refusals(
    before: Evaluation | Iterable[PathState],
    after: Evaluation,
    catalog: Catalog,
    requested: Iterable[tuple[str, str]] = (),
    self_service_seats: Mapping[str, int] = _NO_SELF_SERVICE,
) -> tuple[Refusal, ...]:
    """The errors of a direct request, empty when it may go ahead (D1, D4, D16).

    - `requested`: the (user_id, product_id) pairs the request adds, edits or removes. A
      failure on another path of such a user (a group path stranded by an unassign, R7) is
      reported on the requested product that caused it, with a message naming the dependent
      plan and product; an R6 failure is reported on the product being added.
    - COUNT_VIOLATION is reported once per product: N = seats the whole request needs
      (users newly holding the product plus users left without a seat) − seats available to
      it (availableUnits plus seats the request frees).
    - `self_service_seats[product_id]`: unassigned self-service seats, mentioned in the
      COUNT_VIOLATION message as seats to take over (D6).
    """
    requested_by_user: dict[str, set[str]] = {}
    for user_id, product_id in requested:
        requested_by_user.setdefault(user_id, set()).add(product_id)

    worst: dict[tuple[str, str], PathState] = {}
    for state in newly_errored(before, after):
        assert state.error is not None
        product_id = state.product_id
        if state.error is not ErrorCode.COUNT_VIOLATION:
            product_id = _caused_by(state, requested_by_user.get(state.user_id, set()), catalog)
        key = (state.user_id, product_id)
        known = worst.get(key)
        if known is None or state.error.precedence < _code(known).precedence:
            worst[key] = state

    refusals: list[Refusal] = []
    short_of_seats: dict[str, int] = {}
    for (user_id, product_id), state in worst.items():
        code = _code(state)
        if code is ErrorCode.COUNT_VIOLATION:
            short_of_seats[product_id] = short_of_seats.get(product_id, 0) + 1
            continue
        refusals.append(Refusal(code, product_id, user_id, _message(state, product_id, catalog)))
    for product_id, unseated in short_of_seats.items():
        change = after.seat_changes.get(product_id)
        available = change.available_before + change.released if change else 0
        needed = (change.acquired if change else 0) + unseated
        message = count_violation_message(
            catalog.product(product_id).display_name,
            max(needed - available, 1),
            available,
            self_service_seats=self_service_seats.get(product_id, 0),
        )
        refusals.append(Refusal(ErrorCode.COUNT_VIOLATION, product_id, None, message))
    refusals.sort(key=lambda refusal: (refusal.product_id, refusal.user_id or "", refusal.code.precedence))
    return tuple(refusals)


def _code(state: PathState) -> ErrorCode:
    assert state.error is not None
    return state.error


def _caused_by(state: PathState, requested: set[str], catalog: Catalog) -> str:
    """The requested product a failure of `state` is reported on (D4, D13, R7)."""
    if not requested or state.product_id in requested:
        return state.product_id
    detail = state.detail
    if isinstance(detail, ExclusivityConflict) and detail.other_product_id in requested:
        return detail.other_product_id
    if isinstance(detail, MissingPrerequisite):
        for product_id in sorted(requested):
            product = catalog.products.get(product_id)
            if product is not None and any(
                catalog.plan_name(plan) in detail.any_of for plan in product.plan_ids
            ):
                return product_id
    return state.product_id


def _message(state: PathState, product_id: str, catalog: Catalog) -> str:
    detail = state.detail
    if isinstance(detail, MissingPrerequisite) and product_id != state.product_id:
        return dependency_message(
            detail.plan,
            catalog.product(state.product_id).display_name,
            detail.any_of,
            request_product_name=catalog.product(product_id).display_name,
        )
    return state.message or ""
