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
