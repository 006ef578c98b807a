"""R1 (one seat per user per product) and R5 (enabled plans are a union over ACTIVE paths)."""

from __future__ import annotations

import pytest
from engine_kit import CATALOG, PRODUCTS, direct, enabled_names, outcome, plan, run, user, via

E3_PLANS = {"EXCHANGE_S_ENTERPRISE", "MCOSTANDARD", "YAMMER_ENTERPRISE", "SHAREPOINTSTANDARD"}


def test_r1_direct_and_three_groups_take_one_seat() -> None:
    paths = [
        direct("u1", "E3", 4),
        via("g1", "u1", "E3", 1),
        via("g2", "u1", "E3", 2),
        via("g3", "u1", "E3", 3),
    ]
    result = run([user("u1")], paths, {"E3": 1})
    assert set(outcome(result).values()) == {"ACTIVE"}
    assert result.seat_changes["E3"].acquired == 1
    assert result.seat_changes["E3"].available_after == 0
    license_ = result.license("u1", "E3")
    assert license_ is not None and license_.holds_seat


def test_r1_a_holder_needs_no_new_seat_for_another_path() -> None:
    paths = [via("g1", "u1", "E3", 1, holds=True), via("g2", "u1", "E3", 2)]
    result = run([user("u1")], paths, {"E3": 0})
    assert outcome(result) == {("u1", "E3", "g1"): "ACTIVE", ("u1", "E3", "g2"): "ACTIVE"}
    assert result.seat_changes["E3"].consumed_delta == 0


def test_r1_each_product_needs_its_own_seat() -> None:
    result = run([user("u1")], [via("g", "u1", "E3"), via("g", "u1", "BASIC")], {"E3": 1, "BASIC": 0})
    assert outcome(result) == {("u1", "E3", "g"): "ACTIVE", ("u1", "BASIC", "g"): "COUNT_VIOLATION"}


@pytest.mark.parametrize(
    ("paths", "expected"),
    [
        pytest.param([via("g1", "u1", "E3")], E3_PLANS, id="one path, nothing off"),
        pytest.param(
            [via("g1", "u1", "E3", off=["SHAREPOINTSTANDARD"])],
            E3_PLANS - {"SHAREPOINTSTANDARD"},
            id="one path turns a plan off",
        ),
        pytest.param(
            [via("g1", "u1", "E3", off=["SHAREPOINTSTANDARD"]), direct("u1", "E3")],
            E3_PLANS,
            id="off in a group, on directly",
        ),
        pytest.param(
            [via("g1", "u1", "E3", off=["SHAREPOINTSTANDARD"]), via("g2", "u1", "E3", off=["MCOSTANDARD"])],
            E3_PLANS,
            id="each group turns a different plan off",
        ),
        pytest.param(
            [
                via("g1", "u1", "E3", off=["SHAREPOINTSTANDARD"]),
                via("g2", "u1", "E3", off=["SHAREPOINTSTANDARD"]),
            ],
            E3_PLANS - {"SHAREPOINTSTANDARD"},
            id="every path turns it off",
        ),
    ],
)
def test_r5_enabled_plans_are_the_union_over_active_paths(paths: list, expected: set[str]) -> None:
    result = run([user("u1")], paths)
    assert enabled_names(result, "u1", "E3") == expected
    license_ = result.license("u1", "E3")
    assert license_ is not None
    assert license_.disabled_plan_ids == PRODUCTS["E3"].plan_ids - license_.enabled_plan_ids


def test_r5_a_path_in_error_adds_no_plans() -> None:
    # g2 would switch YAMMER_ENTERPRISE on, which clashes with the user's earlier A3 (R6).
    paths = [
        via("g0", "u1", "A3", 1),
        via("g1", "u1", "E3", 2, off=["YAMMER_ENTERPRISE"]),
        via("g2", "u1", "E3", 3),
    ]
    result = run([user("u1")], paths)
    assert outcome(result)[("u1", "E3", "g2")] == "MUTUALLY_EXCLUSIVE_VIOLATION"
    assert enabled_names(result, "u1", "E3") == E3_PLANS - {"YAMMER_ENTERPRISE"}


def test_r5_no_active_path_means_no_seat_and_every_plan_disabled() -> None:
    result = run([user("u1")], [via("g", "u1", "E3")], {"E3": 0})
    license_ = result.license("u1", "E3")
    assert license_ is not None
    assert not license_.holds_seat
    assert license_.enabled_plan_ids == frozenset()
    assert license_.disabled_plan_ids == PRODUCTS["E3"].plan_ids


def test_r5_plans_the_catalog_does_not_name_are_kept_by_id() -> None:
    assert CATALOG.plan_name(plan("TEAMS1")) == "TEAMS1"
    assert CATALOG.plan_name("unknown-plan") == "unknown-plan"
