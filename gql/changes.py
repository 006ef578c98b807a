"""LicenseChangeSummary: what a (dry-run or real) change did to seats and paths (R19, D16), as
GraphQL shows a service's `ChangeSummary`."""

from __future__ import annotations

import uuid

import strawberry
from strawberry.types import Info

from gql.errors import ErrorCode, LicenseError, bad_user_input
from gql.types import AssignmentState, Group, Product, User
from services.summaries import MAX_OUTCOMES, ChangeSummary, PathOutcome


@strawberry.type
class ProductSeatChange:
    consumed_before: int
    consumed_after: int
    total_units: int
    product_id: strawberry.Private[uuid.UUID]

    @strawberry.field
    def product(self, info: Info) -> Product:
        return Product.of(info.context.catalog.products[self.product_id])


@strawberry.type
class LicenseOutcome:
    outcome: strawberry.Private[PathOutcome]

    @strawberry.field
    def state(self) -> AssignmentState:  # type: ignore[valid-type]
        return AssignmentState(self.outcome.state)

    @strawberry.field
    def error(self) -> LicenseError | None:
        o = self.outcome
        return None if o.error_code is None else LicenseError(code=o.error_code, message=o.error_message or "")

    @strawberry.field
    def removed(self) -> bool:
        return self.outcome.removed

    @strawberry.field
    async def user(self, info: Info) -> User:
        rec = await info.context.loaders.user_by_id.load(self.outcome.user_id)
        if rec is None:  # the user of a dry-run createUser, or one this change deleted
            rec = info.context.loaders.unsaved_users[self.outcome.user_id]
        return User.of(rec)

    @strawberry.field
    def product(self, info: Info) -> Product:
        return Product.of(info.context.catalog.products[self.outcome.product_id])

    @strawberry.field
    async def assigned_by_group(self, info: Info) -> Group | None:
        if self.outcome.group_id is None:
            return None
        rec = await info.context.loaders.group_by_id.load(self.outcome.group_id)
        return Group.of(rec) if rec else None


@strawberry.type
class ErrorCount:
    code: ErrorCode  # type: ignore[valid-type]
    count: int
    product_id: strawberry.Private[uuid.UUID]

    @strawberry.field
    def product(self, info: Info) -> Product:
        return Product.of(info.context.catalog.products[self.product_id])


@strawberry.type
class LicenseChangeSummary:
    summary: strawberry.Private[ChangeSummary]

    @strawberry.field
    def dry_run(self) -> bool:
        return self.summary.dry_run

    @strawberry.field
    def affected_user_count(self) -> int:
        return self.summary.affected_user_count

    @strawberry.field
    def products(self) -> list[ProductSeatChange]:
        return [
            ProductSeatChange(
                consumed_before=s.consumed_before, consumed_after=s.consumed_after, total_units=s.total_units, product_id=s.product_id,
            )
            for s in self.summary.seats
        ]

    @strawberry.field
    def error_counts(self) -> list[ErrorCount]:
        return [ErrorCount(code=t.code, count=t.count, product_id=t.product_id) for t in self.summary.error_totals]

    @strawberry.field
    def outcomes(self, first: int | None = 100) -> list[LicenseOutcome]:
        first = 100 if first is None else first
        if first < 0 or first > MAX_OUTCOMES:
            raise bad_user_input(f"`outcomes(first:)` must be between 0 and {MAX_OUTCOMES}; got {first}.")
        return [LicenseOutcome(outcome=o) for o in self.summary.outcomes[:first]]


def changes_of(summary: ChangeSummary | None) -> LicenseChangeSummary | None:
    return None if summary is None else LicenseChangeSummary(summary=summary)
