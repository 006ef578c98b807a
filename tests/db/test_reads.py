"""db.repo.reads (plain SQL on the snapshot's asyncpg connection) returns the same rows as the
Core statements of db.repo.directory, licensing and subscriptions."""

from __future__ import annotations

from typing import Any

import pytest

from db.repo import directory, licensing, reads, subscriptions
from db.repo.paging import BadCursor, encode_cursor
from db.repo.reads import Reader
from services.ids import from_global_id
from tests.gql.test_assign_licenses import product
from tests.gql.test_group_licenses import license_group
from tests.support import Tenant


async def test_plain_reads_equal_the_core_statements(tenant: Tenant) -> None:
    await tenant.buy("EMS", 2)
    await tenant.buy("SPE_E3", 5, isTrial=True)
    named = {"givenName": "Rea", "surname": "Der", "employeeId": "R-1"}  # D31's fields on every other user
    users = [
        await tenant.create_user(f"Reader {i}", location=None if i == 3 else "NO", **(named if i % 2 else {})) for i in range(4)
    ]
    groups = [await tenant.create_group(f"Group {i}", users[i:]) for i in range(3)]
    await license_group(tenant, groups[0], [{"productId": (await product(tenant, "EMS"))["id"]}])
    ids = [from_global_id(u).uuid() for u in users]
    group_ids = [from_global_id(g).uuid() for g in groups]
    db = tenant.api.database()
    counted: list[int] = []
    async with db.read() as conn:
        raw = (await conn.get_raw_connection()).driver_connection
        reader = Reader(raw, lambda: counted.append(1))

        def same(a: Any, b: Any) -> None:
            assert a == b

        by_id = await directory.users_by_ids(conn, tenant.id, ids)
        same(await reads.users_by_ids(reader, tenant.id, ids), by_id)
        assert (by_id[ids[1]].given_name, by_id[ids[1]].surname, by_id[ids[1]].employee_id) == ("Rea", "Der", "R-1")
        same(await reads.groups_by_ids(reader, tenant.id, group_ids), await directory.groups_by_ids(conn, tenant.id, group_ids))
        same(
            await reads.first_groups_of_users(reader, tenant.id, ids, 2),
            await directory.first_groups_of_users(conn, tenant.id, ids, 2),
        )
        same(
            await reads.direct_group_counts_of_users(reader, tenant.id, ids),
            await directory.direct_group_counts_of_users(conn, tenant.id, ids),
        )
        plain = await reads.paths_of_users(reader, tenant.id, ids)
        core = await licensing.paths_of_users(conn, tenant.id, ids)
        assert {u: sorted(map(tuple, rows)) for u, rows in plain.items()} == {
            u: sorted(tuple(r) for r in rows) for u, rows in core.items()
        }
        assert sum(len(rows) for rows in plain.values()) == 4  # every member of the licensed group
        seats = await reads.seats_of_users(reader, tenant.id, ids)
        same(seats, await licensing.seats_of_users(conn, tenant.id, ids))
        both_paths, both_seats = await reads.paths_and_seats_of_users(reader, tenant.id, ids)
        assert {u: sorted(map(tuple, rows)) for u, rows in both_paths.items()} == {
            u: sorted(map(tuple, rows)) for u, rows in plain.items()
        }
        assert both_seats == seats and sum(map(len, seats.values())) == 2  # EMS has 2 seats for 4 members
        subs, consumed = await reads.tenant_pool(reader, tenant.id)
        assert subs == await subscriptions.tenant_subscriptions(conn, tenant.id) and len(subs) == 2
        assert consumed == await subscriptions.pool_consumed(conn, tenant.id)
        found = await reads.caller(reader, tenant.id, f"READER.1@{tenant.domain}", None)
        assert found is not None and found[1] is not None and found[1].id == ids[1]
        assert (await reads.caller(reader, tenant.id, "nobody", ids[2]))[1].id == ids[2]  # type: ignore[index, union-attr]
        assert (await reads.caller(reader, tenant.id, "admin@x.example", None))[1] is None  # type: ignore[index]
        assert await reads.caller(reader, "no-such-tenant", "admin@x.example", None) is None
        with_pool = await reads.caller_and_pool(reader, tenant.id, f"READER.1@{tenant.domain}", None)
        assert with_pool is not None and with_pool[1] is not None and with_pool[1].id == ids[1]
        assert (with_pool[0], with_pool[1]) == await reads.caller(reader, tenant.id, f"READER.1@{tenant.domain}", None)
        assert (with_pool[2], with_pool[3]) == (subs, consumed)
        assert await reads.caller_and_pool(reader, "no-such-tenant", "admin@x.example", None) is None
        everyone = directory.UserFilterSpec()
        first = await reads.users_page(reader, tenant.id, first=2, after=None)
        same(first, await directory.users_page(conn, tenant.id, everyone, first=2, after=None))
        assert first.has_next and len(first.items) == 2
        rest = await reads.users_page(reader, tenant.id, first=10, after=first.cursors[-1])
        same(rest, await directory.users_page(conn, tenant.id, everyone, first=10, after=first.cursors[-1]))
        assert rest.has_previous and not rest.has_next and len(rest.items) >= 2
        for bad in ("garbage", encode_cursor(["a"]), encode_cursor(["a", "not-a-uuid"]), encode_cursor([1, str(ids[0])])):
            with pytest.raises(BadCursor) as plain_refusal:
                await reads.users_page(reader, tenant.id, first=2, after=bad)
            with pytest.raises(BadCursor) as core_refusal:
                await directory.users_page(conn, tenant.id, everyone, first=2, after=bad)
            assert str(plain_refusal.value) == str(core_refusal.value)
        for after in (None, first.cursors[0]):
            for licenses, limit in ((False, None), (True, None), (False, 2), (True, 2)):
                bundle = await reads.users_page_with(reader, tenant.id, first=3, after=after, licenses=licenses, groups_limit=limit)
                same(bundle.page, await reads.users_page(reader, tenant.id, first=3, after=after))
                page_ids = [u.id for u in bundle.page.items]
                if licenses:
                    alone_paths, alone_seats = await reads.paths_and_seats_of_users(reader, tenant.id, page_ids)
                    assert {u: sorted(map(tuple, rows)) for u, rows in (bundle.paths or {}).items()} == {
                        u: sorted(map(tuple, rows)) for u, rows in alone_paths.items()
                    }
                    same(bundle.seats, alone_seats)
                else:
                    assert bundle.paths is None and bundle.seats is None
                if limit is not None:
                    same(bundle.first_groups, await reads.first_groups_of_users(reader, tenant.id, page_ids, limit))
                else:
                    assert bundle.first_groups is None
        with pytest.raises(BadCursor):
            await reads.users_page_with(reader, tenant.id, first=2, after="garbage", licenses=True, groups_limit=2)
    assert len(counted) == 17 + 8 * 2 + 4 + 4  # every plain statement is counted


def test_a_pair_cursor_is_the_same_text_as_encode_cursor() -> None:
    for pair in [("ada lovelace", "0d7c…"), ('quote " and \\ back', "x"), ("ø æ å ü 中文 🎉", ""), ("\t\n\x01", "\u2028")]:
        assert reads.text_pair_cursor(*pair) == encode_cursor(pair)
