"""R5 and the bridge from plan ids to the plan names rules speak of."""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Set as AbstractSet
from typing import TypeVar

from engine.facts import Catalog, ProductFacts
from engine.rules import ServicePlanRules

_NONE: frozenset[str] = frozenset()
T = TypeVar("T")


def enabled_plan_ids(product: ProductFacts, disabled_plan_ids: frozenset[str]) -> frozenset[str]:
    """R5: the plans one path enables — the product's plans minus the path's disabled ones."""
    if not disabled_plan_ids:
        return product.plan_ids
    return product.plan_ids - disabled_plan_ids


def enabled_for_user(plan_ids: AbstractSet[T], disabled_by_active_path: Iterable[AbstractSet[T]]) -> frozenset[T]:
    """R5: a user's enabled plans of a product — the union over the user's ACTIVE paths of the
    product's plans minus that path's disabled plans (nothing without an ACTIVE path)."""
    enabled: set[T] = set()
    for disabled in disabled_by_active_path:
        if not disabled:  # this path enables every plan: so does the union
            return frozenset(plan_ids)
        enabled.update(plan_ids - disabled)
    return frozenset(enabled)


class RulePlans:
    """Which plans named in a rule a path enables, by name.

    Only these names matter to R6 and R7, so they are all the engine carries per path.
    Resolved lazily per product and shared by every path that disables none of them.
    """

    def __init__(self, catalog: Catalog, rules: ServicePlanRules) -> None:
        self._catalog = catalog
        self._rules = rules
        self._by_product: dict[str, tuple[tuple[tuple[str, str], ...], frozenset[str]]] = {}

    def _product(self, product_id: str) -> tuple[tuple[tuple[str, str], ...], frozenset[str]]:
        known = self._by_product.get(product_id)
        if known is None:
            product = self._catalog.product(product_id)
            relevant = self._rules.rule_plan_names
            pairs = tuple(
                sorted(
                    (plan_id, name)
                    for plan_id in product.plan_ids
                    if (name := self._catalog.plan_name(plan_id)) in relevant
                )
            )
            known = (pairs, frozenset(name for _, name in pairs))
            self._by_product[product_id] = known
        return known

    def enabled_names(self, product_id: str, disabled_plan_ids: frozenset[str]) -> frozenset[str]:
        """Names of the rule plans that a path of `product_id` with these disabled plans enables."""
        pairs, all_names = self._product(product_id)
        if not pairs:
            return _NONE
        if not disabled_plan_ids or disabled_plan_ids.isdisjoint(plan_id for plan_id, _ in pairs):
            return all_names
        return frozenset(name for plan_id, name in pairs if plan_id not in disabled_plan_ids)
