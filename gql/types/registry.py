"""The directory's node constructors, for types the directory's own types refer back to.

`User.licenseHistory` lists `LicenseEvent`s, and a `LicenseEvent` names its `User`, `Group`s
and `Product`: `gql.types.directory` imports `gql.types.events`, so `events` may not import
`directory`. It calls these instead, which `directory` sets when it is imported (always before
a request runs: the schema imports both)."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from strawberry.types import Info

visible_user: Callable[[Info, uuid.UUID], Awaitable[Any]]  # a User, or None when the caller may not see it
visible_group: Callable[[Info, uuid.UUID], Awaitable[Any]]  # a Group, or None
product: Callable[[Any], Any]  # a catalog ProductInfo as a Product
