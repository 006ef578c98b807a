"""D1, D4, D16: a direct change that would newly put any path into ERROR is refused."""

from __future__ import annotations

from engine_kit import CATALOG, as_holders, direct, run, user, via

from engine import FRONT_OF_QUEUE, ErrorCode, Refusal, count_violation_message, direct_refusals, newly_errored


def test_d16_count_violation_once_per_product_with_the_seats_missing() -> None:
    users = [user("u1"), user("u2"), user("u3")]
    before = run(users, [], {"E3": 1})
    after = run(users, [direct(u.user_id, "E3", FRONT_OF_QUEUE) for u in users], {"E3": 1})
    refusals = direct_refusals(before, after, CATALOG, [(u.user_id, "E3") for u in users])
    assert refusals == (
        Refusal(
            ErrorCode.COUNT_VIOLATION,
            "E3",
            None,
            "2 more licenses of Product E3 needed, 1 available: buy more or unassign.",
        ),
    )


def test_d16_count_violation_counts_seats_the_request_frees() -> None:
    # u1 gives E3 up (its path ends; the caller names it as a holder), u2 and u3 ask for it.
    users = [user("u1"), user("u2"), user("u3")]
    before = run(users, [direct("u1", "E3", 1, holds=True)], {"E3": 0})
    requested = [direct("u2", "E3", FRONT_OF_QUEUE), direct("u3", "E3", FRONT_OF_QUEUE)]
    after = run(users, requested, {"E3": 0}, holders=[("u1", "E3")])
    refusals = direct_refusals(before, after, CATALOG, [("u1", "E3"), ("u2", "E3"), ("u3", "E3")])
    assert [(r.code, r.user_id) for r in refusals] == [(ErrorCode.COUNT_VIOLATION, None)]
    assert refusals[0].message == "1 more license of Product E3 needed, 1 available: buy more or unassign."


def test_d16_each_failing_user_product_once_with_its_highest_precedence_code() -> None:
    # u1 already has YAMMER_ENTERPRISE through a group; adding A3 directly clashes (R6).
    users = [user("u1"), user("u2", location=None)]
    existing = [via("g", "u1", "E3", 1, holds=True)]
    before = run(users, existing)
    added = [direct("u1", "A3", FRONT_OF_QUEUE), direct("u2", "A3", FRONT_OF_QUEUE)]
    after = run(users, as_holders(existing, before) + added)
    refusals = direct_refusals(before, after, CATALOG, [("u1", "A3"), ("u2", "A3")])
    assert [(r.code, r.product_id, r.user_id) for r in refusals] == [
        (ErrorCode.MUTUALLY_EXCLUSIVE_VIOLATION, "A3", "u1"),
        (ErrorCode.USAGE_LOCATION_REQUIRED, "A3", "u2"),
    ]
    assert "turn one of them off" in refusals[0].message


def test_d1_unassigning_a_prerequisite_is_refused_on_the_product_in_the_request() -> None:
    paths = [direct("u1", "EXO1", 1, holds=True), via("g", "u1", "WA", 2, holds=True)]
    before = run([user("u1")], paths)
    after = run([user("u1")], [paths[1]])
    refusals = direct_refusals(before, after, CATALOG, [("u1", "EXO1")])
    assert [(r.code, r.product_id, r.user_id) for r in refusals] == [
        (ErrorCode.DEPENDENCY_VIOLATION, "EXO1", "u1")
    ]
    assert "WORKPLACE_ANALYTICS (Product WA)" in refusals[0].message
    assert "Product EXO1" in refusals[0].message


def test_d1_turning_a_prerequisite_off_is_refused() -> None:
    paths = [direct("u1", "E5", 1, holds=True)]
    before = run([user("u1")], paths)
    after = run([user("u1")], [direct("u1", "E5", 1, holds=True, off=["MCOSTANDARD"], edited=True)])
    refusals = direct_refusals(before, after, CATALOG, [("u1", "E5")])
    assert [(r.code, r.product_id) for r in refusals] == [(ErrorCode.DEPENDENCY_VIOLATION, "E5")]
    assert "MCOMEETADV" in refusals[0].message and "MCOSTANDARD" in refusals[0].message


def test_d1_clearing_a_licensed_users_location_is_refused() -> None:
    paths = [direct("u1", "E3", 1, holds=True)]
    before = run([user("u1")], paths)
    after = run([user("u1", location=None)], paths)
    refusals = direct_refusals(before, after, CATALOG)
    assert [(r.code, r.product_id, r.user_id) for r in refusals] == [
        (ErrorCode.USAGE_LOCATION_REQUIRED, "E3", "u1")
    ]


def test_d1_a_path_already_in_error_may_change_its_code() -> None:
    # Fixing the location turns USAGE_LOCATION_REQUIRED into COUNT_VIOLATION: not a refusal.
    paths = [via("g", "u1", "E3", 1)]
    before = run([user("u1", location=None)], paths, {"E3": 0})
    after = run([user("u1", location="NO")], paths, {"E3": 0})
    assert newly_errored(before, after) == ()
    assert direct_refusals(before.paths, after, CATALOG) == ()


def test_d1_a_change_that_errs_nothing_is_not_refused() -> None:
    before = run([user("u1")], [])
    after = run([user("u1")], [direct("u1", "E3", FRONT_OF_QUEUE)])
    assert direct_refusals(before, after, CATALOG, [("u1", "E3")]) == ()


def test_d6_count_violation_points_at_self_service_seats() -> None:
    before = run([user("u1")], [], {"E3": 0})
    after = run([user("u1")], [direct("u1", "E3", FRONT_OF_QUEUE)], {"E3": 0})
    refusals = direct_refusals(before, after, CATALOG, [("u1", "E3")], {"E3": 3})
    assert "3 self-service seats of Product E3 exist: take over the subscription" in refusals[0].message


def test_d4_count_message_wording() -> None:
    assert count_violation_message("Office 365 E3", 1, 0) == (
        "1 more license of Office 365 E3 needed, 0 available: buy more or unassign."
    )
    assert count_violation_message("Office 365 E3", 3, -2) == (
        "3 more licenses of Office 365 E3 needed, 0 available (2 already over-assigned): buy more or unassign."
    )
