"""R2 / R3: the Licenses page's figures for one product, from its subscriptions and the clock."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from engine.subscription_lifecycle import SubscriptionStatus, SubscriptionTerms, view


@dataclass(frozen=True)
class SubscriptionFacts:
    quantity: int
    is_self_service: bool
    terms: SubscriptionTerms


@dataclass(frozen=True)
class PoolFigures:
    enabled: int = 0
    warning: int = 0
    suspended: int = 0
    consumed: int = 0

    @property
    def total(self) -> int:
        """Seats usable now: ACTIVE and EXPIRED (in grace) organisation subscriptions."""
        return self.enabled + self.warning

    @property
    def available(self) -> int:
        """May be negative only when seats left the pool (R15): the product is over-assigned."""
        return self.total - self.consumed


def pool_figures(
    subscriptions: Iterable[SubscriptionFacts], consumed: int, now: datetime, cancellation_window: timedelta
) -> PoolFigures:
    """Aggregate every organisation-managed subscription of one product (self-service ones are not pooled)."""
    enabled = warning = suspended = 0
    for sub in subscriptions:
        if sub.is_self_service:
            continue
        status = view(sub.terms, now, cancellation_window).status
        if status is SubscriptionStatus.ACTIVE:
            enabled += sub.quantity
        elif status is SubscriptionStatus.EXPIRED:
            warning += sub.quantity
        elif status is SubscriptionStatus.DISABLED:
            suspended += sub.quantity
    return PoolFigures(enabled, warning, suspended, consumed)
