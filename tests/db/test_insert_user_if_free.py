"""db.repo.directory.insert_user_if_free: the name checks, the insert and (optionally) the tenant's
license lock in one statement; and the session-level lock timeout of db.session."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text

from db.repo import directory, tenants
from db.session import TENANT_LOCK_NAMESPACE, Database


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url, pool_size=2, lock_timeout_ms=1234)
    try:
        yield database
    finally:
        await database.dispose()


def _values(upn: str, external_id: str | None = None) -> dict[str, object]:
    return {
        "user_principal_name": upn, "display_name": upn, "mail": None, "usage_location": "NO", "department": None,
        "job_title": None, "given_name": None, "surname": None, "employee_id": None, "account_enabled": True,
        "user_type": "MEMBER", "external_id": external_id,
    }


async def _holds_license_lock(conn: object, tid: str) -> bool:
    query = text(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid() AND granted "
        "AND classid = :ns AND objid = hashtext(:tid)::oid"
    )
    return bool((await conn.execute(query, {"ns": TENANT_LOCK_NAMESPACE, "tid": tid})).scalar_one())  # type: ignore[attr-defined]


async def test_inserts_unless_a_name_is_taken_and_takes_the_lock_when_asked(db: Database) -> None:
    tid = f"iuf{uuid.uuid4().hex[:12]}"
    async with db.write() as conn:
        await tenants.create_tenant(conn, tid, "T", f"{tid}.example", None)
    async with db.write() as conn:
        first = await directory.insert_user_if_free(conn, tid, _values("Ann@x.example", "ext-1"))
        assert first is not None and first.user_principal_name == "Ann@x.example" and first.external_id == "ext-1"
        assert not await _holds_license_lock(conn, tid)
    async with db.write() as conn:
        assert await directory.insert_user_if_free(conn, tid, _values("ANN@X.EXAMPLE"), lock_licenses=True) is None
        assert await directory.insert_user_if_free(conn, tid, _values("bob@x.example", "ext-1"), lock_licenses=True) is None
        assert await directory.names_taken(conn, tid, "ann@x.example", "ext-1") == (True, True)
        assert await directory.names_taken(conn, tid, "bob@x.example", "EXT-1") == (False, False)
        bob = await directory.insert_user_if_free(conn, tid, _values("bob@x.example", "EXT-1"), lock_licenses=True)
        assert bob is not None and await _holds_license_lock(conn, tid)
        assert (await conn.execute(text("SHOW lock_timeout"))).scalar_one() == "1234ms"
    async with db.read() as conn:
        users = await directory.users_by_ids(conn, tid, [first.id, bob.id])
    assert {u.user_principal_name for u in users.values()} == {"Ann@x.example", "bob@x.example"}
