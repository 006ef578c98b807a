"""The service-plan rules file (R6, R7, R8) and usage-location codes (D8)."""

from __future__ import annotations

import pytest
from engine_kit import REAL_RULES_CSV

from engine import (
    COUNTRY_CODES,
    LocationProhibition,
    MutualExclusion,
    Requirement,
    normalize_usage_location,
    parse_rules_csv,
)


def test_r6_r7_the_shipped_rules_file_parses() -> None:
    rules = parse_rules_csv(REAL_RULES_CSV)
    assert [(rule.plan, rule.other) for rule in rules.exclusions] == [("YAMMER_ENTERPRISE", "YAMMER_EDU")]
    assert rules.exclusive_with == {"YAMMER_ENTERPRISE": {"YAMMER_EDU"}, "YAMMER_EDU": {"YAMMER_ENTERPRISE"}}
    assert rules.required_by == {
        "WORKPLACE_ANALYTICS": (frozenset({"EXCHANGE_S_STANDARD", "EXCHANGE_S_ENTERPRISE"}),),
        "MCOMEETADV": (frozenset({"MCOSTANDARD"}),),
    }
    assert rules.prohibitions == ()
    assert rules.requirements[0].note.startswith("Workplace Analytics needs")


def test_r8_prohibited_location_rows() -> None:
    text = REAL_RULES_CSV + "prohibited_location,SPE_E5,cn  ru,export\nprohibited_location,SPE_E5,IR\n"
    rules = parse_rules_csv(text)
    assert rules.prohibitions[0] == LocationProhibition("SPE_E5", frozenset({"CN", "RU"}), "export")
    assert rules.prohibited_in("SPE_E5") == {"CN", "RU", "IR"}
    assert rules.prohibited_in("SPE_E3") == frozenset()


def test_r7_several_rows_for_one_plan_are_all_required() -> None:
    text = "rule,service_plan,other_service_plans,note\nrequires_any,A,B C,\n\nrequires_any,A,D,\n"
    rules = parse_rules_csv(text)
    assert rules.requirements == (Requirement("A", frozenset({"B", "C"})), Requirement("A", frozenset({"D"})))
    assert rules.required_by["A"] == (frozenset({"B", "C"}), frozenset({"D"}))


def test_r6_one_row_may_exclude_several_plans() -> None:
    rules = parse_rules_csv("rule,service_plan,other_service_plans,note\nmutually_exclusive,A,B C,x\n")
    assert rules.exclusions == (MutualExclusion("A", "B", "x"), MutualExclusion("A", "C", "x"))
    assert rules.exclusive_with["B"] == {"A"}


HEADER = "rule,service_plan,other_service_plans,note\n"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "line 1: expected the header"),
        ("rule,plan\n", "line 1: expected the header"),
        (HEADER + "requires_any,A,B\nexcludes,A,B,\n", "line 3: unknown rule 'excludes'"),
        (HEADER + "requires_any,,B,\n", "line 2: service_plan is empty"),
        (HEADER + "requires_any,A,,\n", "line 2: other_service_plans is empty"),
        (HEADER + "mutually_exclusive,A,A,\n", "line 2: A cannot name itself"),
        (HEADER + "requires_any,A,B,note,extra\n", "line 2: expected 3 or 4 columns"),
        (HEADER + "requires_any,A\n", "line 2: expected 3 or 4 columns"),
        (HEADER + "\n\nprohibited_location,SPE_E5,NO NOR,\n", "line 4: 'NOR' is not a usage location"),
    ],
)
def test_rules_file_bad_rows_name_their_line(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_rules_csv(text)


def test_rules_file_may_start_with_a_byte_order_mark() -> None:
    assert parse_rules_csv("\ufeff" + REAL_RULES_CSV).exclusions


def test_d8_all_249_officially_assigned_codes() -> None:
    assert len(COUNTRY_CODES) == 249
    assert {"NO", "US", "GB", "AX", "SS", "XK"} & COUNTRY_CODES == {"NO", "US", "GB", "AX", "SS"}
    assert all(len(code) == 2 and code.isupper() for code in COUNTRY_CODES)


@pytest.mark.parametrize(("value", "expected"), [("NO", "NO"), ("no", "NO"), (" us ", "US"), ("Gb", "GB")])
def test_d8_usage_locations_are_case_insensitive_and_upper_case_out(value: str, expected: str) -> None:
    assert normalize_usage_location(value) == expected


@pytest.mark.parametrize("value", ["JJ", "NOR", "Norway", "", "UK", "EU", "N0"])
def test_d8_unknown_usage_locations_are_refused(value: str) -> None:
    with pytest.raises(ValueError, match="ISO 3166-1 alpha-2"):
        normalize_usage_location(value)
