"""D15: evaluating a batch of users' assignment paths.

For every user of the batch, every path is judged in this order, one error per path:

1. R8 location — USAGE_LOCATION_REQUIRED, PROHIBITED_IN_USAGE_LOCATION_VIOLATION;
2. R6 exclusivity among the paths that passed it, current holders first (D14: a path that is
   ACTIVE and unchanged keeps its plans), then R4 order — the later path errors;
3. R7 paths whose prerequisites no other candidate path of the user could supply;
4. R4 seats — holders keep theirs (D14), the others are served in R4 order (seats.py);
5. R7 again: a path whose prerequisite is not enabled by an ACTIVE path loses its place and
   the freed seats are handed out again, until nothing changes (the candidates only shrink).

A user whose outcome depended on the order of those steps (an exclusivity rejection, or a
path that lost its place in step 5 while its prerequisite might still get a seat) is
evaluated again with the result as the holders (D14), until that result reproduces itself.
So evaluating the output again — holders = ACTIVE paths — always gives the same states.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from engine.dependencies import has_requirements, missing_prerequisite, prune_unsatisfiable
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
from engine.exclusivity import ExclusivityClaim, judge_exclusivity
from engine.facts import Catalog, PathFacts, UserFacts, path_sort_key
from engine.location import location_error
from engine.plans import RulePlans, enabled_plan_ids
from engine.results import EffectiveLicense, Evaluation, PathState, PathStatus
from engine.rules import ServicePlanRules
from engine.seats import Claim, SeatChange, SeatLine

Outcome = tuple[ErrorCode, ErrorDetail | None] | None  # None: ACTIVE
Seat = tuple[str, str]  # (user_id, product_id)


class _Batch:
    """The facts of one evaluation, indexed once: paths by position, grouped by user."""

    def __init__(
        self,
        users: Iterable[UserFacts],
        paths: Iterable[PathFacts],
        catalog: Catalog,
        rules: ServicePlanRules,
        tenant_default_location: str | None,
    ) -> None:
        self.catalog = catalog
        self.rules = rules
        self.users: dict[str, UserFacts] = {}
        for user in users:
            if user.user_id in self.users:
                raise ValueError(f"user {user.user_id!r} is listed twice")
            self.users[user.user_id] = user
        self.paths: list[PathFacts] = []
        self.paths_of: dict[str, list[int]] = {}
        seen: set[tuple[str, str, str | None]] = set()
        for path in paths:
            if path.user_id not in self.users:
                raise ValueError(f"path {path.key!r} names a user that is not in the batch")
            if path.key in seen:
                raise ValueError(f"path {path.key!r} is listed twice")
            seen.add(path.key)
            self.paths_of.setdefault(path.user_id, []).append(len(self.paths))
            self.paths.append(path)
        rule_plans = RulePlans(catalog, rules)
        required_by = rules.required_by
        self.names: list[frozenset[str]] = []
        self.needs: list[bool] = []
        self.location: list[Outcome] = []
        self.holders: set[Seat] = set()
        prohibited: dict[str, frozenset[str]] = {}
        for path in self.paths:
            names = rule_plans.enabled_names(path.product_id, path.disabled_plan_ids)
            self.names.append(names)
            self.needs.append(bool(names) and has_requirements(names, required_by))
            banned = prohibited.get(path.product_id)
            if banned is None:
                banned = rules.prohibited_in(catalog.product(path.product_id).sku_part_number)
                prohibited[path.product_id] = banned
            self.location.append(
                location_error(
                    direct=path.is_direct,
                    user_location=self.users[path.user_id].usage_location,
                    tenant_default=tenant_default_location,
                    prohibited_in=banned,
                )
            )
            if path.holds_seat:
                self.holders.add((path.user_id, path.product_id))

    def exclusivity_order(self, first: Callable[[int], bool]) -> Callable[[int], tuple[int, int, str, str]]:
        """R6 judging order: D14 holders (`first`) before the rest, each in R4 order."""

        def key(ref: int) -> tuple[int, int, str, str]:
            path = self.paths[ref]
            return (0 if first(ref) else 1, path.queue_seq, path.product_id, path.group_id or "")

        return key


@dataclass
class _PassResult:
    outcome: dict[int, Outcome]
    free: dict[str, int]
    unsettled: set[str]


def _judge_user(
    batch: _Batch, refs: list[int], first: Callable[[int], bool], outcome: dict[int, Outcome]
) -> tuple[list[int], bool]:
    """Steps 1–3 for one user: returns the candidate paths and whether R6 rejected any."""
    rules = batch.rules
    passing: list[int] = []
    for ref in refs:
        problem = batch.location[ref]
        if problem is None:
            passing.append(ref)
        else:
            outcome[ref] = problem
    exclusive_with = rules.exclusive_with
    contested = [ref for ref in passing if not batch.names[ref].isdisjoint(exclusive_with)]
    rejected: dict[int, ExclusivityConflict] = {}
    if contested:
        contested.sort(key=batch.exclusivity_order(first))
        claims = (
            ExclusivityClaim(ref, batch.paths[ref].product_id, batch.paths[ref].group_id, batch.names[ref])
            for ref in contested
        )
        rejected = judge_exclusivity(claims, exclusive_with)
        for ref, conflict in rejected.items():
            outcome[ref] = (ErrorCode.MUTUALLY_EXCLUSIVE_VIOLATION, conflict)
        passing = [ref for ref in passing if ref not in rejected]
    if any(batch.needs[ref] for ref in passing):
        passing, pruned = prune_unsatisfiable(passing, batch.names.__getitem__, rules.required_by)
        for ref, gap in pruned.items():
            outcome[ref] = (ErrorCode.DEPENDENCY_VIOLATION, gap)
    return passing, bool(rejected)


def _run_pass(
    batch: _Batch,
    user_ids: Iterable[str],
    first: Callable[[int], bool],
    holders: set[Seat],
    free: Mapping[str, int],
) -> _PassResult:
    """Steps 1–5 for the given users, with these seat holders and free seats per product."""
    outcome: dict[int, Outcome] = {}
    unsettled: set[str] = set()
    candidates: dict[str, list[int]] = {}
    claims: dict[Seat, Claim] = {}
    for user_id in user_ids:
        passing, rejected_any = _judge_user(batch, batch.paths_of[user_id], first, outcome)
        if rejected_any:
            unsettled.add(user_id)
        candidates[user_id] = passing
        created_seq = batch.users[user_id].created_seq
        for ref in passing:
            path = batch.paths[ref]
            seat = (user_id, path.product_id)
            claim = claims.get(seat)
            if claim is None:
                claim = claims[seat] = Claim(user_id, path.product_id, created_seq, seat in holders)
            claim.add_path(ref, path.queue_seq)

    lines: dict[str, SeatLine] = {}

    def line_of(product_id: str) -> SeatLine:
        line = lines.get(product_id)
        if line is None:
            line = lines[product_id] = SeatLine(free.get(product_id, 0))
        return line

    for seat in holders:
        if seat not in claims:  # a holder with no path left in the running gives its seat up
            line_of(seat[1]).free += 1
    for claim in claims.values():
        line_of(claim.product_id).join(claim)
    for line in lines.values():
        line.settle()

    # Step 5: R7 against ACTIVE paths; losers leave the line and seats are handed out again.
    to_check = {user_id for user_id, refs in candidates.items() if any(batch.needs[ref] for ref in refs)}
    while to_check:
        losses: list[tuple[int, MissingPrerequisite]] = []
        for user_id in to_check:
            refs = candidates[user_id]
            enabled: set[str] = set()
            for ref in refs:
                if claims[(user_id, batch.paths[ref].product_id)].seated:
                    enabled.update(batch.names[ref])
            for ref in refs:
                if not batch.needs[ref]:
                    continue
                names = batch.names[ref]
                gap = missing_prerequisite(
                    names, enabled if names <= enabled else enabled | names, batch.rules.required_by
                )
                if gap is not None:
                    losses.append((ref, gap))
        to_check = set()
        touched: set[str] = set()
        for ref, gap in losses:
            path = batch.paths[ref]
            outcome[ref] = (ErrorCode.DEPENDENCY_VIOLATION, gap)
            unsettled.add(path.user_id)
            to_check.add(path.user_id)
            candidates[path.user_id].remove(ref)
            claim = claims[(path.user_id, path.product_id)]
            moved = claim.drop_path(ref)
            line = lines[path.product_id]
            if not claim.paths:
                line.withdraw(claim)
            elif moved and not claim.holder:
                line.requeue()
            touched.add(path.product_id)
        for product_id in touched:
            _, unseated = lines[product_id].settle()
            to_check.update(claim.user_id for claim in unseated)

    for user_id, refs in candidates.items():
        for ref in refs:
            seated = claims[(user_id, batch.paths[ref].product_id)].seated
            outcome[ref] = None if seated else (ErrorCode.COUNT_VIOLATION, None)
    leftover = dict(free)
    leftover.update((product_id, line.free) for product_id, line in lines.items())
    return _PassResult(outcome, leftover, unsettled)


def evaluate(
    users: Iterable[UserFacts],
    paths: Iterable[PathFacts],
    catalog: Catalog,
    rules: ServicePlanRules,
    available_units: Mapping[str, int],
    tenant_default_location: str | None = None,
) -> Evaluation:
    """Decide every path of a batch of users (1 or 100,000) — D15 — and what it does to seats.

    - `paths` must hold every path of every user in `users` (R6/R7 look across products).
    - `available_units[product_id]`: availableUnits of the product's pool before this
      evaluation — totalUnits − consumedUnits, where consumedUnits counts every current
      holder, the batch's included (users with a `holds_seat` path). A holder of the batch
      who keeps the seat needs no new one; one who loses it frees one; each new holder takes
      one, in R4 order, while the result is ≥ 1. A missing product counts as 0.
    - `tenant_default_location`: the usage location of group paths of users with none (R8).
    """
    batch = _Batch(users, paths, catalog, rules, tenant_default_location)
    products = {path.product_id for path in batch.paths}
    free = {product_id: available_units.get(product_id, 0) for product_id in products}

    def first_pass_holder(ref: int) -> bool:
        path = batch.paths[ref]
        return path.holds_seat and not path.edited

    result = _run_pass(batch, sorted(batch.paths_of), first_pass_holder, batch.holders, free)
    outcome = result.outcome
    unsettled = sorted(result.unsettled)
    if unsettled:
        refs = [ref for user_id in unsettled for ref in batch.paths_of[user_id]]
        active = frozenset(ref for ref in refs if outcome[ref] is None)
        # Each round keeps every ACTIVE path of the previous one (holders come first in R6,
        # keep their seats and their prerequisites), so ACTIVE only grows: this ends.
        for _ in range(len(refs) + 1):
            holders = {(batch.paths[ref].user_id, batch.paths[ref].product_id) for ref in active}
            result = _run_pass(batch, unsettled, active.__contains__, holders, result.free)
            outcome.update(result.outcome)
            now_active = frozenset(ref for ref in refs if outcome[ref] is None)
            if now_active == active:
                break
            active = now_active
        else:  # pragma: no cover - guarded by the argument above
            raise RuntimeError("re-evaluation with the result as holders did not settle")
    return _decide(batch, outcome, available_units)


def _decide(batch: _Batch, outcome: Mapping[int, Outcome], available_units: Mapping[str, int]) -> Evaluation:
    catalog = batch.catalog
    messages: dict[tuple[ErrorCode, str, ErrorDetail | None, bool], str] = {}
    states: list[PathState] = []
    enabled: dict[Seat, list[frozenset[str]]] = {}
    for ref, path in enumerate(batch.paths):
        seat = (path.user_id, path.product_id)
        plans = enabled.setdefault(seat, [])
        decided = outcome[ref]
        if decided is None:
            states.append(PathState(path.user_id, path.product_id, path.group_id, PathStatus.ACTIVE))
            plans.append(enabled_plan_ids(catalog.product(path.product_id), path.disabled_plan_ids))
            continue
        code, detail = decided
        message_key = (code, path.product_id, detail, path.is_direct)
        message = messages.get(message_key)
        if message is None:
            message = messages[message_key] = _message(catalog, code, path, detail)
        states.append(
            PathState(path.user_id, path.product_id, path.group_id, PathStatus.ERROR, code, message, detail)
        )
    states.sort(key=lambda state: path_sort_key(state.key))

    licenses: list[EffectiveLicense] = []
    acquired: dict[str, int] = {}
    released: dict[str, int] = {}
    for seat in sorted(enabled):
        user_id, product_id = seat
        product = catalog.product(product_id)
        plan_sets = enabled[seat]
        on = plan_sets[0] if len(plan_sets) == 1 else frozenset().union(*plan_sets)
        holds = bool(plan_sets)
        licenses.append(EffectiveLicense(user_id, product_id, holds, on, product.plan_ids - on))
        held = seat in batch.holders
        if holds and not held:
            acquired[product_id] = acquired.get(product_id, 0) + 1
        elif held and not holds:
            released[product_id] = released.get(product_id, 0) + 1
    changes = {
        product_id: SeatChange(
            product_id,
            available_units.get(product_id, 0),
            acquired.get(product_id, 0),
            released.get(product_id, 0),
        )
        for product_id in sorted({seat[1] for seat in enabled})
    }
    return Evaluation(tuple(states), tuple(licenses), MappingProxyType(changes))


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
