"""Reading the shipped catalog and service-plan rules files (CSV, as published by Microsoft)."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

DATA_DIR = Path(__file__).parent / "data"
CATALOG_CSV = DATA_DIR / "product-service-plans.csv"
RULES_CSV = DATA_DIR / "service-plan-rules.csv"

RULE_KINDS = ("mutually_exclusive", "requires_any", "prohibited_location")


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
    pass


def read_rules(text: str) -> list[dict[str, object]]:
    """Rows of a service-plan rules CSV: rule, service_plan, other_service_plans, note.

    Raises RulesFileError naming the line of the first bad row.
    """
    reader = csv.reader(io.StringIO(text))
    rows: list[dict[str, object]] = []
    header = next(reader, None)
    if header is None or [h.strip() for h in header[:3]] != ["rule", "service_plan", "other_service_plans"]:
        raise RulesFileError("line 1: expected the header rule,service_plan,other_service_plans,note")
    for line_no, row in enumerate(reader, start=2):
        if not row or all(not c.strip() for c in row):
            continue
        if len(row) < 3:
            raise RulesFileError(f"line {line_no}: expected at least 3 columns, got {len(row)}")
        rule, subject, others = (c.strip() for c in row[:3])
        if rule not in RULE_KINDS:
            raise RulesFileError(f"line {line_no}: unknown rule {rule!r}; use one of {', '.join(RULE_KINDS)}")
        if not subject or not others.split():
            raise RulesFileError(f"line {line_no}: the rule needs a service plan and at least one other value")
        note = row[3].strip() if len(row) > 3 else ""
        rows.append({"position": len(rows), "rule": rule, "subject": subject, "others": others.split(), "note": note})
    return rows
