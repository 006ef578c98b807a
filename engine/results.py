"""What an evaluation decides: path states, effective licenses, seat changes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from functools import cached_property

from engine.errors import ErrorCode, ErrorDetail
from engine.facts import PathKey
from engine.seats import SeatChange


class PathStatus(StrEnum):
    """An assignment path is ACTIVE or in ERROR (with an error code)."""

    ACTIVE = "ACTIVE"
    ERROR = "ERROR"


@dataclass(frozen=True, slots=True)
class PathState:
    """The state of one assignment path; `error`, `message` and `detail` are set iff ERROR."""

    user_id: str
    product_id: str
    group_id: str | None
    state: PathStatus
    error: ErrorCode | None = None
    message: str | None = None
    detail: ErrorDetail | None = None

    @property
    def key(self) -> PathKey:
        """(user_id, product_id, group_id)."""
        return (self.user_id, self.product_id, self.group_id)

    @property
    def is_active(self) -> bool:
        """True when the path is ACTIVE."""
        return self.state is PathStatus.ACTIVE


@dataclass(frozen=True, slots=True)
class EffectiveLicense:
    """Per (user, product): a seat is held iff some path is ACTIVE (R1); the enabled plans are
    the union over ACTIVE paths of the product's plans minus that path's disabled ones (R5)."""

    user_id: str
    product_id: str
    holds_seat: bool
    enabled_plan_ids: frozenset[str]
    disabled_plan_ids: frozenset[str]


@dataclass(frozen=True)
class Evaluation:
    """The decisions for a batch of users: every path's state (ordered by user, product,
    direct path first, then group id), every (user, product) effective license, and per
    product of the batch how its pool moves."""

    paths: tuple[PathState, ...]
    licenses: tuple[EffectiveLicense, ...]
    seat_changes: Mapping[str, SeatChange]

    @cached_property
    def _paths_by_key(self) -> dict[PathKey, PathState]:
        return {state.key: state for state in self.paths}

    @cached_property
    def _licenses_by_key(self) -> dict[tuple[str, str], EffectiveLicense]:
        return {(lic.user_id, lic.product_id): lic for lic in self.licenses}

    def path(self, user_id: str, product_id: str, group_id: str | None) -> PathState | None:
        """The state of one path, None when the batch has no such path."""
        return self._paths_by_key.get((user_id, product_id, group_id))

    def license(self, user_id: str, product_id: str) -> EffectiveLicense | None:
        """The effective license of a user for a product, None when the user has no path to it."""
        return self._licenses_by_key.get((user_id, product_id))

    def errors(self) -> tuple[PathState, ...]:
        """The paths in ERROR."""
        return tuple(state for state in self.paths if not state.is_active)
