"""membershipRulePreview (R24): a rule checked as the admin types it."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from engine.membership_rules import Rule
from gql.errors import bad_user_input, public_error
from gql.types.directory import User
from services import dynamic_groups
from services.errors import Refused

MAX_SAMPLE = 100


@strawberry.type(name="RuleError")
class RuleProblem:
    message: str
    position: int  # 0-based, in code points of the rule as given


@strawberry.type
class MembershipRulePreview:
    valid: bool
    error: RuleProblem | None
    rule: strawberry.Private[Rule | None]

    @staticmethod
    def of(text: str) -> MembershipRulePreview:
        check = dynamic_groups.RuleCheck.of(text)
        error = RuleProblem(message=check.error.message, position=check.error.position) if check.error else None
        return MembershipRulePreview(valid=check.rule is not None, error=error, rule=check.rule)

    @strawberry.field
    async def matching_count(self, info: Info) -> int:
        """How many of the organisation's users match (0 when the rule is not valid)."""
        rule = self.rule
        if rule is None:
            return 0
        ctx = info.context
        try:
            return await ctx.read(lambda c: dynamic_groups.matching_count(ctx.runtime, c, ctx.tenant_id, rule))
        except Refused as exc:
            raise public_error(exc) from exc

    @strawberry.field
    async def sample(self, info: Info, first: int | None = 20) -> list[User]:
        """Matching users in creation order (at most 100)."""
        n = 20 if first is None else first
        if n < 0 or n > MAX_SAMPLE:
            raise bad_user_input(f"`first` must be between 0 and {MAX_SAMPLE}; got {n}.")  # D9
        rule = self.rule
        if rule is None or n == 0:
            return []
        ctx = info.context
        try:
            ids = await ctx.read(lambda c: dynamic_groups.matching_sample(ctx.runtime, c, ctx.tenant_id, rule, n))
        except Refused as exc:
            raise public_error(exc) from exc
        users = await ctx.loaders.user_by_id.load_many(ids)
        return [User.of(u) for u in users if u is not None]
