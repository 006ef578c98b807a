"""R8 (usage location) and R9 (each user × product × path judged on its own)."""

from __future__ import annotations

import pytest
from engine_kit import direct, outcome, run, user, via

from engine import ErrorCode, LocationProblem

REQUIRED = "USAGE_LOCATION_REQUIRED"
PROHIBITED = "PROHIBITED_IN_USAGE_LOCATION_VIOLATION"


@pytest.mark.parametrize(
    ("is_direct", "user_location", "tenant_default", "product", "expected"),
    [
        (True, "NO", None, "E3", "ACTIVE"),
        (True, None, "NO", "E3", REQUIRED),
        (False, None, "NO", "E3", "ACTIVE"),
        (False, None, None, "E3", REQUIRED),
        (True, "CN", None, "RESTRICTED", PROHIBITED),
        (False, None, "CN", "RESTRICTED", PROHIBITED),
        (False, "NO", "CN", "RESTRICTED", "ACTIVE"),
        (False, "cn", None, "RESTRICTED", PROHIBITED),
        (True, "CN", None, "E3", "ACTIVE"),
    ],
)
def test_r8_usage_location(
    is_direct: bool, user_location: str | None, tenant_default: str | None, product: str, expected: str
) -> None:
    path = direct("u1", product) if is_direct else via("g", "u1", product)
    result = run([user("u1", location=user_location)], [path], default_location=tenant_default)
    assert outcome(result) == {path.key: expected}


def test_r8_location_errors_take_no_seat() -> None:
    result = run(
        [user("u1", location=None), user("u2")], [direct("u1", "E3", 1), via("g", "u2", "E3", 2)], {"E3": 1}
    )
    assert outcome(result) == {("u1", "E3", None): REQUIRED, ("u2", "E3", "g"): "ACTIVE"}


def test_r8_messages_say_what_to_do() -> None:
    result = run(
        [user("u1", location=None), user("u2", location="RU")],
        [direct("u1", "E3"), via("g", "u1", "BASIC"), via("g", "u2", "RESTRICTED")],
    )
    direct_state = result.path("u1", "E3", None)
    group_state = result.path("u1", "BASIC", "g")
    banned = result.path("u2", "RESTRICTED", "g")
    assert direct_state is not None and direct_state.message is not None
    assert "set one before assigning Product E3" in direct_state.message
    assert group_state is not None and group_state.message is not None
    assert "tenant's default" in group_state.message
    assert banned is not None and banned.error is ErrorCode.PROHIBITED_IN_USAGE_LOCATION_VIOLATION
    assert banned.detail == LocationProblem("RU")
    assert banned.message is not None and "usage location RU" in banned.message


def test_r9_an_error_on_one_product_does_not_block_the_groups_others() -> None:
    paths = [via("g", "u1", "EXO1", 1), via("g", "u1", "BASIC", 1), via("g", "u1", "RESTRICTED", 1)]
    result = run([user("u1", location="CN")], paths, {"EXO1": 0})
    assert outcome(result) == {
        ("u1", "EXO1", "g"): "COUNT_VIOLATION",
        ("u1", "BASIC", "g"): "ACTIVE",
        ("u1", "RESTRICTED", "g"): PROHIBITED,
    }


def test_r9_errors_never_lose_intent() -> None:
    # Every path comes back with a state, ACTIVE or not; it turns ACTIVE when the cause goes.
    paths = [via("g", "u1", "RESTRICTED"), direct("u1", "E3")]
    blocked = run([user("u1", location=None)], paths)
    assert {state.key for state in blocked.paths} == {path.key for path in paths}
    assert all(not state.is_active for state in blocked.paths)
    fixed = run([user("u1", location="NO")], paths)
    assert all(state.is_active for state in fixed.paths)
