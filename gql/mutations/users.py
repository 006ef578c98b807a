"""createUser, updateUser, deleteUser, inviteGuest."""

from __future__ import annotations

import uuid
from dataclasses import replace
from typing import Any

import strawberry
from sqlalchemy.ext.asyncio import AsyncConnection
from strawberry.types import Info

from db.records import UserRecord
from db.repo import directory
from gql import validation as v
from gql.auth import Role
from gql.changes import LicenseChangeSummary, summary
from gql.errors import ErrorCode, UserError, forbidden, refuse
from gql.inputs import CreateUserInput, DeleteUserInput, InviteGuestInput, UpdateUserInput
from gql.mutations.common import record, run_mutation
from gql.permissions import CanManageDirectory, CanManageDirectoryOrLicenses
from gql.resolve import not_found, uuid_arg
from gql.types import User


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


def _upn_taken(upn: str) -> Any:
    return refuse(
        ErrorCode.ALREADY_EXISTS,
        f"A user with the user principal name {upn} already exists; choose another name.",
        field="input.userPrincipalName",
    )


async def user_values(conn: AsyncConnection, ctx: Any, input: CreateUserInput) -> dict[str, Any]:
    """Validated columns of a new member (D8); ALREADY_EXISTS when the UPN is taken."""
    upn = v.user_principal_name(input.user_principal_name, "input.userPrincipalName")
    values = {
        "user_principal_name": upn,
        "display_name": v.required_text(input.display_name, "input.displayName"),
        "mail": v.mail_address(input.mail, "input.mail"),
        "usage_location": v.usage_location(input.usage_location, "input.usageLocation"),
        "department": v.optional_text(input.department, "input.department"),
        "job_title": v.optional_text(input.job_title, "input.jobTitle"),
        "account_enabled": True if input.account_enabled is None else input.account_enabled,
        "user_type": "MEMBER",
    }
    if await directory.upn_taken(conn, ctx.tenant_id, upn):
        raise _upn_taken(upn)
    return values


async def create_user(info: Info, input: CreateUserInput) -> CreateUserPayload:
    ctx = info.context
    dry_run = bool(input.dry_run)
    if input.licenses:
        from gql.mutations.licenses import create_user_with_licenses

        return await create_user_with_licenses(info, input)  # type: ignore[no-any-return]

    async def work(conn: AsyncConnection) -> tuple[UserRecord, LicenseChangeSummary]:
        values = await user_values(conn, ctx, input)
        if dry_run:
            user = directory.unsaved_user(values, ctx.services.clock.now())
        else:
            user = await directory.insert_user(conn, ctx.tenant_id, values)
        await record(
            conn, ctx, "USER_CREATED", f"Created user {user.user_principal_name}", target_id=User.of(user).id,
            dry_run=dry_run, users=1,
        )
        return user, summary(dry_run=dry_run)

    result, errors = await run_mutation(info, work, dry_run=dry_run, already_exists_message="That user principal name is taken.")
    if result is None:
        return CreateUserPayload(user=None, errors=errors, changes=None)
    user, changes = result
    return CreateUserPayload(user=User.of(user), errors=[], changes=changes)


async def update_user(info: Info, input: UpdateUserInput) -> UpdateUserPayload:
    ctx = info.context
    principal = ctx.principal
    dry_run = bool(input.dry_run)
    changing = {
        name
        for name in ("display_name", "department", "job_title", "account_enabled")
        if getattr(input, name) is not strawberry.UNSET
    }
    directory_admin = principal.has_any(Role.GLOBAL_ADMINISTRATOR, Role.USER_ADMINISTRATOR)
    if changing and not directory_admin:
        raise forbidden("A License Administrator may change only a user's usage location.")

    async def work(conn: AsyncConnection) -> tuple[UserRecord, LicenseChangeSummary]:
        uid = uuid_arg(input.user_id, "User", "input.userId")
        existing = (await directory.users_by_ids(conn, ctx.tenant_id, [uid])) if uid else {}
        if uid is None or uid not in existing:
            raise not_found("input.userId", "user")
        values: dict[str, Any] = {}
        if input.display_name is not strawberry.UNSET:
            if input.display_name is None:
                raise v.invalid("input.displayName", "`input.displayName` cannot be null; omit it to keep the name.")
            values["display_name"] = v.required_text(input.display_name, "input.displayName")
        if input.department is not strawberry.UNSET:
            values["department"] = v.optional_text(input.department, "input.department")
        if input.job_title is not strawberry.UNSET:
            values["job_title"] = v.optional_text(input.job_title, "input.jobTitle")
        if input.account_enabled is not strawberry.UNSET:
            if input.account_enabled is None:
                raise v.invalid("input.accountEnabled", "`input.accountEnabled` cannot be null.")
            values["account_enabled"] = input.account_enabled
        location_changed = False
        if input.usage_location is not strawberry.UNSET:
            values["usage_location"] = v.usage_location(input.usage_location, "input.usageLocation")
            location_changed = values["usage_location"] != existing[uid].usage_location
        if not values:
            return existing[uid], summary(dry_run=dry_run)
        if dry_run:
            user = replace(existing[uid], **values)
        else:
            user = await directory.update_user(conn, ctx.tenant_id, uid, values)
        changes = summary(dry_run=dry_run)
        if location_changed:
            from gql.mutations.licenses import reevaluate_after_location_change

            changes = await reevaluate_after_location_change(conn, ctx, {uid: values["usage_location"]}, dry_run=dry_run)
        await record(
            conn, ctx, "USER_UPDATED", f"Updated user {user.user_principal_name}: {', '.join(sorted(values))}",
            target_id=User.of(user).id, dry_run=dry_run, users=1, fields=sorted(values),
        )
        return user, changes

    result, errors = await run_mutation(info, work, dry_run=dry_run, license_lock=True)
    if result is None:
        return UpdateUserPayload(user=None, errors=errors, changes=None)
    user, changes = result
    return UpdateUserPayload(user=User.of(user), errors=[], changes=changes)


async def delete_user(info: Info, input: DeleteUserInput) -> DeleteUserPayload:
    ctx = info.context
    dry_run = bool(input.dry_run)

    async def work(conn: AsyncConnection) -> tuple[uuid.UUID, LicenseChangeSummary]:
        uid = uuid_arg(input.user_id, "User", "input.userId")
        existing = (await directory.users_by_ids(conn, ctx.tenant_id, [uid])) if uid else {}
        if uid is None or uid not in existing:
            raise not_found("input.userId", "user")
        from gql.mutations.licenses import delete_users_licenses

        changes, freed = await delete_users_licenses(conn, ctx, [uid], dry_run=dry_run)
        if not dry_run:
            await directory.delete_user(conn, ctx.tenant_id, uid)
        await record(
            conn, ctx, "USER_DELETED", f"Deleted user {existing[uid].user_principal_name}; {freed} license(s) freed",
            target_id=input.user_id, dry_run=dry_run, users=1, licenses_freed=freed,
        )
        deleted.append(existing[uid])
        return uid, changes

    deleted: list[UserRecord] = []
    result, errors = await run_mutation(info, work, dry_run=dry_run, license_lock=True)
    if result is None:
        return DeleteUserPayload(deleted_user_id=None, errors=errors, changes=None)
    _, changes = result
    ctx.loaders.unsaved_users[deleted[0].id] = deleted[0]  # the payload's outcomes name the deleted user
    return DeleteUserPayload(deleted_user_id=input.user_id, errors=[], changes=changes)


def guest_upn(email: str, domain: str) -> str:
    """D12: ada@partner.example → ada_partner.example#EXT#@contoso.example."""
    return f"{email.replace('@', '_')}#EXT#@{domain}"


async def invite_guest(info: Info, input: InviteGuestInput) -> InviteGuestPayload:
    ctx = info.context

    async def work(conn: AsyncConnection) -> UserRecord:
        email = v.mail_address(input.email, "input.email", required=True)
        assert email is not None
        upn = guest_upn(email, ctx.principal.tenant.domain)
        values = {
            "user_principal_name": upn,
            "display_name": v.required_text(input.display_name, "input.displayName"),
            "mail": email,
            "usage_location": v.usage_location(input.usage_location, "input.usageLocation"),
            "user_type": "GUEST",
            "account_enabled": True,
        }
        if await directory.upn_taken(conn, ctx.tenant_id, upn):
            raise refuse(ErrorCode.ALREADY_EXISTS, f"{email} has already been invited (as {upn}).", field="input.email")
        user = await directory.insert_user(conn, ctx.tenant_id, values)
        await record(conn, ctx, "GUEST_INVITED", f"Invited guest {email}", target_id=User.of(user).id, users=1)
        return user

    user, errors = await run_mutation(info, work, already_exists_message="That guest has already been invited.")
    return InviteGuestPayload(user=User.of(user) if user else None, errors=errors)


FIELDS = {
    "create_user": (create_user, CreateUserPayload, [CanManageDirectory]),
    "update_user": (update_user, UpdateUserPayload, [CanManageDirectoryOrLicenses]),
    "delete_user": (delete_user, DeleteUserPayload, [CanManageDirectory]),
    "invite_guest": (invite_guest, InviteGuestPayload, [CanManageDirectory]),
}
