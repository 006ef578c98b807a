"""Pure tests of the subscription time line (R15, D7, D13) and the pool figures (R2, R3). No database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from engine.subscription_lifecycle import (
    GRACE,
    SUSPENSION,
    TRIAL_TERM,
    SubscriptionStatus,
    SubscriptionTerms,
    SubscriptionView,
    add_years,
    first_term,
    roll_forward,
    view,
)
from engine.subscription_pool import PoolFigures, SubscriptionFacts, pool_figures

ACTIVE, EXPIRED, DISABLED, DELETED = (
    SubscriptionStatus.ACTIVE,
    SubscriptionStatus.EXPIRED,
    SubscriptionStatus.DISABLED,
    SubscriptionStatus.DELETED,
)
WINDOW = timedelta(days=7)
T0 = datetime(2025, 3, 10, 9, 30, tzinfo=UTC)
END = add_years(T0, 1)  # 2026-03-10 09:30
DAY = timedelta(days=1)
TICK = timedelta(microseconds=1)


def paid(*, recurring: bool = True, cancelled_at: datetime | None = None, start: datetime = T0) -> SubscriptionTerms:
    s, e = first_term(start, False)
    return SubscriptionTerms(s, e, False, recurring, cancelled_at)


def trial(*, recurring: bool = True, cancelled_at: datetime | None = None, start: datetime = T0) -> SubscriptionTerms:
    s, e = first_term(start, True)
    return SubscriptionTerms(s, e, True, recurring, cancelled_at)


# ---------------------------------------------------------------------------- add_years / first_term


@pytest.mark.parametrize(
    ("moment", "years", "expected"),
    [
        (datetime(2025, 3, 10, 9, 30, tzinfo=UTC), 1, datetime(2026, 3, 10, 9, 30, tzinfo=UTC)),
        (datetime(2024, 2, 29, 12, 0, tzinfo=UTC), 1, datetime(2025, 2, 28, 12, 0, tzinfo=UTC)),
        (datetime(2024, 2, 29, 12, 0, tzinfo=UTC), 4, datetime(2028, 2, 29, 12, 0, tzinfo=UTC)),
        (datetime(2024, 2, 29, 12, 0, tzinfo=UTC), -1, datetime(2023, 2, 28, 12, 0, tzinfo=UTC)),
        (datetime(2023, 2, 28, 0, 0, tzinfo=UTC), 1, datetime(2024, 2, 28, 0, 0, tzinfo=UTC)),
        (datetime(2023, 3, 1, 0, 0, tzinfo=UTC), 1, datetime(2024, 3, 1, 0, 0, tzinfo=UTC)),
        (datetime(2025, 12, 31, 23, 59, 59, 999999, tzinfo=UTC), 1, datetime(2026, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)),
    ],
)
def test_add_years_keeps_the_calendar_moment_and_maps_29_february_to_28(
    moment: datetime, years: int, expected: datetime
) -> None:
    assert add_years(moment, years) == expected


def test_add_years_keeps_the_time_zone() -> None:
    oslo = timezone(timedelta(hours=1))
    result = add_years(datetime(2024, 2, 29, 8, 0, tzinfo=oslo), 1)
    assert result == datetime(2025, 2, 28, 8, 0, tzinfo=oslo)
    assert result.utcoffset() == timedelta(hours=1)


@pytest.mark.parametrize(
    ("start", "is_trial", "end"),
    [
        (T0, False, datetime(2026, 3, 10, 9, 30, tzinfo=UTC)),
        (T0, True, T0 + timedelta(days=30)),
        (datetime(2024, 2, 29, tzinfo=UTC), False, datetime(2025, 2, 28, tzinfo=UTC)),
        (datetime(2024, 2, 10, tzinfo=UTC), True, datetime(2024, 3, 11, tzinfo=UTC)),  # 30 days across 29 Feb
    ],
)
def test_first_term_is_a_year_or_thirty_days_for_a_trial(start: datetime, is_trial: bool, end: datetime) -> None:
    assert first_term(start, is_trial) == (start, end)


def test_constants_match_the_spec() -> None:
    assert (TRIAL_TERM, GRACE, SUSPENSION) == (timedelta(days=30), timedelta(days=30), timedelta(days=90))


# ---------------------------------------------------------------------------- roll_forward


@pytest.mark.parametrize(
    "terms, now",
    [
        (paid(), END - TICK),  # term not over
        (paid(recurring=False), END + 400 * DAY),  # no recurring billing: never renews
        (paid(cancelled_at=T0 + DAY), END + 400 * DAY),  # cancelled: never renews
        (trial(recurring=False), T0 + 60 * DAY),
    ],
)
def test_roll_forward_changes_nothing_without_a_renewal(terms: SubscriptionTerms, now: datetime) -> None:
    assert roll_forward(terms, now) == terms


@pytest.mark.parametrize(
    ("now", "term"),
    [
        (END, (END, add_years(END, 1))),  # renews at the very end of the term
        (END + 200 * DAY, (END, add_years(END, 1))),
        (add_years(END, 1), (add_years(END, 1), add_years(END, 2))),
        (add_years(END, 3) + DAY, (add_years(END, 3), add_years(END, 4))),
    ],
)
def test_roll_forward_renews_paid_terms_a_year_at_a_time(now: datetime, term: tuple[datetime, datetime]) -> None:
    rolled = roll_forward(paid(), now)
    assert (rolled.term_starts_at, rolled.term_ends_at) == term
    assert rolled.is_trial is False and rolled.recurring_billing is True and rolled.cancelled_at is None


def test_roll_forward_converts_a_trial_to_a_paid_year() -> None:
    trial_end = T0 + TRIAL_TERM
    rolled = roll_forward(trial(), trial_end + DAY)
    assert rolled == SubscriptionTerms(trial_end, add_years(trial_end, 1), False, True, None)


def test_roll_forward_from_29_february() -> None:
    start = datetime(2024, 2, 29, 10, 0, tzinfo=UTC)
    rolled = roll_forward(paid(start=start), datetime(2025, 3, 1, tzinfo=UTC))
    assert (rolled.term_starts_at, rolled.term_ends_at) == (
        datetime(2025, 2, 28, 10, 0, tzinfo=UTC),
        datetime(2026, 2, 28, 10, 0, tzinfo=UTC),
    )


# ---------------------------------------------------------------------------- view

# (case, terms, now, status, is_trial, term start, term end, window end, can_cancel)
CASES = [
    ("paid, just bought", paid(), T0, ACTIVE, False, T0, END, T0 + WINDOW, True),
    ("paid, last moment of the window", paid(), T0 + WINDOW - TICK, ACTIVE, False, T0, END, T0 + WINDOW, True),
    ("paid, window over", paid(), T0 + WINDOW, ACTIVE, False, T0, END, T0 + WINDOW, False),
    ("paid, last moment of the term", paid(recurring=False), END - TICK, ACTIVE, False, T0, END, T0 + WINDOW, False),
    ("no renewal: term over", paid(recurring=False), END, EXPIRED, False, T0, END, T0 + WINDOW, False),
    ("no renewal: end of grace", paid(recurring=False), END + GRACE - TICK, EXPIRED, False, T0, END, T0 + WINDOW, False),
    ("no renewal: disabled", paid(recurring=False), END + GRACE, DISABLED, False, T0, END, T0 + WINDOW, False),
    ("no renewal: end of suspension", paid(recurring=False), END + 120 * DAY - TICK, DISABLED, False, T0, END, T0 + WINDOW, False),
    ("no renewal: deleted", paid(recurring=False), END + 120 * DAY, DELETED, False, T0, END, T0 + WINDOW, False),
    ("no renewal: long deleted", paid(recurring=False), END + 5000 * DAY, DELETED, False, T0, END, T0 + WINDOW, False),
    ("renewed at term end", paid(), END, ACTIVE, False, END, add_years(END, 1), END + WINDOW, True),
    ("renewed, new window over", paid(), END + WINDOW, ACTIVE, False, END, add_years(END, 1), END + WINDOW, False),
    ("trial, day one", trial(), T0, ACTIVE, True, T0, T0 + TRIAL_TERM, None, True),
    ("trial, last moment", trial(recurring=False), T0 + TRIAL_TERM - TICK, ACTIVE, True, T0, T0 + TRIAL_TERM, None, True),
    (
        "trial converted", trial(), T0 + TRIAL_TERM, ACTIVE, False, T0 + TRIAL_TERM, add_years(T0 + TRIAL_TERM, 1),
        T0 + TRIAL_TERM + WINDOW, True,
    ),
    ("trial not renewed", trial(recurring=False), T0 + TRIAL_TERM, EXPIRED, True, T0, T0 + TRIAL_TERM, None, False),
    ("trial disabled", trial(recurring=False), T0 + TRIAL_TERM + GRACE, DISABLED, True, T0, T0 + TRIAL_TERM, None, False),
    ("cancelled", paid(cancelled_at=T0 + DAY), T0 + DAY, DISABLED, False, T0, END, T0 + WINDOW, False),
    ("cancelled, suspension over", paid(cancelled_at=T0 + DAY), T0 + DAY + SUSPENSION, DELETED, False, T0, END, T0 + WINDOW, False),
    ("cancelled, no renewal past the term", paid(cancelled_at=T0 + DAY), END + DAY, DELETED, False, T0, END, T0 + WINDOW, False),
    ("cancelled trial", trial(cancelled_at=T0 + 20 * DAY), T0 + 20 * DAY, DISABLED, True, T0, T0 + TRIAL_TERM, None, False),
]


@pytest.mark.parametrize(
    ("terms", "now", "status", "is_trial", "start", "end", "window", "can_cancel"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_view(
    terms: SubscriptionTerms, now: datetime, status: SubscriptionStatus, is_trial: bool,
    start: datetime, end: datetime, window: datetime | None, can_cancel: bool,
) -> None:
    assert view(terms, now, WINDOW) == SubscriptionView(
        status=status, is_trial=is_trial, term_starts_at=start, current_term_ends_at=end,
        cancellation_window_ends_at=window, can_cancel=can_cancel,
    )


def test_view_with_a_zero_day_window_never_allows_cancelling_paid_ones() -> None:
    v = view(paid(), T0, timedelta(0))
    assert (v.status, v.cancellation_window_ends_at, v.can_cancel) == (ACTIVE, T0, False)
    assert view(trial(), T0, timedelta(0)).can_cancel is True


def test_view_with_a_longer_window() -> None:
    v = view(paid(), T0 + 20 * DAY, timedelta(days=30))
    assert (v.cancellation_window_ends_at, v.can_cancel) == (T0 + 30 * DAY, True)


def test_an_imported_subscription_started_long_ago_is_on_its_current_term() -> None:
    start = datetime(2020, 6, 1, tzinfo=UTC)
    now = datetime(2025, 7, 1, tzinfo=UTC)
    v = view(paid(start=start), now, WINDOW)
    assert (v.status, v.term_starts_at, v.current_term_ends_at) == (
        ACTIVE, datetime(2025, 6, 1, tzinfo=UTC), datetime(2026, 6, 1, tzinfo=UTC)
    )
    assert v.can_cancel is False
    assert view(paid(start=start, recurring=False), now, WINDOW).status is DELETED


# ---------------------------------------------------------------------------- pool_figures


def facts(quantity: int, terms: SubscriptionTerms, *, self_service: bool = False) -> SubscriptionFacts:
    return SubscriptionFacts(quantity, self_service, terms)


NOW = T0 + 10 * DAY
EXPIRED_TERMS = paid(recurring=False, start=NOW - timedelta(days=380))  # 14-15 days past its term
DISABLED_TERMS = paid(cancelled_at=NOW - DAY)
DELETED_TERMS = paid(cancelled_at=NOW - 100 * DAY, start=NOW - 200 * DAY)


def test_pool_fixtures_have_the_status_they_claim() -> None:
    assert view(paid(), NOW, WINDOW).status is ACTIVE
    assert view(EXPIRED_TERMS, NOW, WINDOW).status is EXPIRED
    assert view(DISABLED_TERMS, NOW, WINDOW).status is DISABLED
    assert view(DELETED_TERMS, NOW, WINDOW).status is DELETED


@pytest.mark.parametrize(
    ("subs", "consumed", "enabled", "warning", "suspended", "total", "available"),
    [
        ([], 0, 0, 0, 0, 0, 0),
        ([facts(5, paid()), facts(8, paid())], 0, 13, 0, 0, 13, 13),  # R2: 5 + 8 pool into 13
        ([facts(5, paid()), facts(3, paid(), self_service=True)], 2, 5, 0, 0, 5, 3),  # R3: self-service not pooled
        ([facts(3, EXPIRED_TERMS, self_service=True), facts(4, DISABLED_TERMS, self_service=True)], 0, 0, 0, 0, 0, 0),
        ([facts(5, paid()), facts(4, EXPIRED_TERMS)], 1, 5, 4, 0, 9, 8),  # EXPIRED: warning and still usable
        ([facts(5, paid()), facts(6, DISABLED_TERMS)], 0, 5, 0, 6, 5, 5),  # DISABLED: suspended only
        ([facts(5, paid()), facts(7, DELETED_TERMS)], 0, 5, 0, 0, 5, 5),  # DELETED: never counts
        ([facts(5, paid()), facts(6, DISABLED_TERMS)], 8, 5, 0, 6, 5, -3),  # over-assigned after seats left
        (
            [facts(1, paid()), facts(2, trial()), facts(4, EXPIRED_TERMS), facts(8, DISABLED_TERMS), facts(16, DELETED_TERMS),
             facts(32, paid(), self_service=True)],
            3, 3, 4, 8, 7, 4,
        ),
    ],
)
def test_pool_figures(
    subs: list[SubscriptionFacts], consumed: int, enabled: int, warning: int, suspended: int, total: int, available: int
) -> None:
    figures = pool_figures(subs, consumed, NOW, WINDOW)
    assert figures == PoolFigures(enabled, warning, suspended, consumed)
    assert (figures.total, figures.available) == (total, available)


def test_pool_figures_follow_the_clock() -> None:
    subs = [facts(5, paid(recurring=False))]
    assert pool_figures(subs, 0, END - DAY, WINDOW) == PoolFigures(5, 0, 0, 0)
    assert pool_figures(subs, 0, END + DAY, WINDOW) == PoolFigures(0, 5, 0, 0)
    assert pool_figures(subs, 0, END + GRACE + DAY, WINDOW) == PoolFigures(0, 0, 5, 0)
    assert pool_figures(subs, 0, END + GRACE + SUSPENSION + DAY, WINDOW) == PoolFigures(0, 0, 0, 0)
    renewing = [facts(5, paid())]
    assert pool_figures(renewing, 0, END + 500 * DAY, WINDOW) == PoolFigures(5, 0, 0, 0)
