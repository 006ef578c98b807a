"""GraphQL object types (names per schema-contract.graphql). Resolvers use loaders, never SQL."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from enum import Enum
from typing import Annotated, Any

import strawberry
from strawberry.types import Info

from db.models import DIRECT
from db.records import AuditRecord, GroupRecord, SubscriptionRecord, TenantRecord, UserRecord
from db.repo import audit, directory, group_licenses
from db.repo.catalog import PlanInfo, ProductInfo
from db.repo.paging import BadCursor, Page
from engine.subscription_lifecycle import view as subscription_view
from engine.subscription_pool import PoolFigures
from gql.auth import Role as ClaimRole
from gql.errors import ErrorCode, LicenseError, bad_user_input, page_size
from gql.ids import to_global_id
from gql.loaders import subscription_terms
from gql.permissions import CanReadTenant

Role = strawberry.enum(ClaimRole, name="Role")


@strawberry.enum
class UserType(Enum):
    MEMBER = "MEMBER"
    GUEST = "GUEST"


@strawberry.enum
class AssignmentState(Enum):
    ACTIVE = "ACTIVE"
    ERROR = "ERROR"


@strawberry.enum
class SubscriptionStatus(Enum):
    ACTIVE = "ACTIVE"
    EXPIRED = "EXPIRED"
    DISABLED = "DISABLED"
    DELETED = "DELETED"


@strawberry.enum
class AssignMode(Enum):
    ADD = "ADD"
    REPLACE = "REPLACE"


# Immutable catalog objects, built once per process (the catalog never changes while it runs).
_PLANS: dict[uuid.UUID, Any] = {}
_PRODUCTS: dict[uuid.UUID, Any] = {}


@strawberry.interface
class Node:
    id: strawberry.ID


@strawberry.type
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None


def page_info(page: Page[Any]) -> PageInfo:
    return PageInfo(
        has_next_page=page.has_next,
        has_previous_page=page.has_previous,
        start_cursor=page.cursors[0] if page.cursors else None,
        end_cursor=page.cursors[-1] if page.cursors else None,
    )


async def fetch_page(info: Info, work: Callable[[Any], Awaitable[Page[Any]]]) -> Page[Any]:
    try:
        return await info.context.read(work)
    except BadCursor as exc:
        raise bad_user_input(str(exc)) from exc


# ------------------------------------------------------------------------------ catalog


@strawberry.type
class ServicePlan(Node):
    service_plan_id: str
    service_plan_name: str
    display_name: str

    @staticmethod
    def of(plan: PlanInfo) -> ServicePlan:
        """Catalog objects are immutable: one instance per plan for the process (keyed by id)."""
        found = _PLANS.get(plan.id)
        if found is None:
            found = _PLANS[plan.id] = ServicePlan._build(plan)
        return found

    @staticmethod
    def _build(plan: PlanInfo) -> ServicePlan:
        return ServicePlan(
            id=strawberry.ID(to_global_id("ServicePlan", plan.id)),
            service_plan_id=str(plan.id),
            service_plan_name=plan.name,
            display_name=plan.display_name,
        )


@strawberry.type
class PrepaidUnits:
    enabled: int
    warning: int
    suspended: int


@strawberry.type
class Product(Node):
    sku_id: str
    sku_part_number: str
    display_name: str
    info_: strawberry.Private[ProductInfo]

    @staticmethod
    def of(product: ProductInfo) -> Product:
        """Catalog objects are immutable: one instance per product (tenant figures resolve per request)."""
        found = _PRODUCTS.get(product.id)
        if found is None:
            found = _PRODUCTS[product.id] = Product._build(product)
        return found

    @staticmethod
    def _build(product: ProductInfo) -> Product:
        return Product(
            id=strawberry.ID(to_global_id("Product", product.id)),
            sku_id=str(product.id),
            sku_part_number=product.sku_part_number,
            display_name=product.display_name,
            info_=product,
        )

    @strawberry.field
    def service_plans(self) -> list[ServicePlan]:
        return [ServicePlan.of(p) for p in self.info_.plans]

    async def _figures(self, info: Info) -> PoolFigures:
        pool = await info.context.loaders.tenant_pool()
        return pool.figures(self.info_.id)

    @strawberry.field(permission_classes=[CanReadTenant])
    async def prepaid_units(self, info: Info) -> PrepaidUnits:
        f = await self._figures(info)
        return PrepaidUnits(enabled=f.enabled, warning=f.warning, suspended=f.suspended)

    @strawberry.field(permission_classes=[CanReadTenant])
    async def total_units(self, info: Info) -> int:
        return (await self._figures(info)).total

    @strawberry.field(permission_classes=[CanReadTenant])
    async def consumed_units(self, info: Info) -> int:
        return (await self._figures(info)).consumed

    @strawberry.field(permission_classes=[CanReadTenant])
    async def available_units(self, info: Info) -> int:
        return (await self._figures(info)).available

    @strawberry.field(permission_classes=[CanReadTenant])
    async def subscriptions(self, info: Info) -> list[Subscription]:
        pool = await info.context.loaders.tenant_pool()
        return [Subscription.of(s, info) for s in pool.by_product.get(self.info_.id, [])]

    @strawberry.field(permission_classes=[CanReadTenant])
    async def group_licenses(self, info: Info) -> list[Annotated[GroupLicense, strawberry.lazy("gql.types")]]:
        rows = await info.context.loaders.group_licenses_by_product.load(self.info_.id)
        return await group_license_list(info, rows)

    @strawberry.field(permission_classes=[CanReadTenant])
    async def assigned_users(
        self, info: Info, first: int | None = None, after: str | None = None, filter: UserFilter | None = None
    ) -> UserConnection:
        spec = await user_filter_spec(info, filter)
        spec = directory.UserFilterSpec(**{**spec.__dict__, "has_product_id": self.info_.id})
        return await user_connection(info, spec, first, after)


@strawberry.type
class ProductEdge:
    cursor: str
    node: Product


@strawberry.type
class ProductConnection:
    edges: list[ProductEdge]
    page_info: PageInfo
    total_count: int


# ------------------------------------------------------------------------------ subscriptions


@strawberry.type
class Subscription(Node):
    quantity: int
    status: SubscriptionStatus
    is_trial: bool
    is_self_service: bool
    starts_at: datetime
    current_term_ends_at: datetime
    recurring_billing: bool
    cancellation_window_ends_at: datetime | None
    can_cancel: bool
    record: strawberry.Private[SubscriptionRecord]

    @staticmethod
    def of(sub: SubscriptionRecord, info: Info) -> Subscription:
        ctx = info.context
        v = subscription_view(
            subscription_terms(sub), ctx.services.clock.now(), timedelta(days=ctx.settings.cancellation_window_days)
        )
        return Subscription(
            id=strawberry.ID(to_global_id("Subscription", sub.id)),
            quantity=sub.quantity,
            status=SubscriptionStatus(v.status.value),
            is_trial=v.is_trial,
            is_self_service=sub.is_self_service,
            starts_at=sub.starts_at,
            current_term_ends_at=v.current_term_ends_at,
            recurring_billing=sub.recurring_billing,
            cancellation_window_ends_at=v.cancellation_window_ends_at,
            can_cancel=v.can_cancel,
            record=sub,
        )

    @strawberry.field
    def product(self, info: Info) -> Product:
        return Product.of(info.context.catalog.products[self.record.product_id])

    @strawberry.field
    async def purchased_by(self, info: Info) -> Annotated[User, strawberry.lazy("gql.types")] | None:
        if self.record.purchased_by is None:
            return None
        rec = await info.context.loaders.user_by_id.load(self.record.purchased_by)
        return User.of(rec) if rec else None


# ------------------------------------------------------------------------------ directory


@strawberry.type
class Tenant(Node):
    tenant_id: str
    display_name: str
    domain: str
    default_usage_location: str | None

    @staticmethod
    def of(t: TenantRecord) -> Tenant:
        return Tenant(
            id=strawberry.ID(to_global_id("Tenant", t.id)),
            tenant_id=t.id,
            display_name=t.display_name,
            domain=t.domain,
            default_usage_location=t.default_usage_location,
        )


@strawberry.input
class UserFilter:
    search: str | None = None
    user_type: UserType | None = None
    has_product_id: strawberry.ID | None = None
    license_state: AssignmentState | None = None
    member_of_group_id: strawberry.ID | None = None
    unlicensed: bool | None = None


_NO_MATCH = uuid.UUID(int=0)


async def user_filter_spec(info: Info, f: UserFilter | None) -> directory.UserFilterSpec:
    if f is None:
        return directory.UserFilterSpec()
    from gql.resolve import product_id_arg, uuid_arg

    product_id = product_id_arg(info, f.has_product_id, "filter.hasProductId") if f.has_product_id else None
    group_id = uuid_arg(f.member_of_group_id, "Group", "filter.memberOfGroupId") if f.member_of_group_id else None
    return directory.UserFilterSpec(
        search=f.search.strip() if f.search and f.search.strip() else None,
        user_type=f.user_type.value if f.user_type else None,
        has_product_id=product_id if product_id is not None or f.has_product_id is None else _NO_MATCH,
        license_state=f.license_state.value if f.license_state else None,
        member_of_group_id=group_id if group_id is not None or f.member_of_group_id is None else _NO_MATCH,
        unlicensed=f.unlicensed,
    )


@strawberry.type
class User(Node):
    user_principal_name: str
    display_name: str
    mail: str | None
    user_type: UserType
    usage_location: str | None
    account_enabled: bool
    department: str | None
    job_title: str | None
    created_at: datetime
    record: strawberry.Private[UserRecord]

    @staticmethod
    def of(u: UserRecord) -> User:
        return User(
            id=strawberry.ID(to_global_id("User", u.id)),
            user_principal_name=u.user_principal_name,
            display_name=u.display_name,
            mail=u.mail,
            user_type=UserType(u.user_type),
            usage_location=u.usage_location,
            account_enabled=u.account_enabled,
            department=u.department,
            job_title=u.job_title,
            created_at=u.created_at,
            record=u,
        )

    @strawberry.field
    async def member_of(
        self, info: Info, first: int | None = None, after: str | None = None, transitive: bool | None = False
    ) -> GroupConnection:
        n = page_size(first)
        ctx = info.context
        uid = self.record.id
        if not transitive and after is None:
            # The common case (a users page with each user's first groups) batches through loaders.
            groups = await ctx.loaders.first_groups_by_user.load((uid, n + 1))
            cursors = [_group_cursor(g) for g in groups[:n]]
            page = Page(items=groups[:n], cursors=cursors, has_next=len(groups) > n, has_previous=False)

            async def count() -> int:
                return int(await ctx.loaders.group_count_by_user.load(uid))
        else:
            page = await fetch_page(
                info,
                lambda c: directory.member_of_page(c, ctx.tenant_id, uid, transitive=transitive, first=n, after=after),
            )

            async def count() -> int:
                return await ctx.read(lambda c: directory.member_of_count(c, ctx.tenant_id, uid, transitive=transitive))

        return GroupConnection(
            edges=[GroupEdge(cursor=cur, node=Group.of(g)) for g, cur in zip(page.items, page.cursors)],
            page_info=page_info(page),
            count_=count,
        )

    @strawberry.field
    async def licenses(self, info: Info) -> list[Annotated[UserLicense, strawberry.lazy("gql.types")]]:
        """One per product with at least one path (R1, R5, R20), by product display name (D19)."""
        ctx = info.context
        paths = await ctx.loaders.paths_by_user.load(self.record.id)
        if not paths:
            return []
        seats = await ctx.loaders.seats_by_user.load(self.record.id)
        groups = await _groups_of(info, paths)
        by_product: dict[uuid.UUID, list[Any]] = {}
        for path in paths:
            by_product.setdefault(path.product_id, []).append(path)
        products = ctx.catalog.products
        result = []
        for product_id in sorted(by_product, key=lambda p: (products[p].display_name.lower(), str(p))):
            product = products[product_id]
            product_paths = by_product[product_id]
            enabled: set[uuid.UUID] = set()
            for path in product_paths:
                if path.state == "ACTIVE":
                    disabled = set(path.disabled_plan_ids or ())
                    enabled.update(plan.id for plan in product.plans if plan.id not in disabled)
            inherited = sorted(
                (groups[p.group_id] for p in product_paths if p.group_id != DIRECT and p.group_id in groups),
                key=lambda g: (g.display_name.lower(), str(g.id)),
            )
            result.append(
                UserLicense(
                    product=Product.of(product),
                    state=AssignmentState.ACTIVE if product_id in seats else AssignmentState.ERROR,
                    enabled_service_plans=[ServicePlan.of(pl) for pl in product.plans if pl.id in enabled],
                    disabled_service_plans=[ServicePlan.of(pl) for pl in product.plans if pl.id not in enabled],
                    assigned_directly=any(p.group_id == DIRECT for p in product_paths),
                    inherited_from=[Group.of(g) for g in inherited],
                )
            )
        return result

    @strawberry.field
    async def license_assignment_states(
        self, info: Info
    ) -> list[Annotated[LicenseAssignmentState, strawberry.lazy("gql.types")]]:
        """One per (product, path): per product the direct path first, then groups by name (D19, R20)."""
        ctx = info.context
        paths = await ctx.loaders.paths_by_user.load(self.record.id)
        if not paths:
            return []
        groups = await _groups_of(info, paths)
        products = ctx.catalog.products

        def order(path: Any) -> tuple[str, str, int, str, str]:
            group = groups.get(path.group_id)
            return (
                products[path.product_id].display_name.lower(), str(path.product_id), 0 if path.group_id == DIRECT else 1,
                group.display_name.lower() if group else "", str(path.group_id),
            )

        result = []
        for path in sorted(paths, key=order):
            product = products[path.product_id]
            disabled = set(path.disabled_plan_ids or ())
            group = groups.get(path.group_id)
            result.append(
                LicenseAssignmentState(
                    product=Product.of(product),
                    assigned_by_group=Group.of(group) if group else None,
                    disabled_service_plans=[ServicePlan.of(pl) for pl in product.plans if pl.id in disabled],
                    state=AssignmentState(path.state),
                    error=LicenseError(code=ErrorCode(path.error_code), message=path.error_message or "")
                    if path.state == "ERROR" and path.error_code
                    else None,
                    last_updated_at=path.updated_at,
                )
            )
        return result


async def _groups_of(info: Info, paths: list[Any]) -> dict[uuid.UUID, GroupRecord]:
    ids = sorted({p.group_id for p in paths if p.group_id != DIRECT})
    if not ids:
        return {}
    found = await info.context.loaders.group_by_id.load_many(ids)
    return {g.id: g for g in found if g is not None}


def _group_cursor(g: GroupRecord) -> str:
    from db.repo.paging import encode_cursor

    return encode_cursor((g.display_name.lower(), str(g.id)))


@strawberry.type
class UserEdge:
    cursor: str
    node: User


@strawberry.type
class UserConnection:
    edges: list[UserEdge]
    page_info: PageInfo
    count_: strawberry.Private[Callable[[], Awaitable[int]]]

    @strawberry.field
    async def total_count(self) -> int:
        return await self.count_()


async def user_connection(
    info: Info, spec: directory.UserFilterSpec, first: int | None, after: str | None
) -> UserConnection:
    n = page_size(first)
    ctx = info.context
    tid = ctx.tenant_id
    page = await fetch_page(info, lambda c: directory.users_page(c, tid, spec, first=n, after=after))
    for u in page.items:
        ctx.loaders.user_by_id.prime(u.id, u)

    async def count() -> int:
        return await ctx.read(lambda c: directory.users_count(c, tid, spec))

    return UserConnection(
        edges=[UserEdge(cursor=cur, node=User.of(u)) for u, cur in zip(page.items, page.cursors)],
        page_info=page_info(page),
        count_=count,
    )


@strawberry.type
class UserLicense:
    product: Product
    state: AssignmentState
    enabled_service_plans: list[ServicePlan]
    disabled_service_plans: list[ServicePlan]
    assigned_directly: bool
    inherited_from: list[Annotated[Group, strawberry.lazy("gql.types")]]


@strawberry.type
class LicenseAssignmentState:
    product: Product
    assigned_by_group: Annotated[Group, strawberry.lazy("gql.types")] | None
    disabled_service_plans: list[ServicePlan]
    state: AssignmentState
    error: LicenseError | None
    last_updated_at: datetime


@strawberry.type
class Group(Node):
    display_name: str
    record: strawberry.Private[GroupRecord]

    @staticmethod
    def of(g: GroupRecord) -> Group:
        return Group(id=strawberry.ID(to_global_id("Group", g.id)), display_name=g.display_name, record=g)

    @strawberry.field(permission_classes=[CanReadTenant])
    def description(self) -> str | None:
        return self.record.description

    @strawberry.field(permission_classes=[CanReadTenant])
    def security_enabled(self) -> bool:
        return self.record.security_enabled

    @strawberry.field(permission_classes=[CanReadTenant])
    def created_at(self) -> datetime:
        return self.record.created_at

    @strawberry.field(permission_classes=[CanReadTenant])
    async def members(self, info: Info, first: int | None = None, after: str | None = None) -> DirectoryObjectConnection:
        n = page_size(first)
        ctx = info.context
        gid = self.record.id
        page = await fetch_page(info, lambda c: directory.direct_members_page(c, ctx.tenant_id, gid, first=n, after=after))
        user_ids = [i for kind, i in page.items if kind == "User"]
        group_ids = [i for kind, i in page.items if kind == "Group"]
        users = await ctx.loaders.user_by_id.load_many(user_ids)
        groups = await ctx.loaders.group_by_id.load_many(group_ids)
        by_id: dict[uuid.UUID, Any] = {u.id: User.of(u) for u in users if u}
        by_id.update({g.id: Group.of(g) for g in groups if g})
        edges = [
            DirectoryObjectEdge(cursor=cur, node=by_id[i]) for (_, i), cur in zip(page.items, page.cursors) if i in by_id
        ]

        async def count() -> int:
            return await ctx.read(lambda c: directory.direct_members_count(c, ctx.tenant_id, gid))

        return DirectoryObjectConnection(edges=edges, page_info=page_info(page), count_=count)

    @strawberry.field(permission_classes=[CanReadTenant])
    async def transitive_members(self, info: Info, first: int | None = None, after: str | None = None) -> UserConnection:
        return await user_connection(info, directory.UserFilterSpec(member_of_group_id=self.record.id), first, after)

    @strawberry.field(permission_classes=[CanReadTenant])
    async def licenses(self, info: Info) -> list[Annotated[GroupLicense, strawberry.lazy("gql.types")]]:
        rows = await info.context.loaders.group_licenses_by_group.load(self.record.id)
        return await group_license_list(info, rows)

    @strawberry.field(permission_classes=[CanReadTenant])
    async def has_members_with_license_errors(self, info: Info) -> bool:
        """D23: some transitive member has an ERROR path from this group's licenses."""
        return bool(await info.context.loaders.has_errors_by_group.load(self.record.id))

    @strawberry.field(permission_classes=[CanReadTenant])
    async def members_with_license_errors(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> UserConnection:
        n = page_size(first)
        ctx = info.context
        gid = self.record.id
        page = await fetch_page(info, lambda c: group_licenses.members_with_errors_page(c, ctx.tenant_id, gid, first=n, after=after))

        async def count() -> int:
            return await ctx.read(lambda c: group_licenses.members_with_errors_count(c, ctx.tenant_id, gid))

        return UserConnection(
            edges=[UserEdge(cursor=cur, node=User.of(u)) for u, cur in zip(page.items, page.cursors)],
            page_info=page_info(page),
            count_=count,
        )


@strawberry.type
class GroupLicense:
    group: Group
    product: Product
    disabled_service_plans: list[ServicePlan]
    assigned_at: datetime
    active_user_count: int
    error_user_count: int


async def group_license_list(info: Info, rows: list[Any]) -> list[GroupLicense]:
    ctx = info.context
    groups = {g.id: g for g in await ctx.loaders.group_by_id.load_many(sorted({r.group_id for r in rows})) if g}
    products = ctx.catalog.products
    result = []
    for r in rows:
        product = products[r.product_id]
        disabled = set(r.disabled_plan_ids or ())
        result.append(
            GroupLicense(
                group=Group.of(groups[r.group_id]),
                product=Product.of(product),
                disabled_service_plans=[ServicePlan.of(pl) for pl in product.plans if pl.id in disabled],
                assigned_at=r.assigned_at,
                active_user_count=r.active_count,
                error_user_count=r.error_count,
            )
        )
    result.sort(key=lambda g: (g.group.display_name.lower(), g.product.display_name.lower()))
    return result


@strawberry.type
class GroupEdge:
    cursor: str
    node: Group


@strawberry.type
class GroupConnection:
    edges: list[GroupEdge]
    page_info: PageInfo
    count_: strawberry.Private[Callable[[], Awaitable[int]]]

    @strawberry.field
    async def total_count(self) -> int:
        return await self.count_()


DirectoryObject = Annotated[User | Group, strawberry.union("DirectoryObject")]


@strawberry.type
class DirectoryObjectEdge:
    cursor: str
    node: DirectoryObject


@strawberry.type
class DirectoryObjectConnection:
    edges: list[DirectoryObjectEdge]
    page_info: PageInfo
    count_: strawberry.Private[Callable[[], Awaitable[int]]]

    @strawberry.field
    async def total_count(self) -> int:
        return await self.count_()


@strawberry.input
class GroupFilter:
    search: str | None = None
    has_licenses: bool | None = None
    has_members_with_license_errors: bool | None = None


@strawberry.type
class Viewer:
    tenant: Tenant
    roles: list[Role]  # type: ignore[valid-type]
    user: User | None


# ------------------------------------------------------------------------------ audit


@strawberry.type
class AuditEvent(Node):
    occurred_at: datetime
    actor: str
    action: str
    target_id: strawberry.ID | None
    summary: str

    @staticmethod
    def of(e: AuditRecord) -> AuditEvent:
        return AuditEvent(
            id=strawberry.ID(to_global_id("AuditEvent", e.id)),
            occurred_at=e.occurred_at,
            actor=e.actor,
            action=e.action,
            target_id=strawberry.ID(e.target_id) if e.target_id else None,
            summary=e.summary,
        )


@strawberry.type
class AuditEventEdge:
    cursor: str
    node: AuditEvent


@strawberry.type
class AuditEventConnection:
    edges: list[AuditEventEdge]
    page_info: PageInfo
    count_: strawberry.Private[Callable[[], Awaitable[int]]]

    @strawberry.field
    async def total_count(self) -> int:
        return await self.count_()


async def audit_connection(info: Info, first: int | None, after: str | None) -> AuditEventConnection:
    n = page_size(first)
    ctx = info.context
    page = await fetch_page(info, lambda c: audit.events_page(c, ctx.tenant_id, first=n, after=after))

    async def count() -> int:
        return await ctx.read(lambda c: audit.events_count(c, ctx.tenant_id))

    return AuditEventConnection(
        edges=[AuditEventEdge(cursor=cur, node=AuditEvent.of(e)) for e, cur in zip(page.items, page.cursors)],
        page_info=page_info(page),
        count_=count,
    )
