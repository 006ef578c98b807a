"""The Query type."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import TypeVar

import strawberry
from strawberry.types import Info

from db.repo import audit, directory
from db.repo.paging import BAD_CURSOR, BadCursor, Page, decode_cursor, encode_cursor, text_key
from gql.errors import PublicError, bad_user_input, page_size, public_error
from gql.permissions import CanReadTenant, CanReadWebhooks
from gql.types import (
    AuditEvent,
    Connection,
    Group,
    GroupFilter,
    Node,
    Product,
    Role,
    ServicePlan,
    Subscription,
    Tenant,
    User,
    UserFilter,
    Viewer,
    audit_connection,
    connection,
    fetch_page,
    group_filter_spec,
    user_connection,
    user_filter_spec,
)
from gql.types.directory import visible_group, visible_user
from gql.types.events import LicenseEvent, LicenseEventFilter, event_connection, event_filter, event_node
from gql.types.rules import MembershipRulePreview
from gql.types.webhooks import Webhook, webhook_node, webhooks_of
from services import validation as v
from services.errors import ErrorCode, Refused
from services.ids import BadId, from_global_id, number_in_tenant, product_id_arg, uuid_arg

T = TypeVar("T")


def _arg(work: Callable[[], T]) -> T:
    """An argument check of a query: a refusal is a top-level error with its code (D13)."""
    try:
        return work()
    except Refused as exc:
        raise public_error(exc) from exc


def _bad_node(value: str) -> PublicError:
    return PublicError(f"`id` is not a valid id ({value[:60]!r}); pass the `id` the API returned.", ErrorCode.INVALID_INPUT.value)




async def _node(info: Info, type_name: str, key: str) -> Node | None:
    ctx = info.context
    actor = ctx.actor
    if type_name == "User":
        return await visible_user(info, uuid.UUID(key))
    if type_name == "Group":
        return await visible_group(info, uuid.UUID(key))
    if type_name == "Product":
        p = ctx.catalog.products.get(uuid.UUID(key))
        return Product.of(p) if p else None
    if type_name == "ServicePlan":
        plan = ctx.catalog.plans.get(uuid.UUID(key))
        return ServicePlan.of(plan) if plan else None
    if type_name == "Tenant":
        return Tenant.of(actor.tenant) if key == actor.tenant.id else None
    if type_name == "LicenseEvent":
        return await event_node(info, key)
    if type_name == "Webhook":
        return await webhook_node(info, key)
    if not actor.can_read_tenant:
        return None
    if type_name == "Subscription":
        sid = uuid.UUID(key)
        pool = await ctx.loaders.tenant_pool()
        match = [s for s in pool.subscriptions if s.id == sid]
        return Subscription.of(match[0], info) if match else None
    if type_name == "AuditEvent":
        number = number_in_tenant(key, ctx.tenant_id)
        if number is None:
            return None  # another tenant's, or no event's
        event = await ctx.read(lambda c: audit.event_by_id(c, ctx.tenant_id, number))
        return AuditEvent.of(event, ctx.tenant_id) if event else None
    return None


@strawberry.type
class Query:
    @strawberry.field
    async def node(self, info: Info, id: strawberry.ID) -> Node | None:
        try:
            gid = from_global_id(id)
            return await _node(info, gid.type_name, gid.key)
        except (BadId, ValueError) as exc:
            raise _bad_node(id) from exc

    @strawberry.field
    def viewer(self, info: Info) -> Viewer:
        actor = info.context.actor
        return Viewer(
            tenant=Tenant.of(actor.tenant),
            roles=sorted(actor.roles, key=lambda r: list(Role).index(r)),
            user=User.of(actor.user) if actor.user else None,
        )

    @strawberry.field(permission_classes=[CanReadTenant])
    async def users(
        self, info: Info, first: int | None = None, after: str | None = None, filter: UserFilter | None = None
    ) -> Connection[User]:
        return await user_connection(info, user_filter_spec(info, filter), first, after)

    @strawberry.field
    async def user(self, info: Info, id: strawberry.ID) -> User | None:
        uid = _arg(lambda: uuid_arg(id, "User", "id"))
        return await visible_user(info, uid) if uid else None

    @strawberry.field(permission_classes=[CanReadTenant])
    async def groups(
        self, info: Info, first: int | None = None, after: str | None = None, filter: GroupFilter | None = None
    ) -> Connection[Group]:
        n = page_size(first)
        ctx = info.context
        spec = group_filter_spec(filter)
        page = await fetch_page(info, lambda c: directory.groups_page(c, ctx.tenant_id, spec, first=n, after=after))

        async def count() -> int:
            return await ctx.read(lambda c: directory.groups_count(c, ctx.tenant_id, spec))

        return connection(page, [Group.of(g) for g in page.items], count)

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
            pid = _arg(lambda: product_id_arg(catalog, id, "id"))
            return Product.of(catalog.products[pid]) if pid else None
        sku = _arg(lambda: v.search_term(sku_part_number, "skuPartNumber"))
        found = catalog.product_by_sku(sku) if sku else None
        return Product.of(found) if found else None

    @strawberry.field
    def catalog(self, info: Info, first: int | None = None, after: str | None = None, search: str | None = None) -> Connection[Product]:
        n = page_size(first)
        products = info.context.catalog.sorted_products
        term = _arg(lambda: v.search_term(search, "search"))
        if term:
            term = term.lower()
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
        chosen = list(products[start : start + n])
        page = Page(
            items=chosen, cursors=[encode_cursor((p.sku_part_number.lower(), str(p.id))) for p in chosen],
            has_next=start + n < total, has_previous=start > 0,
        )

        async def count() -> int:
            return total

        return connection(page, [Product.of(p) for p in chosen], count)

    @strawberry.field(permission_classes=[CanReadTenant])
    async def subscriptions(self, info: Info) -> list[Subscription]:
        """The Products page: one row per subscription, self-service and DELETED ones included."""
        pool = await info.context.loaders.tenant_pool()
        return [Subscription.of(s, info) for s in pool.subscriptions]

    @strawberry.field
    async def license_events(
        self, info: Info, first: int | None = None, after: str | None = None, filter: LicenseEventFilter | None = None
    ) -> Connection[LicenseEvent]:
        """R26: the tenant's license events, oldest first (a feed to tail); a caller with no role
        gets only their own user's (D26)."""
        return await event_connection(info, event_filter(info, filter), first, after)

    @strawberry.field(permission_classes=[CanReadWebhooks])
    async def webhooks(self, info: Info) -> list[Webhook]:
        """R28: the tenant's webhooks and their delivery state, oldest first (Global
        Administrator, Global Reader)."""
        return await webhooks_of(info)

    @strawberry.field(permission_classes=[CanReadTenant])
    def membership_rule_preview(self, rule: str) -> MembershipRulePreview:
        """R24: the rule checked as typed — valid or the error with its position, how many users
        match tenant-wide, and a sample. Stores nothing."""
        return MembershipRulePreview.of(rule)

    @strawberry.field(permission_classes=[CanReadTenant])
    async def audit_log(self, info: Info, first: int | None = None, after: str | None = None) -> Connection[AuditEvent]:
        return await audit_connection(info, first, after)
