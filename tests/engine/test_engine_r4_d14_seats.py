"""R4 (seats in queue order, ties by user creation order), D2, D14 (incumbency), R15 overage."""

from __future__ import annotations

import pytest
from engine_kit import CATALOG, RULES, direct, outcome, run, user, via

from engine import ErrorCode, evaluate


@pytest.mark.parametrize(
    ("members", "seats", "seated"),
    [
        pytest.param([("u1", 3, 1), ("u2", 1, 2), ("u3", 2, 3)], 2, {"u2", "u3"}, id="earliest places first"),
        pytest.param(
            [("u1", 1, 5), ("u2", 1, 2), ("u3", 1, 9)], 2, {"u2", "u1"}, id="ties by creation order"
        ),
        pytest.param([("u1", 1, 1), ("u2", 2, 2)], 0, set(), id="no seat free"),
        pytest.param([("u1", 1, 1), ("u2", 2, 2)], 5, {"u1", "u2"}, id="enough for all"),
        pytest.param([("u1", 1, 1), ("u2", 2, 2)], -2, set(), id="over-assigned product gives none"),
    ],
)
def test_r4_seats_go_in_queue_order(
    members: list[tuple[str, int, int]], seats: int, seated: set[str]
) -> None:
    users = [user(user_id, created=created) for user_id, _, created in members]
    paths = [via("g", user_id, "E3", seq) for user_id, seq, _ in members]
    result = run(users, paths, {"E3": seats})
    states = outcome(result)
    assert {key[0] for key, state in states.items() if state == "ACTIVE"} == seated
    assert {key[0] for key, state in states.items() if state == "COUNT_VIOLATION"} == {
        m[0] for m in members
    } - seated
    assert result.seat_changes["E3"].acquired == len(seated)


def test_r4_a_users_place_is_its_earliest_path() -> None:
    users = [user("u1"), user("u2")]
    paths = [via("g1", "u1", "E3", 10), via("g2", "u1", "E3", 1), via("g1", "u2", "E3", 5)]
    result = run(users, paths, {"E3": 1})
    assert outcome(result) == {
        ("u1", "E3", "g1"): "ACTIVE",
        ("u1", "E3", "g2"): "ACTIVE",
        ("u2", "E3", "g1"): "COUNT_VIOLATION",
    }


def test_r4_group_path_without_a_seat_explains_what_to_do() -> None:
    result = run([user("u1")], [via("g", "u1", "E3")], {"E3": 0})
    state = result.path("u1", "E3", "g")
    assert state is not None and state.error is ErrorCode.COUNT_VIOLATION
    assert state.message is not None and "buy more or unassign" in state.message


def test_d14_a_holder_keeps_its_seat_against_an_earlier_place_in_line() -> None:
    users = [user("u1"), user("u2")]
    paths = [via("g", "u1", "E3", 9, holds=True), via("g", "u2", "E3", 1)]
    result = run(users, paths, {"E3": 0})
    assert outcome(result) == {("u1", "E3", "g"): "ACTIVE", ("u2", "E3", "g"): "COUNT_VIOLATION"}
    assert result.seat_changes["E3"].consumed_delta == 0


def test_d14_holders_keep_seats_when_the_product_is_over_assigned() -> None:
    users = [user("u1"), user("u2"), user("u3")]
    paths = [
        via("g", "u1", "E3", 1, holds=True),
        via("g", "u2", "E3", 2, holds=True),
        via("g", "u3", "E3", 3),
    ]
    result = run(users, paths, {"E3": -1})
    assert [state.state.value for state in result.paths] == ["ACTIVE", "ACTIVE", "ERROR"]


def test_d14_a_holder_whose_own_path_errors_frees_the_seat_for_the_next_in_line() -> None:
    # u1 loses its usage location: its direct path errors and its seat goes to u2.
    users = [user("u1", location=None), user("u2"), user("u3")]
    paths = [direct("u1", "E3", 1, holds=True), via("g", "u2", "E3", 2), via("g", "u3", "E3", 3)]
    result = run(users, paths, {"E3": 0})
    assert outcome(result) == {
        ("u1", "E3", None): "USAGE_LOCATION_REQUIRED",
        ("u2", "E3", "g"): "ACTIVE",
        ("u3", "E3", "g"): "COUNT_VIOLATION",
    }
    change = result.seat_changes["E3"]
    assert (change.acquired, change.released, change.consumed_delta, change.available_after) == (1, 1, 0, 0)


def test_d14_a_holder_whose_paths_all_ended_frees_its_seat() -> None:
    # u1's only path to E3 was removed; the caller names u1 as a holder so the seat is released.
    users = [user("u1"), user("u2")]
    result = evaluate(users, [via("g", "u2", "E3", 2)], CATALOG, RULES, {"E3": 0}, None, [("u1", "E3")])
    assert outcome(result) == {("u2", "E3", "g"): "ACTIVE"}
    change = result.seat_changes["E3"]
    assert (change.acquired, change.released, change.consumed_delta) == (1, 1, 0)
    license_ = result.license("u1", "E3")
    assert license_ is not None and not license_.holds_seat


@pytest.mark.parametrize(
    ("available", "holders", "newcomers", "acquired", "released"),
    [
        (0, 2, 2, 0, 0),
        (1, 2, 2, 1, 0),
        (3, 0, 2, 2, 0),
        (-3, 1, 1, 0, 0),
    ],
)
def test_d14_seat_changes_count_new_holders_only(
    available: int, holders: int, newcomers: int, acquired: int, released: int
) -> None:
    users = [user(f"u{i}") for i in range(holders + newcomers)]
    paths = [via("g", f"u{i}", "E3", i, holds=i < holders) for i in range(holders + newcomers)]
    change = run(users, paths, {"E3": available}).seat_changes["E3"]
    assert (change.acquired, change.released) == (acquired, released)
    assert change.available_after == available - acquired + released
