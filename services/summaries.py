"""What a change did (or, dry run, would do) to seats and paths (R19, D16): plain results.

Both decision paths build the same `ChangeSummary`: the engine's (`license_changes.Decision`)
and the SQL batch's (`group_changes.BatchDecision`). GraphQL shows it as `LicenseChangeSummary`.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from db.repo.catalog import Catalog
from engine.subscription_pool import PoolFigures
from services.errors import ErrorCode

MAX_OUTCOMES = 1000  # D16: outcomes(first:) is at most this


@dataclass(frozen=True, slots=True)
class SeatMove:
    """A product's consumed seats before and after the change; total units after it."""

    product_id: uuid.UUID
    consumed_before: int
    consumed_after: int
    total_units: int


@dataclass(frozen=True, slots=True)
class PathOutcome:
    """A path the change created, changed or removed (`state` as stored before, when removed)."""

    user_id: uuid.UUID
    product_id: uuid.UUID
    group_id: uuid.UUID | None  # None: the direct path
    state: str  # ACTIVE or ERROR
    error_code: ErrorCode | None
    error_message: str | None
    removed: bool
    order: tuple[object, ...] = field(default=(), compare=False)  # R4: place in line, user creation, product, group


@dataclass(frozen=True, slots=True)
class ErrorTotal:
    product_id: uuid.UUID
    code: ErrorCode
    count: int


@dataclass(frozen=True)
class ChangeSummary:
    dry_run: bool
    affected_user_count: int = 0
    seats: list[SeatMove] = field(default_factory=list)
    error_totals: list[ErrorTotal] = field(default_factory=list)
    outcomes: list[PathOutcome] = field(default_factory=list)  # errors first, then R4 order; at most MAX_OUTCOMES
    # the affected users themselves, where the decision knows them (the engine's; a SQL batch
    # gives a count): merged steps then count a user they both changed once (D16)
    affected_users: frozenset[uuid.UUID] | None = field(default=None, compare=False)

    def merged(self, later: ChangeSummary, catalog: Catalog) -> ChangeSummary:
        """This step of a change followed by a later one (a user's update, then the licenses it
        moved; a change, then the waiting paths that took the seats it freed): a product both
        touched shows its seats before the first and after the last (each step's own move
        added up); a path both changed is listed once, as the later step left it, errors first
        in R4 order; error totals add up, less the earlier errors of such paths; a user both
        affected counts once where both steps know their users."""
        if later.is_empty():
            return self
        if self.is_empty():
            return later
        moves: dict[uuid.UUID, SeatMove] = {s.product_id: s for s in self.seats}
        for s in later.seats:
            first = moves.get(s.product_id)
            moves[s.product_id] = s if first is None else SeatMove(
                s.product_id, first.consumed_before, first.consumed_after + s.consumed_after - s.consumed_before, s.total_units
            )
        counts: dict[tuple[uuid.UUID, str], int] = {}
        for total in (*self.error_totals, *later.error_totals):
            key = (total.product_id, total.code.value)
            counts[key] = counts.get(key, 0) + total.count
        # a path both steps changed is listed once, as the later step left it; the earlier
        # step's error on it is no longer one the change leaves
        paths = {(o.user_id, o.product_id, o.group_id): o for o in self.outcomes}
        for o in later.outcomes:
            earlier = paths.get((o.user_id, o.product_id, o.group_id))
            if earlier is not None and not earlier.removed and earlier.error_code is not None:
                key = (earlier.product_id, earlier.error_code.value)
                counts[key] = max(0, counts.get(key, 0) - 1)
            paths[(o.user_id, o.product_id, o.group_id)] = o
        outcomes = sorted(paths.values(), key=lambda o: (o.removed or o.error_code is None, o.order))
        if self.affected_users is not None and later.affected_users is not None:
            users: frozenset[uuid.UUID] | None = self.affected_users | later.affected_users
            affected = len(users or ())
        else:
            users, affected = None, self.affected_user_count + later.affected_user_count
        return ChangeSummary(
            self.dry_run, affected, [moves[p] for p in _by_name(catalog, moves)],
            error_totals(catalog, {k: n for k, n in counts.items() if n}), outcomes[:MAX_OUTCOMES], users,
        )

    def is_empty(self) -> bool:
        return not (self.affected_user_count or self.seats or self.error_totals or self.outcomes)


def _by_name(catalog: Catalog, product_ids: Iterable[uuid.UUID]) -> list[uuid.UUID]:
    names = catalog.products
    return sorted(set(product_ids), key=lambda p: (names[p].display_name.lower(), str(p)))


def seat_moves(
    catalog: Catalog, products: Iterable[uuid.UUID], before: Mapping[uuid.UUID, PoolFigures], delta: Mapping[uuid.UUID, int]
) -> list[SeatMove]:
    """Seats before and after per product a change touched (by display name): the pool's
    figures before and how many seats the change takes (+) or frees (−)."""
    return [
        SeatMove(p, before[p].consumed, before[p].consumed + delta.get(p, 0), before[p].total)
        for p in _by_name(catalog, products)
        if p in before
    ]


def seat_changes(
    catalog: Catalog, before: Mapping[uuid.UUID, PoolFigures], after: Mapping[uuid.UUID, PoolFigures]
) -> list[SeatMove]:
    """Seats per product from pool figures before and after (subscription changes)."""
    return [SeatMove(p, before[p].consumed, after[p].consumed, after[p].total) for p in _by_name(catalog, before)]


def error_totals(catalog: Catalog, counts: Mapping[tuple[uuid.UUID, str], int]) -> list[ErrorTotal]:
    """Per-product, per-code error totals (D16), by product display name and code."""
    names = catalog.products
    return [
        ErrorTotal(p, ErrorCode(code), n)
        for (p, code), n in sorted(counts.items(), key=lambda item: (names[item[0][0]].display_name.lower(), item[0][1]))
    ]
