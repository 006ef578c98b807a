"""The facts of one evaluation, indexed once: paths by position, grouped by user, with what
never changes during it — the rule plans each path enables and its R8 verdict."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from engine.dependencies import PrerequisiteCheck
from engine.errors import ErrorCode, ErrorDetail
from engine.exclusivity import ExclusivityCheck
from engine.facts import Catalog, PathFacts, UserFacts
from engine.location import location_error, usage_location_for
from engine.plans import RulePlans
from engine.rules import ServicePlanRules

Outcome = tuple[ErrorCode, ErrorDetail | None] | None  # None: ACTIVE
Seat = tuple[str, str]  # (user_id, product_id)


class Batch:
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

    def could_hold(self, seat: Seat) -> bool:
        """Whether some path of the (user, product) passes R8, which no other path can change:
        without one, the seat is given up whatever the rest of the evaluation decides."""
        user_id, product_id = seat
        return any(
            self.location[ref] is None and self.paths[ref].product_id == product_id
            for ref in self.paths_of.get(user_id, ())
        )

    def exclusivity_order(self, first: Callable[[int], bool]) -> Callable[[int], tuple[int, int, str, str]]:
        """R6 judging order: D14 holders (`first`) before the rest, each in R4 order."""

        def key(ref: int) -> tuple[int, int, str, str]:
            path = self.paths[ref]
            return (0 if first(ref) else 1, path.queue_seq, path.product_id, path.group_id or "")

        return key
