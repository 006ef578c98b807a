"""Keyset pagination: opaque cursors over (sort key, id), pages fetched in SQL, never sliced in Python."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement, Select, tuple_
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

T = TypeVar("T")


class BadCursor(ValueError):
    pass


def encode_cursor(values: Sequence[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(values), default=str).encode()).decode()


BAD_CURSOR = "the `after` cursor is not one this API returned; pass an endCursor from a previous page"


def decode_cursor(cursor: str, arity: int) -> list[Any]:
    try:
        values = json.loads(base64.urlsafe_b64decode(cursor.encode()).decode())
    except Exception as exc:  # noqa: BLE001 - any garbage is the same admin error
        raise BadCursor(BAD_CURSOR) from exc
    if not isinstance(values, list) or len(values) != arity:
        raise BadCursor(BAD_CURSOR)
    return values


def text_key(value: Any) -> str:
    if not isinstance(value, str) or "\x00" in value:  # PostgreSQL text cannot hold NUL
        raise TypeError("expected a string")
    return value


BIGINT = (-(2**63), 2**63 - 1)  # what a bigint key can hold: a larger number in a cursor is not one this API returned


def int_key(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError("expected an integer")
    if not BIGINT[0] <= value <= BIGINT[1]:
        raise ValueError("outside the range of a bigint")
    return value


@dataclass
class Page(Generic[T]):
    items: list[T]
    cursors: list[str]
    has_next: bool
    has_previous: bool


async def keyset_page(
    conn: AsyncConnection,
    query: Select[Any],
    keys: Sequence[ColumnElement[Any]],
    *,
    first: int,
    after: str | None,
    key_of: Callable[[Row[Any]], Sequence[Any]],
    convert: Callable[[Row[Any]], T],
    descending: bool = False,
    cast_after: Callable[[list[Any]], list[Any]] | None = None,
) -> Page[T]:
    """Rows of `query` ordered by `keys`, `first` of them after the cursor `after`."""
    if after is not None:
        values = decode_cursor(after, len(keys))
        if cast_after is not None:
            try:
                values = cast_after(values)
            except (TypeError, ValueError, AttributeError) as exc:
                raise BadCursor(BAD_CURSOR) from exc
        cond = tuple_(*keys) < tuple_(*values) if descending else tuple_(*keys) > tuple_(*values)
        query = query.where(cond)
    order = [k.desc() for k in keys] if descending else list(keys)
    rows = (await conn.execute(query.order_by(*order).limit(first + 1))).all()
    has_next = len(rows) > first
    rows = rows[:first]
    return Page(
        items=[convert(r) for r in rows],
        cursors=[encode_cursor(key_of(r)) for r in rows],
        has_next=has_next,
        has_previous=after is not None,
    )
