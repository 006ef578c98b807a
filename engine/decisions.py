"""The decisions handed back: path states, effective licenses (R1, R5), seat changes, and
the admin-facing messages of path errors."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType

from engine.batch import Batch, Outcome, Seat
from engine.errors import (
    ErrorCode,
    ErrorDetail,
    ExclusivityConflict,
    LocationProblem,
    MissingPrerequisite,
    dependency_message,
    mutually_exclusive_message,
    no_seat_message,
    prohibited_location_message,
    usage_location_required_message,
)
from engine.facts import Catalog, PathFacts, ProductFacts
from engine.plans import enabled_plan_ids
from engine.results import EffectiveLicense, Evaluation, PathState, PathStatus
from engine.seats import SeatChange


def _listing_order(batch: Batch) -> Callable[[int], tuple[str, int, str]]:
    paths = batch.paths

    def key(ref: int) -> tuple[str, int, str]:
        path = paths[ref]
        return (path.product_id, 0 if path.group_id is None else 1, path.group_id or "")

    return key


def decide(batch: Batch, outcome: Mapping[int, Outcome], available_units: Mapping[str, int]) -> Evaluation:
    """Path states and effective licenses (R1, R5) in listing order, and the seat changes."""
    products = batch.catalog.products
    messages: dict[tuple[ErrorCode, str, ErrorDetail | None, bool], str] = {}
    states: list[PathState] = []
    licenses: list[EffectiveLicense] = []
    acquired: dict[str, int] = {}
    released: dict[str, int] = {}
    order = _listing_order(batch)
    pathless: dict[str, list[str]] = {}  # holders whose paths to the product all ended
    for user_id, product_id in batch.holders:
        if not any(batch.paths[ref].product_id == product_id for ref in batch.paths_of.get(user_id, ())):
            pathless.setdefault(user_id, []).append(product_id)
    for user_id in sorted(batch.paths_of.keys() | pathless.keys()):
        user_licenses = [
            _license(user_id, products[product_id], [], batch.holders, acquired, released)
            for product_id in pathless.get(user_id, ())
        ]
        product: ProductFacts | None = None
        plan_sets: list[frozenset[str]] = []
        for ref in sorted(batch.paths_of.get(user_id, ()), key=order):
            path = batch.paths[ref]
            if product is None or path.product_id != product.product_id:
                if product is not None:
                    user_licenses.append(
                        _license(user_id, product, plan_sets, batch.holders, acquired, released)
                    )
                product = products[path.product_id]
                plan_sets = []
            decided = outcome[ref]
            if decided is None:
                states.append(PathState(user_id, path.product_id, path.group_id, PathStatus.ACTIVE))
                plan_sets.append(enabled_plan_ids(product, path.disabled_plan_ids))
                continue
            code, detail = decided
            message_key = (code, path.product_id, detail, path.group_id is None)
            message = messages.get(message_key)
            if message is None:
                message = messages[message_key] = _message(batch.catalog, code, path, detail)
            states.append(
                PathState(user_id, path.product_id, path.group_id, PathStatus.ERROR, code, message, detail)
            )
        if product is not None:
            user_licenses.append(_license(user_id, product, plan_sets, batch.holders, acquired, released))
        if len(user_licenses) > 1 and user_id in pathless:
            user_licenses.sort(key=lambda license_: license_.product_id)
        licenses.extend(user_licenses)
    changes = {
        product_id: SeatChange(
            product_id,
            available_units.get(product_id, 0),
            acquired.get(product_id, 0),
            released.get(product_id, 0),
        )
        for product_id in sorted(
            {path.product_id for path in batch.paths} | {seat[1] for seat in batch.holders}
        )
    }
    return Evaluation(tuple(states), tuple(licenses), MappingProxyType(changes))


_NOTHING: frozenset[str] = frozenset()


def _license(
    user_id: str,
    product: ProductFacts,
    plan_sets: list[frozenset[str]],
    holders: set[Seat],
    acquired: dict[str, int],
    released: dict[str, int],
) -> EffectiveLicense:
    """R1: a seat iff some path is ACTIVE; R5: enabled = union over ACTIVE paths."""
    product_id = product.product_id
    holds = bool(plan_sets)
    if not holds:
        enabled, disabled = _NOTHING, product.plan_ids
    elif len(plan_sets) == 1:
        enabled = plan_sets[0]
        disabled = _NOTHING if enabled is product.plan_ids else product.plan_ids - enabled
    else:
        enabled = frozenset().union(*plan_sets)
        disabled = product.plan_ids - enabled
    if holds != ((user_id, product_id) in holders):
        counts = acquired if holds else released
        counts[product_id] = counts.get(product_id, 0) + 1
    return EffectiveLicense(user_id, product_id, holds, enabled, disabled)


def _message(catalog: Catalog, code: ErrorCode, path: PathFacts, detail: ErrorDetail | None) -> str:
    product_name = catalog.product(path.product_id).display_name
    if isinstance(detail, LocationProblem):
        if detail.location is None:
            return usage_location_required_message(product_name, direct=path.is_direct)
        return prohibited_location_message(product_name, detail.location)
    if isinstance(detail, ExclusivityConflict):
        other_name = catalog.product(detail.other_product_id).display_name
        return mutually_exclusive_message(detail.plan, product_name, detail.other_plan, other_name)
    if isinstance(detail, MissingPrerequisite):
        return dependency_message(detail.plan, product_name, detail.any_of)
    assert code is ErrorCode.COUNT_VIOLATION
    return no_seat_message(product_name)
