"""assignGroupLicenses (R18) and the group-path reconciliation every graph change runs (R10, R11).

A change to who reaches which licensing group — a group license added, edited or removed, a
member added or removed, a group nested, un-nested or deleted — stages its batch of users and
their paths as the change leaves the graph (db.group_bulk) and decides every path there, in
SQL (R4, R8, D14, D15). A batch where some user needs the engine's cross-path rules (R6, R7,
location prohibitions) or holds a self-service seat is handed to the engine whole instead.
Group-driven changes record errors on paths instead of refusing (D1).
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncConnection
from strawberry.types import Info

import engine
from db import license_changes as lc
from db.group_bulk import Figures, GroupBatch, Outcome
from db.group_paths import Overlay
from db.models import DIRECT
from db.records import GroupRecord
from db.repo import directory, tenants
from db.repo import group_licenses as gl_repo
from db.repo import subscriptions as subscription_repo
from engine.subscription_pool import PoolFigures
from gql.changes import MAX_OUTCOMES, LicenseChangeSummary, LicenseOutcome, error_totals, pool_moves, summary
from gql.context import Context
from gql.errors import ErrorCode, LicenseError, Refused, UserError, refuse
from gql.inputs import AssignGroupLicensesInput
from gql.mutations.common import record, run_mutation
from gql.mutations.licenses import (
    AssignGroupLicensesPayload,
    apply_and_recover,
    change_summary,
    environment,
    license_inputs,
    product_removals,
    recover_after_seats_freed,
)
from gql.permissions import CanManageLicenses
from gql.resolve import not_found, uuid_arg
from gql.types import AssignmentState, Group


@dataclass
class GroupChange:
    """A decided group change: judged in SQL (`figures`), or by the engine (`decision`) when
    some user of the batch needs its cross-path rules (db.group_bulk, step 3)."""

    batch_size: int
    batch: GroupBatch | None = None
    figures: Figures | None = None
    pools_before: dict[uuid.UUID, PoolFigures] = field(default_factory=dict)
    decision: lc.Decision | None = None

    def affected_user_count(self) -> int:
        if self.decision is not None:
            return self.decision.affected_user_count()
        assert self.figures is not None
        return self.figures.affected_users

    def path_counts(self) -> Counter[tuple[uuid.UUID, str, str | None]]:
        """Created or changed (not removed) paths per (product, state, error code)."""
        counts: Counter[tuple[uuid.UUID, str, str | None]] = Counter()
        if self.decision is not None:
            for key, state in self.decision.changed_paths():
                if state is not None:
                    code = state.error.value if state.error else None
                    counts[(key[1], "ACTIVE" if state.is_active else "ERROR", code)] += 1
            return counts
        assert self.figures is not None
        for (product_id, state_, code, removed), n in self.figures.changed_paths.items():
            if not removed:
                counts[(product_id, state_, code)] += n
        return counts

    def summary(self, ctx: Context, *, dry_run: bool) -> LicenseChangeSummary:
        if self.decision is not None:
            return change_summary(ctx, self.decision, dry_run=dry_run)
        assert self.figures is not None
        figures = self.figures
        touched = {key[0] for key in figures.changed_paths} | set(figures.pool_deltas)
        seats = pool_moves(ctx, touched, self.pools_before, figures.pool_deltas)
        errors: Counter[tuple[uuid.UUID, str]] = Counter()
        for (product_id, _, code, removed), n in figures.changed_paths.items():
            if code is not None and not removed:
                errors[(product_id, code)] += n
        messages = error_messages(ctx, {o.product_id for o in figures.outcomes})
        outcomes = [
            LicenseOutcome(
                state=AssignmentState(o.state),
                error=None if o.removed or o.error_code is None
                else LicenseError(code=ErrorCode(o.error_code), message=message_of(messages, o)),
                removed=o.removed, user_id=o.user_id, product_id=o.product_id,
                group_id=None if o.group_id == DIRECT else o.group_id,
            )
            for o in figures.outcomes
        ]
        return summary(
            dry_run=dry_run, affected=figures.affected_users, products=seats, outcomes=outcomes,
            error_counts=error_totals(ctx, errors),
        )

    async def apply(self, conn: AsyncConnection, ctx: Context) -> None:
        """Write the change; seats it freed go to whoever waits for them (R4), same transaction."""
        if self.decision is not None:
            await apply_and_recover(conn, ctx, self.decision)
            return
        assert self.batch is not None and self.figures is not None
        await self.batch.apply(self.figures, error_messages(ctx, self.figures.products), ctx.services.clock.now())
        freed = [p for p, d in self.figures.pool_deltas.items() if d < 0]
        if freed:
            await recover_after_seats_freed(conn, ctx, freed)


def error_messages(ctx: Context, product_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, tuple[str, str, str]]:
    """Per product, the messages of the errors decided in SQL: no seat, no usage location
    (direct path), no usage location (group path) — the engine's own wording."""
    result = {}
    for p in product_ids:
        product_name = ctx.catalog.products[p].display_name
        result[p] = (
            engine.no_seat_message(product_name),
            engine.usage_location_required_message(product_name, direct=True),
            engine.usage_location_required_message(product_name, direct=False),
        )
    return result


def message_of(messages: dict[uuid.UUID, tuple[str, str, str]], outcome: Outcome) -> str:
    no_seat, direct, group = messages[outcome.product_id]
    if outcome.error_code == "COUNT_VIOLATION":
        return no_seat
    return direct if outcome.group_id == DIRECT else group


async def reconcile(
    conn: AsyncConnection, ctx: Context, overlay: Overlay, *, groups: Iterable[uuid.UUID] = (),
    users: Iterable[uuid.UUID] = (), below: Iterable[uuid.UUID] | None = None, dry_run: bool,
) -> GroupChange:
    """Decide the group paths of every member of `groups` and of `users` on the graph as
    `overlay` changes it (no writes; a real run locks the pools it draws on, D21).

    `below`: the change happens inside these groups (an edge of theirs, or a member group of
    theirs deleted): only their licenses and those of the groups containing them can reach
    someone differently. None: any group's."""
    env = environment(ctx)
    batch = GroupBatch(conn, ctx.tenant_id, env.catalog, env.rules)
    tenant = await tenants.get_tenant(conn, ctx.tenant_id)
    default = tenant.default_usage_location if tenant else None
    licensing = None if below is None else await batch.supergroups(below)
    size = await batch.stage(overlay, groups=groups, users=users, licensing_groups=licensing, default_location=default)
    products = batch.staged_products()
    await batch.collect_claims()
    if await batch.needs_engine():
        await batch.nested_loops(on=True)
        user_ids = await batch.user_ids()
        facts = await lc.load_facts(conn, ctx.tenant_id, user_ids)
        proposal = lc.Proposal(user_ids=set(user_ids), direct_first=False)
        for key, disabled in await batch.proposed_paths():
            if disabled is None:
                proposal.removals.add(key)
            else:
                proposal.upserts[key] = lc.NewPath(disabled)
        decision = await lc.decide(conn, env, proposal, lock=not dry_run, direct=False, facts=facts)
        return GroupChange(size, decision=decision)
    if not dry_run:
        await subscription_repo.lock_pools(conn, ctx.tenant_id, products)
    pools = await lc.pool_figures_of(conn, ctx.tenant_id, products, env.now, env.cancellation_window)
    await batch.decide({p: f.available for p, f in pools.items()})
    figures = await batch.figures(products, MAX_OUTCOMES)
    return GroupChange(size, batch=batch, figures=figures, pools_before=pools)


async def assign_group_licenses(info: Info, input: AssignGroupLicensesInput) -> AssignGroupLicensesPayload:
    ctx = info.context
    dry_run = bool(input.dry_run)
    out: list[GroupRecord] = []

    async def work(conn: AsyncConnection) -> LicenseChangeSummary:
        gid = uuid_arg(input.group_id, "Group", "input.groupId")
        found = (await directory.groups_by_ids(conn, ctx.tenant_id, [gid])) if gid else {}
        if gid is None or gid not in found:
            raise not_found("input.groupId", "group")
        group = found[gid]
        adds = license_inputs(
            info, input.add_licenses, "input.addLicenses",
            no_subscription="Group licenses draw on the organisation's pool; leave `subscriptionId` out.",
        )
        removes = product_removals(
            info, input.remove_product_ids, adds, both="A product cannot be both added and removed in one call (D18)."
        )
        if not group.security_enabled and adds:
            raise refuse(
                ErrorCode.GROUP_NOT_SECURITY_ENABLED,
                f"{group.display_name} is not a security group; only security-enabled groups can hold licenses.",
                group_id=input.group_id,
            )
        current = {r.product_id: frozenset(r.disabled_plan_ids or ()) for r in (await gl_repo.of_groups(conn, ctx.tenant_id, [gid]))[gid]}
        missing = [pid for pid in removes if pid not in current]
        if missing:
            raise Refused(
                [
                    UserError(
                        code=ErrorCode.NOT_ASSIGNED,
                        message=f"{group.display_name} does not hold {ctx.catalog.products[pid].display_name}; there is nothing to remove.",
                        group_id=input.group_id,
                        field=f"input.removeProductIds.{removes.index(pid)}",
                    )
                    for pid in missing
                ]
            )
        after = {p: d for p, d in current.items() if p not in removes}
        after.update(adds)
        change = await reconcile(conn, ctx, Overlay(group_licenses={gid: after}), groups=[gid], below=[], dry_run=dry_run)
        members = change.batch_size
        changes = change.summary(ctx, dry_run=dry_run)
        if not dry_run:
            await gl_repo.upsert(conn, ctx.tenant_id, gid, {p: d for p, d in adds.items()})
            await change.apply(conn, ctx)
            await gl_repo.remove(conn, ctx.tenant_id, gid, removes)
        names = [ctx.catalog.products[p].sku_part_number for p in adds]
        await record(
            conn, ctx, "GROUP_LICENSES_CHANGED",
            f"{group.display_name}: +{', '.join(names) or 'nothing'} "
            f"-{', '.join(ctx.catalog.products[p].sku_part_number for p in removes) or 'nothing'}; "
            f"{members} member(s), {changes.affected_user_count} affected",
            target_id=input.group_id, dry_run=dry_run, members=members, affected=changes.affected_user_count,
            errors=sum(c.count for c in changes.error_counts),
        )
        out.append(group)
        return changes

    changes, errors = await run_mutation(info, work, dry_run=dry_run, license_lock=True)
    if changes is None:
        return AssignGroupLicensesPayload(group=None, errors=errors, changes=None)
    return AssignGroupLicensesPayload(group=Group.of(out[0]), errors=[], changes=changes)


FIELDS = {"assign_group_licenses": (assign_group_licenses, AssignGroupLicensesPayload, [CanManageLicenses])}
