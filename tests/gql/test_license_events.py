"""License events through the API: R25 (one per changed (user, product), in the changing
transaction, none for dry runs, refusals or no-ops), R26 (history, filters, paging, roles),
D25 (deleted users and groups), D26 (cursors, COUNT_VIOLATION is CHANGED), D33 (baseline)."""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from db import migrate
from db.repo import events
from db.session import Database
from db.urls import sync_url
from gql.auth import Role
from gql.types.events import parse_after
from services.ids import from_global_id
from tests.gql.test_assign_licenses import assign, plan_id, product
from tests.gql.test_group_licenses import license_group, members
from tests.support import Tenant

FIELDS = """
id cursor occurredAt kind userId userPrincipalName user { id } product { skuPartNumber } holdsSeat
enabledServicePlans { servicePlanName }
paths { groupId assignedByGroup { id } state error { code } }
actor auditEvent { action }
"""
FEED = "query($f: LicenseEventFilter, $n: Int, $a: String) { licenseEvents(filter: $f, first: $n, after: $a) { totalCount pageInfo { hasNextPage endCursor } edges { cursor node { " + FIELDS + " } } } }"
HISTORY = "query($id: ID!, $n: Int, $a: String) { user(id: $id) { licenseHistory(first: $n, after: $a) { totalCount edges { node { kind product { skuPartNumber } } } } } }"


async def feed(tenant: Tenant, f: dict[str, Any] | None = None, *, n: int = 100, after: str | None = None, token: str | None = None) -> list[dict[str, Any]]:
    data = await tenant.ok(FEED, {"f": f, "n": n, "a": after}, token=token)
    return [e["node"] for e in data["licenseEvents"]["edges"]]


async def test_r25_a_direct_assignment_appends_one_event_per_user_and_product(tenant: Tenant) -> None:
    await tenant.buy("SPE_E3", 5)
    await tenant.buy("EMS", 5)
    e3 = (await product(tenant, "SPE_E3"))["id"]
    ems = (await product(tenant, "EMS"))["id"]
    ann = await tenant.create_user("Ann")
    bob = await tenant.create_user("Bob")
    assert await feed(tenant) == []
    yammer = await plan_id(tenant, "SPE_E3", "YAMMER_ENTERPRISE")
    done = await assign(tenant, [ann, bob], [{"productId": e3, "disabledServicePlanIds": [yammer]}, {"productId": ems}])
    assert done["errors"] == []
    got = await feed(tenant)
    # one change: by user creation order, then product id (SPE_E3's 05e9a617… before EMS's efccb6f7…)
    assert [(e["userPrincipalName"].split("@")[0], e["product"]["skuPartNumber"], e["kind"]) for e in got] == [
        ("ann", "SPE_E3", "ADDED"), ("ann", "EMS", "ADDED"), ("bob", "SPE_E3", "ADDED"), ("bob", "EMS", "ADDED"),
    ]
    assert [e["userId"] for e in got] == [ann, ann, bob, bob]
    first = got[0]
    assert first["holdsSeat"] is True and first["actor"] == f"admin@{tenant.domain}"
    assert first["paths"] == [{"groupId": None, "assignedByGroup": None, "state": "ACTIVE", "error": None}]
    assert {e["auditEvent"]["action"] for e in got} == {"LICENSES_ASSIGNED"}
    e3_event = got[0]
    plans = {p["servicePlanName"] for p in e3_event["enabledServicePlans"]}
    assert "YAMMER_ENTERPRISE" not in plans and "EXCHANGE_S_ENTERPRISE" in plans
    # cursors strictly increase and each is the cursor of its edge
    data = await tenant.ok(FEED, {"f": None, "n": 100, "a": None})
    assert [e["cursor"] for e in data["licenseEvents"]["edges"]] == [e["node"]["cursor"] for e in data["licenseEvents"]["edges"]]
    seqs = [parse_after(e["cursor"]) for e in data["licenseEvents"]["edges"]]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    # a no-op appends nothing; a plan change is CHANGED; removal is REMOVED
    assert (await assign(tenant, [ann], [{"productId": ems}]))["errors"] == []
    assert len(await feed(tenant)) == 4
    plans_changed = await tenant.ok(
        "mutation($i: UpdateUserServicePlansInput!) { updateUserServicePlans(input: $i) { errors { code } } }",
        {"i": {"userId": ann, "productId": e3, "disabledServicePlanIds": []}},
    )
    assert plans_changed["updateUserServicePlans"]["errors"] == []
    removed = await assign(tenant, [bob], [], removeProductIds=[ems])
    assert removed["errors"] == []
    tail = await feed(tenant)
    assert [(e["userId"], e["product"]["skuPartNumber"], e["kind"]) for e in tail[4:]] == [
        (ann, "SPE_E3", "CHANGED"), (bob, "EMS", "REMOVED"),
    ]
    assert tail[5]["paths"] == [] and tail[5]["holdsSeat"] is False
    history = (await tenant.ok(HISTORY, {"id": ann, "n": 10, "a": None}))["user"]["licenseHistory"]
    assert history["totalCount"] == 3
    assert [e["node"]["kind"] for e in history["edges"]] == ["CHANGED", "ADDED", "ADDED"]  # newest first


async def test_r25_dry_runs_and_refusals_append_nothing(tenant: Tenant) -> None:
    await tenant.buy("EMS", 1)
    ems = (await product(tenant, "EMS"))["id"]
    ann = await tenant.create_user("Ann")
    bob = await tenant.create_user("Bob")
    assert (await assign(tenant, [ann], [{"productId": ems}], dryRun=True))["errors"] == []
    refused = await assign(tenant, [ann, bob], [{"productId": ems}])
    assert [e["code"] for e in refused["errors"]] == ["COUNT_VIOLATION"]
    assert await feed(tenant) == []
    reprocess = "mutation($i: ReprocessLicensesInput!) { reprocessLicenses(input: $i) { errors { code } } }"
    assert (await assign(tenant, [ann], [{"productId": ems}]))["errors"] == []
    await tenant.ok(reprocess, {"i": {"userIds": [ann, bob]}})
    assert len(await feed(tenant)) == 1  # R25: reprocessing a correct state appends none


async def test_d26_group_paths_without_a_seat_are_changed_and_filters_work(tenant: Tenant, clock: Any) -> None:
    await tenant.buy("EMS", 1)
    ems = (await product(tenant, "EMS"))["id"]
    ann = await tenant.create_user("Ann")
    bob = await tenant.create_user("Bob")
    staff = await tenant.create_group("Staff", [ann, bob])
    other = await tenant.create_group("Other", [ann])
    assert (await license_group(tenant, staff, [{"productId": ems}]))["errors"] == []
    got = await feed(tenant)
    assert [(e["userId"], e["kind"], e["holdsSeat"]) for e in got] == [(ann, "ADDED", True), (bob, "CHANGED", False)]
    assert got[1]["paths"] == [{"groupId": staff, "assignedByGroup": {"id": staff}, "state": "ERROR", "error": {"code": "COUNT_VIOLATION"}}]
    # Ann leaves Staff: her seat goes to Bob, who waited (two events, one change)
    clock.advance(timedelta(seconds=5))
    await members(tenant, "removeGroupMembers", staff, [ann])
    got = await feed(tenant)
    assert [(e["userId"], e["kind"]) for e in got[2:]] == [(ann, "REMOVED"), (bob, "ADDED")]
    assert got[2]["auditEvent"]["action"] == got[3]["auditEvent"]["action"] == "GROUP_MEMBERS_REMOVED"
    # filters (D29): a group's events are those where its path was created, changed or ended
    assert [e["kind"] for e in await feed(tenant, {"groupId": staff})] == ["ADDED", "CHANGED", "REMOVED", "ADDED"]
    assert await feed(tenant, {"groupId": other}) == []
    assert [e["kind"] for e in await feed(tenant, {"userId": ann})] == ["ADDED", "REMOVED"]
    assert [e["userId"] for e in await feed(tenant, {"kinds": ["REMOVED"]})] == [ann]
    assert await feed(tenant, {"productId": (await product(tenant, "SPE_E3"))["id"]}) == []
    since = got[2]["occurredAt"]
    assert len(await feed(tenant, {"since": since})) == 2 and len(await feed(tenant, {"until": since})) == 2
    # paging: first 2, then after the end cursor
    data = await tenant.ok(FEED, {"f": None, "n": 2, "a": None})
    page = data["licenseEvents"]
    assert page["totalCount"] == 4 and page["pageInfo"]["hasNextPage"] is True
    rest = await feed(tenant, after=page["pageInfo"]["endCursor"])
    assert [e["cursor"] for e in rest] == [e["cursor"] for e in got[2:]]
    assert await feed(tenant, after=got[-1]["cursor"]) == []
    body = await tenant.gql(FEED, {"f": None, "n": 2, "a": "not-a-cursor"})
    assert body["errors"][0]["extensions"]["code"] == "INVALID_INPUT"


async def test_r26_roles_and_deleted_users(tenant: Tenant) -> None:
    await tenant.buy("EMS", 5)
    ems = (await product(tenant, "EMS"))["id"]
    ann = await tenant.create_user("Ann")
    bob = await tenant.create_user("Bob")
    await assign(tenant, [ann, bob], [{"productId": ems}])
    reader = tenant.token(Role.GLOBAL_READER)
    assert len(await feed(tenant, token=reader)) == 2
    as_ann = tenant.token(sub=f"ann@{tenant.domain}")
    mine = await feed(tenant, token=as_ann)
    assert [e["userId"] for e in mine] == [ann]
    assert await feed(tenant, {"userId": bob}, token=as_ann) == []
    nobody = tenant.token(sub="someone@else.example")
    assert await feed(tenant, token=nobody) == []
    # node of an event follows the same rule
    node = "query($id: ID!) { node(id: $id) { ... on LicenseEvent { kind userId } } }"
    bobs = next(e for e in await feed(tenant) if e["userId"] == bob)
    assert (await tenant.ok(node, {"id": bobs["id"]}))["node"] == {"kind": "ADDED", "userId": bob}
    assert (await tenant.ok(node, {"id": bobs["id"]}, token=as_ann))["node"] is None
    # D25: deleting a user appends REMOVED; the events stay, with user null
    deleted = await tenant.ok("mutation($i: DeleteUserInput!) { deleteUser(input: $i) { errors { code } } }", {"i": {"userId": bob}})
    assert deleted["deleteUser"]["errors"] == []
    bob_events = await feed(tenant, {"userId": bob})
    assert [e["kind"] for e in bob_events] == ["ADDED", "REMOVED"]
    assert all(e["user"] is None for e in bob_events) and bob_events[0]["userPrincipalName"] == f"bob@{tenant.domain}"


async def test_r25_cursors_follow_commit_order_across_overlapping_transactions(api: Any, tenant: Tenant) -> None:
    """Two transactions appending events for one tenant overlap: the second waits for the first
    (the tenant row's lock), so its numbers are higher and no reader sees them first."""
    ann = from_global_id(await tenant.create_user("Ann")).uuid()
    db: Database = api.database()
    product_id = uuid.UUID("efccb6f7-5641-4e0e-bd10-b4976e1bf68e")  # EMS
    now = datetime.now(UTC)

    async def append_in(conn: Any) -> int:
        await events.stage(conn)
        await events.add_keys(conn, [(ann, product_id, False, [])])
        await conn.execute(text(
            "INSERT INTO user_licenses (tenant_id, user_id, product_id, holds_seat) VALUES (:t, :u, :p, false) ON CONFLICT DO NOTHING"
        ), {"t": tenant.id, "u": ann, "p": product_id})
        await events.append(conn, tenant.id, actor="test", audit_id=None, now=now)
        return await events.last_seq(conn, tenant.id)

    async with db.write() as first:
        first_seq = await append_in(first)
        second = asyncio.create_task(_in_second(db, append_in))
        await asyncio.sleep(0.5)
        assert not second.done()  # waits for the first to commit
        async with db.read() as reader:
            assert await events.last_seq(reader, tenant.id) == 0  # nothing committed yet
    second_seq = await asyncio.wait_for(second, 10)
    assert second_seq == first_seq + 1
    async with db.read() as reader:
        assert await events.last_seq(reader, tenant.id) == second_seq


async def _in_second(db: Database, work: Any) -> int:
    async with db.write() as conn:
        return int(await work(conn))


def test_d33_the_migration_writes_a_baseline(database_url: str) -> None:
    """A database with licenses from before the event log gets one event per held license."""
    server = make_url(database_url).set(database="postgres").render_as_string(hide_password=False)
    name = f"licensing_baseline_{uuid.uuid4().hex[:8]}"
    admin = create_engine(sync_url(server), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(server).set(database=name).render_as_string(hide_password=False)
    engine = create_engine(sync_url(url))
    try:
        migrate.upgrade(url, "0006_users_in_creation_order")
        ann, bob = uuid.uuid4(), uuid.uuid4()
        ems = "efccb6f7-5641-4e0e-bd10-b4976e1bf68e"
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO tenants (id, display_name, domain) VALUES ('old', 'Old', 'old.example')"))
            for uid, name_ in ((ann, "ann"), (bob, "bob")):
                conn.execute(text("INSERT INTO users (tenant_id, id, user_principal_name, display_name) VALUES ('old', :u, :n, :n)"),
                             {"u": uid, "n": f"{name_}@old.example"})
            for uid, holds, state in ((ann, True, "ACTIVE"), (bob, False, "ERROR")):
                conn.execute(text(
                    "INSERT INTO license_paths (tenant_id, user_id, product_id, group_id, disabled_plan_ids, queue_seq, state, error_code) "
                    "VALUES ('old', :u, :p, '00000000-0000-0000-0000-000000000000', '{}', 1, :s, :c)"),
                    {"u": uid, "p": ems, "s": state, "c": None if holds else "COUNT_VIOLATION"})
                conn.execute(text("INSERT INTO user_licenses (tenant_id, user_id, product_id, holds_seat) VALUES ('old', :u, :p, :h)"),
                             {"u": uid, "p": ems, "h": holds})
        migrate.upgrade(url)
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT seq, kind, user_id, holds_seat, actor, paths FROM license_events ORDER BY seq")).all()
            assert [(r.seq, r.kind, r.user_id, r.holds_seat, r.actor) for r in rows] == [
                (1, "ADDED", ann, True, "system"), (2, "CHANGED", bob, False, "system"),
            ]
            assert rows[0].paths == [{"g": None, "s": "ACTIVE", "c": None, "m": None, "d": []}]
            assert rows[1].paths[0]["c"] == "COUNT_VIOLATION"
            assert conn.execute(text("SELECT event_seq FROM tenants WHERE id = 'old'")).scalar_one() == 2
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


async def test_d13_filter_ids_of_another_type_or_tenant_name_nothing_and_guids_are_products(api: Any, tenant: Tenant) -> None:
    """A filter id of another type names no user, product or group: no events (never the
    unfiltered log); a product by its skuId GUID (D20); a cursor past 64 bits is INVALID_INPUT;
    an event's id asked in another tenant is null, even where that tenant has an event of the
    same number (§5)."""
    await tenant.buy("EMS", 2)
    ems = (await product(tenant, "EMS"))["id"]
    ann = await tenant.create_user("Ann")
    group = await tenant.create_group("G")
    assert (await assign(tenant, [ann], [{"productId": ems}]))["errors"] == []
    assert len(await feed(tenant)) == 1
    for f in ({"userId": group}, {"productId": group}, {"groupId": ann}, {"userId": ems}):
        assert await feed(tenant, f) == [], f
    by_guid = await feed(tenant, {"productId": "efccb6f7-5641-4e0e-bd10-b4976e1bf68e"})  # EMS's skuId
    assert [e["product"]["skuPartNumber"] for e in by_guid] == ["EMS"]
    huge = base64.urlsafe_b64encode(json.dumps(["ev", 99999999999999999999999]).encode()).decode()
    body = await tenant.gql(FEED, {"a": huge})
    assert [e["extensions"]["code"] for e in body["errors"]] == ["INVALID_INPUT"], body
    node = "query($id: ID!) { node(id: $id) { ... on LicenseEvent { userPrincipalName } } }"
    mine = (await feed(tenant))[0]
    other = await api.new_tenant()
    await other.buy("EMS", 1)
    zed = await other.create_user("Zed")
    assert (await assign(other, [zed], [{"productId": (await product(other, "EMS"))["id"]}]))["errors"] == []
    assert (await other.ok(node, {"id": mine["id"]}))["node"] is None
    assert (await tenant.ok(node, {"id": mine["id"]}))["node"] == {"userPrincipalName": f"ann@{tenant.domain}"}
    too_big = base64.b64encode(f"LicenseEvent:{tenant.id}:99999999999999999999999".encode()).decode()
    assert await tenant.gql(node, {"id": too_big}) == {"data": {"node": None}}


async def test_r25_an_event_holds_every_path_of_its_pair_in_group_order(tenant: Tenant) -> None:
    """A pair with several paths (direct and through groups): the set-based group change lists
    them all, ordered by group (the direct path first), and names only the groups it changed."""
    await tenant.buy("EMS", 5)
    ems = (await product(tenant, "EMS"))["id"]
    ann = await tenant.create_user("Ann")
    bob = await tenant.create_user("Bob")
    both = await tenant.create_group("Both", [ann, bob])
    only = await tenant.create_group("Only Ann", [ann])
    path = {"state": "ACTIVE", "error": None}
    direct = {"groupId": None, "assignedByGroup": None, **path}

    def through(*groups: str) -> list[dict[str, Any]]:
        ordered = sorted(groups, key=lambda g: from_global_id(g).uuid())
        return [{"groupId": g, "assignedByGroup": {"id": g}, **path} for g in ordered]

    assert (await assign(tenant, [ann], [{"productId": ems}]))["errors"] == []
    assert (await license_group(tenant, only, [{"productId": ems}]))["errors"] == []
    assert (await license_group(tenant, both, [{"productId": ems}]))["errors"] == []
    got = await feed(tenant)
    assert [(e["userId"], e["kind"]) for e in got] == [(ann, "ADDED"), (ann, "CHANGED"), (ann, "CHANGED"), (bob, "ADDED")]
    assert got[1]["paths"] == [direct, *through(only)]
    assert got[2]["paths"] == [direct, *through(only, both)]
    assert got[3]["paths"] == through(both)
    by_group = "query($g: ID!) { licenseEvents(first: 10, filter: {groupId: $g}) { edges { node { userId kind } } } }"

    async def of_group(group: str) -> list[tuple[str, str]]:
        data = await tenant.ok(by_group, {"g": group})
        return [(e["node"]["userId"], e["node"]["kind"]) for e in data["licenseEvents"]["edges"]]

    assert await of_group(both) == [(ann, "CHANGED"), (bob, "ADDED")]  # D29: the groups the change changed
    assert await of_group(only) == [(ann, "CHANGED")]
    # one group's license ends: Ann keeps her two other paths (CHANGED, seat kept), Bob is untouched
    assert (await license_group(tenant, only, [], removeProductIds=[ems]))["errors"] == []
    tail = (await feed(tenant))[4:]
    assert [(e["userId"], e["kind"], e["holdsSeat"]) for e in tail] == [(ann, "CHANGED", True)]
    assert tail[0]["paths"] == [direct, *through(both)]
    assert await of_group(only) == [(ann, "CHANGED"), (ann, "CHANGED")]
