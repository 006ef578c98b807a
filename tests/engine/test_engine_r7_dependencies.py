"""R7: WORKPLACE_ANALYTICS needs EXCHANGE_S_STANDARD or EXCHANGE_S_ENTERPRISE; MCOMEETADV needs
MCOSTANDARD — across products, against ACTIVE paths, with seats handed out again (D15)."""

from __future__ import annotations

import pytest
from engine_kit import as_holders, direct, outcome, run, user, via

from engine import ErrorCode, MissingPrerequisite

DEP = "DEPENDENCY_VIOLATION"


@pytest.mark.parametrize(
    ("paths", "expected"),
    [
        pytest.param([via("g", "u1", "WA")], {("u1", "WA", "g"): DEP}, id="no prerequisite at all"),
        pytest.param(
            [via("g", "u1", "WA"), via("g", "u1", "EXO1")],
            {("u1", "WA", "g"): "ACTIVE", ("u1", "EXO1", "g"): "ACTIVE"},
            id="Exchange Plan 1 from another product",
        ),
        pytest.param(
            [via("g", "u1", "WA"), direct("u1", "E3")],
            {("u1", "WA", "g"): "ACTIVE", ("u1", "E3", None): "ACTIVE"},
            id="Exchange Plan 2 from a direct path",
        ),
        pytest.param(
            [via("g", "u1", "WA"), direct("u1", "E3", off=["EXCHANGE_S_ENTERPRISE"])],
            {("u1", "WA", "g"): DEP, ("u1", "E3", None): "ACTIVE"},
            id="the prerequisite turned off",
        ),
        pytest.param([via("g", "u1", "E5")], {("u1", "E5", "g"): "ACTIVE"}, id="a product carrying both"),
        pytest.param(
            [via("g", "u1", "E5", off=["MCOSTANDARD"])],
            {("u1", "E5", "g"): DEP},
            id="a product with its own prerequisite off",
        ),
        pytest.param(
            [via("g", "u1", "E5", off=["MCOSTANDARD"]), via("g", "u1", "SKYPE")],
            {("u1", "E5", "g"): "ACTIVE", ("u1", "SKYPE", "g"): "ACTIVE"},
            id="supplied by another product",
        ),
        pytest.param(
            [via("g", "u1", "AUDIO"), via("g", "u1", "E5", off=["MCOSTANDARD"])],
            {("u1", "AUDIO", "g"): DEP, ("u1", "E5", "g"): DEP},
            id="two dependents, no prerequisite",
        ),
        pytest.param(
            [via("g", "u1", "WA"), via("g", "u1", "E5", off=["MCOSTANDARD"])],
            {("u1", "WA", "g"): DEP, ("u1", "E5", "g"): DEP},
            id="losing a provider strands its dependents",
        ),
    ],
)
def test_r7_dependent_plans_need_a_prerequisite_enabled(paths: list, expected: dict) -> None:
    assert outcome(run([user("u1")], paths)) == expected


def test_r7_a_prerequisite_without_a_seat_does_not_count() -> None:
    result = run([user("u1")], [via("g", "u1", "EXO1", 1), via("g", "u1", "WA", 1)], {"EXO1": 0, "WA": 1})
    assert outcome(result) == {("u1", "EXO1", "g"): "COUNT_VIOLATION", ("u1", "WA", "g"): DEP}
    assert result.seat_changes["WA"].acquired == 0


def test_r7_a_path_that_loses_its_place_gives_the_seat_to_the_next_in_line() -> None:
    users = [user("u1"), user("u2")]
    paths = [
        via("g", "u1", "EXO1", 1),  # no Exchange seat for u1 ...
        via("g", "u1", "WA", 1),  # ... so u1's WA loses its place
        via("g", "u2", "E3", 2),
        via("g", "u2", "WA", 2),
    ]
    result = run(users, paths, {"EXO1": 0, "WA": 1})
    assert outcome(result) == {
        ("u1", "EXO1", "g"): "COUNT_VIOLATION",
        ("u1", "WA", "g"): DEP,
        ("u2", "E3", "g"): "ACTIVE",
        ("u2", "WA", "g"): "ACTIVE",
    }


def test_r7_group_driven_loss_errors_the_dependent_and_frees_its_seat() -> None:
    # The member left the group that gave Exchange; the WA path stays recorded, in ERROR.
    result = run([user("u1")], [via("g2", "u1", "WA", 2, holds=True)], {"WA": 0})
    assert outcome(result) == {("u1", "WA", "g2"): DEP}
    assert result.seat_changes["WA"].released == 1


def test_r7_the_dependent_recovers_when_the_prerequisite_returns() -> None:
    paths = [via("g1", "u1", "EXO1", 1), via("g2", "u1", "WA", 2)]
    before = run([user("u1")], paths, {"EXO1": 0, "WA": 1})
    assert outcome(before)[("u1", "WA", "g2")] == DEP
    after = run([user("u1")], as_holders(paths, before), {"EXO1": 1, "WA": 1})
    assert set(outcome(after).values()) == {"ACTIVE"}


def test_r7_message_names_the_dependent_plan_product_and_missing_plans() -> None:
    state = run([user("u1")], [via("g", "u1", "WA")]).path("u1", "WA", "g")
    assert state is not None and state.error is ErrorCode.DEPENDENCY_VIOLATION
    assert state.detail == MissingPrerequisite(
        "WORKPLACE_ANALYTICS", ("EXCHANGE_S_ENTERPRISE", "EXCHANGE_S_STANDARD")
    )
    assert state.message is not None
    for part in ("WORKPLACE_ANALYTICS", "Product WA", "EXCHANGE_S_STANDARD", "EXCHANGE_S_ENTERPRISE"):
        assert part in state.message


def test_r7_a_seat_freed_by_another_loss_lets_a_prerequisite_in() -> None:
    # u0 takes E5's only seat first, but E5 (MCOSTANDARD off) needs SKYPE, which u0 cannot get:
    # u0's E5 loses its place, u1 gets the E5 seat — and then u1's WA has its Exchange.
    users = [user("u0"), user("u1")]
    paths = [
        via("g", "u0", "E5", 1, off=["MCOSTANDARD"]),
        via("g", "u0", "SKYPE", 1),
        via("g", "u1", "E5", 2, off=["MCOSTANDARD"]),
        via("g", "u1", "SKYPE", 2, holds=True),
        via("g", "u1", "WA", 2),
    ]
    result = run(users, paths, {"E5": 1, "SKYPE": 0, "WA": 1})
    assert outcome(result) == {
        ("u0", "E5", "g"): DEP,
        ("u0", "SKYPE", "g"): "COUNT_VIOLATION",
        ("u1", "E5", "g"): "ACTIVE",
        ("u1", "SKYPE", "g"): "ACTIVE",
        ("u1", "WA", "g"): "ACTIVE",
    }
