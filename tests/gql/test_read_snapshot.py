"""A query's reads share one snapshot (one REPEATABLE READ, READ ONLY transaction), whether they
are plain statements (db.repo.reads) or SQLAlchemy's, in either order."""

from __future__ import annotations

from typing import Any

import pytest
from graphql import parse
from sqlalchemy import text

from db.config import Settings
from gql import context as context_module
from gql.context import Context, OneStatementOnly
from gql.one_statement import POOL_ONLY_FIELDS, pool_only
from gql.schema import build_schema

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


# ------------------------------------------------------------------ one statement, no transaction

async def test_a_one_statement_context_reads_without_a_transaction_and_refuses_a_second_read(app: Any) -> None:
    ctx = Context(runtime=app.state.runtime, actor=None, one_statement=True)  # type: ignore[arg-type]
    try:
        isolation, _, _ = await _plain(ctx)
        assert isolation == "read committed"  # the session's default: no BEGIN was sent
        with pytest.raises(OneStatementOnly):
            await _plain(ctx)
        with pytest.raises(OneStatementOnly):
            await _core(ctx)
    finally:
        await ctx.close()
    ctx = Context(runtime=app.state.runtime, actor=None)  # type: ignore[arg-type]
    try:
        assert (await _plain(ctx))[:2] == ("repeatable read", "on")  # the connection went back clean
    finally:
        await ctx.close()


def _doc(text: str) -> bool:
    return pool_only(build_schema(Settings())._schema, parse(text))


def test_which_documents_the_caller_and_pool_statement_answers() -> None:
    assert _doc("{ products { skuPartNumber totalUnits consumedUnits availableUnits } }")
    assert _doc("query Q { products { ...F __typename } } fragment F on Product { servicePlans { servicePlanName } }")
    assert _doc("{ subscriptions { quantity status product { skuPartNumber ... on Product { prepaidUnits { enabled } } } } }")
    assert not _doc("{ products { skuPartNumber } users(first: 1) { edges { node { id } } } }")
    assert not _doc("{ products { assignedUsers { edges { node { id } } } } }")
    assert not _doc("{ products { groupLicenses { group { id } } } }")
    assert not _doc("{ subscriptions { purchasedBy { displayName } } }")
    assert not _doc("{ viewer { roles } }")
    assert not _doc("query A { products { id } } query B { products { id } }")
    assert not _doc("mutation { __typename }")
    assert not _doc("{ products { ...F } } fragment F on Node { id }")


POOL_ONLY = """{
  products {
    __typename id skuId skuPartNumber displayName totalUnits consumedUnits availableUnits
    servicePlans { id servicePlanId servicePlanName displayName }
    prepaidUnits { enabled warning suspended }
    subscriptions { id quantity }
  }
  subscriptions {
    id quantity status isTrial isSelfService startsAt currentTermEndsAt recurringBilling cancellationWindowEndsAt canCancel
    product { skuPartNumber subscriptions { id } }
  }
}"""


async def test_every_field_of_the_list_resolves_from_the_one_statement(
    tenant: Any, app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The list of gql.one_statement, every field at once: the second time (the document is then
    known as validated) the request runs without a transaction and needs nothing more."""
    await tenant.buy("EMS", 3)
    await tenant.buy("SPE_E3", 2, isTrial=True)
    named = {f for fields in POOL_ONLY_FIELDS.values() for f in fields}
    assert named <= set(POOL_ONLY.replace("{", " ").replace("}", " ").split())
    begun: list[int] = []
    begin = context_module._begin

    async def counted_begin(adapted: Any) -> None:
        begun.append(1)
        await begin(adapted)

    monkeypatch.setattr(context_module, "_begin", counted_begin)
    database = app.state.runtime.db
    answers, begins = [], []
    for _ in range(3):
        before, begun_before = database.statement_count, len(begun)
        answers.append(await tenant.ok(POOL_ONLY))
        assert database.statement_count - before == 1
        begins.append(len(begun) - begun_before)
    assert begins == [1, 0, 0]  # first seen: validated then, read in a transaction; then one statement alone
    assert answers[0] == answers[1] == answers[2] and len(answers[0]["subscriptions"]) == 2
    before = len(begun)
    await tenant.ok("{ products { skuPartNumber } viewer { roles } }")
    await tenant.ok("{ products { skuPartNumber } viewer { roles } }")
    assert len(begun) - before == 2  # a field not on the list: a transaction each time
