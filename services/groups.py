"""Groups: createGroup, updateGroup, deleteGroup, addGroupMembers, removeGroupMembers (R10, R11,
R18, R22, D3, D17). A dynamic group's members follow its rule (`services.dynamic_groups`).

A membership change reconciles every affected user's group paths in the same transaction
(`group_changes.reconcile`); `change_members` is the step both `addGroupMembers` and
`licensing import members` run.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from db.records import GroupRecord
from db.repo import directory
from services import validation as v
from services.change import Change, begin
from services.context import Actor, Runtime
from services.dynamic_groups import (
    RuleMoves,
    apply_rule,
    check_cap,
    fill_new_group,
    parse_rule,
    refuse_manual,
)
from services.errors import ErrorCode, Problem, Refused, refuse
from services.group_changes import Overlay, Reconciled, reconcile
from services.ids import BadId, from_global_id, to_global_id
from services.license_changes import write
from services.licenses import load_group
from services.summaries import ChangeSummary


async def parse_members(
    conn: AsyncConnection, tenant_id: str, raw_ids: Sequence[str], field: str, limit: int
) -> tuple[list[uuid.UUID], list[uuid.UUID]]:
    """Member ids (users or groups, D3): malformed or repeated → INVALID_INPUT; unknown → NOT_FOUND."""
    v.bounded(raw_ids, field, limit, "Split the list over several calls.")
    users: list[uuid.UUID] = []
    groups: list[uuid.UUID] = []
    positions: dict[uuid.UUID, int] = {}
    unknown_type: list[int] = []
    for index, raw in enumerate(raw_ids):
        try:
            gid = from_global_id(raw)
            key = gid.uuid()
        except BadId as exc:
            raise v.invalid(f"{field}.{index}", f"`{field}.{index}` is not a valid user or group id ({raw[:60]!r}).") from exc
        if key in positions:
            raise v.invalid(f"{field}.{index}", f"`{field}` names {raw!r} more than once.")
        positions[key] = index
        if gid.type_name == "User":
            users.append(key)
        elif gid.type_name == "Group":
            groups.append(key)
        else:
            unknown_type.append(index)
    found_users, found_groups = await directory.existing_ids(conn, tenant_id, users, groups)
    missing = sorted(
        [positions[k] for k in users if k not in found_users]
        + [positions[k] for k in groups if k not in found_groups]
        + unknown_type
    )
    if missing:
        raise Refused(
            [Problem(ErrorCode.NOT_FOUND, f"`{field}.{i}` names no user or group of this organisation.", f"{field}.{i}") for i in missing]
        )
    return users, groups


# ------------------------------------------------------------------------------ createGroup


@dataclass(frozen=True)
class CreateGroup:
    display_name: str
    description: str | None = None
    security_enabled: bool | None = None
    member_ids: Sequence[str] = ()
    membership_rule: str | None = None  # a dynamic group (R22)
    external_id: str | None = None  # set by SCIM only: the identity provider's id (unique per tenant)


EXTERNAL_ID_TAKEN = "Another group already has that external id."


async def create_group(rt: Runtime, actor: Actor, request: CreateGroup) -> GroupRecord:
    dynamic = request.membership_rule is not None
    async with begin(rt, actor, license_lock=dynamic, already_exists=EXTERNAL_ID_TAKEN) as change:
        conn, tid = change.conn, change.tenant_id
        values = {
            "display_name": v.required_text(request.display_name, "input.displayName"),
            "description": v.optional_text(request.description, "input.description"),
            "security_enabled": True if request.security_enabled is None else request.security_enabled,
            "external_id": v.external_id(request.external_id, "input.externalId"),
        }
        if dynamic:
            assert request.membership_rule is not None
            if request.member_ids:
                raise v.invalid(
                    "input.memberIds",
                    "A dynamic group's members follow its rule: give either `memberIds` or `membershipRule`, not both.",
                )
            rule = parse_rule(request.membership_rule)
            await check_cap(rt, conn, tid)
            group = await directory.insert_group(conn, tid, {**values, "membership_rule": rule.source})
            joined = await fill_new_group(change, group, rule)
            gid = to_global_id("Group", group.id)
            await change.audit(
                "GROUP_CREATED", f"Created dynamic group {group.display_name}; {joined} user(s) match its rule",
                target_id=gid, users=joined, rule=rule.source, dynamic_groups={gid: {"joined": joined, "left": 0}},
            )
            return group
        users, groups = await parse_members(conn, tid, list(request.member_ids), "input.memberIds", rt.settings.max_members_per_call)
        group = await directory.insert_group(conn, tid, values)
        await directory.add_members(conn, tid, group.id, users, groups)
        await change.audit(
            "GROUP_CREATED", f"Created group {group.display_name} with {len(users) + len(groups)} member(s)",
            target_id=to_global_id("Group", group.id), users=len(users), groups=len(groups),
        )
        return group


# ------------------------------------------------------------------------------ updateGroup

KEEP: Any = object()  # an input left out: the stored value stays


@dataclass(frozen=True)
class UpdateGroup:
    """Fields left at KEEP are not changed; `membership_rule` None makes the group assigned."""

    group_id: str
    display_name: Any = KEEP
    description: Any = KEEP
    membership_rule: Any = KEEP
    external_id: Any = KEEP  # set by SCIM only
    dry_run: bool = False


@dataclass(frozen=True)
class GroupUpdated:
    group: GroupRecord
    changes: ChangeSummary
    moves: RuleMoves | None = None  # None: the rule was not touched


async def update_group(rt: Runtime, actor: Actor, request: UpdateGroup) -> GroupUpdated:
    """R22, R24: rename, describe, give a rule (members replaced by the matching users), change
    it (who no longer matches leaves, who still matches keeps their place) or remove it (an
    assigned group keeping its members). A dry run shows the joins, leaves and seat changes."""
    async with begin(rt, actor, dry_run=request.dry_run, license_lock=True, already_exists=EXTERNAL_ID_TAKEN) as change:
        group = await load_group(change.conn, change.tenant_id, request.group_id, "input.groupId")
        return await _update(change, group, request)


async def _update(change: Change, group: GroupRecord, request: UpdateGroup) -> GroupUpdated:
    """updateGroup's work inside a change's transaction."""
    rt, conn, tid = change.runtime, change.conn, change.tenant_id
    values: dict[str, Any] = {}
    if request.external_id is not KEEP:
        values["external_id"] = v.external_id(request.external_id, "input.externalId")
    if request.display_name is not KEEP:
        if request.display_name is None:
            raise v.invalid("input.displayName", "`input.displayName` cannot be null; omit it to keep the name.")
        values["display_name"] = v.required_text(request.display_name, "input.displayName")
    if request.description is not KEEP:
        values["description"] = v.optional_text(request.description, "input.description")
    moves: RuleMoves | None = None
    changes = ChangeSummary(change.dry_run)
    if request.membership_rule is not KEEP:
        text = request.membership_rule
        if text is None:
            values["membership_rule"] = None  # R22: members and their places stay
            moves = RuleMoves(changes=changes)
        else:
            rule = parse_rule(text)
            if not group.dynamic:
                await check_cap(rt, conn, tid)
            values["membership_rule"] = rule.source
            moves = await apply_rule(change, group, rule)
            changes = moves.changes or changes
    updated = group
    if values:
        if change.dry_run:
            updated = _replaced(group, values)
        else:
            updated = await directory.update_group(conn, tid, group.id, values)
        joined_left = (
            f"; {sum(len(u) for u in moves.joined.values())} joined, {sum(len(u) for u in moves.left.values())} left"
            if moves is not None else ""
        )
        await change.audit(
            "GROUP_UPDATED", f"Updated group {updated.display_name}: {', '.join(sorted(values))}{joined_left}",
            target_id=to_global_id("Group", group.id), fields=sorted(values),
            **({"rule": values["membership_rule"]} if "membership_rule" in values else {}),
            **({"dynamic_groups": moves.counts(), "affected": changes.affected_user_count} if moves is not None else {}),
        )
    return GroupUpdated(updated, changes, moves)


def _replaced(group: GroupRecord, values: dict[str, Any]) -> GroupRecord:
    return replace(group, **{k: value for k, value in values.items() if k != "external_id"})


# ------------------------------------------------------------------------------ deleteGroup


@dataclass(frozen=True)
class DeleteGroup:
    group_id: str
    dry_run: bool = False


async def delete_group(rt: Runtime, actor: Actor, request: DeleteGroup) -> ChangeSummary:
    async with begin(rt, actor, dry_run=request.dry_run, license_lock=True) as change:
        group = await load_group(change.conn, change.tenant_id, request.group_id, "input.groupId")
        if await directory.group_has_licenses(change.conn, change.tenant_id, group.id):
            raise refuse(
                ErrorCode.GROUP_HAS_LICENSES,
                f"{group.display_name} holds licenses; remove its licenses first, then delete the group.",
                group_id=group.id,
            )
        # members of a group nested in a licensed group lose that route (D17, R11)
        reconciled = await reconcile(change, Overlay(removed_groups=[group.id]), groups=[group.id], below=[group.id])
        changes = reconciled.decided.summary(change)
        if not change.dry_run:
            await directory.delete_group(change.conn, change.tenant_id, group.id)
        changes = changes.merged(await write(change, reconciled.decided), change.catalog)
        await change.audit(
            "GROUP_DELETED", f"Deleted group {group.display_name}; {changes.affected_user_count} user(s) affected",
            target_id=request.group_id, affected=changes.affected_user_count,
        )
        return changes


# ------------------------------------------------------------------------------ members


@dataclass(frozen=True)
class ChangeMembers:
    group_id: str
    member_ids: Sequence[str]
    dry_run: bool = False


@dataclass(frozen=True)
class MembersChanged:
    group: GroupRecord
    users: list[uuid.UUID]  # the users who became (or stopped being) direct members
    groups: list[uuid.UUID]
    changes: ChangeSummary
    reconciled: Reconciled | None = None


async def add_members(rt: Runtime, actor: Actor, request: ChangeMembers) -> MembersChanged:
    return await _members(rt, actor, request, add=True)


async def remove_members(rt: Runtime, actor: Actor, request: ChangeMembers) -> MembersChanged:
    return await _members(rt, actor, request, add=False)


async def _members(rt: Runtime, actor: Actor, request: ChangeMembers, *, add: bool) -> MembersChanged:
    async with begin(rt, actor, dry_run=request.dry_run, license_lock=True) as change:
        group = await load_group(change.conn, change.tenant_id, request.group_id, "input.groupId")
        return await _change_members_of(change, group, request.member_ids, add=add)


async def _change_members_of(
    change: Change, group: GroupRecord, member_ids: Sequence[str], *, add: bool, limit: int | None = None
) -> MembersChanged:
    """addGroupMembers / removeGroupMembers inside a change's transaction (`limit`: how many
    ids the request may name; LICENSING_MAX_MEMBERS_PER_CALL unless given)."""
    rt, conn, tid = change.runtime, change.conn, change.tenant_id
    if group.dynamic:
        raise refuse_manual(group)
    bound = rt.settings.max_members_per_call if limit is None else limit
    users, groups = await parse_members(conn, tid, list(member_ids), "input.memberIds", bound)
    if group.id in groups:
        index = next(i for i, raw in enumerate(member_ids) if from_global_id(raw).key == str(group.id))
        raise v.invalid(f"input.memberIds.{index}", "A group cannot be a member of itself.")
    current_users, current_groups = await directory.current_members(conn, tid, group.id, users, groups)
    changed_users = [u for u in users if (u in current_users) != add]
    changed_groups = [g for g in groups if (g in current_groups) != add]
    result = await change_members(change, group, changed_users, changed_groups, add=add)
    action, verb = ("GROUP_MEMBERS_ADDED", "Added") if add else ("GROUP_MEMBERS_REMOVED", "Removed")
    if changed_users or changed_groups:
        await change.audit(
            action,
            f"{verb} {len(changed_users)} user(s) and {len(changed_groups)} group(s) {'to' if add else 'from'} {group.display_name}",
            target_id=to_global_id("Group", group.id), users=len(changed_users), groups=len(changed_groups),
            affected=result.changes.affected_user_count,
        )
    return result


@dataclass(frozen=True)
class ChangeGroup:
    """Several changes of one group at once (SCIM's PUT and PATCH): attributes, then the members
    replaced (`members`, None: kept), removed and added — all or nothing (R30)."""

    group_id: str
    update: UpdateGroup | None = None
    members: Sequence[str] | None = None
    remove: Sequence[str] = ()
    add: Sequence[str] = ()


async def change_group(rt: Runtime, actor: Actor, request: ChangeGroup) -> GroupRecord:
    """One transaction for every part of the request, each audited as its own mutation would be."""
    async with begin(rt, actor, license_lock=True, already_exists=EXTERNAL_ID_TAKEN) as change:
        group = await load_group(change.conn, change.tenant_id, request.group_id, "input.groupId")
        if request.update is not None:
            group = (await _update(change, group, request.update)).group
        remove, add = list(request.remove), list(request.add)
        implied = 0  # removals a replacement implies: the group's own members, not ids the request names
        if request.members is not None:
            users, member_groups = await directory.direct_member_keys(change.conn, change.tenant_id, group.id)
            current = [to_global_id("User", u) for u in users] + [to_global_id("Group", g) for g in member_groups]
            wanted, present = set(request.members), set(current)
            dropped = [m for m in current if m not in wanted]
            implied = len(dropped)
            remove += dropped
            add += [m for m in request.members if m not in present]
        remove = await _still_named(change, list(dict.fromkeys(remove)))
        if remove:
            limit = change.runtime.settings.max_members_per_call + implied
            await _change_members_of(change, group, remove, add=False, limit=limit)
        if add:
            await _change_members_of(change, group, list(dict.fromkeys(add)), add=True)
        return group


async def _still_named(change: Change, member_ids: list[str]) -> list[str]:
    """The ids to remove that still name a user or group once the change holds the license lock:
    one deleted meanwhile (an identity provider deprovisions a user and, at once, removes the
    memberships) is no member, and removing a non-member is a no-op (D17). Malformed ids stay, to
    be refused."""
    keys: dict[str, tuple[str, uuid.UUID]] = {}
    for raw in member_ids:
        try:
            gid = from_global_id(raw)
            keys[raw] = (gid.type_name, gid.uuid())
        except BadId:
            continue
    users = [k for t, k in keys.values() if t == "User"]
    groups = [k for t, k in keys.values() if t == "Group"]
    found_users, found_groups = await directory.existing_ids(change.conn, change.tenant_id, users, groups)
    return [raw for raw in member_ids
            if raw not in keys or keys[raw][1] in (found_users if keys[raw][0] == "User" else found_groups)]


async def change_members(
    change: Change, group: GroupRecord, users: list[uuid.UUID], groups: list[uuid.UUID], *, add: bool,
) -> MembersChanged:
    """Add (or remove) these direct members — none of them a member already (not one, when
    removing) — and reconcile every user it moves, in the change's transaction (R10, R11, D17)."""
    user_edges = [(group.id, u) for u in users]
    group_edges = [(group.id, g) for g in groups]
    overlay = (
        Overlay(add_user_edges=user_edges, add_group_edges=group_edges)
        if add
        else Overlay(remove_user_edges=user_edges, remove_group_edges=group_edges)
    )
    reconciled = await reconcile(change, overlay, groups=groups, users=users, below=[group.id])
    changes = reconciled.decided.summary(change)
    if not change.dry_run:
        if add:
            await directory.add_members(change.conn, change.tenant_id, group.id, users, groups)
        else:
            await directory.remove_members(change.conn, change.tenant_id, group.id, users, groups)
        if users or groups:
            await directory.touch_group(change.conn, change.tenant_id, group.id)
    changes = changes.merged(await write(change, reconciled.decided), change.catalog)
    return MembersChanged(group, users, groups, changes, reconciled)
