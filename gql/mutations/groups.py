"""createGroup, deleteGroup, addGroupMembers, removeGroupMembers."""

from __future__ import annotations

import uuid

import strawberry
from sqlalchemy.ext.asyncio import AsyncConnection
from strawberry.types import Info

from db.group_paths import Overlay
from db.records import GroupRecord
from db.repo import directory
from gql import validation as v
from gql.changes import LicenseChangeSummary
from gql.errors import ErrorCode, Refused, UserError, refuse
from gql.ids import BadId, from_global_id
from gql.inputs import CreateGroupInput, DeleteGroupInput, GroupMembersInput
from gql.mutations.common import record, run_mutation
from gql.mutations.group_licenses import reconcile
from gql.permissions import CanManageDirectory
from gql.resolve import ArgError, not_found, uuid_arg
from gql.types import Group


@strawberry.type
class CreateGroupPayload:
    group: Group | None
    errors: list[UserError]


@strawberry.type
class DeleteGroupPayload:
    deleted_group_id: strawberry.ID | None
    errors: list[UserError]
    changes: LicenseChangeSummary | None


@strawberry.type
class GroupMembersPayload:
    group: Group | None
    errors: list[UserError]
    changes: LicenseChangeSummary | None


async def parse_members(
    conn: AsyncConnection, info: Info, raw_ids: list[str], field: str
) -> tuple[list[uuid.UUID], list[uuid.UUID]]:
    """Member ids (users or groups, D3): malformed or repeated → INVALID_INPUT; unknown → NOT_FOUND."""
    ctx = info.context
    v.bounded(raw_ids, field, ctx.settings.max_members_per_call, "Split the list over several calls.")
    users: list[uuid.UUID] = []
    groups: list[uuid.UUID] = []
    positions: dict[uuid.UUID, int] = {}
    unknown_type: list[int] = []
    for index, raw in enumerate(raw_ids):
        try:
            gid = from_global_id(raw)
            key = gid.uuid()
        except BadId as exc:
            raise ArgError(
                ErrorCode.INVALID_INPUT, f"{field}.{index}", f"`{field}.{index}` is not a valid user or group id ({raw[:60]!r})."
            ) from exc
        if key in positions:
            raise v.invalid(f"{field}.{index}", f"`{field}` names {raw!r} more than once.")
        positions[key] = index
        if gid.type_name == "User":
            users.append(key)
        elif gid.type_name == "Group":
            groups.append(key)
        else:
            unknown_type.append(index)
    found_users, found_groups = await directory.existing_ids(conn, ctx.tenant_id, users, groups)
    missing = sorted(
        [positions[k] for k in users if k not in found_users]
        + [positions[k] for k in groups if k not in found_groups]
        + unknown_type
    )
    if missing:
        raise Refused(
            [
                UserError(
                    code=ErrorCode.NOT_FOUND,
                    message=f"`{field}.{i}` names no user or group of this organisation.",
                    field=f"{field}.{i}",
                )
                for i in missing
            ]
        )
    return users, groups


async def _load_group(conn: AsyncConnection, info: Info, raw: str, field: str) -> GroupRecord:
    ctx = info.context
    gid = uuid_arg(raw, "Group", field)
    found = (await directory.groups_by_ids(conn, ctx.tenant_id, [gid])) if gid else {}
    if gid is None or gid not in found:
        raise not_found(field, "group")
    return found[gid]


async def create_group(info: Info, input: CreateGroupInput) -> CreateGroupPayload:
    ctx = info.context

    async def work(conn: AsyncConnection) -> GroupRecord:
        values = {
            "display_name": v.required_text(input.display_name, "input.displayName"),
            "description": v.optional_text(input.description, "input.description"),
            "security_enabled": True if input.security_enabled is None else input.security_enabled,
        }
        users, groups = await parse_members(conn, info, list(input.member_ids or []), "input.memberIds")
        group = await directory.insert_group(conn, ctx.tenant_id, values)
        await directory.add_members(conn, ctx.tenant_id, group.id, users, groups)
        await record(
            conn, ctx, "GROUP_CREATED", f"Created group {group.display_name} with {len(users) + len(groups)} member(s)",
            target_id=Group.of(group).id, users=len(users), groups=len(groups),
        )
        return group

    group, errors = await run_mutation(info, work)
    return CreateGroupPayload(group=Group.of(group) if group else None, errors=errors)


async def delete_group(info: Info, input: DeleteGroupInput) -> DeleteGroupPayload:
    ctx = info.context
    dry_run = bool(input.dry_run)

    async def work(conn: AsyncConnection) -> LicenseChangeSummary:
        group = await _load_group(conn, info, input.group_id, "input.groupId")
        if await directory.group_has_licenses(conn, ctx.tenant_id, group.id):
            raise refuse(
                ErrorCode.GROUP_HAS_LICENSES,
                f"{group.display_name} holds licenses; remove its licenses first, then delete the group.",
                group_id=input.group_id,
            )
        # members of a group nested in a licensed group lose that route (D17, R11)
        change = await reconcile(
            conn, ctx, Overlay(removed_groups=[group.id]), groups=[group.id], below=[group.id], dry_run=dry_run
        )
        changes = change.summary(ctx, dry_run=dry_run)
        if not dry_run:
            await directory.delete_group(conn, ctx.tenant_id, group.id)
            await change.apply(conn, ctx)
        await record(
            conn, ctx, "GROUP_DELETED", f"Deleted group {group.display_name}; {changes.affected_user_count} user(s) affected",
            target_id=input.group_id, dry_run=dry_run, affected=changes.affected_user_count,
        )
        return changes

    changes, errors = await run_mutation(info, work, dry_run=dry_run, license_lock=True)
    if changes is None:
        return DeleteGroupPayload(deleted_group_id=None, errors=errors, changes=None)
    return DeleteGroupPayload(deleted_group_id=input.group_id, errors=[], changes=changes)


async def _change_members(info: Info, input: GroupMembersInput, *, add: bool) -> GroupMembersPayload:
    ctx = info.context
    dry_run = bool(input.dry_run)

    async def work(conn: AsyncConnection) -> tuple[GroupRecord, LicenseChangeSummary]:
        group = await _load_group(conn, info, input.group_id, "input.groupId")
        users, groups = await parse_members(conn, info, list(input.member_ids), "input.memberIds")
        if group.id in groups:
            index = next(i for i, raw in enumerate(input.member_ids) if from_global_id(raw).key == str(group.id))
            raise v.invalid(f"input.memberIds.{index}", "A group cannot be a member of itself.")
        current_users, current_groups = await directory.current_members(conn, ctx.tenant_id, group.id, users, groups)
        changed_users = [u for u in users if (u in current_users) != add]
        changed_groups = [g for g in groups if (g in current_groups) != add]
        user_edges = [(group.id, u) for u in changed_users]
        group_edges = [(group.id, g) for g in changed_groups]
        overlay = (
            Overlay(add_user_edges=user_edges, add_group_edges=group_edges)
            if add
            else Overlay(remove_user_edges=user_edges, remove_group_edges=group_edges)
        )
        change = await reconcile(
            conn, ctx, overlay, groups=changed_groups, users=changed_users, below=[group.id], dry_run=dry_run
        )
        changes = change.summary(ctx, dry_run=dry_run)
        if not dry_run:
            if add:
                await directory.add_members(conn, ctx.tenant_id, group.id, changed_users, changed_groups)
            else:
                await directory.remove_members(conn, ctx.tenant_id, group.id, changed_users, changed_groups)
            await change.apply(conn, ctx)
        action, verb = ("GROUP_MEMBERS_ADDED", "Added") if add else ("GROUP_MEMBERS_REMOVED", "Removed")
        if changed_users or changed_groups:
            await record(
                conn, ctx, action,
                f"{verb} {len(changed_users)} user(s) and {len(changed_groups)} group(s) {'to' if add else 'from'} {group.display_name}",
                target_id=Group.of(group).id, dry_run=dry_run, users=len(changed_users), groups=len(changed_groups),
                affected=changes.affected_user_count,
            )
        return group, changes

    result, errors = await run_mutation(info, work, dry_run=dry_run, license_lock=True)
    if result is None:
        return GroupMembersPayload(group=None, errors=errors, changes=None)
    group, changes = result
    return GroupMembersPayload(group=Group.of(group), errors=[], changes=changes)


async def add_group_members(info: Info, input: GroupMembersInput) -> GroupMembersPayload:
    return await _change_members(info, input, add=True)


async def remove_group_members(info: Info, input: GroupMembersInput) -> GroupMembersPayload:
    return await _change_members(info, input, add=False)


FIELDS = {
    "create_group": (create_group, CreateGroupPayload, [CanManageDirectory]),
    "delete_group": (delete_group, DeleteGroupPayload, [CanManageDirectory]),
    "add_group_members": (add_group_members, GroupMembersPayload, [CanManageDirectory]),
    "remove_group_members": (remove_group_members, GroupMembersPayload, [CanManageDirectory]),
}
