"""A query's reads share one snapshot (one REPEATABLE READ, READ ONLY transaction), whether they
are plain statements (db.repo.reads) or SQLAlchemy's, in either order."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from gql.context import Context

SETTINGS = "SELECT current_setting('transaction_isolation'), current_setting('transaction_read_only'), now()"


async def _plain(ctx: Context) -> tuple[Any, ...]:
    return tuple(await ctx.read_raw(lambda r: r.fetchrow(SETTINGS)))


async def _core(ctx: Context) -> tuple[Any, ...]:
    return tuple((await ctx.read(lambda c: c.execute(text(SETTINGS)))).one())


async def test_plain_statements_alone_share_one_read_only_snapshot(app: Any) -> None:
    ctx = Context(runtime=app.state.runtime, actor=None)  # type: ignore[arg-type]
    try:
        first = await _plain(ctx)
        second = await _plain(ctx)
        assert first[:2] == ("repeatable read", "on")
        assert second == first  # now() is the transaction's start: the same transaction
    finally:
        await ctx.close()


async def test_plain_and_sqlalchemy_statements_share_the_snapshot_in_either_order(app: Any) -> None:
    for order in ((_plain, _core, _plain), (_core, _plain, _core)):
        ctx = Context(runtime=app.state.runtime, actor=None)  # type: ignore[arg-type]
        try:
            seen = [await read(ctx) for read in order]
        finally:
            await ctx.close()
        assert seen[0][:2] == ("repeatable read", "on")
        assert seen[0] == seen[1] == seen[2]


async def test_a_new_snapshot_after_close(app: Any) -> None:
    ctx = Context(runtime=app.state.runtime, actor=None)  # type: ignore[arg-type]
    try:
        before = await _plain(ctx)
        await ctx.reset_snapshot()
        after = await _plain(ctx)
    finally:
        await ctx.close()
    assert after[2] > before[2]


async def test_the_licenses_page_reads_the_pool_with_the_caller(tenant: Any, app: Any) -> None:
    await tenant.buy("EMS", 3)
    database = app.state.runtime.db
    before = database.statement_count
    data = await tenant.ok("{ products { skuPartNumber totalUnits consumedUnits availableUnits } }")
    assert data["products"] == [{"skuPartNumber": "EMS", "totalUnits": 3, "consumedUnits": 0, "availableUnits": 3}]
    assert database.statement_count - before == 1  # the caller and the pool in one statement
    before = database.statement_count
    assert (await tenant.ok("{ viewer { roles } }"))["viewer"]["roles"]
    assert database.statement_count - before == 1  # no pool read for a request that needs none
