"""createGroup, deleteGroup, addGroupMembers, removeGroupMembers."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from gql.changes import LicenseChangeSummary, changes_of
from gql.errors import UserError
from gql.inputs import CreateGroupInput, DeleteGroupInput, GroupMembersInput
from gql.mutations.common import Field, run
from gql.permissions import CanManageDirectory
from gql.types import Group
from services import groups


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


async def create_group(info: Info, input: CreateGroupInput) -> CreateGroupPayload:
    request = groups.CreateGroup(input.display_name, input.description, input.security_enabled, list(input.member_ids or []))
    group, errors = await run(info, groups.create_group, request)
    return CreateGroupPayload(group=Group.of(group) if group else None, errors=errors)


async def delete_group(info: Info, input: DeleteGroupInput) -> DeleteGroupPayload:
    changes, errors = await run(info, groups.delete_group, groups.DeleteGroup(input.group_id, dry_run=bool(input.dry_run)))
    if changes is None:
        return DeleteGroupPayload(deleted_group_id=None, errors=errors, changes=None)
    return DeleteGroupPayload(deleted_group_id=input.group_id, errors=[], changes=changes_of(changes))


async def _members(info: Info, input: GroupMembersInput, *, add: bool) -> GroupMembersPayload:
    request = groups.ChangeMembers(input.group_id, list(input.member_ids), dry_run=bool(input.dry_run))
    done, errors = await run(info, groups.add_members if add else groups.remove_members, request)
    if done is None:
        return GroupMembersPayload(group=None, errors=errors, changes=None)
    return GroupMembersPayload(group=Group.of(done.group), errors=[], changes=changes_of(done.changes))


async def add_group_members(info: Info, input: GroupMembersInput) -> GroupMembersPayload:
    return await _members(info, input, add=True)


async def remove_group_members(info: Info, input: GroupMembersInput) -> GroupMembersPayload:
    return await _members(info, input, add=False)


FIELDS: dict[str, Field] = {
    "create_group": (create_group, CreateGroupPayload, [CanManageDirectory]),
    "delete_group": (delete_group, DeleteGroupPayload, [CanManageDirectory]),
    "add_group_members": (add_group_members, GroupMembersPayload, [CanManageDirectory]),
    "remove_group_members": (remove_group_members, GroupMembersPayload, [CanManageDirectory]),
}
