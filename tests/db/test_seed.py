"""`licensing seed` (db/seed.py): the licensing invariants hold on what it writes, the same seed
gives the same people, and the GraphQL API reads the seeded tenant consistently."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import text

from db.seed import SeedError, SeedSummary, seed_tenant
from db.session import Database
from services.ids import to_global_id
from tests.support import Tenant

USERS, GROUPS = 300, 8


def _tid() -> str:
    return f"seed{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="module")
async def db(database_url: str) -> Any:
    database = Database(database_url)
    yield database
    await database.dispose()


@pytest.fixture(scope="module")
async def seeded(db: Database) -> tuple[str, SeedSummary]:
    tid = _tid()
    phases: list[str] = []
    summary = await seed_tenant(db, tid, USERS, GROUPS, 7, lambda phase, done, total: phases.append(phase))
    assert phases[-1] == "analyze" and {"users", "groups", "memberships", "licenses"} <= set(phases)
    return tid, summary


async def scalar(db: Database, sql: str, tid: str) -> Any:
    async with db.read() as conn:
        return (await conn.execute(text(sql), {"t": tid})).scalar_one()


async def rows(db: Database, sql: str, tid: str) -> list[Any]:
    async with db.read() as conn:
        return list((await conn.execute(text(sql), {"t": tid})).all())


async def test_seed_writes_people_groups_and_licenses(db: Database, seeded: tuple[str, SeedSummary]) -> None:
    tid, summary = seeded
    assert await scalar(db, "SELECT count(*) FROM users WHERE tenant_id = :t", tid) == USERS
    assert summary.members + summary.guests == USERS and 0 < summary.guests < USERS // 20
    assert await scalar(db, "SELECT count(*) FROM groups WHERE tenant_id = :t", tid) == GROUPS
    # All Staff nests the department groups
    nested = await scalar(
        db,
        "SELECT count(*) FROM group_group_members n JOIN groups g ON g.tenant_id = n.tenant_id AND g.id = n.group_id "
        "WHERE n.tenant_id = :t AND g.display_name = 'All Staff'",
        tid,
    )
    assert nested == GROUPS - 1
    assert await scalar(db, "SELECT count(*) FROM users WHERE tenant_id = :t AND user_type = 'MEMBER' AND usage_location IS NULL", tid) == 0
    # guests are in no group and hold nothing
    assert await scalar(
        db,
        "SELECT count(*) FROM users u WHERE u.tenant_id = :t AND u.user_type = 'GUEST' AND (EXISTS "
        "(SELECT 1 FROM group_user_members m WHERE m.tenant_id = u.tenant_id AND m.user_id = u.id) OR EXISTS "
        "(SELECT 1 FROM license_paths p WHERE p.tenant_id = u.tenant_id AND p.user_id = u.id))",
        tid,
    ) == 0
    assert summary.licenses == await scalar(db, "SELECT count(*) FROM user_licenses WHERE tenant_id = :t", tid)
    assert summary.paths == await scalar(db, "SELECT count(*) FROM license_paths WHERE tenant_id = :t", tid)
    assert set(summary.consumed) == {"SPE_E3", "EMS", "POWER_BI_PRO"}


async def test_seed_keeps_the_licensing_invariants(db: Database, seeded: tuple[str, SeedSummary]) -> None:
    tid, _ = seeded
    # every effective license has a path, every path an effective license
    assert await scalar(
        db,
        "SELECT count(*) FROM user_licenses l WHERE l.tenant_id = :t AND NOT EXISTS (SELECT 1 FROM license_paths p "
        "WHERE p.tenant_id = l.tenant_id AND p.user_id = l.user_id AND p.product_id = l.product_id)",
        tid,
    ) == 0
    assert await scalar(
        db,
        "SELECT count(*) FROM license_paths p WHERE p.tenant_id = :t AND NOT EXISTS (SELECT 1 FROM user_licenses l "
        "WHERE l.tenant_id = p.tenant_id AND l.user_id = p.user_id AND l.product_id = p.product_id)",
        tid,
    ) == 0
    # R1: holds a seat iff some path is ACTIVE
    assert await scalar(
        db,
        "SELECT count(*) FROM user_licenses l WHERE l.tenant_id = :t AND l.holds_seat <> EXISTS (SELECT 1 FROM license_paths p "
        "WHERE p.tenant_id = l.tenant_id AND p.user_id = l.user_id AND p.product_id = l.product_id AND p.state = 'ACTIVE')",
        tid,
    ) == 0
    # the counters: pools = pool seats held; group licenses = their paths by state
    pools = await rows(
        db,
        "SELECT pp.product_id, pp.consumed, (SELECT count(*) FROM user_licenses l WHERE l.tenant_id = pp.tenant_id "
        "AND l.product_id = pp.product_id AND l.holds_seat AND l.subscription_id IS NULL) AS held FROM product_pools pp "
        "WHERE pp.tenant_id = :t",
        tid,
    )
    assert len(pools) == 3 and all(r.consumed == r.held > 0 for r in pools)
    group_licenses = await rows(
        db,
        "SELECT gl.active_count, gl.error_count, "
        "(SELECT count(*) FILTER (WHERE p.state = 'ACTIVE') FROM license_paths p WHERE p.tenant_id = gl.tenant_id "
        " AND p.group_id = gl.group_id AND p.product_id = gl.product_id) AS active, "
        "(SELECT count(*) FILTER (WHERE p.state = 'ERROR') FROM license_paths p WHERE p.tenant_id = gl.tenant_id "
        " AND p.group_id = gl.group_id AND p.product_id = gl.product_id) AS errors "
        "FROM group_licenses gl WHERE gl.tenant_id = :t",
        tid,
    )
    assert len(group_licenses) == 2 and all(r.active_count == r.active > 0 and r.error_count == r.errors == 0 for r in group_licenses)
    # seats suffice: nothing is over-assigned, every path is ACTIVE
    assert await scalar(db, "SELECT count(*) FROM license_paths WHERE tenant_id = :t AND state <> 'ACTIVE'", tid) == 0
    over = await scalar(
        db,
        "SELECT count(*) FROM product_pools pp WHERE pp.tenant_id = :t AND pp.consumed > "
        "(SELECT sum(quantity) FROM subscriptions s WHERE s.tenant_id = pp.tenant_id AND s.product_id = pp.product_id)",
        tid,
    )
    assert over == 0


async def test_group_paths_are_exactly_the_transitive_members(db: Database, seeded: tuple[str, SeedSummary]) -> None:
    tid, _ = seeded
    # R10: members of the licensing group or of any group nested in it, at any depth
    mismatched = await scalar(
        db,
        """
        WITH RECURSIVE reach(license_group, product_id, group_id) AS (
            SELECT gl.group_id, gl.product_id, gl.group_id FROM group_licenses gl WHERE gl.tenant_id = :t
            UNION
            SELECT r.license_group, r.product_id, n.member_group_id FROM reach r
            JOIN group_group_members n ON n.tenant_id = :t AND n.group_id = r.group_id
        ), expected AS (
            SELECT DISTINCT m.user_id, r.product_id, r.license_group FROM reach r
            JOIN group_user_members m ON m.tenant_id = :t AND m.group_id = r.group_id
        ), actual AS (
            SELECT user_id, product_id, group_id FROM license_paths
            WHERE tenant_id = :t AND group_id <> '00000000-0000-0000-0000-000000000000'
        )
        SELECT count(*) FROM ((SELECT * FROM expected EXCEPT SELECT * FROM actual)
                              UNION ALL (SELECT * FROM actual EXCEPT SELECT * FROM expected)) d
        """,
        tid,
    )
    assert mismatched == 0
    # the executives hold E3 twice (directly and through All Staff) and one seat
    double = await scalar(
        db,
        "SELECT count(*) FROM (SELECT user_id FROM license_paths WHERE tenant_id = :t GROUP BY user_id, product_id "
        "HAVING count(*) > 1) d",
        tid,
    )
    assert double > 0
    # no row points at nothing (the seed may skip the per-row reference checks)
    orphans = await scalar(
        db,
        "SELECT (SELECT count(*) FROM license_paths p WHERE p.tenant_id = :t AND NOT EXISTS (SELECT 1 FROM users u "
        "  WHERE u.tenant_id = p.tenant_id AND u.id = p.user_id)) + "
        "(SELECT count(*) FROM group_user_members m WHERE m.tenant_id = :t AND (NOT EXISTS (SELECT 1 FROM users u "
        "  WHERE u.tenant_id = m.tenant_id AND u.id = m.user_id) OR NOT EXISTS (SELECT 1 FROM groups g "
        "  WHERE g.tenant_id = m.tenant_id AND g.id = m.group_id))) + "
        "(SELECT count(*) FROM license_paths p WHERE p.tenant_id = :t AND p.group_id <> '00000000-0000-0000-0000-000000000000' "
        "  AND NOT EXISTS (SELECT 1 FROM group_licenses gl WHERE gl.tenant_id = p.tenant_id AND gl.group_id = p.group_id "
        "  AND gl.product_id = p.product_id))",
        tid,
    )
    assert orphans == 0


async def test_places_in_line_follow_creation_order(db: Database, seeded: tuple[str, SeedSummary]) -> None:
    tid, _ = seeded
    # D2: a group path comes into existence after the membership and the group license
    late = await scalar(
        db,
        "SELECT count(*) FROM license_paths p JOIN group_licenses gl ON gl.tenant_id = p.tenant_id AND gl.group_id = p.group_id "
        "AND gl.product_id = p.product_id JOIN users u ON u.tenant_id = p.tenant_id AND u.id = p.user_id "
        "WHERE p.tenant_id = :t AND (p.queue_seq <= gl.assigned_seq OR p.queue_seq <= u.created_seq OR gl.assigned_seq <= "
        "(SELECT max(added_seq) FROM group_user_members m WHERE m.tenant_id = :t))",
        tid,
    )
    assert late == 0
    # ties by creation order: per product, queue order is user creation order; ids follow it too
    out_of_order = await scalar(
        db,
        "SELECT count(*) FROM (SELECT p.queue_seq, u.created_seq, u.id, lag(u.created_seq) OVER w AS prev_seq, "
        "lag(u.id) OVER w AS prev_id FROM license_paths p JOIN users u ON u.tenant_id = p.tenant_id AND u.id = p.user_id "
        "WHERE p.tenant_id = :t WINDOW w AS (PARTITION BY p.product_id, p.group_id ORDER BY p.queue_seq)) x "
        "WHERE x.created_seq <= x.prev_seq OR x.id <= x.prev_id",
        tid,
    )
    assert out_of_order == 0
    upns = [r[0] for r in await rows(db, "SELECT user_principal_name FROM users WHERE tenant_id = :t ORDER BY created_seq", tid)]
    numbers = [int(upn.split("@")[0].split("_")[0].rsplit(".", 1)[1]) for upn in upns]
    assert numbers == list(range(1, USERS + 1))


PEOPLE = (
    "SELECT display_name, user_principal_name, department, job_title, usage_location, user_type, account_enabled "
    "FROM users WHERE tenant_id = :t ORDER BY created_seq"
)


async def test_the_same_seed_gives_the_same_people(db: Database, seeded: tuple[str, SeedSummary]) -> None:
    tid, summary = seeded
    twin, other = _tid(), _tid()
    twin_summary = await seed_tenant(db, twin, USERS, GROUPS, 7, None)
    await seed_tenant(db, other, USERS, GROUPS, 8, None)

    def local(people: list[Any]) -> list[tuple[Any, ...]]:  # UPNs differ only by the tenant's domain
        return [(*p[:1], p[1].split("@")[0].split("#")[0], *p[2:]) for p in people]

    first, second, third = [local(await rows(db, PEOPLE, t)) for t in (tid, twin, other)]
    assert first == second
    assert first != third
    assert len({p[2] for p in first}) > 5 and len({p[4] for p in first}) > 5  # departments, locations
    assert twin_summary.consumed == summary.consumed and twin_summary.memberships == summary.memberships
    ids = [set(r[0] for r in await rows(db, "SELECT id FROM users WHERE tenant_id = :t", t)) for t in (tid, twin)]
    assert not ids[0] & ids[1]  # ids hash the tenant: an id never names a user of another tenant


async def test_refuses_a_tenant_that_has_users(db: Database, seeded: tuple[str, SeedSummary]) -> None:
    tid, _ = seeded
    with pytest.raises(SeedError, match="already has 300 users"):
        await seed_tenant(db, tid, 10, 2, 1, None)
    with pytest.raises(SeedError, match="groups"):
        await seed_tenant(db, _tid(), 10, 0, 1, None)
    assert await scalar(db, "SELECT count(*) FROM users WHERE tenant_id = :t", tid) == USERS


PRODUCTS = "{ products { skuPartNumber totalUnits consumedUnits availableUnits prepaidUnits { enabled warning suspended } } }"
USER_LICENSES = """
query($id: ID!) {
  user(id: $id) {
    department
    memberOf(first: 10) { edges { node { displayName } } }
    licenses { product { skuPartNumber } state assignedDirectly inheritedFrom { displayName } enabledServicePlans { servicePlanName } }
  }
}"""


async def test_the_api_reads_the_seeded_tenant(api: Any, db: Database, seeded: tuple[str, SeedSummary]) -> None:
    tid, summary = seeded
    tenant = Tenant(api, tid)
    products = {p["skuPartNumber"]: p for p in (await tenant.ok(PRODUCTS))["products"]}
    for sku, consumed in summary.consumed.items():
        assert products[sku]["consumedUnits"] == consumed
        assert products[sku]["availableUnits"] == products[sku]["totalUnits"] - consumed >= 0
    assert {"PROJECTPROFESSIONAL", "VISIOCLIENT", "MCOEV"} <= set(products)  # bought, unassigned
    assert products["PROJECTPROFESSIONAL"]["consumedUnits"] == 0

    executive = (await rows(
        db, "SELECT id FROM users WHERE tenant_id = :t AND department = 'Executive' ORDER BY created_seq LIMIT 1", tid
    ))[0][0]
    user = (await tenant.ok(USER_LICENSES, {"id": to_global_id("User", executive)}))["user"]
    assert user["department"] == "Executive" and user["memberOf"]["edges"]
    e3 = next(lic for lic in user["licenses"] if lic["product"]["skuPartNumber"] == "SPE_E3")
    assert e3["state"] == "ACTIVE" and e3["assignedDirectly"] is True
    assert [g["displayName"] for g in e3["inheritedFrom"]] == ["All Staff"]
    assert len(e3["enabledServicePlans"]) > 20


def test_the_seed_command(database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from db.config import get_settings
    from gql.cli import app

    monkeypatch.setenv("DATABASE_URL", database_url)
    get_settings.cache_clear()
    try:
        tid = _tid()
        done = CliRunner().invoke(app, ["seed", "--tenant", tid, "--users", "50", "--groups", "3", "--seed", "5"])
        assert done.exit_code == 0, done.output
        assert "Seeded tenant" in done.output and "50 users" in done.output
        for args, message in [
            (["seed", "--tenant", tid, "--users", "50"], "already has 50 users"),
            (["seed", "--tenant", _tid(), "--users", "0"], "number of users"),
            (["seed", "--tenant", "Bad Id!", "--users", "5"], "tenant ID"),
        ]:
            refused = CliRunner().invoke(app, args)
            assert refused.exit_code == 1 and message in refused.output, refused.output
            assert "Traceback" not in refused.output
    finally:
        get_settings.cache_clear()


async def test_r25_d33_the_seed_appends_one_added_event_per_license_with_its_audit_event(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The seed is a change of the CLI: one audit event, and one ADDED event per license it
    wrote, actor `cli`, numbered 1… in the users' creation order across its chunks, each
    holding every path of its (user, product) and the groups of those paths."""
    monkeypatch.setattr("db.seed.CHUNK", 7)  # several chunks: numbering continues across them
    tid = _tid()
    summary = await seed_tenant(db, tid, 40, 4, 3, None)
    events = await rows(
        db,
        "SELECT e.seq, e.kind, e.actor, e.audit_id, e.holds_seat, u.created_seq, e.user_principal_name = u.user_principal_name "
        "AS upn, jsonb_array_length(e.paths) AS paths, e.group_ids, "
        "(SELECT count(*) FROM license_paths p WHERE p.tenant_id = e.tenant_id AND p.user_id = e.user_id "
        " AND p.product_id = e.product_id) AS stored, "
        "(SELECT coalesce(array_agg(p.group_id ORDER BY p.group_id) FILTER (WHERE p.group_id <> "
        "'00000000-0000-0000-0000-000000000000'), '{}') FROM license_paths p WHERE p.tenant_id = e.tenant_id "
        " AND p.user_id = e.user_id AND p.product_id = e.product_id) AS groups "
        "FROM license_events e JOIN users u ON u.tenant_id = e.tenant_id AND u.id = e.user_id "
        "WHERE e.tenant_id = :t ORDER BY e.seq",
        tid,
    )
    assert summary.licenses > 40 and summary.events == summary.licenses == len(events)
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert [e.created_seq for e in events] == sorted(e.created_seq for e in events)
    assert {(e.kind, e.actor, e.audit_id, e.holds_seat, e.upn) for e in events} == {
        ("ADDED", "cli", summary.audit_event_id, True, True)
    }
    assert all(e.paths == e.stored and list(e.group_ids) == list(e.groups) for e in events)
    assert any(e.group_ids for e in events) and any(not e.group_ids for e in events)  # group and direct licenses
    assert await scalar(db, "SELECT event_seq FROM tenants WHERE id = :t", tid) == len(events)
    audit = await rows(db, f"SELECT actor, action, target_id FROM audit_events WHERE tenant_id = :t AND id = {summary.audit_event_id}", tid)
    assert [tuple(a) for a in audit] == [("cli", "TENANT_SEEDED", tid)]
