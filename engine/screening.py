"""Which paths a set-based evaluation may judge without the cross-path rules.

A large group change is decided in SQL (location, then seats in R4 order) when no user of the
batch is touched by R6, R7 or a location prohibition of R8 in a way that depends on the user's
other paths. `screen` says which path shapes — (product, disabled plans) — need the engine:

- alone: a path that by itself breaks R7 (a plan whose prerequisite it does not enable itself),
  enables two mutually exclusive plans (R6), or is of a product prohibited somewhere (R8);
- in pairs: two shapes enabling mutually exclusive plans (R6) — a user holding both needs the
  engine to judge which one errs.

A path whose own plans meet its prerequisites is ACTIVE or not on location and seats alone (it
counts its own plans, D15 step 5), and no other path depends on it unless that other path is
itself flagged here. Everything else is the engine's business (`evaluate`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from engine.dependencies import missing_prerequisite
from engine.exclusivity import ExclusivityCheck
from engine.facts import Catalog
from engine.plans import RulePlans
from engine.rules import ServicePlanRules

Shape = tuple[str, frozenset[str]]  # (product_id, disabled plan ids)


def rule_products(catalog: Catalog, rules: ServicePlanRules, product_ids: Sequence[str]) -> frozenset[str]:
    """The products among `product_ids` that enable a plan named in a rule or are prohibited
    in some location: only paths of these can need the engine."""
    plans = RulePlans(catalog, rules)
    return frozenset(
        p
        for p in product_ids
        if plans.enabled_names(p, frozenset()) or rules.prohibited_in(catalog.product(p).sku_part_number)
    )


def linked_products(catalog: Catalog, rules: ServicePlanRules, staged: Sequence[str]) -> frozenset[str]:
    """The other products whose paths a change to `staged` products' paths can affect through a
    rule: those enabling a plan mutually exclusive with a staged product's plan (R6), and those
    with a plan whose prerequisite a staged product may supply (R7). A user's paths to any other
    product keep their verdicts whatever the staged paths become."""
    plans = RulePlans(catalog, rules)
    staged_names: set[str] = set()
    for product_id in staged:
        staged_names |= plans.enabled_names(product_id, frozenset())
    linked = set()
    for product_id in rule_products(catalog, rules, list(catalog.products)):
        if product_id in staged:
            continue
        names = plans.enabled_names(product_id, frozenset())
        if any(
            not rules.exclusive_with.get(name, frozenset()).isdisjoint(staged_names)
            or any(not any_of.isdisjoint(staged_names) for any_of in rules.required_by.get(name, ()))
            for name in names
        ):
            linked.add(product_id)
    return frozenset(linked)


@dataclass(frozen=True, slots=True)
class Screen:
    """Positions (in the given shapes) that need the engine alone, and pairs that do together."""

    alone: frozenset[int]
    pairs: frozenset[tuple[int, int]]

    @property
    def clear(self) -> bool:
        """True when no shape needs the engine, alone or in a pair."""
        return not self.alone and not self.pairs


def screen(catalog: Catalog, rules: ServicePlanRules, shapes: Sequence[Shape]) -> Screen:
    """Judge each path shape (see the module docstring)."""
    plans = RulePlans(catalog, rules)
    exclusivity = ExclusivityCheck(rules.exclusive_with)
    names = [plans.enabled_names(product_id, disabled) for product_id, disabled in shapes]
    alone = set()
    for position, (product_id, _) in enumerate(shapes):
        own = names[position]
        if (
            rules.prohibited_in(catalog.product(product_id).sku_part_number)
            or missing_prerequisite(own, own, rules.required_by) is not None
            or exclusivity.self_conflicting(own)
        ):
            alone.add(position)
    contested = [i for i, own in enumerate(names) if exclusivity.contested(own)]
    pairs = set()
    for a_index, a in enumerate(contested):
        for b in contested[a_index + 1 :]:
            if any(not rules.exclusive_with.get(name, frozenset()).isdisjoint(names[b]) for name in names[a]):
                pairs.add((a, b))
    return Screen(frozenset(alone), frozenset(pairs))
