"""Screening for the set-based group path (db.repo.group_batch): which path shapes need the engine's
cross-path rules — R7 prerequisites a path does not enable itself, R6 conflicts within one path
or between two, R8 location prohibitions — and which are decided by location and seats alone."""

from __future__ import annotations

import pytest
from engine_kit import CATALOG, RULES, plan

from engine.screening import Screen, rule_products, screen


def shape(product_id: str, *off: str) -> tuple[str, frozenset[str]]:
    return (product_id, frozenset(plan(name) for name in off))


@pytest.mark.parametrize(
    ("shapes", "expected"),
    [
        pytest.param([shape("BASIC")], Screen(frozenset(), frozenset()), id="no rule plan at all"),
        pytest.param([shape("E5")], Screen(frozenset(), frozenset()), id="R7 prerequisite enabled by the path itself"),
        pytest.param([shape("E5", "MCOSTANDARD")], Screen(frozenset({0}), frozenset()), id="R7 prerequisite turned off"),
        pytest.param([shape("AUDIO")], Screen(frozenset({0}), frozenset()), id="R7 prerequisite from another product"),
        pytest.param(
            [shape("E5", "MCOMEETADV", "MCOSTANDARD")], Screen(frozenset(), frozenset()), id="R7 dependent plan turned off too"
        ),
        pytest.param([shape("YAMMERS")], Screen(frozenset({0}), frozenset()), id="R6 both exclusive plans in one path"),
        pytest.param([shape("E3"), shape("A3")], Screen(frozenset(), frozenset({(0, 1)})), id="R6 exclusive plans in two shapes"),
        pytest.param(
            [shape("E3"), shape("A3", "YAMMER_EDU")], Screen(frozenset(), frozenset()), id="R6 the exclusive plan turned off"
        ),
        pytest.param([shape("E3"), shape("E5")], Screen(frozenset(), frozenset()), id="R6 the same plan twice is no conflict"),
        pytest.param([shape("RESTRICTED")], Screen(frozenset({0}), frozenset()), id="R8 product prohibited in some location"),
    ],
)
def test_screening_names_the_shapes_that_need_the_engine(shapes: list[tuple[str, frozenset[str]]], expected: Screen) -> None:
    result = screen(CATALOG, RULES, shapes)
    assert result == expected
    assert result.clear == (not expected.alone and not expected.pairs)


def test_rule_products_are_those_with_a_rule_plan_or_a_prohibition() -> None:
    assert rule_products(CATALOG, RULES, ["BASIC", "E3", "EXO1", "RESTRICTED", "WA"]) == frozenset({"E3", "EXO1", "RESTRICTED", "WA"})


@pytest.mark.parametrize(
    ("staged", "expected"),
    [
        pytest.param(
            ["E5"], {"A3", "YAMMERS", "WA", "AUDIO"},
            id="R6 Yammer for Academic; R7 Workplace Analytics and Audio Conferencing need E5 plans",
        ),
        pytest.param(["EXO1"], {"WA"}, id="R7 Workplace Analytics needs Exchange Plan 1"),
        pytest.param(["SKYPE"], {"AUDIO", "E5"}, id="R7 Audio Conferencing needs Skype Plan 2 (E5 too)"),
        pytest.param(["BASIC"], set(), id="no rule plan: nothing linked"),
    ],
)
def test_linked_products_are_those_a_rule_ties_to_the_staged_ones(staged: list[str], expected: set[str]) -> None:
    from engine.screening import linked_products

    assert linked_products(CATALOG, RULES, staged) == frozenset(expected)
