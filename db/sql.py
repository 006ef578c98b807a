"""Small SQL helpers shared by repositories."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from sqlalchemy import any_, literal
from sqlalchemy.dialects.postgresql import ARRAY, UUID


def any_uuid(values: Iterable[uuid.UUID]) -> Any:
    """`= ANY($1::uuid[])`: one parameter however many ids (an IN list is capped at 32,767)."""
    return any_(literal(list(values), ARRAY(UUID(as_uuid=True))))
