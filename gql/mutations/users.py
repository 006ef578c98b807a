"""createUser (with licenses, R16), updateUser, deleteUser, inviteGuest (R17, D12)."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from gql.changes import LicenseChangeSummary, changes_of
from gql.errors import UserError
from gql.inputs import CreateUserInput, DeleteUserInput, InviteGuestInput, UpdateUserInput
from gql.mutations.common import Field, licenses_of, run
from gql.permissions import CanCreateUser, CanManageDirectory, CanUpdateUser
from gql.types import User
from services import directory


@strawberry.type
class CreateUserPayload:
    user: User | None
    errors: list[UserError]
    changes: LicenseChangeSummary | None


@strawberry.type
class UpdateUserPayload:
    user: User | None
    errors: list[UserError]
    changes: LicenseChangeSummary | None


@strawberry.type
class DeleteUserPayload:
    deleted_user_id: strawberry.ID | None
    errors: list[UserError]
    changes: LicenseChangeSummary | None


@strawberry.type
class InviteGuestPayload:
    user: User | None
    errors: list[UserError]


def _kept(value: object) -> object:
    return directory.KEEP if value is strawberry.UNSET else value


async def create_user(info: Info, input: CreateUserInput) -> CreateUserPayload:
    request = directory.CreateUser(
        input.user_principal_name, input.display_name, input.mail, input.usage_location, input.department,
        input.job_title, input.account_enabled, licenses_of(input.licenses), dry_run=bool(input.dry_run),
        given_name=input.given_name, surname=input.surname, employee_id=input.employee_id,
    )
    done, errors = await run(info, directory.create_user, request)
    if done is None:
        return CreateUserPayload(user=None, errors=errors, changes=None)
    if not done.stored:  # a dry run's payload names a user never stored
        info.context.loaders.unsaved_users[done.user.id] = done.user
    return CreateUserPayload(user=User.of(done.user), errors=[], changes=changes_of(done.changes))


async def update_user(info: Info, input: UpdateUserInput) -> UpdateUserPayload:
    request = directory.UpdateUser(
        input.user_id, display_name=_kept(input.display_name), department=_kept(input.department),
        job_title=_kept(input.job_title), account_enabled=_kept(input.account_enabled),
        usage_location=_kept(input.usage_location), given_name=_kept(input.given_name), surname=_kept(input.surname),
        employee_id=_kept(input.employee_id), mail=_kept(input.mail), dry_run=bool(input.dry_run),
    )
    done, errors = await run(info, directory.update_user, request)
    if done is None:
        return UpdateUserPayload(user=None, errors=errors, changes=None)
    return UpdateUserPayload(user=User.of(done.user), errors=[], changes=changes_of(done.changes))


async def delete_user(info: Info, input: DeleteUserInput) -> DeleteUserPayload:
    done, errors = await run(info, directory.delete_user, directory.DeleteUser(input.user_id, dry_run=bool(input.dry_run)))
    if done is None:
        return DeleteUserPayload(deleted_user_id=None, errors=errors, changes=None)
    info.context.loaders.unsaved_users[done.user.id] = done.user  # the payload's outcomes name the deleted user
    return DeleteUserPayload(deleted_user_id=input.user_id, errors=[], changes=changes_of(done.changes))


async def invite_guest(info: Info, input: InviteGuestInput) -> InviteGuestPayload:
    request = directory.InviteGuest(input.email, input.display_name, input.usage_location)
    user, errors = await run(info, directory.invite_guest, request)
    return InviteGuestPayload(user=User.of(user) if user else None, errors=errors)


FIELDS: dict[str, Field] = {
    "create_user": (create_user, CreateUserPayload, [CanCreateUser]),
    "update_user": (update_user, UpdateUserPayload, [CanUpdateUser]),
    "delete_user": (delete_user, DeleteUserPayload, [CanManageDirectory]),
    "invite_guest": (invite_guest, InviteGuestPayload, [CanManageDirectory]),
}
