"""R7: a plan with `requires_any` may be enabled only with one of its prerequisites."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TypeVar

from engine.errors import MissingPrerequisite

Ref = TypeVar("Ref")


def missing_prerequisite(
    plan_names: frozenset[str],
    enabled_for_user: frozenset[str] | set[str],
    required_by: Mapping[str, tuple[frozenset[str], ...]],
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


def has_requirements(
    plan_names: frozenset[str], required_by: Mapping[str, tuple[frozenset[str], ...]]
) -> bool:
    """True when some plan among `plan_names` has a `requires_any` rule."""
    return any(name in required_by for name in plan_names)


def prune_unsatisfiable(
    candidates: Sequence[Ref],
    plan_names: Callable[[Ref], frozenset[str]],
    required_by: Mapping[str, tuple[frozenset[str], ...]],
) -> tuple[list[Ref], dict[Ref, MissingPrerequisite]]:
    """One user's paths whose prerequisites no other candidate path of the user could supply,
    even if every candidate were active. Such paths are DEPENDENCY_VIOLATION whatever the
    seats do, so they take no seat at all; removing them may strand others (repeated).

    Returns the remaining candidates (in the given order) and the pruned ones.
    """
    remaining = list(candidates)
    pruned: dict[Ref, MissingPrerequisite] = {}
    while True:
        enabled: set[str] = set()
        for ref in remaining:
            enabled.update(plan_names(ref))
        newly = {
            ref: gap
            for ref in remaining
            if (gap := missing_prerequisite(plan_names(ref), enabled, required_by)) is not None
        }
        if not newly:
            return remaining, pruned
        pruned.update(newly)
        remaining = [ref for ref in remaining if ref not in newly]
