"""D15: one error per path with its precedence, the request served first, input checks."""

from __future__ import annotations

import pytest
from engine_kit import CATALOG, RULES, direct, outcome, run, user, via

from engine import FRONT_OF_QUEUE, ErrorCode, UserFacts, evaluate


def test_d15_precedence_order() -> None:
    assert [code.value for code in ErrorCode] == [
        "USAGE_LOCATION_REQUIRED",
        "PROHIBITED_IN_USAGE_LOCATION_VIOLATION",
        "MUTUALLY_EXCLUSIVE_VIOLATION",
        "DEPENDENCY_VIOLATION",
        "COUNT_VIOLATION",
    ]
    assert sorted(ErrorCode, key=lambda code: code.precedence) == list(ErrorCode)


@pytest.mark.parametrize(
    ("location", "paths", "seats", "key", "expected"),
    [
        pytest.param(
            None,
            [direct("u1", "WA")],
            {"WA": 0},
            ("u1", "WA", None),
            "USAGE_LOCATION_REQUIRED",
            id="location first",
        ),
        pytest.param(
            "CN",
            [direct("u1", "RESTRICTED")],
            {"RESTRICTED": 0},
            ("u1", "RESTRICTED", None),
            "PROHIBITED_IN_USAGE_LOCATION_VIOLATION",
            id="prohibited before count",
        ),
        pytest.param(
            "NO",
            [via("g1", "u1", "A3", 1), via("g2", "u1", "E5", 2, off=["MCOSTANDARD", "TEAMS1"])],
            {"E5": 0},
            ("u1", "E5", "g2"),
            "MUTUALLY_EXCLUSIVE_VIOLATION",
            id="exclusivity before dependency and count",
        ),
        pytest.param(
            "NO",
            [via("g", "u1", "WA")],
            {"WA": 0},
            ("u1", "WA", "g"),
            "DEPENDENCY_VIOLATION",
            id="dependency before count",
        ),
    ],
)
def test_d15_one_error_per_path_the_first_that_applies(
    location: str | None, paths: list, seats: dict, key: tuple, expected: str
) -> None:
    assert outcome(run([user("u1", location=location)], paths, seats))[key] == expected


def test_d15_a_direct_requests_own_adds_are_served_before_the_waiting_queue() -> None:
    users = [user("u1"), user("u2")]
    paths = [via("g", "u1", "E3", 1), direct("u2", "E3", FRONT_OF_QUEUE)]
    result = run(users, paths, {"E3": 1})
    assert outcome(result) == {("u1", "E3", "g"): "COUNT_VIOLATION", ("u2", "E3", None): "ACTIVE"}


def test_d15_paths_are_listed_by_user_product_direct_first() -> None:
    users = [user("u2"), user("u1")]
    paths = [via("gb", "u2", "E3"), direct("u2", "E3"), via("ga", "u2", "E3"), via("g", "u1", "BASIC")]
    keys = [state.key for state in run(users, paths).paths]
    assert keys == [("u1", "BASIC", "g"), ("u2", "E3", None), ("u2", "E3", "ga"), ("u2", "E3", "gb")]


@pytest.mark.parametrize(
    ("users", "paths", "holders", "message"),
    [
        ([user("u1"), user("u1")], [], (), "listed twice"),
        ([user("u1")], [via("g", "u9", "E3")], (), "not in the batch"),
        ([user("u1")], [via("g", "u1", "E3"), via("g", "u1", "E3")], (), "listed twice"),
        ([user("u1")], [via("g", "u1", "NOPE")], (), "unknown product"),
        ([user("u1")], [], [("u9", "E3")], "not in the batch"),
    ],
)
def test_d15_inconsistent_facts_are_rejected(
    users: list[UserFacts], paths: list, holders: list, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        evaluate(users, paths, CATALOG, RULES, {}, None, holders)


def test_d15_a_missing_product_in_available_units_means_no_free_seat() -> None:
    result = evaluate([user("u1")], [via("g", "u1", "E3")], CATALOG, RULES, {}, None)
    assert outcome(result) == {("u1", "E3", "g"): "COUNT_VIOLATION"}
