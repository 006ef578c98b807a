"""The subscription root, `SubscriptionRoot` (R27; `Subscription` is the purchased kind):
`licenseEvents` and `seatsChanged` over the WebSocket endpoint (graphql-transport-ws).

Each operation has its own context (gql.http.websocket). It never keeps a read snapshot while
waiting: what a batch's fields read (an event's user, a product's figures) is read in a fresh
snapshot opened for that batch and closed before the subscription waits again. A failure of
the stream (an undecodable `after`, an unknown product, too slow) ends the operation with an
`error` message; the socket and its other operations stay open.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncGenerator

import strawberry
from strawberry.types import Info

from gql.errors import ErrorCode, PublicError
from gql.permissions import CanReadTenant
from gql.types import Product
from gql.types.events import LicenseEvent, LicenseEventFilter, event_filter, parse_after
from services import live_updates
from services.errors import Refused
from services.ids import product_id_arg

SUBSCRIBER_TOO_SLOW = "SUBSCRIBER_TOO_SLOW"


def _product_ids(info: Info, product_ids: list[strawberry.ID] | None) -> frozenset[uuid.UUID] | None:
    if product_ids is None:
        return None  # D33: every product the tenant owns
    catalog = info.context.catalog
    found: set[uuid.UUID] = set()
    for i, value in enumerate(product_ids):
        field = f"productIds[{i}]"
        try:
            pid = product_id_arg(catalog, value, field)
        except Refused as exc:
            raise PublicError(exc.problems[0].message, ErrorCode.INVALID_INPUT.value) from exc
        if pid is None:
            raise PublicError(f"`{field}` names no product of the catalog.", ErrorCode.INVALID_INPUT.value)
        found.add(pid)
    return frozenset(found)


@strawberry.type(name="SubscriptionRoot")
class SubscriptionRoot:
    @strawberry.subscription
    async def license_events(
        self, info: Info, after: str | None = None, filter: LicenseEventFilter | None = None
    ) -> AsyncGenerator[LicenseEvent, None]:
        """R27: the events after `after` (none when omitted), then each new one as it commits, in
        cursor order. A caller with no role gets only their own user's (D26)."""
        ctx = info.context
        seq = parse_after(after)  # D29: undecodable → INVALID_INPUT, ending this operation
        spec = event_filter(info, filter)
        await ctx.reset_snapshot()  # the one that resolved the caller
        if spec is None:  # may see nothing: an empty feed, open until the client completes it
            await asyncio.Event().wait()
            return
        try:
            async for page in live_updates.follow_events(ctx.runtime, ctx.actor, spec, seq):
                for record in page:
                    yield LicenseEvent.of(record, ctx.tenant_id)
                await ctx.reset_snapshot()  # before the next page is read, or the feed waits
        except live_updates.SubscriberTooSlow as exc:
            raise PublicError(str(exc), SUBSCRIBER_TOO_SLOW) from exc

    @strawberry.subscription(permission_classes=[CanReadTenant])
    async def seats_changed(
        self, info: Info, product_ids: list[strawberry.ID] | None = None
    ) -> AsyncGenerator[Product, None]:
        """R27: the product each time its pool figures (units total, consumed, available, prepaid)
        change — the Licenses page live. `productIds: null`: every product the tenant owns (D33)."""
        ctx = info.context
        wanted = _product_ids(info, product_ids)
        await ctx.reset_snapshot()
        async for pool, changed in live_updates.follow_seats(ctx.runtime, ctx.actor, wanted):
            ctx.loaders.tenant_pool_by_tenant.prime(ctx.tenant_id, pool)  # the figures just compared
            for pid in changed:
                yield Product.of(ctx.catalog.products[pid])
            await ctx.reset_snapshot()
