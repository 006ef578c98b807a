"""License-changing mutations — assignLicenses (R12), updateUserServicePlans (R14),
reprocessLicenses (R13), createUser with licenses (R16) — and the re-evaluation hooks other
mutations call (usage locations, R8; seats freed or bought, R4).

Each builds a `Proposal`, lets `db.license_changes.decide` evaluate it with the engine, and
writes with `apply` unless it is a dry run (R19: same decision code, nothing stored, no locks).
Group licenses are in `group_licenses.py`.
"""

from __future__ import annotations

import heapq
import uuid
from collections.abc import Container, Sequence
from datetime import timedelta
from typing import Any

import strawberry
from sqlalchemy.ext.asyncio import AsyncConnection
from strawberry.types import Info

import engine
from db import license_changes as lc
from db.models import DIRECT
from db.records import SubscriptionRecord, UserRecord
from db.repo import directory, licensing
from db.repo import subscriptions as subscription_repo
from gql import validation as v
from gql.auth import Role
from gql.changes import (
    MAX_OUTCOMES,
    LicenseChangeSummary,
    LicenseOutcome,
    error_totals,
    pool_moves,
    summary,
)
from gql.context import Context
from gql.errors import ErrorCode, LicenseError, Refused, UserError, forbidden
from gql.ids import to_global_id
from gql.inputs import (
    AssignLicensesInput,
    CreateUserInput,
    LicenseInput,
    ReprocessLicensesInput,
    UpdateUserServicePlansInput,
)
from gql.mutations.common import record, run_mutation
from gql.permissions import CanAssignLicenses, CanManageLicenses
from gql.resolve import not_found, plan_id_arg, product_id_arg, uuid_arg
from gql.types import AssignmentState, AssignMode, Group, User

LICENSE_ROLES = (Role.GLOBAL_ADMINISTRATOR, Role.LICENSE_ADMINISTRATOR, Role.USER_ADMINISTRATOR)


@strawberry.type
class AssignLicensesPayload:
    users: list[User]
    errors: list[UserError]
    changes: LicenseChangeSummary | None


@strawberry.type
class UpdateUserServicePlansPayload:
    user: User | None
    errors: list[UserError]
    changes: LicenseChangeSummary | None


@strawberry.type
class ReprocessLicensesPayload:
    errors: list[UserError]
    changes: LicenseChangeSummary | None


@strawberry.type
class AssignGroupLicensesPayload:
    group: Group | None
    errors: list[UserError]
    changes: LicenseChangeSummary | None


def environment(ctx: Context) -> lc.Environment:
    s = ctx.services
    return lc.Environment(
        tenant_id=ctx.tenant_id, catalog=s.engine_catalog, rules=s.engine_rules, now=s.clock.now(),
        cancellation_window=timedelta(days=ctx.settings.cancellation_window_days),
    )


# ------------------------------------------------------------------------------ the change summary


def change_summary(ctx: Context, decision: lc.Decision, *, dry_run: bool, self_service: uuid.UUID | None = None) -> LicenseChangeSummary:
    """D16: seats before/after per product, the created/changed/removed paths (errors first, in
    R4 order), per-product per-code error totals, and how many users were affected."""
    writes = lc.license_writes(ctx.tenant_id, ctx.services.clock.now(), decision, self_service)
    changed = decision.changed_paths()
    seats = pool_moves(ctx, {key[1] for key, _ in changed} | set(writes.pool_delta), decision.pools_before, writes.pool_delta)
    users = decision.facts.users

    def line(key: lc.PathKey) -> tuple[int, int, str, str]:
        stored = decision.before.get(key)
        seq = stored.queue_seq if stored else decision.after_paths[key].queue_seq
        return (seq, users[key[0]].created_seq if key[0] in users else 0, str(key[1]), str(key[2]))

    counts: dict[tuple[uuid.UUID, str], int] = {}
    for key, state in changed:
        if state is not None and state.error is not None:
            counts[(key[1], state.error.value)] = counts.get((key[1], state.error.value), 0) + 1
    # only the first MAX_OUTCOMES can be asked for (D16): errors first, then R4 order
    shown = heapq.nsmallest(MAX_OUTCOMES, changed, key=lambda item: (item[1] is None or item[1].is_active, line(item[0])))
    outcomes: list[LicenseOutcome] = []
    for key, state in shown:
        error = None
        if state is not None and state.error is not None:
            error = LicenseError(code=ErrorCode(state.error.value), message=state.message or "")
        if state is None:
            shown_state = AssignmentState(decision.before[key].state)
        else:
            shown_state = AssignmentState.ACTIVE if state.is_active else AssignmentState.ERROR
        outcomes.append(
            LicenseOutcome(
                state=shown_state, error=error, removed=state is None, user_id=key[0], product_id=key[1],
                group_id=None if key[2] == DIRECT else key[2],
            )
        )
    return summary(
        dry_run=dry_run, affected=decision.affected_user_count(), products=seats, outcomes=outcomes,
        error_counts=error_totals(ctx, counts),
    )


def refusal_errors(refusals: Sequence[engine.Refusal]) -> list[UserError]:
    return [
        UserError(
            code=ErrorCode(r.code.value),
            message=r.message,
            user_id=strawberry.ID(to_global_id("User", r.user_id)) if r.user_id else None,
            product_id=strawberry.ID(to_global_id("Product", r.product_id)),
        )
        for r in refusals
    ]


# ------------------------------------------------------------------------------ parsing inputs


def _user_ids(raw: Sequence[str], field: str, limit: int) -> list[uuid.UUID]:
    if len(raw) > limit:
        raise Refused(
            [
                UserError(
                    code=ErrorCode.TOO_MANY_USERS,
                    message=f"{len(raw)} users in one call; at most {limit}. To license more people, use a group.",
                    field=field,
                )
            ]
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


async def _existing_users(conn: AsyncConnection, ctx: Context, ids: list[uuid.UUID], raw: Sequence[str], field: str) -> dict[uuid.UUID, UserRecord]:
    found = await directory.users_by_ids(conn, ctx.tenant_id, ids)
    missing = [i for i, uid in enumerate(ids) if uid not in found]
    if missing:
        raise Refused(
            [UserError(code=ErrorCode.NOT_FOUND, message=f"`{field}.{i}` names no user of this organisation.", field=f"{field}.{i}") for i in missing]
        )
    return found


def _product(info: Info, raw: str, field: str) -> uuid.UUID:
    pid = product_id_arg(info, raw, field)
    if pid is None:
        raise not_found(field, "product of the catalog")
    return pid


def _disabled_plans(info: Info, product_id: uuid.UUID, raw: Sequence[str] | None, field: str) -> frozenset[uuid.UUID]:
    product = info.context.catalog.products[product_id]
    plans: list[uuid.UUID] = []
    for index, value in enumerate(raw or []):
        plan = plan_id_arg(info, value, f"{field}.{index}")
        if plan not in product.plan_ids:
            raise v.invalid(f"{field}.{index}", f"{value!r} is not a service plan of {product.display_name}.")
        plans.append(plan)
    v.no_duplicates(plans, list(raw or []), field)
    return frozenset(plans)


def license_inputs(
    info: Info, inputs: Sequence[LicenseInput] | None, field: str, *, no_subscription: str | None = None
) -> dict[uuid.UUID, frozenset[uuid.UUID]]:
    """Each input's product and disabled plans, validated; a product named twice is refused.
    `no_subscription`: where a `subscriptionId` has no place, the message refusing it."""
    adds: dict[uuid.UUID, frozenset[uuid.UUID]] = {}
    name = field.rsplit(".", 1)[-1]
    for index, lic in enumerate(inputs or []):
        at = f"{field}.{index}"
        pid = _product(info, lic.product_id, f"{at}.productId")
        if pid in adds:
            raise v.invalid(f"{at}.productId", f"This product is named twice in `{name}`.")
        if no_subscription is not None and lic.subscription_id is not None:
            raise v.invalid(f"{at}.subscriptionId", no_subscription)
        adds[pid] = _disabled_plans(info, pid, lic.disabled_service_plan_ids, f"{at}.disabledServicePlanIds")
    return adds


def product_removals(info: Info, raw_ids: Sequence[str] | None, adds: Container[uuid.UUID], *, both: str) -> list[uuid.UUID]:
    """The products of `input.removeProductIds`, validated; one also added (`both`: the message)
    or named twice is refused."""
    removes: list[uuid.UUID] = []
    for index, raw in enumerate(raw_ids or []):
        pid = _product(info, raw, f"input.removeProductIds.{index}")
        if pid in adds:
            raise v.invalid(f"input.removeProductIds.{index}", both)
        if pid in removes:
            raise v.invalid(f"input.removeProductIds.{index}", "This product is named twice in `removeProductIds`.")
        removes.append(pid)
    return removes


async def _self_service_source(
    conn: AsyncConnection, info: Info, license: LicenseInput, product_id: uuid.UUID, field: str
) -> SubscriptionRecord | None:
    """R3/D6: a subscriptionId names the caller's own self-service subscription of that product."""
    if license.subscription_id is None:
        return None
    ctx = info.context
    sid = uuid_arg(license.subscription_id, "Subscription", field)
    found = (await subscription_repo.subscriptions_by_ids(conn, ctx.tenant_id, [sid])) if sid else {}
    sub = found.get(sid) if sid else None
    if sub is None:
        raise not_found(field, "subscription")
    if sub.product_id != product_id:
        raise v.invalid(field, "That subscription is for another product.")
    me = ctx.principal.user
    if not sub.is_self_service:
        raise v.invalid(field, "`subscriptionId` is only for self-service subscriptions; organisation seats come from the pool.")
    if me is None or sub.purchased_by != me.id:
        raise Refused(
            [
                UserError(
                    code=ErrorCode.SELF_SERVICE_SUBSCRIPTION,
                    message="This is someone's self-service subscription: only its purchaser can assign its seats. "
                    "Take the subscription over (takeOverSubscription) to manage its licenses.",
                    field=field,
                )
            ]
        )
    return sub


def _is_license_admin(ctx: Context) -> bool:
    return ctx.principal.has_any(*LICENSE_ROLES)


def _inherited_message(ctx: Context, groups: list[str], product_id: uuid.UUID) -> str:
    name = ctx.catalog.products[product_id].display_name
    return (
        f"{name} is assigned through the group{'s' if len(groups) > 1 else ''} {', '.join(groups)}; "
        "change it on the group, or remove the user from the group."
    )


async def _group_names(conn: AsyncConnection, ctx: Context, ids: set[uuid.UUID]) -> dict[uuid.UUID, str]:
    found = await directory.groups_by_ids(conn, ctx.tenant_id, sorted(ids))
    return {g.id: g.display_name for g in found.values()}


# ------------------------------------------------------------------------------ assignLicenses


async def assign_licenses(info: Info, input: AssignLicensesInput) -> AssignLicensesPayload:
    ctx = info.context
    dry_run = bool(input.dry_run)
    admin = _is_license_admin(ctx)
    result_users: list[UserRecord] = []

    async def work(conn: AsyncConnection) -> LicenseChangeSummary:
        ids = _user_ids(list(input.user_ids), "input.userIds", ctx.settings.max_bulk_users)
        adds: dict[uuid.UUID, tuple[frozenset[uuid.UUID], SubscriptionRecord | None]] = {
            pid: (disabled, None) for pid, disabled in license_inputs(info, input.add_licenses, "input.addLicenses").items()
        }
        removes = product_removals(
            info, input.remove_product_ids, adds, both="A product cannot be both added and removed in one call."
        )
        users = await _existing_users(conn, ctx, ids, list(input.user_ids), "input.userIds")
        self_service: SubscriptionRecord | None = None
        for index, lic in enumerate(input.add_licenses or []):
            pid = _product(info, lic.product_id, f"input.addLicenses.{index}.productId")
            source = await _self_service_source(conn, info, lic, pid, f"input.addLicenses.{index}.subscriptionId")
            if source is not None:
                self_service = source
                adds[pid] = (adds[pid][0], source)
        if not admin and self_service is None:
            raise forbidden("Pass the `subscriptionId` of your self-service subscription to assign its seats.")
        facts = await lc.load_facts(conn, ctx.tenant_id, ids)
        errors: list[UserError] = []
        guests = [uid for uid in ids if users[uid].user_type == "GUEST"]
        if guests and (adds or input.mode == AssignMode.REPLACE) and not ctx.principal.has_any(Role.GLOBAL_ADMINISTRATOR):
            for uid in guests:
                errors.append(
                    UserError(
                        code=ErrorCode.GLOBAL_ADMINISTRATOR_REQUIRED,
                        message=f"{users[uid].display_name} is a guest: only a Global Administrator can assign licenses to guests directly.",
                        user_id=strawberry.ID(to_global_id("User", uid)),
                    )
                )
        proposal = lc.Proposal(user_ids=set(ids))
        requested: list[tuple[uuid.UUID, uuid.UUID]] = []
        group_ids = {k[2] for k in facts.paths if k[2] != DIRECT}
        names = await _group_names(conn, ctx, group_ids) if group_ids else {}
        for uid in ids:
            direct = {k[1]: p for k, p in facts.paths.items() if k[0] == uid and k[2] == DIRECT}
            for pid, (disabled, source) in adds.items():
                key = (uid, pid, DIRECT)
                existing = direct.get(pid)
                if existing is not None and existing.subscription_id is not None and (
                    source is None or existing.subscription_id != source.id
                ):
                    errors.append(_self_service_error(ctx, users[uid], pid))  # R3: only its purchaser changes it
                    continue
                proposal.upserts[key] = lc.NewPath(disabled, subscription_id=source.id if source else None)
                requested.append((uid, pid))
            dropping = list(removes)
            if input.mode == AssignMode.REPLACE:
                dropping += [pid for pid in direct if pid not in adds and pid not in removes]
            for pid in dropping:
                path = direct.get(pid)
                if path is None:
                    via = sorted(names.get(k[2], "?") for k in facts.paths if k[0] == uid and k[1] == pid)
                    if pid in removes:
                        errors.append(_removal_error(ctx, uid, pid, via))
                    continue
                if path.subscription_id is not None and (self_service is None or path.subscription_id != self_service.id):
                    errors.append(_self_service_error(ctx, users[uid], pid))
                    continue
                proposal.removals.add((uid, pid, DIRECT))
                requested.append((uid, pid))
        decision = await lc.decide(
            conn, environment(ctx), proposal, lock=not dry_run, direct=True, requested=requested,
            self_service_subscription=self_service, facts=facts,
        )
        reported = {(e.user_id, e.product_id) for e in errors}
        errors += [e for e in refusal_errors(decision.refusals) if (e.user_id, e.product_id) not in reported]
        if errors:
            raise Refused(errors)
        changes = change_summary(ctx, decision, dry_run=dry_run, self_service=self_service.id if self_service else None)
        if not dry_run:
            await apply_and_recover(conn, ctx, decision, self_service)
        await record(
            conn, ctx, "LICENSES_ASSIGNED",
            f"Licenses changed for {len(ids)} user(s): +{len(adds)} product(s), -{len(removes)} product(s), mode {input.mode.value if input.mode else 'ADD'}",
            dry_run=dry_run, users=len(ids), affected=changes.affected_user_count,
            added=[ctx.catalog.products[p].sku_part_number for p in adds],
            removed=[ctx.catalog.products[p].sku_part_number for p in removes],
        )
        result_users.extend(users[uid] for uid in ids)
        return changes

    changes, errors = await run_mutation(info, work, dry_run=dry_run, license_lock=True)
    if changes is None:
        return AssignLicensesPayload(users=[], errors=errors, changes=None)
    return AssignLicensesPayload(users=[User.of(u) for u in result_users], errors=[], changes=changes)


def _self_service_error(ctx: Context, user: UserRecord, pid: uuid.UUID) -> UserError:
    return UserError(
        code=ErrorCode.SELF_SERVICE_SUBSCRIPTION,
        message=f"{ctx.catalog.products[pid].display_name} of {user.display_name} comes from a self-service subscription: "
        "only its purchaser can change it. Take the subscription over (takeOverSubscription) to manage it.",
        user_id=strawberry.ID(to_global_id("User", user.id)),
        product_id=strawberry.ID(to_global_id("Product", pid)),
    )


def _removal_error(ctx: Context, uid: uuid.UUID, pid: uuid.UUID, via_groups: list[str]) -> UserError:
    """D4: removing a product held only through groups is INHERITED_LICENSE; not held at all NOT_ASSIGNED."""
    name = ctx.catalog.products[pid].display_name
    if via_groups:
        return UserError(
            code=ErrorCode.INHERITED_LICENSE, message=_inherited_message(ctx, via_groups, pid),
            user_id=strawberry.ID(to_global_id("User", uid)), product_id=strawberry.ID(to_global_id("Product", pid)),
        )
    return UserError(
        code=ErrorCode.NOT_ASSIGNED, message=f"The user does not have {name}; there is nothing to remove.",
        user_id=strawberry.ID(to_global_id("User", uid)), product_id=strawberry.ID(to_global_id("Product", pid)),
    )


def _pool_deltas(ctx: Context, decision: lc.Decision, self_service: SubscriptionRecord | None) -> dict[uuid.UUID, int]:
    return lc.license_writes(ctx.tenant_id, ctx.services.clock.now(), decision, self_service.id if self_service else None).pool_delta


async def apply_and_recover(
    conn: AsyncConnection, ctx: Context, decision: lc.Decision, self_service: SubscriptionRecord | None = None
) -> None:
    """Write a decision; seats it freed go to whoever waits for them, in the same transaction (R4)."""
    await lc.apply(conn, environment(ctx), decision, self_service_subscription=self_service.id if self_service else None)
    freed = [p for p, d in _pool_deltas(ctx, decision, self_service).items() if d < 0]
    if freed:
        await recover_after_seats_freed(conn, ctx, freed)


async def decide_direct(
    conn: AsyncConnection, ctx: Context, proposal: lc.Proposal, requested: list[tuple[uuid.UUID, uuid.UUID]],
    facts: lc.Facts, *, dry_run: bool,
) -> LicenseChangeSummary:
    """A direct change (D1): refused as a whole if it would newly put a path into ERROR, else
    summarised and — unless a dry run — written."""
    decision = await lc.decide(conn, environment(ctx), proposal, lock=not dry_run, direct=True, requested=requested, facts=facts)
    if decision.refusals:
        raise Refused(refusal_errors(decision.refusals))
    changes = change_summary(ctx, decision, dry_run=dry_run)
    if not dry_run:
        await lc.apply(conn, environment(ctx), decision)
    return changes


# ------------------------------------------------------------------------------ updateUserServicePlans


async def update_user_service_plans(info: Info, input: UpdateUserServicePlansInput) -> UpdateUserServicePlansPayload:
    ctx = info.context
    dry_run = bool(input.dry_run)
    out: list[UserRecord] = []

    async def work(conn: AsyncConnection) -> LicenseChangeSummary:
        uid = uuid_arg(input.user_id, "User", "input.userId")
        pid = _product(info, input.product_id, "input.productId")
        disabled = _disabled_plans(info, pid, input.disabled_service_plan_ids, "input.disabledServicePlanIds")
        users = (await directory.users_by_ids(conn, ctx.tenant_id, [uid])) if uid else {}
        if uid is None or uid not in users:
            raise not_found("input.userId", "user")
        facts = await lc.load_facts(conn, ctx.tenant_id, [uid])
        direct = facts.paths.get((uid, pid, DIRECT))
        if direct is None:
            group_ids = {k[2] for k in facts.paths if k[0] == uid and k[1] == pid}
            names = sorted((await _group_names(conn, ctx, group_ids)).values()) if group_ids else []
            raise Refused([_removal_error(ctx, uid, pid, names)])
        if direct.subscription_id is not None:
            source = (await subscription_repo.subscriptions_by_ids(conn, ctx.tenant_id, [direct.subscription_id])).get(direct.subscription_id)
            me = ctx.principal.user
            if source is None or me is None or source.purchased_by != me.id:
                raise Refused([_self_service_error(ctx, users[uid], pid)])
        proposal = lc.Proposal(user_ids={uid}, upserts={(uid, pid, DIRECT): lc.NewPath(disabled)})
        changes = await decide_direct(conn, ctx, proposal, [(uid, pid)], facts, dry_run=dry_run)
        await record(
            conn, ctx, "SERVICE_PLANS_CHANGED",
            f"Apps and services of {ctx.catalog.products[pid].display_name} changed for {users[uid].user_principal_name}: "
            f"{len(disabled)} turned off",
            target_id=input.user_id, dry_run=dry_run, users=1, affected=changes.affected_user_count,
        )
        out.append(users[uid])
        return changes

    changes, errors = await run_mutation(info, work, dry_run=dry_run, license_lock=True)
    if changes is None:
        return UpdateUserServicePlansPayload(user=None, errors=errors, changes=None)
    return UpdateUserServicePlansPayload(user=User.of(out[0]), errors=[], changes=changes)


# ------------------------------------------------------------------------------ reprocessLicenses


async def reprocess_licenses(info: Info, input: ReprocessLicensesInput) -> ReprocessLicensesPayload:
    """R13: re-evaluate users (or a group's transitive members) from the stored facts; idempotent."""
    ctx = info.context
    dry_run = bool(input.dry_run)

    async def work(conn: AsyncConnection) -> LicenseChangeSummary:
        if (input.user_ids is None) == (input.group_id is None):
            raise v.invalid("input", "Give exactly one of `userIds` or `groupId`.")
        if input.user_ids is not None:
            ids = _user_ids(list(input.user_ids), "input.userIds", ctx.settings.max_members_per_call)
            await _existing_users(conn, ctx, ids, list(input.user_ids), "input.userIds")
            target = None
        else:
            gid = uuid_arg(input.group_id or "", "Group", "input.groupId")
            found = (await directory.groups_by_ids(conn, ctx.tenant_id, [gid])) if gid else {}
            if gid is None or gid not in found:
                raise not_found("input.groupId", "group")
            ids = await directory.transitive_member_ids(conn, ctx.tenant_id, gid)
            target = input.group_id
        decision = await lc.decide(conn, environment(ctx), lc.Proposal(user_ids=set(ids)), lock=not dry_run, direct=False)
        changes = change_summary(ctx, decision, dry_run=dry_run)
        if not dry_run:
            await lc.apply(conn, environment(ctx), decision)
        if changes.affected_user_count or decision.changed_paths():
            await record(
                conn, ctx, "LICENSES_REPROCESSED", f"Reprocessed {len(ids)} user(s); {changes.affected_user_count} changed",
                target_id=target, dry_run=dry_run, users=len(ids), affected=changes.affected_user_count,
            )
        return changes

    changes, errors = await run_mutation(info, work, dry_run=dry_run, license_lock=True)
    return ReprocessLicensesPayload(errors=errors, changes=changes)


# ------------------------------------------------------------------------------ createUser with licenses


async def create_user_with_licenses(info: Info, input: CreateUserInput) -> Any:
    """R16: create the user and assign licenses in one transaction (all or nothing)."""
    from gql.mutations.users import CreateUserPayload, user_values

    ctx = info.context
    dry_run = bool(input.dry_run)
    if not ctx.principal.has_any(*LICENSE_ROLES):
        raise forbidden()
    created: list[UserRecord] = []

    async def work(conn: AsyncConnection) -> LicenseChangeSummary:
        values = await user_values(conn, ctx, input)
        adds = license_inputs(
            info, input.licenses, "input.licenses", no_subscription="New users get organisation seats; leave `subscriptionId` out."
        )
        if dry_run:
            user = directory.unsaved_user(values, ctx.services.clock.now())
            user_facts = engine.UserFacts(str(user.id), user.usage_location, 2**62)
        else:
            user = await directory.insert_user(conn, ctx.tenant_id, values)
            user_facts = engine.UserFacts(str(user.id), user.usage_location, user.created_seq)
        facts = await lc.load_facts(conn, ctx.tenant_id, [user.id])
        facts.users[user.id] = user_facts
        proposal = lc.Proposal(user_ids={user.id}, upserts={(user.id, pid, DIRECT): lc.NewPath(d) for pid, d in adds.items()})
        changes = await decide_direct(conn, ctx, proposal, [(user.id, pid) for pid in adds], facts, dry_run=dry_run)
        await record(
            conn, ctx, "USER_CREATED",
            f"Created user {user.user_principal_name} with {len(adds)} license(s)",
            target_id=to_global_id("User", user.id), dry_run=dry_run, users=1, licenses=len(adds),
        )
        created.append(user)
        return changes

    changes, errors = await run_mutation(info, work, dry_run=dry_run, license_lock=True, already_exists_message="That user principal name is taken.")
    if changes is None:
        return CreateUserPayload(user=None, errors=errors, changes=None)
    user = created[0]
    if dry_run:
        ctx.loaders.unsaved_users[user.id] = user
    return CreateUserPayload(user=User.of(user), errors=[], changes=changes)


# ------------------------------------------------------------------------------ hooks for other mutations


async def reevaluate_after_location_change(
    conn: AsyncConnection, ctx: Context, locations: dict[uuid.UUID, str | None], *, dry_run: bool
) -> LicenseChangeSummary:
    """R8, D1: a user's new usage location re-evaluates their paths; a direct change that would
    put an ACTIVE path into ERROR is refused (e.g. clearing a licensed user's location)."""
    proposal = lc.Proposal(user_ids=set(locations), locations=dict(locations))
    decision = await lc.decide(conn, environment(ctx), proposal, lock=not dry_run, direct=True)
    if decision.refusals:
        raise Refused([
            UserError(code=e.code, message=e.message, field="input.usageLocation", user_id=e.user_id, product_id=e.product_id)
            for e in refusal_errors(decision.refusals)
        ])
    changes = change_summary(ctx, decision, dry_run=dry_run)
    if not dry_run:
        await apply_and_recover(conn, ctx, decision)
    return changes


async def reevaluate_after_tenant_location_change(
    conn: AsyncConnection, ctx: Context, new_default: str | None, *, dry_run: bool
) -> LicenseChangeSummary:
    """R8: the tenant default applies to group paths of users without a location; errors are recorded (D1)."""
    ids = await licensing.users_relying_on_default_location(conn, ctx.tenant_id)
    if not ids:
        return summary(dry_run=dry_run)
    proposal = lc.Proposal(user_ids=set(ids), changes_default_location=True, new_default_location=new_default)
    decision = await lc.decide(conn, environment(ctx), proposal, lock=not dry_run, direct=False)
    changes = change_summary(ctx, decision, dry_run=dry_run)
    if not dry_run:
        await apply_and_recover(conn, ctx, decision)
    return changes


async def delete_users_licenses(
    conn: AsyncConnection, ctx: Context, user_ids: list[uuid.UUID], *, dry_run: bool
) -> tuple[LicenseChangeSummary, int]:
    """Every path of users being deleted ends: seats go back to the pool (and to whoever waits
    for them, R4), group-license counters follow (R11). Returns the summary and seats freed."""
    facts = await lc.load_facts(conn, ctx.tenant_id, user_ids)
    proposal = lc.Proposal(user_ids=set(user_ids), removals=set(facts.paths))
    decision = await lc.decide(conn, environment(ctx), proposal, lock=not dry_run, direct=False, facts=facts)
    changes = change_summary(ctx, decision, dry_run=dry_run)
    if not dry_run:
        await apply_and_recover(conn, ctx, decision)
    return changes, len(facts.holders) + len(facts.self_service_holders)


RECOVERY_BATCH = 500


async def recover_after_seats_freed(conn: AsyncConnection, ctx: Context, product_ids: list[uuid.UUID]) -> None:
    """R4, D2: when seats become free, paths waiting for them are re-evaluated in queue order, in
    the same transaction, until the seats are taken or nobody waits."""
    pending = sorted(set(product_ids))
    seen: set[uuid.UUID] = set()
    while pending:
        waiting = [u for u in await licensing.waiting_users(conn, ctx.tenant_id, pending, RECOVERY_BATCH) if u not in seen]
        if not waiting:
            return
        seen.update(waiting)
        decision = await lc.decide(conn, environment(ctx), lc.Proposal(user_ids=set(waiting)), lock=True, direct=False)
        await lc.apply(conn, environment(ctx), decision)
        if not any(change.acquired for change in decision.after.seat_changes.values()):
            return


FIELDS: dict[str, Any] = {
    "assign_licenses": (assign_licenses, AssignLicensesPayload, [CanAssignLicenses]),
    "update_user_service_plans": (update_user_service_plans, UpdateUserServicePlansPayload, [CanManageLicenses]),
    "reprocess_licenses": (reprocess_licenses, ReprocessLicensesPayload, [CanManageLicenses]),
}
