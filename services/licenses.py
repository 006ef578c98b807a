"""License use cases — assignLicenses (R12), updateUserServicePlans (R14), reprocessLicenses
(R13), assignGroupLicenses (R18) — and the input parsing they share.

Direct changes are decided by the engine and refused as a whole when they would newly put a
path into ERROR (D1, D16); group license changes go through `group_changes.reconcile` and
record errors on paths. Every change has a dry run: the same decision, nothing stored (R19).
"""

from __future__ import annotations

import uuid
from collections.abc import Container, Sequence
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncConnection

from db.models import DIRECT
from db.records import GroupRecord, SubscriptionRecord, UserRecord
from db.repo import directory
from db.repo import group_licenses as gl_repo
from db.repo import subscriptions as subscription_repo
from db.repo.catalog import Catalog
from db.repo.licensing import load_facts
from services import dynamic_groups
from services import validation as v
from services.change import Change, begin
from services.context import Actor, Runtime
from services.errors import ErrorCode, Problem, Refused, not_found, refuse
from services.group_changes import Overlay, reconcile
from services.ids import plan_id_arg, product_id_arg, uuid_arg
from services.license_changes import NewPath, Proposal, changed_anything, decide, decide_and_write, write
from services.roles import Role
from services.summaries import ChangeSummary


@dataclass(frozen=True)
class LicenseRequest:
    """One license to give: a product, the plans it turns off, and (D6) a self-service subscription."""

    product_id: str
    disabled_service_plan_ids: Sequence[str] = ()
    subscription_id: str | None = None


@dataclass(frozen=True)
class AssignLicenses:
    user_ids: Sequence[str]
    add_licenses: Sequence[LicenseRequest] = ()
    remove_product_ids: Sequence[str] = ()
    replace: bool = False  # mode REPLACE: the users' direct licenses become exactly `add_licenses`
    dry_run: bool = False


@dataclass(frozen=True)
class LicensesAssigned:
    users: list[UserRecord]
    changes: ChangeSummary


# ------------------------------------------------------------------------------ parsing inputs


def user_ids_arg(raw: Sequence[str], field: str, limit: int) -> list[uuid.UUID]:
    """User ids of a list input: at most `limit` (TOO_MANY_USERS), at least one, each once."""
    if len(raw) > limit:
        raise refuse(
            ErrorCode.TOO_MANY_USERS, f"{len(raw)} users in one call; at most {limit}. To license more people, use a group.",
            field=field,
        )
    if not raw:
        raise v.invalid(field, f"`{field}` needs at least one user id.")
    ids: list[uuid.UUID] = []
    for index, value in enumerate(raw):
        uid = uuid_arg(value, "User", f"{field}.{index}")
        if uid is None:
            raise not_found(f"{field}.{index}", "user")
        ids.append(uid)
    v.no_duplicates(ids, raw, field)
    return ids


async def existing_users(conn: AsyncConnection, tenant_id: str, ids: list[uuid.UUID], field: str) -> dict[uuid.UUID, UserRecord]:
    found = await directory.users_by_ids(conn, tenant_id, ids)
    missing = [i for i, uid in enumerate(ids) if uid not in found]
    if missing:
        raise Refused(
            [Problem(ErrorCode.NOT_FOUND, f"`{field}.{i}` names no user of this organisation.", f"{field}.{i}") for i in missing]
        )
    return found


def product_arg(catalog: Catalog, raw: str, field: str) -> uuid.UUID:
    pid = product_id_arg(catalog, raw, field)
    if pid is None:
        raise not_found(field, "product of the catalog")
    return pid


def disabled_plans_arg(catalog: Catalog, product_id: uuid.UUID, raw: Sequence[str] | None, field: str) -> frozenset[uuid.UUID]:
    product = catalog.products[product_id]
    plans: list[uuid.UUID] = []
    for index, value in enumerate(raw or []):
        plan = plan_id_arg(catalog, value, f"{field}.{index}")
        if plan not in product.plan_ids:
            raise v.invalid(f"{field}.{index}", f"{value!r} is not a service plan of {product.display_name}.")
        plans.append(plan)
    v.no_duplicates(plans, list(raw or []), field)
    return frozenset(plans)


def license_inputs(
    catalog: Catalog, inputs: Sequence[LicenseRequest] | None, field: str, *, no_subscription: str | None = None
) -> dict[uuid.UUID, frozenset[uuid.UUID]]:
    """Each input's product and disabled plans, validated; a product named twice is refused.
    `no_subscription`: where a `subscriptionId` has no place, the message refusing it."""
    adds: dict[uuid.UUID, frozenset[uuid.UUID]] = {}
    name = field.rsplit(".", 1)[-1]
    for index, lic in enumerate(inputs or []):
        at = f"{field}.{index}"
        pid = product_arg(catalog, lic.product_id, f"{at}.productId")
        if pid in adds:
            raise v.invalid(f"{at}.productId", f"This product is named twice in `{name}`.")
        if no_subscription is not None and lic.subscription_id is not None:
            raise v.invalid(f"{at}.subscriptionId", no_subscription)
        adds[pid] = disabled_plans_arg(catalog, pid, lic.disabled_service_plan_ids, f"{at}.disabledServicePlanIds")
    return adds


def product_removals(catalog: Catalog, raw_ids: Sequence[str] | None, adds: Container[uuid.UUID], *, both: str) -> list[uuid.UUID]:
    """The products of `input.removeProductIds`, validated; one also added (`both`: the message)
    or named twice is refused."""
    removes: list[uuid.UUID] = []
    for index, raw in enumerate(raw_ids or []):
        pid = product_arg(catalog, raw, f"input.removeProductIds.{index}")
        if pid in adds:
            raise v.invalid(f"input.removeProductIds.{index}", both)
        if pid in removes:
            raise v.invalid(f"input.removeProductIds.{index}", "This product is named twice in `removeProductIds`.")
        removes.append(pid)
    return removes


async def _self_service_source(
    change: Change, license: LicenseRequest, product_id: uuid.UUID, field: str
) -> SubscriptionRecord | None:
    """R3/D6: a subscriptionId names the caller's own self-service subscription of that product."""
    if license.subscription_id is None:
        return None
    sid = uuid_arg(license.subscription_id, "Subscription", field)
    found = (await subscription_repo.subscriptions_by_ids(change.conn, change.tenant_id, [sid])) if sid else {}
    sub = found.get(sid) if sid else None
    if sub is None:
        raise not_found(field, "subscription")
    if sub.product_id != product_id:
        raise v.invalid(field, "That subscription is for another product.")
    me = change.actor.user
    if not sub.is_self_service:
        raise v.invalid(field, "`subscriptionId` is only for self-service subscriptions; organisation seats come from the pool.")
    if me is None or sub.purchased_by != me.id:
        raise refuse(
            ErrorCode.SELF_SERVICE_SUBSCRIPTION,
            "This is someone's self-service subscription: only its purchaser can assign its seats. "
            "Take the subscription over (takeOverSubscription) to manage its licenses.",
            field=field,
        )
    return sub


def _inherited_message(catalog: Catalog, groups: list[str], product_id: uuid.UUID) -> str:
    name = catalog.products[product_id].display_name
    return (
        f"{name} is assigned through the group{'s' if len(groups) > 1 else ''} {', '.join(groups)}; "
        "change it on the group, or remove the user from the group."
    )


async def _group_names(conn: AsyncConnection, tenant_id: str, ids: set[uuid.UUID]) -> dict[uuid.UUID, str]:
    found = await directory.groups_by_ids(conn, tenant_id, sorted(ids))
    return {g.id: g.display_name for g in found.values()}


def _self_service_problem(catalog: Catalog, user: UserRecord, pid: uuid.UUID) -> Problem:
    return Problem(
        ErrorCode.SELF_SERVICE_SUBSCRIPTION,
        f"{catalog.products[pid].display_name} of {user.display_name} comes from a self-service subscription: "
        "only its purchaser can change it. Take the subscription over (takeOverSubscription) to manage it.",
        user_id=user.id, product_id=pid,
    )


def _removal_problem(catalog: Catalog, uid: uuid.UUID, pid: uuid.UUID, via_groups: list[str]) -> Problem:
    """D4: removing a product held only through groups is INHERITED_LICENSE; not held at all NOT_ASSIGNED."""
    if via_groups:
        return Problem(ErrorCode.INHERITED_LICENSE, _inherited_message(catalog, via_groups, pid), user_id=uid, product_id=pid)
    return Problem(
        ErrorCode.NOT_ASSIGNED, f"The user does not have {catalog.products[pid].display_name}; there is nothing to remove.",
        user_id=uid, product_id=pid,
    )


# ------------------------------------------------------------------------------ assignLicenses


async def assign_licenses(rt: Runtime, actor: Actor, request: AssignLicenses) -> LicensesAssigned:
    async with begin(rt, actor, dry_run=request.dry_run, license_lock=True) as change:
        return await _assign_licenses(change, request)


async def _assign_licenses(change: Change, request: AssignLicenses) -> LicensesAssigned:
    conn, tid, catalog = change.conn, change.tenant_id, change.catalog
    ids = user_ids_arg(list(request.user_ids), "input.userIds", change.runtime.settings.max_bulk_users)
    adds: dict[uuid.UUID, tuple[frozenset[uuid.UUID], SubscriptionRecord | None]] = {
        pid: (disabled, None) for pid, disabled in license_inputs(catalog, request.add_licenses, "input.addLicenses").items()
    }
    removes = product_removals(
        catalog, request.remove_product_ids, adds, both="A product cannot be both added and removed in one call."
    )
    users = await existing_users(conn, tid, ids, "input.userIds")
    self_service: SubscriptionRecord | None = None
    for index, lic in enumerate(request.add_licenses or []):
        pid = product_arg(catalog, lic.product_id, f"input.addLicenses.{index}.productId")
        source = await _self_service_source(change, lic, pid, f"input.addLicenses.{index}.subscriptionId")
        if source is not None:
            self_service = source
            adds[pid] = (adds[pid][0], source)
    facts = await load_facts(conn, tid, ids)
    problems: list[Problem] = []
    guests = [uid for uid in ids if users[uid].user_type == "GUEST"]
    if guests and (adds or request.replace) and not change.actor.has_any({Role.GLOBAL_ADMINISTRATOR}):
        for uid in guests:  # D4: per user × product (a REPLACE adding nothing: per user)
            for pid in list(adds) or [None]:
                what = f"{catalog.products[pid].display_name} to" if pid is not None else "licenses to"
                problems.append(
                    Problem(
                        ErrorCode.GLOBAL_ADMINISTRATOR_REQUIRED,
                        f"{users[uid].display_name} is a guest: only a Global Administrator can assign {what} guests directly.",
                        user_id=uid, product_id=pid,
                    )
                )
    proposal = Proposal(user_ids=set(ids))
    requested: list[tuple[uuid.UUID, uuid.UUID]] = []
    group_ids = {k[2] for k in facts.paths if k[2] != DIRECT}
    names = await _group_names(conn, tid, group_ids) if group_ids else {}
    for uid in ids:
        direct = {k[1]: p for k, p in facts.paths.items() if k[0] == uid and k[2] == DIRECT}
        for pid, (disabled, source) in adds.items():
            existing = direct.get(pid)
            if existing is not None and existing.subscription_id is not None and (
                source is None or existing.subscription_id != source.id
            ):
                problems.append(_self_service_problem(catalog, users[uid], pid))  # R3: only its purchaser changes it
                continue
            proposal.upserts[(uid, pid, DIRECT)] = NewPath(disabled, subscription_id=source.id if source else None)
            requested.append((uid, pid))
        dropping = list(removes)
        if request.replace:
            dropping += [pid for pid in direct if pid not in adds and pid not in removes]
        for pid in dropping:
            path = direct.get(pid)
            if path is None:
                via = sorted(names.get(k[2], "?") for k in facts.paths if k[0] == uid and k[1] == pid)
                if pid in removes:
                    problems.append(_removal_problem(catalog, uid, pid, via))
                continue
            if path.subscription_id is not None and (self_service is None or path.subscription_id != self_service.id):
                problems.append(_self_service_problem(catalog, users[uid], pid))
                continue
            proposal.removals.add((uid, pid, DIRECT))
            requested.append((uid, pid))
    decision = await decide(
        change, proposal, direct=True, requested=requested, self_service_subscription=self_service, facts=facts
    )
    reported = {(p.user_id, p.product_id) for p in problems}
    problems += [p for p in decision.problems() if (p.user_id, p.product_id) not in reported]
    if problems:
        raise Refused(problems)
    changes = decision.summary(change).merged(await write(change, decision), change.catalog)
    if not changed_anything(changes, decision):
        return LicensesAssigned([users[uid] for uid in ids], changes)  # R21: nothing changed, nothing audited
    await change.audit(
        "LICENSES_ASSIGNED",
        f"Licenses changed for {len(ids)} user(s): +{len(adds)} product(s), -{len(removes)} product(s), "
        f"mode {'REPLACE' if request.replace else 'ADD'}",
        users=len(ids), affected=changes.affected_user_count,
        added=[catalog.products[p].sku_part_number for p in adds],
        removed=[catalog.products[p].sku_part_number for p in removes],
    )
    return LicensesAssigned([users[uid] for uid in ids], changes)


# ------------------------------------------------------------------------------ updateUserServicePlans


@dataclass(frozen=True)
class UpdateUserServicePlans:
    user_id: str
    product_id: str
    disabled_service_plan_ids: Sequence[str] = ()
    dry_run: bool = False


@dataclass(frozen=True)
class UserLicensesChanged:
    user: UserRecord
    changes: ChangeSummary


async def update_user_service_plans(rt: Runtime, actor: Actor, request: UpdateUserServicePlans) -> UserLicensesChanged:
    """R14: turn apps and services of a user's direct license on or off."""
    async with begin(rt, actor, dry_run=request.dry_run, license_lock=True) as change:
        conn, tid, catalog = change.conn, change.tenant_id, change.catalog
        uid = uuid_arg(request.user_id, "User", "input.userId")
        pid = product_arg(catalog, request.product_id, "input.productId")
        disabled = disabled_plans_arg(catalog, pid, request.disabled_service_plan_ids, "input.disabledServicePlanIds")
        users = (await directory.users_by_ids(conn, tid, [uid])) if uid else {}
        if uid is None or uid not in users:
            raise not_found("input.userId", "user")
        facts = await load_facts(conn, tid, [uid])
        direct = facts.paths.get((uid, pid, DIRECT))
        if direct is None:
            group_ids = {k[2] for k in facts.paths if k[0] == uid and k[1] == pid}
            names = sorted((await _group_names(conn, tid, group_ids)).values()) if group_ids else []
            raise Refused([_removal_problem(catalog, uid, pid, names)])
        if direct.subscription_id is not None:
            source = (await subscription_repo.subscriptions_by_ids(conn, tid, [direct.subscription_id])).get(direct.subscription_id)
            me = change.actor.user
            if source is None or me is None or source.purchased_by != me.id:
                raise Refused([_self_service_problem(catalog, users[uid], pid)])
        proposal = Proposal(user_ids={uid}, upserts={(uid, pid, DIRECT): NewPath(disabled)})
        decision = await decide(change, proposal, direct=True, requested=[(uid, pid)], facts=facts)
        if decision.refusals:
            raise Refused(decision.problems())
        changes = decision.summary(change).merged(await write(change, decision), change.catalog)
        if not changed_anything(changes, decision):
            return UserLicensesChanged(users[uid], changes)  # R21: the same plans again: nothing audited
        await change.audit(
            "SERVICE_PLANS_CHANGED",
            f"Apps and services of {catalog.products[pid].display_name} changed for {users[uid].user_principal_name}: "
            f"{len(disabled)} turned off",
            target_id=request.user_id, users=1, affected=changes.affected_user_count,
        )
        return UserLicensesChanged(users[uid], changes)


# ------------------------------------------------------------------------------ reprocessLicenses


@dataclass(frozen=True)
class ReprocessLicenses:
    user_ids: Sequence[str] | None = None
    group_id: str | None = None
    dry_run: bool = False


async def reprocess_licenses(rt: Runtime, actor: Actor, request: ReprocessLicenses) -> ChangeSummary:
    """R13: re-evaluate users (or a group's transitive members) from the stored facts; idempotent."""
    async with begin(rt, actor, dry_run=request.dry_run, license_lock=True) as change:
        conn, tid = change.conn, change.tenant_id
        if (request.user_ids is None) == (request.group_id is None):
            raise v.invalid("input", "Give exactly one of `userIds` or `groupId`.")
        moves: dynamic_groups.RuleMoves | None = None
        if request.user_ids is not None:
            ids = user_ids_arg(list(request.user_ids), "input.userIds", rt.settings.max_members_per_call)
            await existing_users(conn, tid, ids, "input.userIds")
            target = None
        else:
            gid = uuid_arg(request.group_id or "", "Group", "input.groupId")
            found = (await directory.groups_by_ids(conn, tid, [gid])) if gid else {}
            if gid is None or gid not in found:
                raise not_found("input.groupId", "group")
            group = found[gid]
            if group.dynamic:
                # R22: a dynamic group's members are re-checked against its rule first
                assert group.membership_rule is not None
                moves = await dynamic_groups.apply_rule(change, group, dynamic_groups.parse_rule(group.membership_rule))
            ids = await directory.transitive_member_ids(conn, tid, gid)
            target = request.group_id
        decision = await decide(change, Proposal(user_ids=set(ids)), direct=False)
        changes = decision.summary(change).merged(await write(change, decision), change.catalog)
        moved = moves is not None and moves.any
        if moves is not None and moved and moves.changes is not None:
            changes = moves.changes.merged(changes, change.catalog)
        if changed_anything(changes, decision) or moved:
            await change.audit(
                "LICENSES_REPROCESSED", f"Reprocessed {len(ids)} user(s); {changes.affected_user_count} changed"
                + (moves.summary_text() if moves is not None else ""),
                target_id=target, users=len(ids), affected=changes.affected_user_count,
                **({"dynamic_groups": moves.counts()} if moves is not None and moved else {}),
            )
        return changes


# ------------------------------------------------------------------------------ assignGroupLicenses


@dataclass(frozen=True)
class AssignGroupLicenses:
    group_id: str
    add_licenses: Sequence[LicenseRequest] = ()
    remove_product_ids: Sequence[str] = ()
    dry_run: bool = False


@dataclass(frozen=True)
class GroupLicensesChanged:
    group: GroupRecord
    changes: ChangeSummary
    members: int = field(default=0)


async def load_group(conn: AsyncConnection, tenant_id: str, raw: str, field: str) -> GroupRecord:
    gid = uuid_arg(raw, "Group", field)
    found = (await directory.groups_by_ids(conn, tenant_id, [gid])) if gid else {}
    if gid is None or gid not in found:
        raise not_found(field, "group")
    return found[gid]


async def assign_group_licenses(rt: Runtime, actor: Actor, request: AssignGroupLicenses) -> GroupLicensesChanged:
    """R18, D18: add, edit or remove a group's licenses; every member follows (R10, R11)."""
    async with begin(rt, actor, dry_run=request.dry_run, license_lock=True) as change:
        conn, tid, catalog = change.conn, change.tenant_id, change.catalog
        group = await load_group(conn, tid, request.group_id, "input.groupId")
        adds = license_inputs(
            catalog, request.add_licenses, "input.addLicenses",
            no_subscription="Group licenses draw on the organisation's pool; leave `subscriptionId` out.",
        )
        removes = product_removals(
            catalog, request.remove_product_ids, adds, both="A product cannot be both added and removed in one call (D18)."
        )
        if not group.security_enabled and adds:
            raise refuse(
                ErrorCode.GROUP_NOT_SECURITY_ENABLED,
                f"{group.display_name} is not a security group; only security-enabled groups can hold licenses.",
                group_id=group.id,
            )
        current = {r.product_id: frozenset(r.disabled_plan_ids or ()) for r in (await gl_repo.of_groups(conn, tid, [group.id]))[group.id]}
        missing = [pid for pid in removes if pid not in current]
        if missing:
            raise Refused(
                [
                    Problem(
                        ErrorCode.NOT_ASSIGNED,
                        f"{group.display_name} does not hold {catalog.products[pid].display_name}; there is nothing to remove.",
                        field=f"input.removeProductIds.{removes.index(pid)}", group_id=group.id,
                    )
                    for pid in missing
                ]
            )
        after = {p: d for p, d in current.items() if p not in removes}
        after.update(adds)
        reconciled = await reconcile(
            change, Overlay(group_licenses={group.id: after}, ends_group_licenses=bool(removes)), groups=[group.id], below=[]
        )
        changes = reconciled.decided.summary(change)
        if not change.dry_run:
            await gl_repo.upsert(conn, tid, group.id, adds)
        changes = changes.merged(await write(change, reconciled.decided), catalog)
        if not change.dry_run:
            await gl_repo.remove(conn, tid, group.id, removes)
        names = [catalog.products[p].sku_part_number for p in adds]
        if not removes and all(current.get(p) == d for p, d in adds.items()) and not changes.affected_user_count:
            return GroupLicensesChanged(group, changes, reconciled.batch_size)  # R21: held as asked already
        await change.audit(
            "GROUP_LICENSES_CHANGED",
            f"{group.display_name}: +{', '.join(names) or 'nothing'} "
            f"-{', '.join(catalog.products[p].sku_part_number for p in removes) or 'nothing'}; "
            f"{reconciled.batch_size} member(s), {changes.affected_user_count} affected",
            target_id=request.group_id, members=reconciled.batch_size, affected=changes.affected_user_count,
            errors=sum(t.count for t in changes.error_totals),
        )
        return GroupLicensesChanged(group, changes, reconciled.batch_size)


__all__ = [
    "AssignGroupLicenses", "AssignLicenses", "LicenseRequest", "ReprocessLicenses", "UpdateUserServicePlans",
    "assign_group_licenses", "assign_licenses", "decide_and_write", "reprocess_licenses", "update_user_service_plans",
]
