"""R6: no user may have two mutually exclusive plans enabled, across all products."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from engine.errors import ExclusivityConflict


@dataclass(frozen=True, slots=True)
class ExclusivityClaim:
    """One path of a user, as R6 sees it: the rule plans (by name) it enables."""

    ref: int
    product_id: str
    group_id: str | None
    plan_names: frozenset[str]


def judge_exclusivity(
    claims_in_order: Iterable[ExclusivityClaim], exclusive_with: Mapping[str, frozenset[str]]
) -> dict[int, ExclusivityConflict]:
    """Judge one user's paths in the given order; a path that conflicts with an earlier
    accepted path (or with itself) is rejected. Returns the rejected refs and the conflict.

    The caller orders the paths (D14 holders first, then R4 order) and passes only paths that
    passed the location check (D15).
    """
    enabled_by: dict[str, ExclusivityClaim] = {}
    rejected: dict[int, ExclusivityConflict] = {}
    for claim in claims_in_order:
        conflict = _first_conflict(claim, enabled_by, exclusive_with)
        if conflict is not None:
            rejected[claim.ref] = conflict
            continue
        for name in claim.plan_names:
            enabled_by.setdefault(name, claim)
    return rejected


def _first_conflict(
    claim: ExclusivityClaim,
    enabled_by: Mapping[str, ExclusivityClaim],
    exclusive_with: Mapping[str, frozenset[str]],
) -> ExclusivityConflict | None:
    for name in sorted(claim.plan_names):
        partners = exclusive_with.get(name)
        if not partners:
            continue
        for other in sorted(partners):
            if other in claim.plan_names:
                return ExclusivityConflict(name, other, claim.product_id, claim.group_id)
            holder = enabled_by.get(other)
            if holder is not None:
                return ExclusivityConflict(name, other, holder.product_id, holder.group_id)
    return None


class ExclusivityCheck:
    """R6 lookups shared by a whole evaluation."""

    def __init__(self, exclusive_with: Mapping[str, frozenset[str]]) -> None:
        self.exclusive_with = exclusive_with
        self.exclusive_names = frozenset(exclusive_with)
        self._self_conflicting: dict[frozenset[str], bool] = {}

    def contested(self, plan_names: frozenset[str]) -> bool:
        """True when a path enabling these plans could conflict with some path."""
        return not self.exclusive_names.isdisjoint(plan_names)

    def self_conflicting(self, plan_names: frozenset[str]) -> bool:
        """True when one path enables two mutually exclusive plans by itself."""
        known = self._self_conflicting.get(plan_names)
        if known is None:
            known = self._self_conflicting[plan_names] = any(
                not self.exclusive_with.get(name, frozenset()).isdisjoint(plan_names) for name in plan_names
            )
        return known
