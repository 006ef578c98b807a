"""The Query type."""

from __future__ import annotations

import uuid
from typing import Any

import strawberry
from strawberry.types import Info

from db.repo import audit, directory
from db.repo.paging import BAD_CURSOR, BadCursor, decode_cursor, encode_cursor, text_key
from gql.errors import bad_user_input, page_size
from gql.ids import BadId, from_global_id
from gql.permissions import CanReadTenant
from gql.resolve import ArgError, product_id_arg, uuid_arg
from gql.types import (
    AuditEventConnection,
    Group,
    GroupConnection,
    GroupEdge,
    GroupFilter,
    Node,
    PageInfo,
    Product,
    ProductConnection,
    ProductEdge,
    Role,
    ServicePlan,
    Subscription,
    Tenant,
    User,
    UserConnection,
    UserFilter,
    Viewer,
    audit_connection,
    fetch_page,
    page_info,
    user_connection,
    user_filter_spec,
)


async def visible_user(info: Info, user_id: uuid.UUID) -> User | None:
    ctx = info.context
    principal = ctx.principal
    if not principal.can_read_tenant and (principal.user is None or principal.user.id != user_id):
        return None
    rec = await ctx.loaders.user_by_id.load(user_id)
    return User.of(rec) if rec else None


async def visible_group(info: Info, group_id: uuid.UUID) -> Group | None:
    ctx = info.context
    principal = ctx.principal
    if not principal.can_read_tenant:
        me = principal.user
        if me is None:
            return None
        member = await ctx.read(lambda c: directory.is_transitive_member(c, ctx.tenant_id, me.id, group_id))
        if not member:
            return None
    rec = await ctx.loaders.group_by_id.load(group_id)
    return Group.of(rec) if rec else None


def _arg(work: Any) -> Any:
    try:
        return work()
    except ArgError as exc:
        raise exc.as_public() from exc


@strawberry.type
class Query:
    @strawberry.field
    async def node(self, info: Info, id: strawberry.ID) -> Node | None:
        try:
            gid = from_global_id(id)
        except BadId as exc:
            raise ArgError(*_bad_node(id)).as_public() from exc
        ctx = info.context
        principal = ctx.principal
        try:
            if gid.type_name == "User":
                return await visible_user(info, gid.uuid())
            if gid.type_name == "Group":
                return await visible_group(info, gid.uuid())
            if gid.type_name == "Product":
                p = ctx.catalog.products.get(gid.uuid())
                return Product.of(p) if p else None
            if gid.type_name == "ServicePlan":
                plan = ctx.catalog.plans.get(gid.uuid())
                return ServicePlan.of(plan) if plan else None
            if gid.type_name == "Tenant":
                return Tenant.of(principal.tenant) if gid.key == principal.tenant.id else None
            if not principal.can_read_tenant:
                return None
            if gid.type_name == "Subscription":
                sid = gid.uuid()
                pool = await ctx.loaders.tenant_pool()
                match = [s for s in pool.subscriptions if s.id == sid]
                return Subscription.of(match[0], info) if match else None
            if gid.type_name == "AuditEvent":
                from gql.types import AuditEvent

                if not (gid.key.isascii() and gid.key.isdigit()):  # int() also takes " 7", "1_0", "٧"
                    raise BadId(id)
                event = await ctx.read(lambda c: audit.event_by_id(c, ctx.tenant_id, int(gid.key)))
                return AuditEvent.of(event) if event else None
        except (BadId, ValueError) as exc:
            raise ArgError(*_bad_node(id)).as_public() from exc
        return None

    @strawberry.field
    def viewer(self, info: Info) -> Viewer:
        p = info.context.principal
        return Viewer(
            tenant=Tenant.of(p.tenant),
            roles=sorted(p.roles, key=lambda r: list(Role).index(r)),  # type: ignore[arg-type]
            user=User.of(p.user) if p.user else None,
        )

    @strawberry.field(permission_classes=[CanReadTenant])
    async def users(
        self, info: Info, first: int | None = None, after: str | None = None, filter: UserFilter | None = None
    ) -> UserConnection:
        spec = await _arg_async(user_filter_spec(info, filter))
        return await user_connection(info, spec, first, after)

    @strawberry.field
    async def user(self, info: Info, id: strawberry.ID) -> User | None:
        uid = _arg(lambda: uuid_arg(id, "User", "id"))
        return await visible_user(info, uid) if uid else None

    @strawberry.field(permission_classes=[CanReadTenant])
    async def groups(
        self, info: Info, first: int | None = None, after: str | None = None, filter: GroupFilter | None = None
    ) -> GroupConnection:
        n = page_size(first)
        ctx = info.context
        spec = directory.GroupFilterSpec(
            search=filter.search.strip() if filter and filter.search and filter.search.strip() else None,
            has_licenses=filter.has_licenses if filter else None,
            has_members_with_license_errors=filter.has_members_with_license_errors if filter else None,
        )
        page = await fetch_page(info, lambda c: directory.groups_page(c, ctx.tenant_id, spec, first=n, after=after))

        async def count() -> int:
            return await ctx.read(lambda c: directory.groups_count(c, ctx.tenant_id, spec))

        return GroupConnection(
            edges=[GroupEdge(cursor=cur, node=Group.of(g)) for g, cur in zip(page.items, page.cursors)],
            page_info=page_info(page),
            count_=count,
        )

    @strawberry.field
    async def group(self, info: Info, id: strawberry.ID) -> Group | None:
        gid = _arg(lambda: uuid_arg(id, "Group", "id"))
        return await visible_group(info, gid) if gid else None

    @strawberry.field(permission_classes=[CanReadTenant])
    async def products(self, info: Info) -> list[Product]:
        """The Licenses page: every product the tenant has a subscription for (D13)."""
        ctx = info.context
        pool = await ctx.loaders.tenant_pool()
        owned = [ctx.catalog.products[pid] for pid in pool.owned_product_ids()]
        owned.sort(key=lambda p: (p.display_name.lower(), str(p.id)))
        return [Product.of(p) for p in owned]

    @strawberry.field
    def product(self, info: Info, id: strawberry.ID | None = None, sku_part_number: str | None = None) -> Product | None:
        if (id is None) == (sku_part_number is None):
            raise bad_user_input("product(…) takes exactly one of `id` or `skuPartNumber`.")
        catalog = info.context.catalog
        if id is not None:
            pid = _arg(lambda: product_id_arg(info, id, "id"))
            return Product.of(catalog.products[pid]) if pid else None
        found = catalog.product_by_sku(sku_part_number.strip()) if sku_part_number else None
        return Product.of(found) if found else None

    @strawberry.field
    def catalog(self, info: Info, first: int | None = None, after: str | None = None, search: str | None = None) -> ProductConnection:
        n = page_size(first)
        products = info.context.catalog.sorted_products
        if search and search.strip():
            term = search.strip().lower()
            products = tuple(p for p in products if term in p.sku_part_number.lower() or term in p.display_name.lower())
        total = len(products)
        start = 0
        if after is not None:
            try:
                raw = decode_cursor(after, 2)
                key = (text_key(raw[0]), text_key(raw[1]))
            except (BadCursor, TypeError) as exc:
                raise bad_user_input(BAD_CURSOR) from exc
            start = next((i for i, p in enumerate(products) if (p.sku_part_number.lower(), str(p.id)) > key), total)
        chosen = products[start : start + n]
        cursors = [encode_cursor((p.sku_part_number.lower(), str(p.id))) for p in chosen]
        return ProductConnection(
            edges=[ProductEdge(cursor=c, node=Product.of(p)) for p, c in zip(chosen, cursors)],
            page_info=PageInfo(
                has_next_page=start + n < total,
                has_previous_page=start > 0,
                start_cursor=cursors[0] if cursors else None,
                end_cursor=cursors[-1] if cursors else None,
            ),
            total_count=total,
        )

    @strawberry.field(permission_classes=[CanReadTenant])
    async def subscriptions(self, info: Info) -> list[Subscription]:
        """The Products page: one row per subscription, self-service and DELETED ones included."""
        pool = await info.context.loaders.tenant_pool()
        return [Subscription.of(s, info) for s in pool.subscriptions]

    @strawberry.field(permission_classes=[CanReadTenant])
    async def audit_log(self, info: Info, first: int | None = None, after: str | None = None) -> AuditEventConnection:
        return await audit_connection(info, first, after)


def _bad_node(value: str) -> tuple[Any, str, str]:
    from gql.errors import ErrorCode

    return ErrorCode.INVALID_INPUT, "id", f"`id` is not a valid id ({value[:60]!r}); pass the `id` the API returned."


async def _arg_async(awaitable: Any) -> Any:
    try:
        return await awaitable
    except ArgError as exc:
        raise exc.as_public() from exc
