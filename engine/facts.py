"""The facts the engine decides on: immutable snapshots the caller loads in bulk."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

# (user_id, product_id, group_id); group_id None is the direct path.
PathKey = tuple[str, str, str | None]

FRONT_OF_QUEUE = -1
"""A `queue_seq` ahead of every stored place in line (database sequences start at 1).

D15: within one direct request the request's own adds are served before the waiting group
queue; give the request's new direct paths this place (ties go by user creation order)."""

BACK_OF_QUEUE = 2**62
"""A place behind every stored place in line and every user creation number.

D2: new group paths queue after every stored one, by user creation order: while a change is
decided, a new path's place is `BACK_OF_QUEUE` + its user's creation number (the SQL group
path uses the same value); a user not yet stored (a dry-run createUser) is created here."""


@dataclass(frozen=True, slots=True)
class ProductFacts:
    """A product (SKU) of the catalog and the ids of its service plans."""

    product_id: str
    sku_part_number: str
    display_name: str
    plan_ids: frozenset[str]


@dataclass(frozen=True, eq=False)
class Catalog:
    """Products by id, and each service plan id's servicePlanName (rules name plans by name and
    apply to every plan id with that name; D20: the first name of a GUID is canonical)."""

    products: Mapping[str, ProductFacts]
    plan_names: Mapping[str, str]

    @classmethod
    def of(cls, products: Iterable[ProductFacts], plan_names: Mapping[str, str]) -> Catalog:
        """Build a catalog from product facts and a plan id -> plan name mapping."""
        by_id = {product.product_id: product for product in products}
        return cls(MappingProxyType(by_id), MappingProxyType(dict(plan_names)))

    def product(self, product_id: str) -> ProductFacts:
        """The product with this id; ValueError when the catalog has none."""
        try:
            return self.products[product_id]
        except KeyError:
            raise ValueError(f"unknown product {product_id!r}") from None

    def plan_name(self, plan_id: str) -> str:
        """The plan's servicePlanName, or the id itself for a plan the catalog does not name."""
        return self.plan_names.get(plan_id, plan_id)


@dataclass(frozen=True, slots=True)
class UserFacts:
    """A user as the engine sees it: usage location (upper-case ISO code or None) and
    creation order, the tie-breaker of the seat queue (D2)."""

    user_id: str
    usage_location: str | None
    created_seq: int


@dataclass(frozen=True, slots=True)
class PathFacts:
    """One assignment path: a reason `user_id` may hold `product_id`.

    - `group_id`: the licensing group, None for the direct path.
    - `disabled_plan_ids`: plans this path turns off (R5).
    - `queue_seq`: the path's place in line (D2: when it came into existence); for a direct
      request's new paths see `FRONT_OF_QUEUE`.
    - `holds_seat`: the path is ACTIVE now (so its user holds a seat of the product; D14
      incumbency). Every ACTIVE path of a user shares that one seat (R1).
    - `subscription_id`: the self-service subscription a direct path draws from (R3, D6);
      carried along, the engine itself counts seats per product.
    - `edited`: the operation being evaluated changed this existing path's disabled plans;
      it then loses its D14 precedence in the exclusivity check (D18: an edit that creates a
      conflict errors the edited path, never another).
    """

    user_id: str
    product_id: str
    group_id: str | None
    disabled_plan_ids: frozenset[str]
    queue_seq: int
    holds_seat: bool
    subscription_id: str | None = None
    edited: bool = False

    @property
    def key(self) -> PathKey:
        """(user_id, product_id, group_id)."""
        return (self.user_id, self.product_id, self.group_id)

    @property
    def is_direct(self) -> bool:
        """True for the direct assignment, False for a group license."""
        return self.group_id is None
