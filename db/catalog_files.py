"""Reading the shipped catalog and service-plan rules files (CSV, as published by Microsoft)."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import engine

DATA_DIR = Path(__file__).parent / "data"
CATALOG_CSV = DATA_DIR / "product-service-plans.csv"
RULES_CSV = DATA_DIR / "service-plan-rules.csv"


@dataclass(frozen=True)
class CatalogRows:
    products: list[dict[str, str]]  # id, sku_part_number, display_name
    plans: list[dict[str, str]]  # id, name, display_name
    product_plans: list[dict[str, object]]  # product_id, service_plan_id, position


def read_catalog(path: Path = CATALOG_CSV) -> CatalogRows:
    """Products and plans from the catalog CSV. Where one GUID has several names, the first wins (D20)."""
    products: dict[str, dict[str, str]] = {}
    plans: dict[str, dict[str, str]] = {}
    links: dict[tuple[str, str], dict[str, object]] = {}
    with path.open(encoding="utf-8-sig", newline="") as f:
        for row in csv.DictReader(f):
            sku = row["GUID"].strip().lower()
            plan = row["Service_Plan_Id"].strip().lower()
            products.setdefault(
                sku,
                {"id": sku, "sku_part_number": row["String_Id"].strip(), "display_name": row["Product_Display_Name"].strip()},
            )
            plans.setdefault(
                plan,
                {
                    "id": plan,
                    "name": row["Service_Plan_Name"].strip(),
                    "display_name": row["Service_Plans_Included_Friendly_Names"].strip(),
                },
            )
            key = (sku, plan)
            if key not in links:
                links[key] = {"product_id": sku, "service_plan_id": plan, "position": len(links)}
    return CatalogRows(list(products.values()), list(plans.values()), list(links.values()))


class RulesFileError(ValueError):
    """A service-plan rules file that cannot be used; the message names the file and line."""


def parse_rules_file(path: Path) -> engine.ServicePlanRules:
    """The rules of a CSV file, parsed by the engine's strict parser (`engine.parse_rules_csv`:
    header, known rules, no self-references, ISO location codes). RulesFileError names the line."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise RulesFileError(f"cannot read {path}: {exc.strerror}.") from exc
    try:
        return engine.parse_rules_csv(text)
    except ValueError as exc:
        raise RulesFileError(f"{path}: {exc}") from exc


def rule_rows(rules: engine.ServicePlanRules) -> list[dict[str, object]]:
    """The rows of the `service_plan_rules` table: one per rule (exclusions of one plan with one
    note share a row, as in the file)."""
    rows: list[dict[str, object]] = []
    exclusions: dict[tuple[str, str], list[str]] = {}
    for ex in rules.exclusions:
        exclusions.setdefault((ex.plan, ex.note), []).append(ex.other)
    for (plan, note), others in exclusions.items():
        rows.append({"rule": engine.RuleKind.MUTUALLY_EXCLUSIVE.value, "subject": plan, "others": others, "note": note})
    for req in rules.requirements:
        rows.append({"rule": engine.RuleKind.REQUIRES_ANY.value, "subject": req.plan, "others": sorted(req.any_of), "note": req.note})
    for pro in rules.prohibitions:
        rows.append({
            "rule": engine.RuleKind.PROHIBITED_LOCATION.value, "subject": pro.sku_part_number,
            "others": sorted(pro.locations), "note": pro.note,
        })
    return [{"position": i, **row} for i, row in enumerate(rows)]
