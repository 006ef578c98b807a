"""Small synthetic products under the real service-plan rules, and builders for engine tests."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from engine import (
    Catalog,
    Evaluation,
    PathFacts,
    ProductFacts,
    UserFacts,
    evaluate,
    parse_rules_csv,
)

# The content of data/service-plan-rules.csv as shipped, plus one location prohibition.
REAL_RULES_CSV = """rule,service_plan,other_service_plans,note
mutually_exclusive,YAMMER_ENTERPRISE,YAMMER_EDU,Yammer Enterprise and Yammer for Academic cannot both be enabled for one user
requires_any,WORKPLACE_ANALYTICS,EXCHANGE_S_STANDARD EXCHANGE_S_ENTERPRISE,Workplace Analytics needs Exchange Online (Plan 1 or Plan 2)
requires_any,MCOMEETADV,MCOSTANDARD,Audio Conferencing needs Skype for Business Online (Plan 2)
"""
RULES = parse_rules_csv(REAL_RULES_CSV + "prohibited_location,RESTRICTED,CN RU,export controls\n")

PLAN_NAMES = (
    "EXCHANGE_S_STANDARD",
    "EXCHANGE_S_ENTERPRISE",
    "MCOSTANDARD",
    "MCOMEETADV",
    "WORKPLACE_ANALYTICS",
    "YAMMER_ENTERPRISE",
    "YAMMER_EDU",
    "SHAREPOINTSTANDARD",
    "TEAMS1",
)


def plan(name: str) -> str:
    """The synthetic plan id of a plan name."""
    return f"id-{name}"


def _product(product_id: str, *names: str) -> ProductFacts:
    return ProductFacts(
        product_id, product_id, f"Product {product_id}", frozenset(plan(name) for name in names)
    )


PRODUCTS = {
    product.product_id: product
    for product in (
        _product("E3", "EXCHANGE_S_ENTERPRISE", "MCOSTANDARD", "YAMMER_ENTERPRISE", "SHAREPOINTSTANDARD"),
        _product("E5", "EXCHANGE_S_ENTERPRISE", "MCOSTANDARD", "MCOMEETADV", "YAMMER_ENTERPRISE", "TEAMS1"),
        _product("A3", "EXCHANGE_S_STANDARD", "MCOSTANDARD", "YAMMER_EDU", "TEAMS1"),
        _product("EXO1", "EXCHANGE_S_STANDARD"),
        _product("SKYPE", "MCOSTANDARD"),
        _product("AUDIO", "MCOMEETADV"),
        _product("WA", "WORKPLACE_ANALYTICS"),
        _product("YAMMER", "YAMMER_ENTERPRISE"),
        _product("RESTRICTED", "TEAMS1", "SHAREPOINTSTANDARD"),
        _product("BASIC", "TEAMS1"),
        _product("YAMMERS", "YAMMER_ENTERPRISE", "YAMMER_EDU"),
    )
}
CATALOG = Catalog.of(PRODUCTS.values(), {plan(name): name for name in PLAN_NAMES})


def user(user_id: str, location: str | None = "NO", created: int | None = None) -> UserFacts:
    """A user; creation order defaults to the digits of the id (u7 -> 7)."""
    if created is None:
        digits = "".join(ch for ch in user_id if ch.isdigit())
        created = int(digits) if digits else 0
    return UserFacts(user_id, location, created)


def direct(
    user_id: str,
    product_id: str,
    seq: int = 1,
    *,
    holds: bool = False,
    off: Iterable[str] = (),
    edited: bool = False,
) -> PathFacts:
    """A direct path; `off` names the plans it turns off."""
    return PathFacts(user_id, product_id, None, frozenset(plan(n) for n in off), seq, holds, None, edited)


def via(
    group_id: str,
    user_id: str,
    product_id: str,
    seq: int = 1,
    *,
    holds: bool = False,
    off: Iterable[str] = (),
    edited: bool = False,
) -> PathFacts:
    """A path through a group license of `group_id`."""
    return PathFacts(user_id, product_id, group_id, frozenset(plan(n) for n in off), seq, holds, None, edited)


PLENTY = 1_000


def run(
    users: Iterable[UserFacts],
    paths: Iterable[PathFacts],
    seats: Mapping[str, int] | None = None,
    default_location: str | None = None,
    holders: Iterable[tuple[str, str]] = (),
) -> Evaluation:
    """Evaluate with plenty of seats for every product not named in `seats`."""
    available = {product_id: PLENTY for product_id in PRODUCTS}
    available.update(seats or {})
    return evaluate(users, paths, CATALOG, RULES, available, default_location, holders)


def outcome(evaluation: Evaluation) -> dict[tuple[str, str, str | None], str]:
    """Each path's state as "ACTIVE" or its error code."""
    return {state.key: state.error.value if state.error else state.state.value for state in evaluation.paths}


def enabled_names(evaluation: Evaluation, user_id: str, product_id: str) -> set[str]:
    """The plan names a user has enabled for a product."""
    lic = evaluation.license(user_id, product_id)
    assert lic is not None
    return {CATALOG.plan_name(plan_id) for plan_id in lic.enabled_plan_ids}


def as_holders(paths: Iterable[PathFacts], evaluation: Evaluation) -> list[PathFacts]:
    """The same paths with D14 incumbency taken from a result: holds_seat = ACTIVE."""
    rebuilt = []
    for path in paths:
        state = evaluation.path(*path.key)
        assert state is not None
        rebuilt.append(
            PathFacts(
                path.user_id,
                path.product_id,
                path.group_id,
                path.disabled_plan_ids,
                path.queue_seq,
                state.is_active,
                path.subscription_id,
                False,
            )
        )
    return rebuilt
