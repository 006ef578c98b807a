"""R6: mutually exclusive plans (YAMMER_ENTERPRISE vs YAMMER_EDU), with D14 and D18."""

from __future__ import annotations

import pytest
from engine_kit import direct, outcome, run, user, via

from engine import ErrorCode, ExclusivityConflict

MUTEX = "MUTUALLY_EXCLUSIVE_VIOLATION"


@pytest.mark.parametrize(
    ("paths", "expected"),
    [
        pytest.param(
            [via("g1", "u1", "A3", 1), via("g2", "u1", "E3", 2)],
            {("u1", "A3", "g1"): "ACTIVE", ("u1", "E3", "g2"): MUTEX},
            id="the later group path errors",
        ),
        pytest.param(
            [via("g1", "u1", "A3", 2), via("g2", "u1", "E3", 1)],
            {("u1", "A3", "g1"): MUTEX, ("u1", "E3", "g2"): "ACTIVE"},
            id="R4 order decides, not the product",
        ),
        pytest.param(
            [direct("u1", "YAMMER", 1), via("g", "u1", "A3", 2)],
            {("u1", "YAMMER", None): "ACTIVE", ("u1", "A3", "g"): MUTEX},
            id="direct and group paths alike",
        ),
        pytest.param(
            [via("g1", "u1", "A3", 1), via("g2", "u1", "E3", 2, off=["YAMMER_ENTERPRISE"])],
            {("u1", "A3", "g1"): "ACTIVE", ("u1", "E3", "g2"): "ACTIVE"},
            id="turning the plan off clears the conflict",
        ),
        pytest.param(
            [via("g1", "u1", "E3", 1), via("g2", "u1", "YAMMER", 2)],
            {("u1", "E3", "g1"): "ACTIVE", ("u1", "YAMMER", "g2"): "ACTIVE"},
            id="the same plan twice is no conflict",
        ),
        pytest.param(
            [via("g1", "u1", "YAMMERS", 1)],
            {("u1", "YAMMERS", "g1"): MUTEX},
            id="a path enabling both plans itself",
        ),
        pytest.param(
            [via("g1", "u1", "YAMMERS", 1, off=["YAMMER_EDU"]), via("g2", "u1", "A3", 2)],
            {("u1", "YAMMERS", "g1"): "ACTIVE", ("u1", "A3", "g2"): MUTEX},
            id="only enabled plans count",
        ),
        pytest.param(
            [via("g1", "u1", "A3", 1), via("g2", "u1", "E3", 2), via("g3", "u1", "A3", 3)],
            {("u1", "A3", "g1"): "ACTIVE", ("u1", "E3", "g2"): MUTEX, ("u1", "A3", "g3"): "ACTIVE"},
            id="judged against accepted paths only",
        ),
    ],
)
def test_r6_the_later_path_goes_to_error(paths: list, expected: dict) -> None:
    assert outcome(run([user("u1")], paths)) == expected


def test_r6_only_paths_that_passed_the_location_check_count() -> None:
    # The earlier direct A3 needs the user's own location; the group E3 uses the tenant's.
    paths = [direct("u1", "A3", 1), via("g", "u1", "E3", 2)]
    result = run([user("u1", location=None)], paths, default_location="NO")
    assert outcome(result) == {("u1", "A3", None): "USAGE_LOCATION_REQUIRED", ("u1", "E3", "g"): "ACTIVE"}


def test_r6_conflicts_do_not_depend_on_seats() -> None:
    # g1's A3 has no seat, yet it came first: E3 still errors (judged before seats, D15).
    paths = [via("g1", "u1", "A3", 1), via("g2", "u1", "E3", 2)]
    result = run([user("u1")], paths, {"A3": 0})
    assert outcome(result) == {("u1", "A3", "g1"): "COUNT_VIOLATION", ("u1", "E3", "g2"): MUTEX}


def test_r6_message_names_both_plans_and_products_and_the_fix() -> None:
    result = run([user("u1")], [via("g1", "u1", "A3", 1), via("g2", "u1", "E3", 2)])
    state = result.path("u1", "E3", "g2")
    assert state is not None and state.error is ErrorCode.MUTUALLY_EXCLUSIVE_VIOLATION
    assert state.detail == ExclusivityConflict("YAMMER_ENTERPRISE", "YAMMER_EDU", "A3", "g1")
    assert state.message is not None
    for part in ("YAMMER_ENTERPRISE", "YAMMER_EDU", "Product E3", "Product A3", "turn one of them off"):
        assert part in state.message


def test_d14_an_active_path_keeps_its_plans_against_an_earlier_newcomer() -> None:
    # E3 is ACTIVE (holds); a new A3 path with an earlier place in line must not knock it out.
    paths = [via("g2", "u1", "E3", 5, holds=True), via("g1", "u1", "A3", 1)]
    result = run([user("u1")], paths)
    assert outcome(result) == {("u1", "E3", "g2"): "ACTIVE", ("u1", "A3", "g1"): MUTEX}


def test_d14_a_location_fix_does_not_knock_out_an_active_path() -> None:
    # A3 (earlier) was waiting for a location; once it passes, the ACTIVE E3 keeps its plans.
    paths = [direct("u1", "A3", 1), via("g", "u1", "E3", 2, holds=True)]
    result = run([user("u1", location="NO")], paths)
    assert outcome(result) == {("u1", "A3", None): MUTEX, ("u1", "E3", "g"): "ACTIVE"}


def test_d18_an_edit_that_creates_a_conflict_errors_the_edited_path() -> None:
    # g1's E3 used to have YAMMER_ENTERPRISE off; the edit turns it on while A3 is ACTIVE.
    paths = [via("g1", "u1", "E3", 1, holds=True, edited=True), via("g2", "u1", "A3", 2, holds=True)]
    result = run([user("u1")], paths)
    assert outcome(result) == {("u1", "E3", "g1"): MUTEX, ("u1", "A3", "g2"): "ACTIVE"}
    change = result.seat_changes["E3"]
    assert change.released == 1
