"""createGroup, updateGroup, deleteGroup, addGroupMembers, removeGroupMembers."""

from __future__ import annotations

import uuid

import strawberry
from strawberry.types import Info

from gql.changes import LicenseChangeSummary, changes_of
from gql.errors import UserError, bad_user_input
from gql.inputs import CreateGroupInput, DeleteGroupInput, GroupMembersInput, UpdateGroupInput
from gql.mutations.common import Field, run
from gql.permissions import CanManageDirectory
from gql.types import Group, User
from services import groups
from services.dynamic_groups import RuleMoves

MAX_MOVES_LISTED = 1000  # MembershipChanges.joined/left(first:) at most


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


@strawberry.type
class MembershipChanges:
    """Who joined and who left a dynamic group (R24), in user creation order."""

    joined_count: int
    left_count: int
    joined_ids: strawberry.Private[list[uuid.UUID]]
    left_ids: strawberry.Private[list[uuid.UUID]]

    @staticmethod
    def of(moves: RuleMoves, group_id: uuid.UUID) -> MembershipChanges:
        joined = moves.joined.get(group_id, [])
        left = moves.left.get(group_id, [])
        return MembershipChanges(joined_count=len(joined), left_count=len(left), joined_ids=joined, left_ids=left)

    @strawberry.field
    async def joined(self, info: Info, first: int | None = 50) -> list[User]:
        return await _users(info, self.joined_ids, first)

    @strawberry.field
    async def left(self, info: Info, first: int | None = 50) -> list[User]:
        return await _users(info, self.left_ids, first)


async def _users(info: Info, ids: list[uuid.UUID], first: int | None) -> list[User]:
    n = 50 if first is None else first
    if n < 0 or n > MAX_MOVES_LISTED:
        raise bad_user_input(f"`first` must be between 0 and {MAX_MOVES_LISTED}; got {n}.")  # D9
    users = await info.context.loaders.user_by_id.load_many(ids[:n])
    return [User.of(u) for u in users if u is not None]


@strawberry.type
class UpdateGroupPayload:
    group: Group | None
    errors: list[UserError]
    membership_changes: MembershipChanges | None
    changes: LicenseChangeSummary | None


def _kept(value: object) -> object:
    return groups.KEEP if value is strawberry.UNSET else value


async def update_group(info: Info, input: UpdateGroupInput) -> UpdateGroupPayload:
    request = groups.UpdateGroup(
        input.group_id, display_name=_kept(input.display_name), description=_kept(input.description),
        membership_rule=_kept(input.membership_rule), dry_run=bool(input.dry_run),
    )
    done, errors = await run(info, groups.update_group, request)
    if done is None:
        return UpdateGroupPayload(group=None, errors=errors, membership_changes=None, changes=None)
    moves = MembershipChanges.of(done.moves, done.group.id) if done.moves is not None else None
    return UpdateGroupPayload(group=Group.of(done.group), errors=[], membership_changes=moves, changes=changes_of(done.changes))


async def create_group(info: Info, input: CreateGroupInput) -> CreateGroupPayload:
    request = groups.CreateGroup(
        input.display_name, input.description, input.security_enabled, list(input.member_ids or []),
        membership_rule=input.membership_rule,
    )
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
    "update_group": (update_group, UpdateGroupPayload, [CanManageDirectory]),
    "delete_group": (delete_group, DeleteGroupPayload, [CanManageDirectory]),
    "add_group_members": (add_group_members, GroupMembersPayload, [CanManageDirectory]),
    "remove_group_members": (remove_group_members, GroupMembersPayload, [CanManageDirectory]),
}
