"""Who acts (`Actor`) and what the process holds for acting (`Runtime`).

A `Runtime` is built once per process and never changes while it runs: the database handle,
the catalog and the service-plan rules (immutable), the clock and the settings. Nothing in it
is state another replica could disagree with.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import engine
from db.clock import Clock
from db.config import Settings
from db.records import TenantRecord, UserRecord
from db.repo import membership_rule_sql, tenants
from db.repo.catalog import Catalog, load_catalog, replace_rules
from db.session import Database
from services.errors import ErrorCode, refuse
from services.roles import READ_TENANT, Role

CLI_ACTOR = "cli"
SYSTEM_ACTOR = "system"


@dataclass(frozen=True)
class Actor:
    """The caller of a use case: a tenant, a `sub` (what the audit log records), roles, and the
    caller's own user when `sub` names one (D5)."""

    tenant: TenantRecord
    sub: str
    roles: frozenset[Role]
    user: UserRecord | None = None

    @property
    def tenant_id(self) -> str:
        return self.tenant.id

    @property
    def can_read_tenant(self) -> bool:
        return bool(self.roles & READ_TENANT)

    def has_any(self, roles: frozenset[Role] | set[Role]) -> bool:
        return bool(self.roles & roles)

    @classmethod
    def cli(cls, tenant: TenantRecord) -> Actor:
        """The `licensing` command acting for an operator: audited as `cli`, Global Administrator."""
        return cls(tenant, CLI_ACTOR, frozenset({Role.GLOBAL_ADMINISTRATOR}))

    @classmethod
    def system(cls, tenant: TenantRecord) -> Actor:
        """A periodic job (audited as `system`)."""
        return cls(tenant, SYSTEM_ACTOR, frozenset({Role.GLOBAL_ADMINISTRATOR}))


@dataclass(frozen=True)
class Runtime:
    db: Database
    catalog: Catalog
    engine_catalog: engine.Catalog
    rules: engine.ServicePlanRules
    clock: Clock
    settings: Settings

    @property
    def cancellation_window(self) -> timedelta:
        return timedelta(days=self.settings.cancellation_window_days)

    @classmethod
    def of(cls, db: Database, catalog: Catalog, clock: Clock, settings: Settings) -> Runtime:
        engine_catalog, rules = catalog.to_engine()
        return cls(db, catalog, engine_catalog, rules, clock, settings)

    @classmethod
    async def load(cls, db: Database, clock: Clock, settings: Settings) -> Runtime:
        """Read the catalog and rules once (after `replace_rules_from_settings`, if configured),
        and choose how SQL folds rule values (`membership_rule_sql.choose_fold`)."""
        async with db.read() as conn:
            catalog = await load_catalog(conn)
            await membership_rule_sql.choose_fold(conn, db.url)
        return cls.of(db, catalog, clock, settings)


async def replace_rules_from_settings(db: Database, settings: Settings) -> int | None:
    """LICENSING_SERVICE_PLAN_RULES: the deployment's rules file replaces the shipped rules (at
    start; RulesFileError, naming the line, for a file the strict parser refuses)."""
    if not settings.service_plan_rules:
        return None
    async with db.write() as conn:
        return await replace_rules(conn, settings.service_plan_rules)


async def tenant_actor(db: Database, tenant_id: str, make: Callable[[TenantRecord], Actor]) -> Actor:
    """The actor of a command or job for a tenant; NOT_FOUND when there is no such tenant."""
    async with db.read() as conn:
        tenant = await tenants.get_tenant(conn, tenant_id)
    if tenant is None:
        raise refuse(ErrorCode.NOT_FOUND, f"no tenant {tenant_id!r}; create it first: licensing tenants create {tenant_id} --name …")
    return make(tenant)
