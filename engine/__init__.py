"""The licensing engine: pure decisions over immutable facts (SPEC §2–3, D14–D18).

Standard library only; it never imports db/, gql/ or anything that does I/O.
"""

from engine.countries import COUNTRY_CODES, normalize_usage_location
from engine.errors import (
    ErrorCode,
    ErrorDetail,
    ExclusivityConflict,
    LocationProblem,
    MissingPrerequisite,
    count_violation_message,
    dependency_message,
    mutually_exclusive_message,
    no_seat_message,
    prohibited_location_message,
    usage_location_required_message,
)
from engine.evaluate import evaluate
from engine.facts import BACK_OF_QUEUE, FRONT_OF_QUEUE, Catalog, PathFacts, PathKey, ProductFacts, UserFacts
from engine.plans import enabled_for_user, enabled_plan_ids
from engine.refusals import Refusal, direct_refusals, newly_errored
from engine.results import EffectiveLicense, Evaluation, PathState, PathStatus
from engine.rules import (
    LocationProhibition,
    MutualExclusion,
    Requirement,
    RuleKind,
    ServicePlanRules,
    parse_rules_csv,
    rules_of,
)
from engine.seats import SeatChange

__all__ = [
    "BACK_OF_QUEUE",
    "COUNTRY_CODES",
    "FRONT_OF_QUEUE",
    "Catalog",
    "EffectiveLicense",
    "ErrorCode",
    "ErrorDetail",
    "Evaluation",
    "ExclusivityConflict",
    "LocationProblem",
    "LocationProhibition",
    "MissingPrerequisite",
    "MutualExclusion",
    "PathFacts",
    "PathKey",
    "PathState",
    "PathStatus",
    "ProductFacts",
    "Refusal",
    "Requirement",
    "RuleKind",
    "SeatChange",
    "ServicePlanRules",
    "UserFacts",
    "count_violation_message",
    "dependency_message",
    "direct_refusals",
    "enabled_for_user",
    "enabled_plan_ids",
    "evaluate",
    "mutually_exclusive_message",
    "newly_errored",
    "no_seat_message",
    "normalize_usage_location",
    "parse_rules_csv",
    "prohibited_location_message",
    "rules_of",
    "usage_location_required_message",
]
