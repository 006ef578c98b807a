"""R7: a plan with `requires_any` may be enabled only with one of its prerequisites."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from engine.errors import MissingPrerequisite

# Each plan name with a `requires_any` rule: the sets of plans, one of each set needed.
Requirements = Mapping[str, tuple[frozenset[str], ...]]
# Positions among one user's candidate paths that lose their place, each with the requirement
# it misses. A user's candidates are seen as profiles (the rule plans each enables and, for the
# seat rounds, whether it is ACTIVE); users with the same products share profiles, hence the memo.
Losses = tuple[tuple[int, MissingPrerequisite], ...]


def missing_prerequisite(
    plan_names: frozenset[str], enabled_for_user: frozenset[str] | set[str], required_by: Requirements
) -> MissingPrerequisite | None:
    """The first requirement of a path's plans that `enabled_for_user` does not meet, or None.

    `enabled_for_user` must include the path's own plans when the path would be active
    (a product may carry both a plan and its prerequisite).
    """
    for name in sorted(plan_names):
        for any_of in required_by.get(name, ()):
            if any_of.isdisjoint(enabled_for_user):
                return MissingPrerequisite(name, tuple(sorted(any_of)))
    return None


class PrerequisiteCheck:
    """R7 for whole users, memoised by profile (users with the same products share results)."""

    def __init__(self, required_by: Requirements) -> None:
        self.required_by = required_by
        self._needs: dict[frozenset[str], bool] = {}
        self._unsatisfiable: dict[tuple[frozenset[str], ...], Losses] = {}
        self._inactive: dict[tuple[tuple[frozenset[str], bool], ...], Losses] = {}

    def needs(self, plan_names: frozenset[str]) -> bool:
        """True when some plan among `plan_names` has a `requires_any` rule."""
        known = self._needs.get(plan_names)
        if known is None:
            known = self._needs[plan_names] = any(name in self.required_by for name in plan_names)
        return known

    def unsatisfiable(self, candidates: tuple[frozenset[str], ...]) -> Losses:
        """Positions of one user's candidate paths whose prerequisites no other candidate could
        supply even if all were active: DEPENDENCY_VIOLATION whatever the seats do, so they
        take no seat. Removing one may strand another, so this repeats until none is left."""
        known = self._unsatisfiable.get(candidates)
        if known is None:
            known = self._unsatisfiable[candidates] = self._prune(candidates)
        return known

    def _prune(self, candidates: Sequence[frozenset[str]]) -> Losses:
        remaining = dict(enumerate(candidates))
        losses: list[tuple[int, MissingPrerequisite]] = []
        while True:
            enabled: set[str] = set()
            for names in remaining.values():
                enabled.update(names)
            newly = [
                (position, gap)
                for position, names in remaining.items()
                if (gap := missing_prerequisite(names, enabled, self.required_by)) is not None
            ]
            if not newly:
                return tuple(losses)
            losses.extend(newly)
            for position, _ in newly:
                del remaining[position]

    def not_enabled(self, profile: tuple[tuple[frozenset[str], bool], ...]) -> Losses:
        """Positions of one user's candidate paths whose prerequisites are not enabled by the
        user's ACTIVE paths (profile: plans and ACTIVE-ness of each candidate). A path counts
        its own plans, as it would if it got its seat."""
        known = self._inactive.get(profile)
        if known is None:
            enabled: set[str] = set()
            for names, active in profile:
                if active:
                    enabled.update(names)
            losses = []
            for position, (names, _) in enumerate(profile):
                if self.needs(names):
                    gap = missing_prerequisite(names, enabled | names, self.required_by)
                    if gap is not None:
                        losses.append((position, gap))
            known = self._inactive[profile] = tuple(losses)
        return known

    def could_be_met(self, lost: Sequence[frozenset[str]], kept: Sequence[frozenset[str]]) -> bool:
        """Whether any lost path's prerequisites are among the plans of the kept paths and all
        lost paths together — if not, no later hand-out of seats could make it ACTIVE."""
        enabled: set[str] = set()
        for names in (*lost, *kept):
            enabled.update(names)
        return any(missing_prerequisite(names, enabled, self.required_by) is None for names in lost)
