"""The global catalog, loaded once into an immutable cache (products, plans, rules)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

import engine
from db.catalog_files import parse_rules_file, rule_rows
from db.models import Product, ProductServicePlan, ServicePlan, ServicePlanRule


@dataclass(frozen=True, slots=True)
class PlanInfo:
    id: uuid.UUID
    name: str
    display_name: str


@dataclass(frozen=True, slots=True)
class ProductInfo:
    id: uuid.UUID
    sku_part_number: str
    display_name: str
    plans: tuple[PlanInfo, ...]

    @property
    def plan_ids(self) -> frozenset[uuid.UUID]:
        return frozenset(p.id for p in self.plans)


@dataclass(frozen=True, slots=True)
class RuleInfo:
    rule: str
    subject: str
    others: tuple[str, ...]
    note: str


@dataclass(frozen=True)
class Catalog:
    products: Mapping[uuid.UUID, ProductInfo]
    plans: Mapping[uuid.UUID, PlanInfo]
    rules: tuple[RuleInfo, ...]
    by_sku: Mapping[str, ProductInfo] = field(default_factory=dict)  # lower-cased skuPartNumber
    sorted_products: tuple[ProductInfo, ...] = ()  # D19: by skuPartNumber case-insensitively, then skuId

    def product_by_sku(self, sku_part_number: str) -> ProductInfo | None:
        return self.by_sku.get(sku_part_number.lower())

    def to_engine(self) -> tuple[engine.Catalog, engine.ServicePlanRules]:
        """The engine's view of the catalog and the rules (built once: both are immutable)."""
        products = [
            engine.ProductFacts(str(p.id), p.sku_part_number, p.display_name, frozenset(str(x.id) for x in p.plans))
            for p in self.products.values()
        ]
        cat = engine.Catalog.of(products, {str(pid): plan.name for pid, plan in self.plans.items()})
        rules = engine.rules_of(
            exclusions=[(r.subject, other) for r in self.rules if r.rule == engine.RuleKind.MUTUALLY_EXCLUSIVE for other in r.others],
            requirements=[(r.subject, r.others) for r in self.rules if r.rule == engine.RuleKind.REQUIRES_ANY],
            prohibitions=[(r.subject, r.others) for r in self.rules if r.rule == engine.RuleKind.PROHIBITED_LOCATION],
        )
        return cat, rules


async def load_catalog(conn: AsyncConnection) -> Catalog:
    P, SP, PSP = Product.__table__, ServicePlan.__table__, ProductServicePlan.__table__
    plans = {r.id: PlanInfo(r.id, r.name, r.display_name) for r in await conn.execute(select(SP.c.id, SP.c.name, SP.c.display_name))}
    links: dict[uuid.UUID, list[PlanInfo]] = {}
    for r in await conn.execute(select(PSP.c.product_id, PSP.c.service_plan_id).order_by(PSP.c.position)):
        links.setdefault(r.product_id, []).append(plans[r.service_plan_id])
    products = {
        r.id: ProductInfo(r.id, r.sku_part_number, r.display_name, tuple(links.get(r.id, ())))
        for r in await conn.execute(select(P.c.id, P.c.sku_part_number, P.c.display_name))
    }
    R = ServicePlanRule.__table__
    rules = tuple(
        RuleInfo(r.rule, r.subject, tuple(r.others), r.note)
        for r in await conn.execute(select(R.c.rule, R.c.subject, R.c.others, R.c.note).order_by(R.c.position))
    )
    ordered = tuple(sorted(products.values(), key=lambda p: (p.sku_part_number.lower(), str(p.id))))
    return Catalog(
        products=MappingProxyType(products),
        plans=MappingProxyType(plans),
        rules=rules,
        by_sku=MappingProxyType({p.sku_part_number.lower(): p for p in products.values()}),
        sorted_products=ordered,
    )


async def replace_rules(conn: AsyncConnection, path: Path) -> int:
    """LICENSING_SERVICE_PLAN_RULES: the deployment's rules file replaces the shipped rules.
    Raises RulesFileError (naming the line) for a file the strict parser refuses."""
    rows = rule_rows(parse_rules_file(path))
    R = ServicePlanRule.__table__
    await conn.execute(delete(R))
    if rows:
        await conn.execute(insert(R), rows)
    return len(rows)
