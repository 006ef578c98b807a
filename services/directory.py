"""Users: createUser (with licenses, R16), updateUser, deleteUser, inviteGuest (R17, D12).

Every change of users goes through `user_changes.users_changed` in its transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from db.models import DIRECT
from db.records import UserRecord
from db.repo import directory
from db.repo.licensing import load_facts
from services import validation as v
from services.change import Change, begin
from services.context import Actor, Runtime
from services.errors import ErrorCode, Problem, Refused, not_found, refuse
from services.ids import to_global_id, uuid_arg
from services.license_changes import NewPath, Proposal, decide_direct
from services.licenses import LicenseRequest, license_inputs
from services.summaries import ChangeSummary
from services.user_changes import users_changed

UPN_TAKEN = "That user principal name is taken."


class ChangedMeanwhile(Refused):
    """The user was changed after the caller read it (`UpdateUser.unchanged_since`)."""


@dataclass(frozen=True)
class CreateUser:
    user_principal_name: str
    display_name: str
    mail: str | None = None
    usage_location: str | None = None
    department: str | None = None
    job_title: str | None = None
    account_enabled: bool | None = None
    licenses: Sequence[LicenseRequest] = ()
    given_name: str | None = None
    surname: str | None = None
    employee_id: str | None = None
    external_id: str | None = None  # set by SCIM only (D31)
    user_type: str = "MEMBER"  # SCIM's userType: MEMBER or GUEST
    from_identity_provider: bool = False  # SCIM: D28's userName, never refused for licensing (D27)
    dry_run: bool = False


@dataclass(frozen=True)
class UserChanged:
    user: UserRecord
    changes: ChangeSummary
    stored: bool = True  # False for the user of a dry-run createUser (never stored)


EXTERNAL_ID_TAKEN = "That external id is taken by another user."


def _external_id_taken(external_id: str) -> Any:
    return refuse(
        ErrorCode.ALREADY_EXISTS, f"Another user already has the external id {external_id!r}.", field="input.externalId",
    )


def _upn(value: str, from_identity_provider: bool) -> str:
    if from_identity_provider:
        return v.identity_provider_user_name(value, "input.userPrincipalName")
    return v.user_principal_name(value, "input.userPrincipalName")


def _user_type(value: str) -> str:
    if value not in ("MEMBER", "GUEST"):
        raise v.invalid("input.userType", f"`input.userType` is Member or Guest; got {value[:40]!r}.")
    return value


def _upn_taken(upn: str) -> Any:
    return refuse(
        ErrorCode.ALREADY_EXISTS,
        f"A user with the user principal name {upn} already exists; choose another name.",
        field="input.userPrincipalName",
    )


def new_user_values(request: CreateUser) -> dict[str, Any]:
    """Validated columns of a new member (D8)."""
    return {
        "user_principal_name": _upn(request.user_principal_name, request.from_identity_provider),
        "display_name": v.required_text(request.display_name, "input.displayName"),
        "mail": v.mail_address(request.mail, "input.mail"),
        "usage_location": v.usage_location(request.usage_location, "input.usageLocation"),
        "department": v.optional_text(request.department, "input.department"),
        "job_title": v.optional_text(request.job_title, "input.jobTitle"),
        "given_name": v.given_name(request.given_name, "input.givenName"),
        "surname": v.surname(request.surname, "input.surname"),
        "employee_id": v.employee_id(request.employee_id, "input.employeeId"),
        "account_enabled": True if request.account_enabled is None else request.account_enabled,
        "user_type": _user_type(request.user_type),
        "external_id": v.external_id(request.external_id, "input.externalId"),
    }


async def _names_free(conn: AsyncConnection, tenant_id: str, values: dict[str, Any]) -> None:
    """ALREADY_EXISTS when the UPN (or else the external id) is taken."""
    upn, external_id = values["user_principal_name"], values["external_id"]
    upn_taken, external_id_taken = await directory.names_taken(conn, tenant_id, upn, external_id)
    if upn_taken:
        raise _upn_taken(upn)
    if external_id_taken:
        raise _external_id_taken(external_id)


async def create_user(rt: Runtime, actor: Actor, request: CreateUser) -> UserChanged:
    """R16: create the user and assign licenses in one transaction (all or nothing)."""
    async with begin(rt, actor, dry_run=request.dry_run, license_lock=bool(request.licenses), already_exists=UPN_TAKEN) as change:
        conn, tid = change.conn, change.tenant_id
        values = new_user_values(request)
        # the names are checked in the insert's statement (when one is taken, which one is asked
        # after), and a real run's takes the license lock that following the rules needs next
        # (D21). A dry run stores the user too, in its own transaction, which is always rolled
        # back: the dynamic groups it would join and their licenses are decided as a real run
        # decides them (R19); it takes no lock.
        stored = await directory.insert_user_if_free(
            conn, tid, values, lock_licenses=not change.dry_run and not change.license_locked
        )
        if stored is None:
            await _names_free(conn, tid, values)
            raise refuse(ErrorCode.ALREADY_EXISTS, UPN_TAKEN)  # freed in between by a concurrent change
        if not change.dry_run:
            change.took_license_lock()
        user = stored
        # checked after the names, as before (a refusal rolls the insert back)
        adds = license_inputs(
            change.catalog, request.licenses, "input.licenses",
            no_subscription="New users get organisation seats; leave `subscriptionId` out.",
        )
        followed = await users_changed(change, created=[user], refuse_new_errors=not request.from_identity_provider)
        changes = followed.changes
        if adds:
            changes = changes.merged(await _license_new_user(change, user, adds), change.catalog)
        await change.audit(
            "USER_CREATED",
            f"Created user {user.user_principal_name}" + (f" with {len(adds)} license(s)" if adds else "")
            + followed.audit_text(),
            target_id=_user_gid(user.id), users=1, **({"licenses": len(adds)} if adds else {}), **followed.audit_details(),
        )
        return UserChanged(user, changes, stored=not change.dry_run)


async def _license_new_user(change: Change, user: UserRecord, adds: dict[uuid.UUID, frozenset[uuid.UUID]]) -> ChangeSummary:
    facts = await load_facts(change.conn, change.tenant_id, [user.id])
    proposal = Proposal(user_ids={user.id}, upserts={(user.id, pid, DIRECT): NewPath(d) for pid, d in adds.items()})
    try:
        return await decide_direct(change, proposal, [(user.id, pid) for pid in adds], facts=facts)
    except Refused as refused:
        # the refusal rolls the new user back: its problems name no user (an id that would
        # name nothing, and differ between the dry run and the real run)
        raise Refused([replace(p, user_id=None) for p in refused.problems]) from None


def _user_gid(user_id: uuid.UUID) -> str:
    return to_global_id("User", user_id)


# ------------------------------------------------------------------------------ updateUser

KEEP: Any = object()  # an input left out: the stored value stays


@dataclass(frozen=True)
class UpdateUser:
    """Fields left at KEEP are not changed; None clears an optional one (`usage_location`, `mail`, …)."""

    user_id: str
    display_name: Any = KEEP
    department: Any = KEEP
    job_title: Any = KEEP
    account_enabled: Any = KEEP
    usage_location: Any = KEEP
    given_name: Any = KEEP
    surname: Any = KEEP
    employee_id: Any = KEEP
    mail: Any = KEEP
    user_principal_name: Any = KEEP  # SCIM's userName (renames over GraphQL are not offered)
    external_id: Any = KEEP  # set by SCIM only (D31)
    user_type: Any = KEEP  # SCIM's userType: MEMBER or GUEST
    from_identity_provider: bool = False  # SCIM: D28's userName; licensing errors recorded, never refused (D27)
    # the user's `updated_at` as the caller read it: refused (ChangedMeanwhile) if it moved since
    # — a read-modify-write (SCIM's PATCH and PUT) then never overwrites a concurrent change
    unchanged_since: datetime | None = None
    dry_run: bool = False

    def changing(self) -> set[str]:
        """The fields this update sets."""
        return {
            name for name in (
                "display_name", "department", "job_title", "account_enabled", "usage_location",
                "given_name", "surname", "employee_id", "mail", "user_principal_name", "external_id", "user_type",
            )
            if getattr(self, name) is not KEEP
        }


async def update_user(rt: Runtime, actor: Actor, request: UpdateUser) -> UserChanged:
    """Change a user's attributes; a new usage location re-evaluates their licenses (R8, D1)."""
    async with begin(rt, actor, dry_run=request.dry_run, license_lock=True, already_exists=UPN_TAKEN) as change:
        conn, tid = change.conn, change.tenant_id
        uid = uuid_arg(request.user_id, "User", "input.userId")
        existing = (await directory.users_by_ids(conn, tid, [uid])) if uid else {}
        if uid is None or uid not in existing:
            raise not_found("input.userId", "user")
        before = existing[uid]
        if request.unchanged_since is not None and await directory.lock_user_version(conn, tid, uid) != request.unchanged_since:
            raise ChangedMeanwhile([Problem(ErrorCode.OTHER, "The user changed meanwhile; read it again and retry.", "input.userId")])
        values: dict[str, Any] = {}
        if request.display_name is not KEEP:
            if request.display_name is None:
                raise v.invalid("input.displayName", "`input.displayName` cannot be null; omit it to keep the name.")
            values["display_name"] = v.required_text(request.display_name, "input.displayName")
        if request.department is not KEEP:
            values["department"] = v.optional_text(request.department, "input.department")
        if request.job_title is not KEEP:
            values["job_title"] = v.optional_text(request.job_title, "input.jobTitle")
        if request.account_enabled is not KEEP:
            if request.account_enabled is None:
                raise v.invalid("input.accountEnabled", "`input.accountEnabled` cannot be null.")
            values["account_enabled"] = request.account_enabled
        if request.usage_location is not KEEP:
            values["usage_location"] = v.usage_location(request.usage_location, "input.usageLocation")
        if request.given_name is not KEEP:
            values["given_name"] = v.given_name(request.given_name, "input.givenName")
        if request.surname is not KEEP:
            values["surname"] = v.surname(request.surname, "input.surname")
        if request.employee_id is not KEEP:
            values["employee_id"] = v.employee_id(request.employee_id, "input.employeeId")
        if request.mail is not KEEP:
            values["mail"] = v.mail_address(request.mail, "input.mail")
        if request.user_type is not KEEP:
            values["user_type"] = _user_type(request.user_type)
        if request.user_principal_name is not KEEP:
            upn = _upn(request.user_principal_name, request.from_identity_provider)
            if await directory.upn_taken(conn, tid, upn, except_id=uid):
                raise _upn_taken(upn)
            values["user_principal_name"] = upn
        if request.external_id is not KEEP:
            external_id = v.external_id(request.external_id, "input.externalId")
            if external_id is not None and await directory.external_id_taken(conn, tid, external_id, except_id=uid):
                raise _external_id_taken(external_id)
            values["external_id"] = external_id
        values = {k: value for k, value in values.items() if getattr(before, k) != value}
        if not values:  # R21: the same values again change nothing and are not audited
            return UserChanged(before, ChangeSummary(change.dry_run))
        if change.dry_run:
            user = replace(before, **values)
        else:
            user = await directory.update_user(conn, tid, uid, values)
        followed = await users_changed(change, updated=[(before, user)], refuse_new_errors=not request.from_identity_provider)
        changes = followed.changes
        await change.audit(
            "USER_UPDATED", f"Updated user {user.user_principal_name}: {', '.join(sorted(values))}" + followed.audit_text(),
            target_id=_user_gid(user.id), users=1, fields=sorted(values), **followed.audit_details(),
        )
        return UserChanged(user, changes)


# ------------------------------------------------------------------------------ deleteUser


@dataclass(frozen=True)
class DeleteUser:
    user_id: str
    dry_run: bool = False


async def delete_user(rt: Runtime, actor: Actor, request: DeleteUser) -> UserChanged:
    """The user's paths end, their seats go back to the pool (and the queue), then the user goes."""
    async with begin(rt, actor, dry_run=request.dry_run, license_lock=True) as change:
        conn, tid = change.conn, change.tenant_id
        uid = uuid_arg(request.user_id, "User", "input.userId")
        existing = (await directory.users_by_ids(conn, tid, [uid])) if uid else {}
        if uid is None or uid not in existing:
            raise not_found("input.userId", "user")
        user = existing[uid]
        result = await users_changed(change, deleted=[user])
        if not change.dry_run:
            await directory.delete_user(conn, tid, uid)
        await change.audit(
            "USER_DELETED",
            f"Deleted user {user.user_principal_name}; {result.licenses_freed} license(s) freed" + result.audit_text(),
            target_id=request.user_id, users=1, licenses_freed=result.licenses_freed, **result.audit_details(),
        )
        return UserChanged(user, result.changes, stored=False)


# ------------------------------------------------------------------------------ inviteGuest


@dataclass(frozen=True)
class InviteGuest:
    email: str
    display_name: str
    usage_location: str | None = None


def guest_upn(email: str, domain: str) -> str:
    """D12: ada@partner.example → ada_partner.example#EXT#@contoso.example."""
    return f"{email.replace('@', '_')}#EXT#@{domain}"


async def invite_guest(rt: Runtime, actor: Actor, request: InviteGuest) -> UserRecord:
    async with begin(rt, actor, already_exists="That guest has already been invited.") as change:
        email = v.mail_address(request.email, "input.email", required=True)
        assert email is not None
        upn = guest_upn(email, actor.tenant.domain)
        values = {
            "user_principal_name": upn,
            "display_name": v.required_text(request.display_name, "input.displayName"),
            "mail": email,
            "usage_location": v.usage_location(request.usage_location, "input.usageLocation"),
            "user_type": "GUEST",
            "account_enabled": True,
        }
        if await directory.upn_taken(change.conn, change.tenant_id, upn):
            raise refuse(ErrorCode.ALREADY_EXISTS, f"{email} has already been invited (as {upn}).", field="input.email")
        user = await directory.insert_user(change.conn, change.tenant_id, values)
        followed = await users_changed(change, created=[user])
        await change.audit(
            "GUEST_INVITED", f"Invited guest {email}" + followed.audit_text(), target_id=_user_gid(user.id), users=1,
            **followed.audit_details(),
        )
        return user
