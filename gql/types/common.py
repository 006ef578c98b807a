"""What every part of the schema shares: Node, keyset connections, the enums of the contract."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from enum import Enum
from typing import Any, Generic, TypeVar

import strawberry
from strawberry.types import Info

from db.repo.paging import BadCursor, Page
from engine.results import PathStatus
from engine.subscription_lifecycle import SubscriptionStatus as LifecycleStatus
from gql.errors import bad_user_input
from services.roles import Role as ClaimRole

Role = strawberry.enum(ClaimRole, name="Role")
AssignmentState = strawberry.enum(PathStatus, name="AssignmentState")
SubscriptionStatus = strawberry.enum(LifecycleStatus, name="SubscriptionStatus")


@strawberry.enum
class UserType(Enum):
    MEMBER = "MEMBER"
    GUEST = "GUEST"


@strawberry.enum
class GroupMembershipType(Enum):
    """R22: members added by admins, or following a rule."""

    ASSIGNED = "ASSIGNED"
    DYNAMIC = "DYNAMIC"


@strawberry.enum
class AssignMode(Enum):
    ADD = "ADD"
    REPLACE = "REPLACE"


@strawberry.interface
class Node:
    id: strawberry.ID


@strawberry.type
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None


T = TypeVar("T")


@strawberry.type
class Edge(Generic[T]):
    cursor: str
    node: T


@strawberry.type
class Connection(Generic[T]):
    """A keyset-paged list (Relay): `UserConnection`, `GroupConnection`, … are its instances.
    `totalCount` is counted only when selected."""

    edges: list[Edge[T]]
    page_info: PageInfo
    count_: strawberry.Private[Callable[[], Awaitable[int]]]

    @strawberry.field
    async def total_count(self) -> int:
        return await self.count_()


def page_info(page: Page[Any]) -> PageInfo:
    return PageInfo(
        has_next_page=page.has_next,
        has_previous_page=page.has_previous,
        start_cursor=page.cursors[0] if page.cursors else None,
        end_cursor=page.cursors[-1] if page.cursors else None,
    )


def connection(page: Page[Any], nodes: Sequence[Any], count: Callable[[], Awaitable[int]]) -> Connection[Any]:
    """A connection of `nodes` (one per page item, with its cursor)."""
    return Connection(
        edges=[Edge(cursor=cur, node=node) for node, cur in zip(nodes, page.cursors)], page_info=page_info(page), count_=count
    )


async def fetch_page(info: Info, work: Callable[[Any], Awaitable[Page[Any]]]) -> Page[Any]:
    """A page read on the request's snapshot; a cursor this API never returned is BAD_USER_INPUT."""
    try:
        return await info.context.read(work)
    except BadCursor as exc:
        raise bad_user_input(str(exc)) from exc
