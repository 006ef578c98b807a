"""The periodic subscription lifecycle job (services.lifecycle_job.run_once; R15, D7, D23) on the test database.

The job works over every tenant of the database, and other test modules share it. So each
test first "settles" the whole database at the moment it uses (one run at that moment), then
creates its own subscriptions and expects exactly their changes from the next run at that
same moment. The job gets its own ManualClock, never the app's.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import insert, select, text

from db.clock import ManualClock
from db.models import DIRECT, LicensePath, Product, Subscription, UserLicense
from db.repo import directory, group_licenses, tenants
from db.session import Database
from engine.subscription_lifecycle import add_years
from services.lifecycle_job import LIFECYCLE_LOCK, run_once

S, LP, UL = Subscription.__table__, LicensePath.__table__, UserLicense.__table__
WINDOW_DAYS = 7
NOW = datetime.now(UTC).replace(microsecond=0)
DAY = timedelta(days=1)


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    try:
        yield database
    finally:
        await database.dispose()


async def member(conn: Any, tid: str, name: str, **values: Any) -> Any:
    """A member user of the tenant, named `name` (its UPN `name@<tenant>.example`)."""
    return await directory.insert_user(
        conn, tid, {"user_principal_name": f"{name.lower()}@{tid}.example", "display_name": name, "user_type": "MEMBER", **values}
    )


async def new_tenant(db: Database) -> str:
    tid = f"job{uuid.uuid4().hex[:12]}"
    async with db.write() as conn:
        await tenants.create_tenant(conn, tid, f"Tenant {tid}", f"{tid}.example", "US")
    return tid


async def product(db: Database, sku: str = "SPB") -> uuid.UUID:
    async with db.read() as conn:
        return (await conn.execute(select(Product.__table__.c.id).where(Product.__table__.c.sku_part_number == sku))).scalar_one()


async def add_subscription(
    db: Database, tid: str, *, starts_at: datetime, is_trial: bool = False, recurring: bool = True,
    cancelled_at: datetime | None = None, self_service: bool = False, purchased_by: uuid.UUID | None = None,
    stored_status: str | None = None,
) -> uuid.UUID:
    sid = uuid.uuid4()
    end = starts_at + timedelta(days=30) if is_trial else add_years(starts_at, 1)
    values: dict[str, Any] = dict(
        tenant_id=tid, id=sid, product_id=await product(db), quantity=5, is_trial=is_trial, is_self_service=self_service,
        purchased_by=purchased_by, starts_at=starts_at, term_starts_at=starts_at, term_ends_at=end,
        recurring_billing=recurring, cancelled_at=cancelled_at,
    )
    if stored_status is not None:
        values["stored_status"] = stored_status
    async with db.write() as conn:
        await conn.execute(insert(S).values(**values))
    return sid


async def stored(db: Database, tid: str) -> dict[uuid.UUID, str]:
    async with db.read() as conn:
        rows = await conn.execute(select(S.c.id, S.c.stored_status).where(S.c.tenant_id == tid))
        return {r.id: r.stored_status for r in rows}


async def settle(db: Database, clock: ManualClock) -> None:
    """Bring every subscription already in the database up to date at the clock's moment."""
    assert await run_once(db, clock, WINDOW_DAYS) is not None


async def test_run_once_stores_the_derived_status(db: Database) -> None:
    clock = ManualClock(NOW)
    await settle(db, clock)
    tid = await new_tenant(db)
    subs = {
        "active": await add_subscription(db, tid, starts_at=NOW - 10 * DAY),
        "renewed": await add_subscription(db, tid, starts_at=NOW - 400 * DAY),
        "expired": await add_subscription(db, tid, starts_at=NOW - 380 * DAY, recurring=False),
        "disabled": await add_subscription(db, tid, starts_at=NOW - 420 * DAY, recurring=False),
        "deleted": await add_subscription(db, tid, starts_at=NOW - 600 * DAY, recurring=False),
        "cancelled": await add_subscription(db, tid, starts_at=NOW - 3 * DAY, cancelled_at=NOW - 2 * DAY),
        "trial converted": await add_subscription(db, tid, starts_at=NOW - 40 * DAY, is_trial=True),
        "trial expired": await add_subscription(db, tid, starts_at=NOW - 40 * DAY, is_trial=True, recurring=False),
    }
    assert set((await stored(db, tid)).values()) == {"ACTIVE"}  # the column's default before any run

    changed = await run_once(db, clock, WINDOW_DAYS)
    assert changed == 5  # expired, disabled, deleted, cancelled, trial expired
    expected = {
        "active": "ACTIVE", "renewed": "ACTIVE", "expired": "EXPIRED", "disabled": "DISABLED", "deleted": "DELETED",
        "cancelled": "DISABLED", "trial converted": "ACTIVE", "trial expired": "EXPIRED",
    }
    now_stored = await stored(db, tid)
    assert {name: now_stored[sid] for name, sid in subs.items()} == expected


async def test_run_once_follows_the_clock_and_is_idempotent(db: Database) -> None:
    clock = ManualClock(NOW)
    await settle(db, clock)
    tid = await new_tenant(db)
    sid = await add_subscription(db, tid, starts_at=NOW - 10 * DAY, recurring=False)
    end = add_years(NOW - 10 * DAY, 1)

    assert await run_once(db, clock, WINDOW_DAYS) == 0
    assert await run_once(db, clock, WINDOW_DAYS) == 0
    assert (await stored(db, tid))[sid] == "ACTIVE"

    for moment, status in [
        (end + DAY, "EXPIRED"),
        (end + 31 * DAY, "DISABLED"),
        (end + 121 * DAY, "DELETED"),
    ]:
        clock.set(moment)
        changed = await run_once(db, clock, WINDOW_DAYS)
        assert changed is not None and changed >= 1
        assert (await stored(db, tid))[sid] == status
        # a second run at the same moment finds nothing to do, anywhere in the database
        assert await run_once(db, clock, WINDOW_DAYS) == 0
        assert (await stored(db, tid))[sid] == status


async def test_a_run_while_another_replica_holds_the_lock_returns_none_and_changes_nothing(
    db: Database, database_url: str
) -> None:
    clock = ManualClock(NOW)
    await settle(db, clock)
    tid = await new_tenant(db)
    sid = await add_subscription(db, tid, starts_at=NOW - 600 * DAY, recurring=False)
    other = Database(database_url)
    try:
        async with other.write() as conn:
            await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": LIFECYCLE_LOCK})
            assert await run_once(db, clock, WINDOW_DAYS) is None
            assert (await stored(db, tid))[sid] == "ACTIVE"
        # the lock is transaction-scoped: once that run is over, the next one works
        assert await run_once(db, clock, WINDOW_DAYS) == 1
        assert (await stored(db, tid))[sid] == "DELETED"
    finally:
        await other.dispose()


class GateClock:
    """A clock whose first reading blocks until released: holds a run inside its locked transaction."""

    def __init__(self, moment: datetime) -> None:
        self.moment = moment
        self.entered = threading.Event()
        self.release = threading.Event()

    def now(self) -> datetime:
        self.entered.set()
        assert self.release.wait(30), "the test never released the first run"
        return self.moment


async def test_two_concurrent_runs_one_works_the_other_skips(db: Database, database_url: str) -> None:
    clock = ManualClock(NOW)
    await settle(db, clock)
    tid = await new_tenant(db)
    sid = await add_subscription(db, tid, starts_at=NOW - 380 * DAY, recurring=False)
    gate = GateClock(NOW)
    first: dict[str, Any] = {}

    def first_replica() -> None:
        async def run() -> None:
            replica = Database(database_url)
            try:
                first["result"] = await run_once(replica, gate, WINDOW_DAYS)
            finally:
                await replica.dispose()

        try:
            asyncio.run(run())
        except BaseException as exc:  # noqa: BLE001 - reported below
            first["error"] = exc

    thread = threading.Thread(target=first_replica, daemon=True)
    thread.start()
    try:
        assert await asyncio.to_thread(gate.entered.wait, 30), "the first run never started"
        assert await run_once(db, clock, WINDOW_DAYS) is None
        assert (await stored(db, tid))[sid] == "ACTIVE"
    finally:
        gate.release.set()
        await asyncio.to_thread(thread.join, 30)
    assert "error" not in first, first.get("error")
    assert first["result"] == 1
    assert (await stored(db, tid))[sid] == "EXPIRED"


async def test_d23_licenses_from_a_deleted_self_service_subscription_are_removed(db: Database) -> None:
    clock = ManualClock(NOW)
    await settle(db, clock)
    tid = await new_tenant(db)
    spb = await product(db)
    async with db.write() as conn:
        buyer = await member(conn, tid, "Buyer")
        other = await member(conn, tid, "Other")
    gone = await add_subscription(
        db, tid, starts_at=NOW - 600 * DAY, recurring=False, self_service=True, purchased_by=buyer.id, stored_status="DISABLED"
    )
    alive = await add_subscription(db, tid, starts_at=NOW - 10 * DAY, self_service=True, purchased_by=buyer.id)
    e5 = (await product(db, "SPE_E5"))
    async with db.write() as conn:
        for user, product_id, source in [(buyer.id, spb, gone), (other.id, spb, gone), (buyer.id, e5, alive)]:
            await conn.execute(
                insert(LP).values(
                    tenant_id=tid, user_id=user, product_id=product_id, group_id=DIRECT, disabled_plan_ids=[], queue_seq=1,
                    state="ACTIVE", subscription_id=source,
                )
            )
            await conn.execute(
                insert(UL).values(tenant_id=tid, user_id=user, product_id=product_id, holds_seat=True, subscription_id=source)
            )

    assert await run_once(db, clock, WINDOW_DAYS) == 1
    assert (await stored(db, tid)) == {gone: "DELETED", alive: "ACTIVE"}
    async with db.read() as conn:
        paths = (await conn.execute(select(LP.c.user_id, LP.c.subscription_id).where(LP.c.tenant_id == tid))).all()
        licenses = (await conn.execute(select(UL.c.user_id, UL.c.subscription_id).where(UL.c.tenant_id == tid))).all()
    assert [tuple(r) for r in paths] == [(buyer.id, alive)]
    assert [tuple(r) for r in licenses] == [(buyer.id, alive)]
    # D33: each removed license is a REMOVED event, actor system, pointing at the job's audit event
    async with db.read() as conn:
        got = (await conn.execute(
            text("SELECT kind, user_id, product_id, holds_seat, actor, audit_id FROM license_events WHERE tenant_id = :t ORDER BY seq"),
            {"t": tid},
        )).all()
        action = (await conn.execute(
            text("SELECT action, actor FROM audit_events WHERE tenant_id = :t AND id = :n"), {"t": tid, "n": got[0].audit_id}
        )).one()
    assert sorted((r.kind, r.user_id, r.product_id, r.holds_seat, r.actor) for r in got) == sorted(
        [("REMOVED", buyer.id, spb, False, "system"), ("REMOVED", other.id, spb, False, "system")]
    )
    assert tuple(action) == ("SELF_SERVICE_LICENSES_REMOVED", "system")


@pytest.mark.parametrize("pool_seats", [1, 0], ids=["a pool seat is free", "no pool seat"])
async def test_d23_a_self_service_holder_who_also_has_the_product_through_a_group_keeps_the_group_path(
    db: Database, pool_seats: int
) -> None:
    """The deleted subscription's license goes, but its user's group path stays: the license row
    stays with it (no path outlives its license), judged for a pool seat — given when one is
    free (ADDED after the REMOVED), else the path waits in its place with COUNT_VIOLATION (R4).
    Before the fix the license row went and the path stayed: a path without a license."""
    clock = ManualClock(NOW)
    await settle(db, clock)
    tid = await new_tenant(db)
    spb = await product(db)
    async with db.write() as conn:
        buyer = await member(conn, tid, "Buyer", usage_location="US")
        team = await directory.insert_group(conn, tid, {"display_name": "Team", "security_enabled": True})
        await directory.add_members(conn, tid, team.id, [buyer.id], [])
        await group_licenses.upsert(conn, tid, team.id, {spb: frozenset()})
        await conn.execute(text("UPDATE group_licenses SET active_count = 1 WHERE tenant_id = :t"), {"t": tid})
    gone = await add_subscription(
        db, tid, starts_at=NOW - 600 * DAY, recurring=False, self_service=True, purchased_by=buyer.id, stored_status="DISABLED"
    )
    if pool_seats:
        await add_subscription(db, tid, starts_at=NOW - 10 * DAY)  # 5 pool seats, none taken
    async with db.write() as conn:
        for group_id, source in ((DIRECT, gone), (team.id, None)):
            await conn.execute(insert(LP).values(
                tenant_id=tid, user_id=buyer.id, product_id=spb, group_id=group_id, disabled_plan_ids=[], queue_seq=1,
                state="ACTIVE", subscription_id=source,
            ))
        await conn.execute(insert(UL).values(tenant_id=tid, user_id=buyer.id, product_id=spb, holds_seat=True, subscription_id=gone))

    assert await run_once(db, clock, WINDOW_DAYS) == 1
    async with db.read() as conn:
        paths = (await conn.execute(
            select(LP.c.group_id, LP.c.state, LP.c.error_code, LP.c.subscription_id).where(LP.c.tenant_id == tid)
        )).all()
        licenses = (await conn.execute(
            select(UL.c.holds_seat, UL.c.subscription_id).where(UL.c.tenant_id == tid)
        )).all()
        consumed = (await conn.execute(
            text("SELECT coalesce(sum(consumed), 0) FROM product_pools WHERE tenant_id = :t"), {"t": tid}
        )).scalar_one()
        counts = (await conn.execute(
            text("SELECT active_count, error_count FROM group_licenses WHERE tenant_id = :t"), {"t": tid}
        )).one()
        got = (await conn.execute(
            text("SELECT e.kind, e.holds_seat, e.actor, a.action FROM license_events e "
                 "JOIN audit_events a ON a.tenant_id = e.tenant_id AND a.id = e.audit_id WHERE e.tenant_id = :t ORDER BY e.seq"),
            {"t": tid},
        )).all()
    if pool_seats:
        assert [tuple(r) for r in paths] == [(team.id, "ACTIVE", None, None)]
        assert [tuple(r) for r in licenses] == [(True, None)]
        assert (consumed, tuple(counts)) == (1, (1, 0))
        assert [tuple(r) for r in got] == [
            ("REMOVED", False, "system", "SELF_SERVICE_LICENSES_REMOVED"), ("ADDED", True, "system", "LICENSES_REPROCESSED"),
        ]
    else:
        assert [tuple(r) for r in paths] == [(team.id, "ERROR", "COUNT_VIOLATION", None)]
        assert [tuple(r) for r in licenses] == [(False, None)]
        assert (consumed, tuple(counts)) == (0, (0, 1))
        assert [tuple(r) for r in got] == [("REMOVED", False, "system", "SELF_SERVICE_LICENSES_REMOVED")]
    assert await run_once(db, clock, WINDOW_DAYS) == 0  # settled: nothing more


async def test_r26_events_older_than_the_retention_are_deleted(db: Database) -> None:
    clock = ManualClock(NOW)
    await settle(db, clock)
    tid = await new_tenant(db)
    async with db.write() as conn:
        for seq, age in ((1, 401), (2, 399)):
            await conn.execute(text(
                "INSERT INTO license_events (tenant_id, seq, occurred_at, kind, user_id, user_principal_name, product_id, "
                "holds_seat, paths, actor) VALUES (:t, :s, :at, 'ADDED', :u, 'x@y', :p, true, '[]', 'test')"
            ), {"t": tid, "s": seq, "at": NOW - age * DAY, "u": uuid.uuid4(), "p": uuid.uuid4()})
    assert await run_once(db, clock, WINDOW_DAYS, 400) == 0
    async with db.read() as conn:
        kept = (await conn.execute(text("SELECT seq FROM license_events WHERE tenant_id = :t"), {"t": tid})).scalars().all()
    assert kept == [2]
