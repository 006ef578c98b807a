"""SCIM credentials (D34): long-lived bearer tokens of an identity provider, one tenant each.

A token is `scim_` and 43 random URL-safe characters, shown once when created; only its SHA-256
is stored. It grants SCIM only: the actor it yields (`scim:<name>`) has the roles of a User
Administrator (D30), and the GraphQL endpoint does not accept it (it is no JWT). Revoking one
token touches no other secret.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from db.clock import Clock
from db.repo import audit, scim_tokens, tenants
from db.repo.scim_tokens import ScimTokenRecord
from db.session import Database
from services.context import CLI_ACTOR, Actor
from services.errors import ErrorCode, refuse
from services.roles import Role
from services.validation import required_text

PREFIX = "scim_"
SCIM_ROLES = frozenset({Role.USER_ADMINISTRATOR})
MAX_DAYS = 36_500


def token_hash(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


@dataclass(frozen=True)
class CreatedToken:
    token: ScimTokenRecord
    secret: str  # shown once; never stored


async def create_token(db: Database, clock: Clock, tenant_id: str, name: str | None, days: int | None) -> CreatedToken:
    if days is not None and not 1 <= days <= MAX_DAYS:
        raise refuse(ErrorCode.INVALID_INPUT, f"--days must be between 1 and {MAX_DAYS:,}; leave it out for a token that does not expire.")
    now = clock.now()
    secret = PREFIX + secrets.token_urlsafe(32)
    async with db.write() as conn:
        if await tenants.get_tenant(conn, tenant_id) is None:
            raise refuse(ErrorCode.NOT_FOUND, f"no tenant {tenant_id!r}")
        label = required_text(name, "--name") if name is not None else f"scim-{now:%Y%m%d%H%M%S}"
        expires = now + timedelta(days=days) if days is not None else None
        record = await scim_tokens.insert_token(conn, tenant_id, label, token_hash(secret), expires)
        await audit.append(
            conn, tenant_id, actor=CLI_ACTOR, action="SCIM_TOKEN_CREATED", target_id=str(record.id),
            summary=f"Created SCIM token {label}" + (f", valid {days} day(s)" if days is not None else ""),
            details={"name": label, "days": days}, occurred_at=now,
        )
    return CreatedToken(record, secret)


async def list_tokens(db: Database, tenant_id: str) -> list[ScimTokenRecord]:
    async with db.read() as conn:
        if await tenants.get_tenant(conn, tenant_id) is None:
            raise refuse(ErrorCode.NOT_FOUND, f"no tenant {tenant_id!r}")
        return await scim_tokens.tokens_of(conn, tenant_id)


async def revoke_token(db: Database, clock: Clock, tenant_id: str, token_id: str) -> ScimTokenRecord:
    try:
        key = uuid.UUID(token_id)
    except ValueError as exc:
        raise refuse(ErrorCode.INVALID_INPUT, f"{token_id!r} is not a token id; `licensing scim tokens list` shows them.") from exc
    async with db.write() as conn:
        record = await scim_tokens.revoke(conn, tenant_id, key, clock.now())
        if record is None:
            raise refuse(ErrorCode.NOT_FOUND, f"tenant {tenant_id!r} has no SCIM token {token_id}.")
        await audit.append(
            conn, tenant_id, actor=CLI_ACTOR, action="SCIM_TOKEN_REVOKED", target_id=str(record.id),
            summary=f"Revoked SCIM token {record.name}", details={"name": record.name}, occurred_at=clock.now(),
        )
    return record


class ScimAuthError(Exception):
    """Why a request's token is not accepted (401)."""


async def authenticate(db: Database, clock: Clock, authorization: str | None) -> Actor:
    """The actor of a SCIM request's `Authorization: Bearer scim_…` (ScimAuthError: 401)."""
    scheme, _, secret = (authorization or "").partition(" ")
    secret = secret.strip()
    if scheme.lower() != "bearer" or not secret:
        raise ScimAuthError("Authorization: Bearer <SCIM token> is required; create one with `licensing scim tokens create`.")
    now = clock.now()
    found = None
    if secret.startswith(PREFIX):
        found = await scim_tokens.lookup(db, token_hash(secret))
    if found is None:
        raise ScimAuthError("The bearer token is not a SCIM token of this service.")
    record, tenant = found
    if record.revoked_at is not None:
        raise ScimAuthError("This SCIM token was revoked; create a new one with `licensing scim tokens create`.")
    if record.expires_at is not None and record.expires_at <= now:
        raise ScimAuthError("This SCIM token has expired; create a new one with `licensing scim tokens create`.")
    if record.last_used_at is None or record.last_used_at < now - timedelta(minutes=1):
        async with db.write() as conn:
            await scim_tokens.mark_used(conn, record.tenant_id, record.id, now)
    return Actor(tenant, f"scim:{record.name}", SCIM_ROLES)


def is_expired(token: ScimTokenRecord, now: datetime) -> bool:
    return token.expires_at is not None and token.expires_at <= now
