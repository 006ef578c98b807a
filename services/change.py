"""One change in progress: its transaction, who makes it, whether it is a dry run.

Every use case that changes something runs inside `begin(...)`: one write transaction (R11),
or for a dry run one REPEATABLE READ snapshot that is always rolled back and takes no lock
(R19, D21). A license-affecting change first takes the tenant's license lock (D21). Expected
database refusals become `Refused`: a taken unique name is ALREADY_EXISTS, a lock wait past
LICENSING_LOCK_TIMEOUT_MS is "try again".

What every change must do goes through two places, both inside the transaction:
`services.user_changes.users_changed` after users are created, updated or deleted, and
`services.license_changes.write` for every decided license change.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from db.repo import audit
from db.repo.catalog import Catalog
from db.session import lock_tenant_licenses
from services.context import Actor, Runtime
from services.errors import ErrorCode, refuse

LOCK_NOT_AVAILABLE = "55P03"
UNIQUE_VIOLATION = "23505"
TRY_AGAIN = "Another license change for this organisation is still running; nothing was changed. Try again in a moment."


def sqlstate(exc: DBAPIError) -> str | None:
    orig = getattr(exc, "orig", None)
    return getattr(orig, "sqlstate", None) or getattr(getattr(orig, "__cause__", None), "sqlstate", None)


@dataclass
class Change:
    conn: AsyncConnection
    actor: Actor
    runtime: Runtime
    dry_run: bool
    now: datetime
    _audit_number: int | None = None
    _license_locked: bool = False

    @property
    def license_locked(self) -> bool:
        return self._license_locked

    def took_license_lock(self) -> None:
        """A statement of this change took the tenant's license lock itself (see `lock_licenses`)."""
        self._license_locked = True

    async def lock_licenses(self) -> None:
        """D21: take the tenant's license lock for the rest of the transaction (once: a second
        call costs no round trip). A dry run takes none."""
        if not self.dry_run and not self._license_locked:
            await lock_tenant_licenses(self.conn, self.tenant_id)
            self._license_locked = True

    async def audit_number(self) -> int:
        """The number of this change's audit event, taken the first time it is needed (its
        license events point at it before the event itself is appended, R25)."""
        if self._audit_number is None:
            self._audit_number = await audit.reserve(self.conn, self.tenant_id)
        return self._audit_number

    @property
    def tenant_id(self) -> str:
        return self.actor.tenant.id

    @property
    def catalog(self) -> Catalog:
        return self.runtime.catalog

    async def audit(self, action: str, summary: str, *, target_id: str | None = None, **details: object) -> None:
        """R21: the change's audit event, in its transaction (D11: never for a dry run)."""
        if self.dry_run:
            return
        await audit.append(
            self.conn, self.tenant_id, actor=self.actor.sub, action=action, target_id=target_id, summary=summary,
            details=details, occurred_at=self.now, number=self._audit_number,
        )
        self._audit_number = None  # a second event of the change takes a number of its own


@asynccontextmanager
async def begin(
    runtime: Runtime, actor: Actor, *, dry_run: bool = False, license_lock: bool = False,
    already_exists: str = "That already exists.",
) -> AsyncIterator[Change]:
    """The transaction of one change (see the module docstring). `already_exists`: the message
    when a unique name turns out to be taken by a concurrent change."""
    db = runtime.db
    try:
        async with db.scratch() if dry_run else db.write() as conn:
            locked = license_lock and not dry_run
            if locked:
                await lock_tenant_licenses(conn, actor.tenant.id)
            # `now` is read once the lock is held (a change that waited is timed after the one before)
            yield Change(conn, actor, runtime, dry_run, runtime.clock.now(), _license_locked=locked)
    except IntegrityError as exc:
        if sqlstate(exc) == UNIQUE_VIOLATION:
            raise refuse(ErrorCode.ALREADY_EXISTS, already_exists) from exc
        raise
    except DBAPIError as exc:
        if sqlstate(exc) == LOCK_NOT_AVAILABLE:
            raise refuse(ErrorCode.OTHER, TRY_AGAIN) from exc
        raise
