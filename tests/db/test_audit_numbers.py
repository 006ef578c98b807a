"""Per-tenant audit numbers in the database (db.repo.audit.append, migration 0004)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime

import pytest
from alembic import command
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from db import migrate
from db.repo import audit, tenants
from db.session import Database
from db.urls import sync_url

NOW = datetime.now(UTC)


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url, pool_size=12)
    try:
        yield database
    finally:
        await database.dispose()


async def new_tenant(db: Database) -> str:
    tid = f"aud{uuid.uuid4().hex[:12]}"
    async with db.write() as conn:
        await tenants.create_tenant(conn, tid, f"Tenant {tid}", f"{tid}.example", "US")
    return tid


async def append(db: Database, tid: str, summary: str, *, hold: float = 0.0) -> int:
    async with db.write() as conn:
        n = await audit.append(conn, tid, actor="test", action="TEST", target_id=None, summary=summary, occurred_at=NOW)
        await asyncio.sleep(hold)  # keep the transaction open a moment, as a mutation does
        return n


async def stored(db: Database, tid: str) -> list[tuple[int, str]]:
    async with db.read() as conn:
        rows = await conn.execute(text("SELECT id, summary FROM audit_events WHERE tenant_id = :t ORDER BY id"), {"t": tid})
        return [(r.id, r.summary) for r in rows]


async def test_concurrent_appends_in_one_tenant_get_distinct_consecutive_numbers(db: Database) -> None:
    tid, other = await new_tenant(db), await new_tenant(db)
    await append(db, other, "another tenant first")
    got = await asyncio.gather(*(append(db, tid, f"e{i}", hold=0.01) for i in range(10)))
    assert sorted(got) == list(range(1, 11))
    assert [n for n, _ in await stored(db, tid)] == list(range(1, 11))
    assert {s for _, s in await stored(db, tid)} == {f"e{i}" for i in range(10)}
    assert [n for n, _ in await stored(db, other)] == [1]


async def test_a_rolled_back_change_gives_its_number_back(db: Database) -> None:
    tid = await new_tenant(db)
    assert await append(db, tid, "one") == 1
    with pytest.raises(RuntimeError):
        async with db.write() as conn:
            assert await audit.append(conn, tid, actor="t", action="T", target_id=None, summary="lost", occurred_at=NOW) == 2
            raise RuntimeError("the mutation failed after recording")
    assert await append(db, tid, "two") == 2
    assert await stored(db, tid) == [(1, "one"), (2, "two")]


# ------------------------------------------------------------------------------ the migration


@pytest.fixture
def fresh_database(database_url: str) -> Iterator[str]:
    """An empty database on the test server (the migration test needs it before 0004)."""
    name = f"licensing_mig_{uuid.uuid4().hex[:10]}"
    admin = create_engine(sync_url(database_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(database_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_migration_0004_numbers_each_tenants_existing_events_in_id_order(fresh_database: str) -> None:
    migrate.upgrade(fresh_database, "0003_service_secrets")
    engine = create_engine(sync_url(fresh_database))
    try:
        with engine.begin() as conn:
            for tid in ("alpha", "beta", "quiet"):
                conn.execute(text("INSERT INTO tenants (id, display_name, domain) VALUES (:t, :t, :t || '.example')"), {"t": tid})
            # one shared identity, interleaved: alpha 1, beta 2, alpha 3, alpha 4, beta 5, alpha 6
            for tid, summary in [("alpha", "a1"), ("beta", "b1"), ("alpha", "a2"), ("alpha", "gone"), ("beta", "b2"), ("alpha", "a3")]:
                conn.execute(
                    text("INSERT INTO audit_events (tenant_id, occurred_at, actor, action, summary) VALUES (:t, now(), 'x', 'X', :s)"),
                    {"t": tid, "s": summary},
                )
            conn.execute(text("DELETE FROM audit_events WHERE summary = 'gone'"))  # a gap in the old ids

        migrate.upgrade(fresh_database, "0004_audit_ids_per_tenant")

        with engine.begin() as conn:
            events = conn.execute(text("SELECT tenant_id, id, summary FROM audit_events ORDER BY tenant_id, id")).all()
            assert [tuple(e) for e in events] == [
                ("alpha", 1, "a1"), ("alpha", 2, "a2"), ("alpha", 3, "a3"), ("beta", 1, "b1"), ("beta", 2, "b2"),
            ]
            counters = dict(conn.execute(text("SELECT id, audit_seq FROM tenants")).all())
            assert counters == {"alpha": 3, "beta": 2, "quiet": 0}

        async def next_numbers() -> list[int]:
            database = Database(fresh_database)
            try:
                return [await append(database, "alpha", "a4"), await append(database, "quiet", "q1")]
            finally:
                await database.dispose()

        assert asyncio.run(next_numbers()) == [4, 1]

        # and back: the shared identity returns, after the highest number
        command.downgrade(migrate.alembic_config(fresh_database), "0003_service_secrets")
        with engine.begin() as conn:
            new = conn.execute(
                text("INSERT INTO audit_events (tenant_id, occurred_at, actor, action, summary) "
                     "VALUES ('beta', now(), 'x', 'X', 'b3') RETURNING id")
            ).scalar_one()
            assert new == 5
    finally:
        engine.dispose()
