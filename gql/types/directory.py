"""The tenant's objects and how they reach each other: products with their seat figures,
subscriptions, users, groups, memberships and licenses. They refer to one another both ways
(a product's assigned users, a user's licenses of products), so they live in one module.
Resolvers read through the request's loaders, or page through a repository on the request's
snapshot (`fetch_page`); never SQL of their own.
"""

from __future__ import annotations

import uuid
from collections import OrderedDict
from datetime import datetime
from typing import Annotated, Any

import strawberry
from strawberry.types import Info
from strawberry.types.nodes import FragmentSpread, InlineFragment

import engine
from db.models import DIRECT
from db.records import GroupRecord, SubscriptionRecord, UserRecord
from db.repo import directory, group_licenses, reads
from db.repo.catalog import ProductInfo
from db.repo.paging import BadCursor, Page, encode_cursor
from engine.subscription_lifecycle import view as subscription_view
from engine.subscription_pool import PoolFigures
from gql.errors import ErrorCode, LicenseError, PublicError, bad_user_input, page_size
from gql.permissions import CanReadTenant
from gql.types import registry
from gql.types.catalog import PrepaidUnits, ServicePlan
from gql.types.common import (
    AssignmentState,
    Connection,
    Edge,
    GroupMembershipType,
    Node,
    Role,
    SubscriptionStatus,
    UserType,
    connection,
    fetch_page,
    page_info,
)
from gql.types.events import LicenseEvent, event_connection, event_filter
from gql.types.filters import UserFilter, user_filter_spec
from gql.types.tenant import Tenant
from services.ids import to_global_id

_PRODUCTS: dict[uuid.UUID, Product] = {}


# ------------------------------------------------------------------------------ products


@strawberry.type
class Product(Node):
    sku_id: str
    sku_part_number: str
    display_name: str
    info_: strawberry.Private[ProductInfo]

    @staticmethod
    def of(product: ProductInfo) -> Product:
        """Catalog fields are immutable: one instance per product (tenant figures resolve per request)."""
        found = _PRODUCTS.get(product.id)
        if found is None:
            found = _PRODUCTS[product.id] = Product(
                id=strawberry.ID(to_global_id("Product", product.id)),
                sku_id=str(product.id),
                sku_part_number=product.sku_part_number,
                display_name=product.display_name,
                info_=product,
            )
        return found

    @strawberry.field
    def service_plans(self) -> list[ServicePlan]:
        return [ServicePlan.of(p) for p in self.info_.plans]

    async def _figures(self, info: Info) -> PoolFigures:
        pool = await info.context.loaders.tenant_pool()
        return pool.figures(self.info_.id)  # type: ignore[no-any-return]

    def _figure(self, info: Info, name: str) -> int:
        """One of the product's figures; without awaiting once the request has read the pool
        (the Licenses page: `products` reads it first)."""
        pool = info.context.loaders.ready_pool
        if pool is not None:
            return getattr(pool.figures(self.info_.id), name)  # type: ignore[no-any-return]
        return self._awaited_figure(info, name)  # type: ignore[return-value]  # awaited by graphql-core

    async def _awaited_figure(self, info: Info, name: str) -> int:
        return getattr(await self._figures(info), name)  # type: ignore[no-any-return]

    @strawberry.field(permission_classes=[CanReadTenant])
    async def prepaid_units(self, info: Info) -> PrepaidUnits:
        f = await self._figures(info)
        return PrepaidUnits(enabled=f.enabled, warning=f.warning, suspended=f.suspended)

    @strawberry.field(permission_classes=[CanReadTenant])
    def total_units(self, info: Info) -> int:
        return self._figure(info, "total")

    @strawberry.field(permission_classes=[CanReadTenant])
    def consumed_units(self, info: Info) -> int:
        return self._figure(info, "consumed")

    @strawberry.field(permission_classes=[CanReadTenant])
    def available_units(self, info: Info) -> int:
        return self._figure(info, "available")

    @strawberry.field(permission_classes=[CanReadTenant])
    async def subscriptions(self, info: Info) -> list[Subscription]:
        pool = await info.context.loaders.tenant_pool()
        return [Subscription.of(s, info) for s in pool.by_product.get(self.info_.id, [])]

    @strawberry.field(permission_classes=[CanReadTenant])
    async def group_licenses(self, info: Info) -> list[GroupLicense]:
        rows = await info.context.loaders.group_licenses_by_product.load(self.info_.id)
        return await group_license_list(info, rows)

    @strawberry.field(permission_classes=[CanReadTenant])
    async def assigned_users(
        self, info: Info, first: int | None = None, after: str | None = None, filter: UserFilter | None = None
    ) -> Connection[User]:
        spec = user_filter_spec(info, filter)
        spec = directory.UserFilterSpec(**{**spec.__dict__, "has_product_id": self.info_.id})
        return await user_connection(info, spec, first, after)


# ------------------------------------------------------------------------------ subscriptions


@strawberry.type
class Subscription(Node):
    quantity: int
    status: SubscriptionStatus  # type: ignore[valid-type]
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
        runtime = info.context.runtime
        v = subscription_view(sub.terms, runtime.clock.now(), runtime.cancellation_window)
        return Subscription(
            id=strawberry.ID(to_global_id("Subscription", sub.id)),
            quantity=sub.quantity,
            status=v.status,
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
    async def purchased_by(self, info: Info) -> User | None:
        if self.record.purchased_by is None:
            return None
        rec = await info.context.loaders.user_by_id.load(self.record.purchased_by)
        return User.of(rec) if rec else None


# ------------------------------------------------------------------------------ users


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
    given_name: str | None
    surname: str | None
    employee_id: str | None
    external_id: str | None  # set by SCIM provisioning (R29); no mutation sets it
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
            given_name=u.given_name,
            surname=u.surname,
            employee_id=u.employee_id,
            external_id=u.external_id,
            record=u,
        )

    @strawberry.field
    def member_of(
        self, info: Info, first: int | None = None, after: str | None = None, transitive: bool | None = False
    ) -> Connection[Group]:
        """Direct (or transitive) groups by display name. On a users page the first groups of every
        user are read in one statement before the page is resolved (`prefetch_page`); then this
        resolves without awaiting."""
        n = page_size(first)
        ctx = info.context
        uid = self.record.id
        if not transitive and after is None:
            ready = ctx.loaders.ready_first_groups.get((uid, n + 1))
            if ready is not None:
                return _member_of_connection(info, uid, ready, n)
        return self._member_of(info, n, after, bool(transitive))  # type: ignore[return-value]  # awaited by graphql-core

    async def _member_of(self, info: Info, n: int, after: str | None, transitive: bool) -> Connection[Group]:
        ctx = info.context
        uid = self.record.id
        if not transitive and after is None:
            return _member_of_connection(info, uid, await ctx.loaders.first_groups_by_user.load((uid, n + 1)), n)
        page = await fetch_page(
            info, lambda c: directory.member_of_page(c, ctx.tenant_id, uid, transitive=transitive, first=n, after=after),
        )

        async def count() -> int:
            return await ctx.read(lambda c: directory.member_of_count(c, ctx.tenant_id, uid, transitive=transitive))

        return connection(page, [Group.of(g) for g in page.items], count)

    @strawberry.field
    def licenses(self, info: Info) -> list[UserLicense]:
        """One per product with at least one path (R1, R5, R20), by product display name (D19).
        Resolves without awaiting when the page prefetched the paths and seats."""
        loaders = info.context.loaders
        uid = self.record.id
        paths, seats = loaders.ready_paths.get(uid), loaders.ready_seats.get(uid)
        if paths is not None and seats is not None:
            return _licenses(info, paths, seats)
        return self._licenses(info)  # type: ignore[return-value]  # awaited by graphql-core

    async def _licenses(self, info: Info) -> list[UserLicense]:
        loaders = info.context.loaders
        paths = await loaders.paths_by_user.load(self.record.id)
        if not paths:
            return []
        return _licenses(info, paths, await loaders.seats_by_user.load(self.record.id))

    @strawberry.field
    async def license_history(self, info: Info, first: int | None = None, after: str | None = None) -> Connection[LicenseEvent]:
        """R26: this user's license events, newest first."""
        return await event_connection(info, event_filter(info, None, user_id=self.record.id), first, after, newest_first=True)

    @strawberry.field
    async def license_assignment_states(self, info: Info) -> list[LicenseAssignmentState]:
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


def _member_of_connection(info: Info, uid: uuid.UUID, groups: list[GroupRecord], n: int) -> Connection[Group]:
    cursors = [reads.text_pair_cursor(g.display_name.lower(), str(g.id)) for g in groups[:n]]
    page = Page(items=groups[:n], cursors=cursors, has_next=len(groups) > n, has_previous=False)
    loaders = info.context.loaders

    async def count() -> int:
        return int(await loaders.group_count_by_user.load(uid))

    return connection(page, [Group.of(g) for g in page.items], count)


_PLAN_IDS: dict[uuid.UUID, tuple[ProductInfo, frozenset[uuid.UUID]]] = {}
_SORT_KEYS: dict[uuid.UUID, tuple[ProductInfo, tuple[str, str]]] = {}
_NO_PLANS: frozenset[uuid.UUID] = frozenset()


def _plan_ids(product: ProductInfo) -> frozenset[uuid.UUID]:
    """`product.plan_ids`, built once per catalog product (ProductInfo builds it on every call)."""
    found = _PLAN_IDS.get(product.id)
    if found is None or found[0] is not product:
        found = _PLAN_IDS[product.id] = (product, product.plan_ids)
    return found[1]


def _sort_key(product: ProductInfo) -> tuple[str, str]:
    """A license's place in a user's list (D19: by product display name, then id), once per
    catalog product."""
    found = _SORT_KEYS.get(product.id)
    if found is None or found[0] is not product:
        found = _SORT_KEYS[product.id] = (product, (product.display_name.lower(), str(product.id)))
    return found[1]


def _licenses(info: Info, paths: list[Any], seats: set[uuid.UUID]) -> list[UserLicense]:
    by_product: dict[uuid.UUID, list[Any]] = {}
    for path in paths:
        by_product.setdefault(path.product_id, []).append(path)
    products = info.context.catalog.products
    owned = [(products[product_id], product_paths) for product_id, product_paths in by_product.items()]
    if len(owned) > 1:
        owned.sort(key=lambda entry: _sort_key(entry[0]))
    active, error = AssignmentState.ACTIVE, AssignmentState.ERROR
    result = []
    for product, product_paths in owned:
        result.append(
            UserLicense(
                product=Product.of(product),
                state=active if product.id in seats else error,
                assigned_directly=any(p.group_id == DIRECT for p in product_paths),
                info_=product,
                paths_=product_paths,
                group_ids_=tuple(p.group_id for p in product_paths if p.group_id != DIRECT),
            )
        )
    return result


def _node_fields(selections: list[Any]) -> dict[str, list[Any]]:
    """The fields selected on a connection's nodes (fragments included), by name."""
    found: dict[str, list[Any]] = {}

    def visit(items: list[Any], path: tuple[str, ...]) -> None:
        for item in items:
            name = getattr(item, "name", None)
            if isinstance(item, (FragmentSpread, InlineFragment)):
                visit(item.selections, path)
            elif path == ("edges", "node"):
                found.setdefault(name, []).append(item)
            elif name in ("edges", "node") and len(path) < 2:
                visit(item.selections, (*path, name))

    visit(selections, ())
    return found


def _first(value: Any) -> int | None:
    """`first` as selected (strawberry hands a literal over as its text, "10"); None when it is
    not a page size: the field's resolver then reports it."""
    try:
        return page_size(int(value) if value is not None else None)
    except (TypeError, ValueError, PublicError):
        return None


# (the users field's nodes) -> (those nodes, kept so their ids stay theirs; what they select)
_PAGE_NEEDS: OrderedDict[tuple[int, ...], tuple[Any, tuple[bool, tuple[int, ...]]]] = OrderedDict()
_PAGE_NEEDS_KEPT = 512


def _page_needs(info: Info) -> tuple[bool, tuple[int, ...]]:
    """What a page's nodes will ask for: whether `licenses`, and the sizes of `memberOf(first:)`
    (direct, from the start) they select. A function of the field's nodes in the (cached,
    validated) document when the operation has no variables: then worked out once per document."""
    raw = info._raw_info
    if getattr(raw.variable_values, "coerced", raw.variable_values):  # graphql-core 3.3: VariableValues
        return _selected_needs(info)
    nodes = raw.field_nodes
    key = tuple(map(id, nodes))
    found = _PAGE_NEEDS.get(key)
    if found is not None and len(found[0]) == len(nodes) and all(a is b for a, b in zip(found[0], nodes)):
        return found[1]
    needs = _selected_needs(info)
    _PAGE_NEEDS[key] = (nodes, needs)
    if len(_PAGE_NEEDS) > _PAGE_NEEDS_KEPT:
        _PAGE_NEEDS.popitem(last=False)
    return needs


def _selected_needs(info: Info) -> tuple[bool, tuple[int, ...]]:
    if not info.selected_fields:
        return False, ()
    fields = _node_fields(info.selected_fields[0].selections)
    sizes = {
        _first(f.arguments.get("first"))
        for f in fields.get("memberOf", []) if not f.arguments.get("transitive") and f.arguments.get("after") is None
    }
    return "licenses" in fields, tuple(sorted(n for n in sizes if n is not None))


async def prefetch_page(info: Info, users: list[UserRecord]) -> None:
    """What the page's nodes will ask for, read for all of them at once on the request's snapshot:
    paths and seats for `licenses`, the first groups for `memberOf(first:)`. Their resolvers then
    need no loader round (no task per user)."""
    if not users:
        return
    licenses, sizes = _page_needs(info)
    loaders = info.context.loaders
    ids = [u.id for u in users]
    if licenses:
        await loaders.prefetch_licenses(ids)
    for size in sizes:
        await loaders.prefetch_first_groups(ids, size + 1)


_ALL_USERS = directory.UserFilterSpec()


async def _all_users_page(info: Info, first: int, after: str | None) -> Page[UserRecord]:
    """The users page (no filter) in one plain statement, with the paths, seats and first groups
    its nodes select (db.repo.reads.users_page_with): the same rows and cursors."""
    ctx = info.context
    licenses, sizes = _page_needs(info)
    groups_limit = sizes[0] + 1 if sizes else None
    try:
        found = await ctx.read_raw(
            lambda r: reads.users_page_with(r, ctx.tenant_id, first=first, after=after, licenses=licenses, groups_limit=groups_limit)
        )
    except BadCursor as exc:
        raise bad_user_input(str(exc)) from exc
    loaders = ctx.loaders
    if found.paths is not None and found.seats is not None:
        loaders.prime_licenses(found.paths, found.seats)
    if found.first_groups is not None and groups_limit is not None:
        loaders.prime_first_groups(found.first_groups, groups_limit)
    ids = [u.id for u in found.page.items]
    for size in sizes[1:]:  # another size of memberOf(first:): a statement of its own
        await loaders.prefetch_first_groups(ids, size + 1)
    return found.page


async def user_connection(info: Info, spec: directory.UserFilterSpec, first: int | None, after: str | None) -> Connection[User]:
    n = page_size(first)
    ctx = info.context
    tid = ctx.tenant_id
    if spec == _ALL_USERS:  # the users page: plain SQL (db.repo.reads), the same rows and cursors
        page = await _all_users_page(info, n, after)
        ready = ctx.loaders.ready_users
        for u in page.items:
            ready[u.id] = u
    else:
        page = await fetch_page(info, lambda c: directory.users_page(c, tid, spec, first=n, after=after))
        for u in page.items:
            ctx.loaders.user_by_id.prime(u.id, u)
        await prefetch_page(info, page.items)

    async def count() -> int:
        return await ctx.read(lambda c: directory.users_count(c, tid, spec))

    return connection(page, [User.of(u) for u in page.items], count)


@strawberry.type
class UserLicense:
    product: Product
    state: AssignmentState  # type: ignore[valid-type]
    assigned_directly: bool
    info_: strawberry.Private[ProductInfo]
    paths_: strawberry.Private[list[Any]]  # the user's paths of this product
    group_ids_: strawberry.Private[tuple[uuid.UUID, ...]]
    _enabled: strawberry.Private[frozenset[uuid.UUID] | None] = None

    @property
    def enabled_(self) -> frozenset[uuid.UUID]:
        """R5: the plans the user's ACTIVE paths enable (worked out when first asked for)."""
        if self._enabled is None:
            self._enabled = engine.enabled_for_user(
                _plan_ids(self.info_),
                [frozenset(d) if (d := p.disabled_plan_ids) else _NO_PLANS for p in self.paths_ if p.state == "ACTIVE"],
            )
        return self._enabled

    @strawberry.field
    async def inherited_from(self, info: Info) -> list[Group]:
        """The groups that hold this license (D3), by display name."""
        if not self.group_ids_:
            return []
        found = await info.context.loaders.group_by_id.load_many(sorted(set(self.group_ids_)))
        return [Group.of(g) for g in sorted((g for g in found if g), key=lambda g: (g.display_name.lower(), str(g.id)))]

    @strawberry.field
    def enabled_service_plans(self) -> list[ServicePlan]:
        """R5: the union over the user's ACTIVE paths, in the product's plan order (built only when asked)."""
        return [ServicePlan.of(pl) for pl in self.info_.plans if pl.id in self.enabled_]

    @strawberry.field
    def disabled_service_plans(self) -> list[ServicePlan]:
        return [ServicePlan.of(pl) for pl in self.info_.plans if pl.id not in self.enabled_]


@strawberry.type
class LicenseAssignmentState:
    product: Product
    assigned_by_group: Group | None
    disabled_service_plans: list[ServicePlan]
    state: AssignmentState  # type: ignore[valid-type]
    error: LicenseError | None
    last_updated_at: datetime


# ------------------------------------------------------------------------------ groups


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
    def membership_type(self) -> GroupMembershipType:
        return GroupMembershipType.DYNAMIC if self.record.dynamic else GroupMembershipType.ASSIGNED

    @strawberry.field(permission_classes=[CanReadTenant])
    def membership_rule(self) -> str | None:
        """The rule a dynamic group's members follow (R23); null for an assigned group."""
        return self.record.membership_rule

    @strawberry.field(permission_classes=[CanReadTenant])
    def created_at(self) -> datetime:
        return self.record.created_at

    @strawberry.field(permission_classes=[CanReadTenant])
    async def members(self, info: Info, first: int | None = None, after: str | None = None) -> Connection[DirectoryObject]:
        n = page_size(first)
        ctx = info.context
        gid = self.record.id
        if after is None:  # the first page of every group of a list in one statement (§6)
            rows = await ctx.loaders.first_members_by_group.load((gid, n + 1))
            page = Page(
                items=[("Group" if kind == 0 else "User", i) for kind, _sort, i in rows[:n]],
                cursors=[encode_cursor((kind, sort, str(i))) for kind, sort, i in rows[:n]],
                has_next=len(rows) > n, has_previous=False,
            )
        else:
            page = await fetch_page(info, lambda c: directory.direct_members_page(c, ctx.tenant_id, gid, first=n, after=after))
        users = await ctx.loaders.user_by_id.load_many([i for kind, i in page.items if kind == "User"])
        groups = await ctx.loaders.group_by_id.load_many([i for kind, i in page.items if kind == "Group"])
        by_id: dict[uuid.UUID, Any] = {u.id: User.of(u) for u in users if u}
        by_id.update({g.id: Group.of(g) for g in groups if g})
        edges = [Edge(cursor=cur, node=by_id[i]) for (_, i), cur in zip(page.items, page.cursors) if i in by_id]

        async def count() -> int:
            return int(await ctx.loaders.member_count_by_group.load(gid))

        return Connection(edges=edges, page_info=page_info(page), count_=count)

    @strawberry.field(permission_classes=[CanReadTenant])
    async def transitive_members(self, info: Info, first: int | None = None, after: str | None = None) -> Connection[User]:
        return await user_connection(info, directory.UserFilterSpec(member_of_group_id=self.record.id), first, after)

    @strawberry.field(permission_classes=[CanReadTenant])
    async def licenses(self, info: Info) -> list[GroupLicense]:
        rows = await info.context.loaders.group_licenses_by_group.load(self.record.id)
        return await group_license_list(info, rows)

    @strawberry.field(permission_classes=[CanReadTenant])
    async def has_members_with_license_errors(self, info: Info) -> bool:
        """D23: some transitive member has an ERROR path from this group's licenses."""
        return bool(await info.context.loaders.has_errors_by_group.load(self.record.id))

    @strawberry.field(permission_classes=[CanReadTenant])
    async def members_with_license_errors(self, info: Info, first: int | None = None, after: str | None = None) -> Connection[User]:
        n = page_size(first)
        ctx = info.context
        gid = self.record.id
        page = await fetch_page(info, lambda c: group_licenses.members_with_errors_page(c, ctx.tenant_id, gid, first=n, after=after))

        async def count() -> int:
            return await ctx.read(lambda c: group_licenses.members_with_errors_count(c, ctx.tenant_id, gid))

        return connection(page, [User.of(u) for u in page.items], count)


DirectoryObject = Annotated[User | Group, strawberry.union("DirectoryObject")]


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
class Viewer:
    tenant: Tenant
    roles: list[Role]  # type: ignore[valid-type]
    user: User | None


# ------------------------------------------------------------------------------ visibility


async def visible_user(info: Info, user_id: uuid.UUID) -> User | None:
    """The user, if the caller may see them (readers: everyone; no role: only their own user)."""
    ctx = info.context
    actor = ctx.actor
    if not actor.can_read_tenant and (actor.user is None or actor.user.id != user_id):
        return None
    rec = await ctx.loaders.user_by_id.load(user_id)
    return User.of(rec) if rec else None


async def visible_group(info: Info, group_id: uuid.UUID) -> Group | None:
    """The group, if the caller may see it (no role: only groups the caller is a member of)."""
    ctx = info.context
    actor = ctx.actor
    if not actor.can_read_tenant:
        me = actor.user
        if me is None:
            return None
        member = await ctx.read(lambda c: directory.is_transitive_member(c, ctx.tenant_id, me.id, group_id))
        if not member:
            return None
    rec = await ctx.loaders.group_by_id.load(group_id)
    return Group.of(rec) if rec else None


registry.visible_user = visible_user
registry.visible_group = visible_group
registry.product = Product.of
