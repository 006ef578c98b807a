"""License events (R25–R27): the change feed as GraphQL — `licenseEvents`, `User.licenseHistory`,
`node` of a `LicenseEvent`, and what the subscriptions stream."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import Enum
from typing import Annotated

import strawberry
from strawberry.types import Info

import engine
from db.repo import events
from db.repo.events import CURSOR_TAG, EventFilter, EventPath, EventRecord, event_cursor
from db.repo.paging import BadCursor, Page, decode_cursor
from gql.errors import ErrorCode, LicenseError, PublicError, page_size, public_error
from gql.types import registry
from gql.types.audit import AuditEvent
from gql.types.catalog import ServicePlan
from gql.types.common import AssignmentState, Connection, Node, connection
from services.errors import Refused
from services.ids import MAX_NUMBER, number_in_tenant, numbered_id, product_id_arg, to_global_id, uuid_arg

BAD_AFTER = "`after` is not a license-event cursor this API returned; pass a `cursor` of an event or an `endCursor`."


@strawberry.enum
class LicenseEventKind(Enum):
    ADDED = "ADDED"  # the user now holds a seat of the product
    REMOVED = "REMOVED"  # the user no longer holds a seat of the product (or has no path left)
    CHANGED = "CHANGED"  # paths, their states or errors, or the enabled plans changed; the seat did not


@strawberry.input
class LicenseEventFilter:
    user_id: strawberry.ID | None = None
    product_id: strawberry.ID | None = None
    group_id: strawberry.ID | None = None  # events in which a path from this group was created, changed or ended (D29)
    kinds: list[LicenseEventKind] | None = None
    since: datetime | None = None  # inclusive
    until: datetime | None = None  # exclusive


def parse_after(after: str | None) -> int | None:
    """The seq an `after` cursor names; a cursor that does not decode is INVALID_INPUT (D26)."""
    if after is None:
        return None
    try:
        tag, seq = decode_cursor(after, 2)
    except BadCursor as exc:
        raise PublicError(BAD_AFTER, ErrorCode.INVALID_INPUT.value) from exc
    if tag != CURSOR_TAG or not isinstance(seq, int) or isinstance(seq, bool) or not 0 <= seq <= MAX_NUMBER:
        raise PublicError(BAD_AFTER, ErrorCode.INVALID_INPUT.value)
    return seq


NOTHING = uuid.UUID(int=0)  # an id no user, product or group has


def _or_nothing(found: uuid.UUID | None) -> uuid.UUID:
    return NOTHING if found is None else found


def event_filter(info: Info, f: LicenseEventFilter | None, *, user_id: uuid.UUID | None = None) -> EventFilter | None:
    """The filter as the repo takes it; None when the caller may see nothing (no role and no
    user of their own). A caller with no role sees only their own user's events (D26)."""
    actor = info.context.actor
    catalog = info.context.catalog
    try:
        # an id of another type, or of no catalog product, names nothing: no events (never "no filter")
        wanted_user = _or_nothing(uuid_arg(f.user_id, "User", "filter.userId")) if f and f.user_id else None
        product = _or_nothing(product_id_arg(catalog, f.product_id, "filter.productId")) if f and f.product_id else None
        group = _or_nothing(uuid_arg(f.group_id, "Group", "filter.groupId")) if f and f.group_id else None
    except Refused as exc:
        raise public_error(exc) from exc  # malformed ids: INVALID_INPUT
    if user_id is not None:
        wanted_user = user_id if wanted_user in (None, user_id) else NOTHING
    if not actor.can_read_tenant:
        mine = actor.user.id if actor.user else None
        if mine is None or (wanted_user is not None and wanted_user != mine):
            return None
        wanted_user = mine
    kinds = tuple(k.value for k in (f.kinds or [])) if f else ()
    return EventFilter(wanted_user, product, group, kinds, f.since if f else None, f.until if f else None)


@strawberry.type
class LicensePathSnapshot:
    group_id: strawberry.ID | None  # the group's id, kept after the group is deleted; null: direct
    state: AssignmentState  # type: ignore[valid-type]
    error: LicenseError | None
    raw_group: strawberry.Private[uuid.UUID | None]

    @staticmethod
    def of(path: EventPath) -> LicensePathSnapshot:
        return LicensePathSnapshot(
            group_id=strawberry.ID(to_global_id("Group", path.group_id)) if path.group_id else None,
            state=AssignmentState(path.state),
            error=LicenseError(code=ErrorCode(path.error_code), message=path.error_message or "") if path.error_code else None,
            raw_group=path.group_id,
        )

    @strawberry.field
    async def assigned_by_group(self, info: Info) -> Annotated[Group, strawberry.lazy("gql.types.directory")] | None:  # noqa: F821 (lazy)
        """Null: direct, or the group was since deleted (see groupId)."""
        if self.raw_group is None:
            return None
        return await registry.visible_group(info, self.raw_group)


@strawberry.type
class LicenseEvent(Node):
    cursor: str  # opaque; strictly increasing in commit order within a tenant
    occurred_at: datetime
    kind: LicenseEventKind
    user_id: strawberry.ID  # kept after the user is deleted
    user_principal_name: str  # as it was at the time
    holds_seat: bool  # after the change
    actor: str  # the token's sub (or "scim:<sub>")
    record: strawberry.Private[EventRecord]

    @staticmethod
    def of(e: EventRecord, tenant_id: str) -> LicenseEvent:
        return LicenseEvent(
            id=strawberry.ID(numbered_id("LicenseEvent", tenant_id, e.seq)), cursor=event_cursor(e.seq), occurred_at=e.occurred_at,
            kind=LicenseEventKind(e.kind), user_id=strawberry.ID(to_global_id("User", e.user_id)),
            user_principal_name=e.user_principal_name, holds_seat=e.holds_seat, actor=e.actor, record=e,
        )

    @strawberry.field
    async def user(self, info: Info) -> Annotated[User, strawberry.lazy("gql.types.directory")] | None:  # noqa: F821 (lazy)
        """Null once the user is deleted."""
        return await registry.visible_user(info, self.record.user_id)

    @strawberry.field
    def product(self, info: Info) -> Annotated[Product, strawberry.lazy("gql.types.directory")]:  # noqa: F821 (lazy)
        return registry.product(info.context.catalog.products[self.record.product_id])

    @strawberry.field
    def enabled_service_plans(self, info: Info) -> list[ServicePlan]:
        """After the change: the product's plans enabled on the user's ACTIVE paths."""
        product = info.context.catalog.products[self.record.product_id]
        active = [frozenset(p.disabled_plan_ids) for p in self.record.paths if p.state == "ACTIVE"]
        enabled = engine.enabled_for_user(product.plan_ids, active)
        return [ServicePlan.of(plan) for plan in product.plans if plan.id in enabled]

    @strawberry.field
    def paths(self) -> list[LicensePathSnapshot]:
        """After the change (empty for REMOVED with no path left)."""
        return [LicensePathSnapshot.of(p) for p in self.record.paths]

    @strawberry.field
    async def audit_event(self, info: Info) -> AuditEvent | None:
        """The change that caused it."""
        ctx = info.context
        number = self.record.audit_id
        if number is None or not ctx.actor.can_read_tenant:
            return None
        found = await ctx.loaders.audit_event_by_id.load(number)
        return AuditEvent.of(found, ctx.tenant_id) if found else None


async def event_connection(
    info: Info, f: EventFilter | None, first: int | None, after: str | None, *, newest_first: bool = False
) -> Connection[LicenseEvent]:
    n = page_size(first)
    seq = parse_after(after)
    ctx = info.context
    if f is None:
        records: list[EventRecord] = []
    else:
        spec = f
        records = await ctx.read(lambda c: events.page(c, ctx.tenant_id, spec, after=seq, first=n + 1, newest_first=newest_first))
    page = Page(records[:n], [event_cursor(r.seq) for r in records[:n]], len(records) > n, seq is not None)

    async def count() -> int:
        if f is None:
            return 0
        spec = f
        return await ctx.read(lambda c: events.count(c, ctx.tenant_id, spec))

    return connection(page, [LicenseEvent.of(r, ctx.tenant_id) for r in page.items], count)


async def event_node(info: Info, key: str) -> LicenseEvent | None:
    """`node` of a LicenseEvent: as visible as the event's user's history (D30)."""
    ctx = info.context
    seq = number_in_tenant(key, ctx.tenant_id)
    if seq is None:
        return None  # another tenant's, or no event's
    found = await ctx.read(lambda c: events.by_seqs(c, ctx.tenant_id, [seq]))
    record = found.get(seq)
    if record is None:
        return None
    actor = ctx.actor
    if not actor.can_read_tenant and (actor.user is None or actor.user.id != record.user_id):
        return None
    return LicenseEvent.of(record, ctx.tenant_id)
