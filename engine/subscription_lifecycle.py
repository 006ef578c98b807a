"""R15 / D7: a subscription's status and term, derived from its dates and the clock.

Stored facts: when it started, the term known at the last change (start, end), whether it
was bought as a trial, recurring billing, and when it was cancelled. Everything an admin
reads (status, current term, trial or not, cancellation window) is derived here, so a reader
never sees a stale status whatever a periodic job has or has not stored yet.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum

TRIAL_TERM = timedelta(days=30)
GRACE = timedelta(days=30)  # EXPIRED: seats still usable
SUSPENSION = timedelta(days=90)  # DISABLED before DELETED


class SubscriptionStatus(str, Enum):
    ACTIVE = "ACTIVE"
    EXPIRED = "EXPIRED"
    DISABLED = "DISABLED"
    DELETED = "DELETED"


@dataclass(frozen=True)
class SubscriptionTerms:
    """What is stored about a subscription's time line."""

    term_starts_at: datetime
    term_ends_at: datetime
    is_trial: bool
    recurring_billing: bool
    cancelled_at: datetime | None


@dataclass(frozen=True)
class SubscriptionView:
    status: SubscriptionStatus
    is_trial: bool
    term_starts_at: datetime
    current_term_ends_at: datetime
    cancellation_window_ends_at: datetime | None
    can_cancel: bool


def add_years(moment: datetime, years: int) -> datetime:
    """The same calendar moment `years` later (29 February becomes 28 February)."""
    try:
        return moment.replace(year=moment.year + years)
    except ValueError:
        return moment.replace(year=moment.year + years, day=28)


def first_term(starts_at: datetime, is_trial: bool) -> tuple[datetime, datetime]:
    """D7: a trial runs 30 days, a paid subscription one year."""
    return starts_at, (starts_at + TRIAL_TERM if is_trial else add_years(starts_at, 1))


def roll_forward(terms: SubscriptionTerms, now: datetime) -> SubscriptionTerms:
    """Apply the renewals that recurring billing made happen up to `now`.

    A trial whose term ends with recurring billing on converts to a paid one-year term.
    """
    if terms.cancelled_at is not None or not terms.recurring_billing or now < terms.term_ends_at:
        return terms
    start, end, trial = terms.term_starts_at, terms.term_ends_at, terms.is_trial
    while now >= end:
        start, end, trial = end, add_years(end, 1), False
    return SubscriptionTerms(start, end, trial, terms.recurring_billing, None)


def view(terms: SubscriptionTerms, now: datetime, cancellation_window: timedelta) -> SubscriptionView:
    """Status, current term and cancellation window of a subscription at `now`."""
    current = roll_forward(terms, now)
    if current.cancelled_at is not None:
        status = (
            SubscriptionStatus.DISABLED
            if now < current.cancelled_at + SUSPENSION
            else SubscriptionStatus.DELETED
        )
    elif now < current.term_ends_at:
        status = SubscriptionStatus.ACTIVE
    elif now < current.term_ends_at + GRACE:
        status = SubscriptionStatus.EXPIRED
    elif now < current.term_ends_at + GRACE + SUSPENSION:
        status = SubscriptionStatus.DISABLED
    else:
        status = SubscriptionStatus.DELETED
    window_end = None if current.is_trial else current.term_starts_at + cancellation_window
    can_cancel = status is SubscriptionStatus.ACTIVE and (window_end is None or now < window_end)
    return SubscriptionView(
        status=status,
        is_trial=current.is_trial,
        term_starts_at=current.term_starts_at,
        current_term_ends_at=current.term_ends_at,
        cancellation_window_ends_at=window_end,
        can_cancel=can_cancel,
    )
