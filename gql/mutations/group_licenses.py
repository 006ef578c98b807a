"""assignGroupLicenses (R18) and the group-path reconciliation every graph change runs (R10, R11).

A change to who reaches which licensing group — a group license added, edited or removed, a
member added or removed, a group nested, un-nested or deleted — recomputes the desired group
paths of the affected users (in SQL, on the graph as the change leaves it), turns the
difference into a `Proposal`, and lets the engine decide every path (R4–R9). Group-driven
changes record errors on paths instead of refusing (D1).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncConnection
from strawberry.types import Info

from db import license_changes as lc
from db.group_paths import Overlay, desired_group_paths, users_reached_by
from db.records import GroupRecord
from db.repo import directory
from db.repo import group_licenses as gl_repo
from gql import validation as v
from gql.changes import LicenseChangeSummary
from gql.context import Context
from gql.errors import ErrorCode, Refused, UserError, refuse
from gql.inputs import AssignGroupLicensesInput
from gql.mutations.common import record, run_mutation
from gql.mutations.licenses import (
    AssignGroupLicensesPayload,
    _disabled_plans,
    _product,
    apply_and_recover,
    change_summary,
    environment,
)
from gql.permissions import CanManageLicenses
from gql.resolve import not_found, uuid_arg
from gql.types import Group


async def reconcile(
    conn: AsyncConnection, ctx: Context, user_ids: Sequence[uuid.UUID], overlay: Overlay, *, dry_run: bool
) -> lc.Decision:
    """Decide the group paths of these users on the graph as `overlay` changes it (no writes)."""
    facts = await lc.load_facts(conn, ctx.tenant_id, user_ids)
    desired = await desired_group_paths(conn, ctx.tenant_id, user_ids, overlay)
    proposal = lc.Proposal(user_ids=set(user_ids), direct_first=False)
    lc.reconcile_group_paths(proposal, facts, desired)
    return await lc.decide(conn, environment(ctx), proposal, lock=not dry_run, direct=False, facts=facts)


async def apply_reconciled(conn: AsyncConnection, ctx: Context, decision: lc.Decision) -> None:
    await apply_and_recover(conn, ctx, decision)


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
        adds: dict[uuid.UUID, frozenset[uuid.UUID]] = {}
        for index, lic in enumerate(input.add_licenses or []):
            field = f"input.addLicenses.{index}"
            pid = _product(info, lic.product_id, f"{field}.productId")
            if pid in adds:
                raise v.invalid(f"{field}.productId", "This product is named twice in `addLicenses`.")
            if lic.subscription_id is not None:
                raise v.invalid(f"{field}.subscriptionId", "Group licenses draw on the organisation's pool; leave `subscriptionId` out.")
            adds[pid] = _disabled_plans(info, pid, lic.disabled_service_plan_ids, f"{field}.disabledServicePlanIds")
        removes: list[uuid.UUID] = []
        for index, raw in enumerate(input.remove_product_ids or []):
            pid = _product(info, raw, f"input.removeProductIds.{index}")
            if pid in adds:
                raise v.invalid(f"input.removeProductIds.{index}", "A product cannot be both added and removed in one call (D18).")
            if pid in removes:
                raise v.invalid(f"input.removeProductIds.{index}", "This product is named twice in `removeProductIds`.")
            removes.append(pid)
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
        members = await users_reached_by(conn, ctx.tenant_id, [gid])
        decision = await reconcile(conn, ctx, members, Overlay(group_licenses={gid: after}), dry_run=dry_run)
        changes = change_summary(ctx, decision, dry_run=dry_run)
        if not dry_run:
            await gl_repo.upsert(conn, ctx.tenant_id, gid, {p: d for p, d in adds.items()})
            await apply_reconciled(conn, ctx, decision)
            await gl_repo.remove(conn, ctx.tenant_id, gid, removes)
        names = [ctx.catalog.products[p].sku_part_number for p in adds]
        await record(
            conn, ctx, "GROUP_LICENSES_CHANGED",
            f"{group.display_name}: +{', '.join(names) or 'nothing'} "
            f"-{', '.join(ctx.catalog.products[p].sku_part_number for p in removes) or 'nothing'}; "
            f"{len(members)} member(s), {changes.affected_user_count} affected",
            target_id=input.group_id, dry_run=dry_run, members=len(members), affected=changes.affected_user_count,
            errors=sum(c.count for c in changes.error_counts),
        )
        out.append(group)
        return changes

    changes, errors = await run_mutation(info, work, dry_run=dry_run, license_lock=True)
    if changes is None:
        return AssignGroupLicensesPayload(group=None, errors=errors, changes=None)
    return AssignGroupLicensesPayload(group=Group.of(out[0]), errors=[], changes=changes)


FIELDS = {"assign_group_licenses": (assign_group_licenses, AssignGroupLicensesPayload, [CanManageLicenses])}
