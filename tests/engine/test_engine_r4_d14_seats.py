"""R4 (seats in queue order, ties by user creation order), D2, D14 (incumbency), R15 overage."""

from __future__ import annotations

import pytest
from engine_kit import CATALOG, RULES, direct, outcome, run, user, via

from engine import ErrorCode, PathFacts, evaluate


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


def _holder_whose_prerequisite_comes_back() -> list[PathFacts]:
    """u1 holds E5 (MCOSTANDARD off) and AUDIO; both need MCOSTANDARD (R7), which only A3 can
    give, and A3's YAMMER_EDU excludes E5's YAMMER_ENTERPRISE (R6). u2 loses its usage location,
    which frees an A3 seat for u1 (u0, without one either, cannot take it). u3 (with SKYPE)
    waits for AUDIO, u4 for E5."""
    return [
        via("g1", "u1", "E5", 0, holds=True, off=["MCOSTANDARD"]),
        direct("u1", "AUDIO", 2, holds=True),
        via("g2", "u1", "AUDIO", 6),
        direct("u1", "A3", 0),
        via("g2", "u1", "A3", 0),
        via("g1", "u2", "A3", 4, holds=True),
        via("g2", "u0", "A3", 5),
        via("g3", "u3", "AUDIO", 1),
        direct("u3", "SKYPE", 1, holds=True),
        via("g3", "u4", "E5", 1),
    ]


@pytest.mark.parametrize(
    ("audio_seats", "e5_seats"),
    [
        pytest.param(-1, 0, id="over-assigned pool: the seat given up would only shrink the overage"),
        pytest.param(0, 0, id="the seat given up would go to the next in line"),
    ],
)
def test_d14_a_holder_keeps_its_seat_when_its_prerequisite_comes_from_the_exclusive_rival(
    audio_seats: int, e5_seats: int
) -> None:
    # Judged with u1's holders first, E5 wins R6 against A3, then E5 and AUDIO fail R7 (no
    # MCOSTANDARD). That is not a fixed point (D14: evaluating the result again must reproduce
    # it): without those holders A3 wins (R4 order), E5 errs, and A3 gives AUDIO its
    # prerequisite. AUDIO's own paths then have no cause of error, so its holder keeps the seat
    # (D14) — never COUNT_VIOLATION, whatever the pool's overage or the line behind it.
    users = [user("u0", location=None), user("u1"), user("u2", location=None), user("u3"), user("u4")]
    paths = _holder_whose_prerequisite_comes_back()
    result = run(users, paths, {"AUDIO": audio_seats, "A3": 0, "E5": e5_seats})
    assert outcome(result) == {
        ("u0", "A3", "g2"): "USAGE_LOCATION_REQUIRED",
        ("u1", "A3", None): "ACTIVE",
        ("u1", "A3", "g2"): "ACTIVE",
        ("u1", "AUDIO", None): "ACTIVE",
        ("u1", "AUDIO", "g2"): "ACTIVE",
        ("u1", "E5", "g1"): "MUTUALLY_EXCLUSIVE_VIOLATION",
        ("u2", "A3", "g1"): "USAGE_LOCATION_REQUIRED",
        ("u3", "AUDIO", "g3"): "COUNT_VIOLATION",
        ("u3", "SKYPE", None): "ACTIVE",
        # E5's own paths err, so its seat does go to the next in line (D14)
        ("u4", "E5", "g3"): "ACTIVE",
    }
    audio, a3, e5 = (result.seat_changes[p] for p in ("AUDIO", "A3", "E5"))
    assert (audio.acquired, audio.released, audio.available_after) == (0, 0, audio_seats)
    assert (a3.acquired, a3.released, a3.available_after) == (1, 1, 0)
    assert (e5.acquired, e5.released, e5.available_after) == (1, 1, e5_seats)


def test_d14_a_seat_given_up_goes_first_where_it_lets_another_holder_keep_its_own() -> None:
    # u0 cannot get SKYPE (u1 is ahead), so its E5 (MCOSTANDARD off) fails R7, and so does its
    # WA (Exchange only from that E5): both seats are given up. u2 holds WA and waits for E5,
    # which is its Exchange: judged in one go, u2's WA loses its place before u0's E5 seat
    # reaches u2, and the WA seat would go to u5. D14: u2's WA has no cause of error once u2
    # has E5, so it keeps its seat; the WA seat u0 gives up only cancels the overage.
    users = [user("u0"), user("u1"), user("u2"), user("u3"), user("u5", created=1)]
    paths = [
        direct("u0", "WA", 3, holds=True),
        direct("u0", "SKYPE", 5, edited=True),
        via("g1", "u0", "E5", 6, holds=True, off=["MCOSTANDARD", "YAMMER_ENTERPRISE"], edited=True),
        via("g1", "u1", "SKYPE", 3, edited=True),
        via("g2", "u2", "E5", 4),
        via("g1", "u2", "WA", 6, holds=True),
        via("g2", "u3", "E5", 0, off=["TEAMS1"]),
        via("g2", "u5", "E5", 4),
        via("g3", "u5", "WA", 6),
    ]
    result = run(users, paths, {"E5": 2, "SKYPE": 1, "WA": -1})
    assert outcome(result) == {
        ("u0", "E5", "g1"): "DEPENDENCY_VIOLATION",
        ("u0", "SKYPE", None): "COUNT_VIOLATION",
        ("u0", "WA", None): "DEPENDENCY_VIOLATION",
        ("u1", "SKYPE", "g1"): "ACTIVE",
        ("u2", "E5", "g2"): "ACTIVE",
        ("u2", "WA", "g1"): "ACTIVE",
        ("u3", "E5", "g2"): "ACTIVE",
        ("u5", "E5", "g2"): "ACTIVE",
        ("u5", "WA", "g3"): "COUNT_VIOLATION",
    }
    wa = result.seat_changes["WA"]
    assert (wa.acquired, wa.released, wa.available_after) == (0, 1, 0)


def test_d14_a_seat_its_holder_cannot_keep_for_its_location_goes_to_the_line() -> None:
    # u3 and u4 are judged again (R6 between their A3 and E3 paths); u3's direct A3 and u4's
    # direct E5 fail R8 whatever else is decided, so their seats are not set aside for them:
    # they go to the next in line (no seat stays free while someone waits, R4).
    users = [user("u3", location=None), user("u4", location=None)]
    paths = [
        direct("u3", "A3", 3, holds=True, off=["MCOSTANDARD", "YAMMER_EDU"]),
        via("g2", "u3", "E5", 0, off=["EXCHANGE_S_ENTERPRISE", "MCOSTANDARD", "TEAMS1"], edited=True),
        via("g3", "u3", "E3", 1, holds=True),
        direct("u4", "E5", 5, holds=True),
        via("g1", "u4", "A3", 0),
        via("g1", "u4", "E3", 1, off=["MCOSTANDARD"]),
    ]
    result = run(users, paths, {"A3": 0, "E3": 1, "E5": 0}, default_location="CN")
    assert outcome(result) == {
        ("u3", "A3", None): "USAGE_LOCATION_REQUIRED",
        ("u3", "E3", "g3"): "ACTIVE",
        ("u3", "E5", "g2"): "ACTIVE",
        ("u4", "A3", "g1"): "ACTIVE",
        ("u4", "E3", "g1"): "MUTUALLY_EXCLUSIVE_VIOLATION",
        ("u4", "E5", None): "USAGE_LOCATION_REQUIRED",
    }
    for product_id in ("A3", "E5"):
        change = result.seat_changes[product_id]
        assert (change.acquired, change.released, change.available_after) == (1, 1, 0)
