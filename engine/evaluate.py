"""D15: evaluating a batch of users' assignment paths.

Every path of every user of the batch is judged in this order, one error per path:

1. R8 location — USAGE_LOCATION_REQUIRED, PROHIBITED_IN_USAGE_LOCATION_VIOLATION;
2. R6 exclusivity among the paths that passed it, current holders first (D14: an ACTIVE,
   unchanged path keeps its plans), then R4 order — the later path errors;
3. R7 paths whose prerequisites no other remaining path of the user could supply (they
   would fail whatever the seats do, so they take none);
4. R4 seats — holders keep theirs (D14), the others are served in R4 order (seats.py);
5. R7 again: a path whose prerequisite is not enabled by an ACTIVE path loses its place and
   the freed seats are handed out again, until nothing changes (the candidates only shrink).

A user whose outcome hangs on the order of those steps (an exclusivity rejection judged in
another order than the result's holders would be, or a path that lost its place in step 5
although its prerequisite could still come) is evaluated again with the result as the
holders (D14), until that reproduces itself. So evaluating the output again — holders =
ACTIVE paths, availableUnits after the change — gives the same states.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from engine.dependencies import PrerequisiteCheck
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
from engine.exclusivity import ExclusivityCheck, ExclusivityClaim, judge_exclusivity
from engine.facts import Catalog, PathFacts, ProductFacts, UserFacts
from engine.location import location_error, usage_location_for
from engine.plans import RulePlans, enabled_plan_ids
from engine.results import EffectiveLicense, Evaluation, PathState, PathStatus
from engine.rules import ServicePlanRules
from engine.seats import Claim, SeatChange, SeatLine

Outcome = tuple[ErrorCode, ErrorDetail | None] | None  # None: ACTIVE
Seat = tuple[str, str]  # (user_id, product_id)
_NO_SEAT: Outcome = (ErrorCode.COUNT_VIOLATION, None)


class _Batch:
    """The facts of one evaluation, indexed once: paths by position, grouped by user."""

    def __init__(
        self,
        users: Iterable[UserFacts],
        paths: Iterable[PathFacts],
        catalog: Catalog,
        rules: ServicePlanRules,
        tenant_default_location: str | None,
        seat_holders: Iterable[Seat],
    ) -> None:
        self.catalog = catalog
        self.exclusivity = ExclusivityCheck(rules.exclusive_with)
        self.prerequisites = PrerequisiteCheck(rules.required_by)
        self.users: dict[str, UserFacts] = {}
        for user in users:
            if user.user_id in self.users:
                raise ValueError(f"user {user.user_id!r} is listed twice")
            self.users[user.user_id] = user
        self.paths: list[PathFacts] = []
        self.paths_of: dict[str, list[int]] = {}
        self.queue_seqs: list[int] = []
        self.names: list[frozenset[str]] = []  # the rule plans each path enables (R6, R7)
        self.needs: list[bool] = []  # some of them has a `requires_any` rule
        self.contested: list[bool] = []  # some of them is mutually exclusive with a plan (R6)
        self.location: list[Outcome] = []  # the R8 verdict, fixed for the whole evaluation
        self.holders: set[Seat] = set()  # D14: (user, product) holding a seat now
        rule_plans = RulePlans(catalog, rules)
        plan_facts: dict[tuple[str, frozenset[str]], tuple[frozenset[str], bool, bool]] = {}
        verdicts: dict[tuple[str | None, str], Outcome] = {}
        seen: set[tuple[str, str, str | None]] = set()
        for path in paths:
            user_id, product_id, group_id = path.user_id, path.product_id, path.group_id
            owner = self.users.get(user_id)
            if owner is None:
                raise ValueError(f"path {path.key!r} names a user that is not in the batch")
            key = (user_id, product_id, group_id)
            if key in seen:
                raise ValueError(f"path {key!r} is listed twice")
            seen.add(key)
            ref = len(self.paths)
            self.paths.append(path)
            self.queue_seqs.append(path.queue_seq)
            refs = self.paths_of.get(user_id)
            if refs is None:
                self.paths_of[user_id] = [ref]
            else:
                refs.append(ref)
            facts_key = (product_id, path.disabled_plan_ids)
            facts = plan_facts.get(facts_key)
            if facts is None:
                names = rule_plans.enabled_names(product_id, path.disabled_plan_ids)
                facts = plan_facts[facts_key] = (
                    names,
                    bool(names) and self.prerequisites.needs(names),
                    bool(names) and self.exclusivity.contested(names),
                )
            self.names.append(facts[0])
            self.needs.append(facts[1])
            self.contested.append(facts[2])
            location = usage_location_for(
                direct=group_id is None,
                user_location=owner.usage_location,
                tenant_default=tenant_default_location,
            )
            verdict_key = (location, product_id)
            if verdict_key in verdicts:
                verdict = verdicts[verdict_key]
            else:
                banned = rules.prohibited_in(catalog.product(product_id).sku_part_number)
                verdict = verdicts[verdict_key] = location_error(location, banned)
            self.location.append(verdict)
            if path.holds_seat:
                self.holders.add((user_id, product_id))
        for user_id, product_id in seat_holders:
            if user_id not in self.users:
                raise ValueError(f"seat holder {user_id!r} is not in the batch")
            catalog.product(product_id)
            self.holders.add((user_id, product_id))

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


def _judge_exclusivity(
    batch: _Batch, passing: list[int], first: Callable[[int], bool], outcome: dict[int, Outcome]
) -> list[int]:
    """Step 2 for one user's paths that passed R8: returns the contested paths judged."""
    check = batch.exclusivity
    contested = [ref for ref in passing if batch.contested[ref]]
    if not contested or (len(contested) == 1 and not check.self_conflicting(batch.names[contested[0]])):
        return []
    contested.sort(key=batch.exclusivity_order(first))
    paths = batch.paths
    claims = (
        ExclusivityClaim(ref, paths[ref].product_id, paths[ref].group_id, batch.names[ref])
        for ref in contested
    )
    for ref, conflict in judge_exclusivity(claims, check.exclusive_with).items():
        outcome[ref] = (ErrorCode.MUTUALLY_EXCLUSIVE_VIOLATION, conflict)
    return contested


def _run_pass(
    batch: _Batch,
    user_ids: Iterable[str],
    first: Callable[[int], bool],
    holders: set[Seat],
    free: Mapping[str, int],
) -> _PassResult:
    """Steps 1–5 for the given users, with these seat holders and free seats per product."""
    paths, names, needs = batch.paths, batch.names, batch.needs
    prerequisites = batch.prerequisites
    outcome: dict[int, Outcome] = {}
    candidates: dict[str, list[int]] = {}
    claim_of: dict[int, Claim] = {}
    claims: dict[Seat, Claim] = {}
    judged: dict[str, list[int]] = {}  # users with an R6 conflict: the paths judged
    to_check: set[str] = set()
    for user_id in user_ids:
        passing = []
        needy = False
        for ref in batch.paths_of[user_id]:
            verdict = batch.location[ref]
            if verdict is None:
                passing.append(ref)
                needy = needy or needs[ref]
            else:
                outcome[ref] = verdict
        contested = _judge_exclusivity(batch, passing, first, outcome)
        if contested:
            judged[user_id] = contested
            passing = [ref for ref in passing if ref not in outcome]
            needy = any(needs[ref] for ref in passing)
        if needy:
            to_check.add(user_id)
            pruned = prerequisites.unsatisfiable(tuple([names[ref] for ref in passing]))
            if pruned:
                for position, gap in pruned:
                    outcome[passing[position]] = (ErrorCode.DEPENDENCY_VIOLATION, gap)
                passing = [ref for ref in passing if ref not in outcome]
        candidates[user_id] = passing
        created_seq = batch.users[user_id].created_seq
        for ref in passing:
            path = paths[ref]
            seat = (user_id, path.product_id)
            claim = claims.get(seat)
            if claim is None:
                claim = claims[seat] = Claim(
                    user_id, path.product_id, created_seq, seat in holders, ref, path.queue_seq
                )
            else:
                claim.add_path(ref, path.queue_seq)
            claim_of[ref] = claim

    lines: dict[str, SeatLine] = {}
    for claim in claims.values():
        line = lines.get(claim.product_id)
        if line is None:
            line = lines[claim.product_id] = SeatLine(free.get(claim.product_id, 0))
        line.join(claim)
    for seat in holders:
        if seat not in claims:  # a holder with no path left in the running gives its seat up
            line = lines.get(seat[1])
            if line is None:
                line = lines[seat[1]] = SeatLine(free.get(seat[1], 0))
            line.free += 1
    for line in lines.values():
        line.settle()

    # Step 5: R7 against ACTIVE paths; losers leave the line and seats are handed out again.
    lost: dict[str, list[int]] = {}
    while to_check:
        losses: list[tuple[int, MissingPrerequisite]] = []
        for user_id in to_check:
            refs = candidates[user_id]
            profile = tuple([(names[ref], claim_of[ref].seated) for ref in refs])
            losses.extend((refs[position], gap) for position, gap in prerequisites.not_enabled(profile))
        to_check = set()
        touched: set[str] = set()
        for ref, gap in losses:
            path = paths[ref]
            outcome[ref] = (ErrorCode.DEPENDENCY_VIOLATION, gap)
            lost.setdefault(path.user_id, []).append(ref)
            to_check.add(path.user_id)
            candidates[path.user_id].remove(ref)
            claim = claim_of.pop(ref)
            moved = claim.drop_path(ref, batch.queue_seqs)
            line = lines[path.product_id]
            if not claim.paths:
                line.withdraw(claim)
            elif moved and not claim.holder:
                line.requeue()
            touched.add(path.product_id)
        for product_id in touched:
            _, unseated = lines[product_id].settle()
            to_check.update(claim.user_id for claim in unseated)

    for refs in candidates.values():
        for ref in refs:
            outcome[ref] = None if claim_of[ref].seated else _NO_SEAT
    leftover = dict(free)
    leftover.update((product_id, line.free) for product_id, line in lines.items())

    unsettled = {
        user_id
        for user_id, contested in judged.items()
        if any(first(ref) != (outcome[ref] is None) for ref in contested)
    }
    for user_id, refs in lost.items():
        kept = [names[ref] for ref in candidates[user_id] if claim_of[ref].seated]
        if prerequisites.could_be_met([names[ref] for ref in refs], kept):
            unsettled.add(user_id)
    return _PassResult(outcome, leftover, unsettled)


def evaluate(
    users: Iterable[UserFacts],
    paths: Iterable[PathFacts],
    catalog: Catalog,
    rules: ServicePlanRules,
    available_units: Mapping[str, int],
    tenant_default_location: str | None = None,
    seat_holders: Iterable[tuple[str, str]] = (),
) -> Evaluation:
    """Decide every path of a batch of users (1 or 100,000) — D15 — and what it does to seats.

    - `paths` must hold every path of every user in `users` (R6/R7 look across products).
    - `available_units[product_id]`: availableUnits of the product's pool before this
      evaluation — totalUnits − consumedUnits, where consumedUnits counts every current
      holder, the batch's included (users with a `holds_seat` path). A holder of the batch
      who keeps the seat needs no new one; one who loses it frees one; each new holder takes
      one, in R4 order, while the result is ≥ 1. A missing product counts as 0.
    - `tenant_default_location`: the usage location of group paths of users with none (R8).
    - `seat_holders`: (user_id, product_id) pairs holding a seat now, besides those with a
      `holds_seat` path — needed for a user whose paths to a product all ended (group license
      removed, member left): the seat is released and reported in `seat_changes`.
    """
    batch = _Batch(users, paths, catalog, rules, tenant_default_location, seat_holders)
    products = {path.product_id for path in batch.paths} | {product_id for _, product_id in batch.holders}
    free = {product_id: available_units.get(product_id, 0) for product_id in products}

    def unchanged_holder(ref: int) -> bool:
        path = batch.paths[ref]
        return path.holds_seat and not path.edited

    result = _run_pass(batch, batch.paths_of, unchanged_holder, batch.holders, free)
    outcome = result.outcome
    if result.unsettled:
        again = sorted(result.unsettled)
        refs = [ref for user_id in again for ref in batch.paths_of[user_id]]
        active = frozenset(ref for ref in refs if outcome[ref] is None)
        # Each round keeps every ACTIVE path of the one before (holders come first in R6,
        # keep their seats and their prerequisites), so ACTIVE only grows: this ends.
        for _ in range(len(refs) + 1):
            holders = {(batch.paths[ref].user_id, batch.paths[ref].product_id) for ref in active}
            result = _run_pass(batch, again, active.__contains__, holders, result.free)
            outcome.update(result.outcome)
            now_active = frozenset(ref for ref in refs if outcome[ref] is None)
            if now_active == active:
                break
            active = now_active
        else:  # pragma: no cover - guarded by the argument above
            raise RuntimeError("re-evaluation with the result as holders did not settle")
    return _decide(batch, outcome, available_units)


def _listing_order(batch: _Batch) -> Callable[[int], tuple[str, int, str]]:
    paths = batch.paths

    def key(ref: int) -> tuple[str, int, str]:
        path = paths[ref]
        return (path.product_id, 0 if path.group_id is None else 1, path.group_id or "")

    return key


def _decide(batch: _Batch, outcome: Mapping[int, Outcome], available_units: Mapping[str, int]) -> Evaluation:
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
