"""Service-plan rules (R6, R7, R8) and the parser of their CSV file.

The file has the columns `rule,service_plan,other_service_plans,note`:

- `mutually_exclusive,A,B C,...`   plan A cannot be enabled together with B (nor with C);
- `requires_any,A,B C,...`         plan A needs B or C enabled for the user; several rows for
                                   one plan are all required;
- `prohibited_location,SKU,NO US`  the product with that skuPartNumber may not be used there.

Plans are named by servicePlanName: a rule applies to every plan id with that name.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType

from engine.countries import normalize_usage_location

HEADER = ("rule", "service_plan", "other_service_plans", "note")


class RuleKind(StrEnum):
    """The `rule` column."""

    MUTUALLY_EXCLUSIVE = "mutually_exclusive"
    REQUIRES_ANY = "requires_any"
    PROHIBITED_LOCATION = "prohibited_location"


@dataclass(frozen=True, slots=True)
class MutualExclusion:
    """R6: `plan` and `other` may not both be enabled for one user."""

    plan: str
    other: str
    note: str = ""


@dataclass(frozen=True, slots=True)
class Requirement:
    """R7: `plan` may be enabled only if one of `any_of` is enabled for the user."""

    plan: str
    any_of: frozenset[str]
    note: str = ""


@dataclass(frozen=True, slots=True)
class LocationProhibition:
    """R8: the product `sku_part_number` may not be used in `locations`."""

    sku_part_number: str
    locations: frozenset[str]
    note: str = ""


@dataclass(frozen=True)
class ServicePlanRules:
    """All rules of a deployment, with lookups by plan name and by SKU part number."""

    exclusions: tuple[MutualExclusion, ...] = ()
    requirements: tuple[Requirement, ...] = ()
    prohibitions: tuple[LocationProhibition, ...] = ()
    exclusive_with: Mapping[str, frozenset[str]] = field(init=False, repr=False, compare=False)
    required_by: Mapping[str, tuple[frozenset[str], ...]] = field(init=False, repr=False, compare=False)
    prohibited_locations: Mapping[str, frozenset[str]] = field(init=False, repr=False, compare=False)
    rule_plan_names: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        exclusive: dict[str, set[str]] = {}
        for rule in self.exclusions:
            exclusive.setdefault(rule.plan, set()).add(rule.other)
            exclusive.setdefault(rule.other, set()).add(rule.plan)
        required: dict[str, list[frozenset[str]]] = {}
        for requirement in self.requirements:
            required.setdefault(requirement.plan, []).append(requirement.any_of)
        prohibited: dict[str, set[str]] = {}
        for prohibition in self.prohibitions:
            prohibited.setdefault(prohibition.sku_part_number, set()).update(prohibition.locations)
        names = set(exclusive)
        for plan, groups in required.items():
            names.add(plan)
            for group in groups:
                names.update(group)
        object.__setattr__(
            self, "exclusive_with", MappingProxyType({k: frozenset(v) for k, v in exclusive.items()})
        )
        object.__setattr__(self, "required_by", MappingProxyType({k: tuple(v) for k, v in required.items()}))
        object.__setattr__(
            self, "prohibited_locations", MappingProxyType({k: frozenset(v) for k, v in prohibited.items()})
        )
        object.__setattr__(self, "rule_plan_names", frozenset(names))

    def prohibited_in(self, sku_part_number: str) -> frozenset[str]:
        """The usage locations where the product may not be used (empty for most)."""
        return self.prohibited_locations.get(sku_part_number, frozenset())


def _plan_names(cell: str, line: int, column: str) -> list[str]:
    names = cell.split()
    if not names:
        raise ValueError(f"service-plan rules, line {line}: {column} is empty")
    return names


def parse_rules_csv(text: str) -> ServicePlanRules:
    """Parse the service-plan rules file (`rule,service_plan,other_service_plans,note`).

    Blank lines are skipped. Any malformed row raises ValueError naming its line: a missing
    or wrong header, an unknown rule, a missing plan, a plan that excludes or requires
    itself, or a location that is not an officially assigned ISO 3166-1 alpha-2 code.
    """
    reader = csv.reader(io.StringIO(text.removeprefix("\ufeff")))
    exclusions: list[MutualExclusion] = []
    requirements: list[Requirement] = []
    prohibitions: list[LocationProhibition] = []
    header_seen = False
    for row in reader:
        line = reader.line_num
        cells = [cell.strip() for cell in row]
        if not any(cells):
            continue
        if not header_seen:
            if tuple(cell.lower() for cell in cells) != HEADER:
                raise ValueError(f"service-plan rules, line {line}: expected the header {','.join(HEADER)}")
            header_seen = True
            continue
        if len(cells) not in (3, 4):
            raise ValueError(
                f"service-plan rules, line {line}: expected 3 or 4 columns "
                f"({','.join(HEADER)}), found {len(cells)}"
            )
        kind_text, subject, others = cells[0], cells[1], cells[2]
        note = cells[3] if len(cells) == 4 else ""
        try:
            kind = RuleKind(kind_text)
        except ValueError:
            known = ", ".join(kind.value for kind in RuleKind)
            raise ValueError(
                f"service-plan rules, line {line}: unknown rule {kind_text!r} (expected {known})"
            ) from None
        if not subject:
            raise ValueError(f"service-plan rules, line {line}: service_plan is empty")
        if kind is RuleKind.PROHIBITED_LOCATION:
            codes = _plan_names(others, line, "other_service_plans (the usage locations)")
            try:
                locations = frozenset(normalize_usage_location(code) for code in codes)
            except ValueError as error:
                raise ValueError(f"service-plan rules, line {line}: {error}") from None
            prohibitions.append(LocationProhibition(subject, locations, note))
            continue
        names = _plan_names(others, line, "other_service_plans")
        if subject in names:
            raise ValueError(f"service-plan rules, line {line}: {subject} cannot name itself")
        if kind is RuleKind.MUTUALLY_EXCLUSIVE:
            exclusions.extend(MutualExclusion(subject, other, note) for other in names)
        else:
            requirements.append(Requirement(subject, frozenset(names), note))
    if not header_seen:
        raise ValueError(f"service-plan rules, line 1: expected the header {','.join(HEADER)}")
    return ServicePlanRules(tuple(exclusions), tuple(requirements), tuple(prohibitions))


def rules_of(
    exclusions: Iterable[tuple[str, str]] = (),
    requirements: Iterable[tuple[str, Iterable[str]]] = (),
    prohibitions: Iterable[tuple[str, Iterable[str]]] = (),
) -> ServicePlanRules:
    """Build rules from plain tuples: (plan, other), (plan, any_of), (sku, locations)."""
    return ServicePlanRules(
        tuple(MutualExclusion(plan, other) for plan, other in exclusions),
        tuple(Requirement(plan, frozenset(any_of)) for plan, any_of in requirements),
        tuple(LocationProhibition(sku, frozenset(locations)) for sku, locations in prohibitions),
    )
