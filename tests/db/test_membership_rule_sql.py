"""Property test: a rule's SQL predicate (db.repo.membership_rule_sql) selects, in a real
PostgreSQL, exactly the users for whom `Rule.matches` (engine.membership_rules) is True.

Random users (every property; None, empty, case variants, quotes, backslashes, % _ /, non-ASCII
letters whose Unicode lower-casing differs between Python and PostgreSQL, astral characters,
newlines) go into a table with the users' column names, created in the session's test database;
random rules over every property and operator are built from values derived from those users
(whole values, prefixes, suffixes, infixes, case variants, empty strings) and random regular
expressions of the allowed core (classes, ranges, escapes, anchors, bounds, groups, alternation,
literal pieces of the users' values). Keyword and property spellings are randomly cased. The
strategies are in tests/engine/rule_strategies.py. Each rule's negation must select the rest
(the predicate is never NULL).

PROPERTY_EXAMPLES (default 200) sets the number of examples.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from sqlalchemy import (
    Boolean,
    Column,
    Integer,
    MetaData,
    Table,
    Text,
    create_engine,
    func,
    literal,
    select,
    text,
)
from sqlalchemy.engine import Connection

from db.models import User
from db.repo.membership_rule_sql import (
    FOLD_COLLATIONS,
    fold_sample,
    folded,
    like_escape,
    predicate,
    set_fold_collation,
)
from db.urls import sync_url
from engine.membership_rules import PROPERTIES, parse
from tests.engine.rule_strategies import ALPHABET, STRING_PROPERTIES, worlds

EXAMPLES = int(os.environ.get("PROPERTY_EXAMPLES", "200"))

metadata = MetaData()
rule_users = Table(
    "rule_users",
    metadata,
    Column("id", Integer, primary_key=True),
    *[Column(PROPERTIES[p], Text) for p in STRING_PROPERTIES],
    Column("account_enabled", Boolean),
)


@pytest.fixture(scope="module")
def conn(database_url: str) -> Iterator[Connection]:
    engine = create_engine(sync_url(database_url))
    with engine.connect() as connection:
        connection.execute(text("SET statement_timeout = '5s'"))
        metadata.create_all(connection)  # a plain table in the test database (dropped below)
        connection.commit()
        yield connection
        metadata.drop_all(connection)
        connection.commit()
    engine.dispose()


def row(i: int, user: dict[str, Any]) -> dict[str, Any]:
    return {"id": i, **{PROPERTIES[p]: v for p, v in user.items()}}


def test_sql_predicate_selects_exactly_the_matching_users(conn: Connection, sql_fold: str | None) -> None:
    seen = {"rules": 0, "some_match": 0, "some_miss": 0}

    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(worlds())
    def check(world: tuple[list[dict[str, Any]], list[str]]) -> None:
        population, rules = world
        conn.execute(rule_users.delete())
        conn.execute(rule_users.insert(), [row(i, u) for i, u in enumerate(population)])
        for source in rules:
            rule = parse(source)
            expected = {i for i, u in enumerate(population) if rule.matches(u)}
            got = set(conn.scalars(select(rule_users.c.id).where(predicate(rule, rule_users))))
            assert got == expected, (source, rule.tree)
            # the predicate is two-valued: its negation selects the rest
            rest = set(conn.scalars(select(rule_users.c.id).where(~predicate(rule, rule_users))))
            assert rest == set(range(len(population))) - expected, source
            seen["rules"] += 1
            seen["some_match"] += bool(expected)
            seen["some_miss"] += len(expected) < len(population)
        conn.rollback()

    check()
    assert seen["some_match"] > 0 and seen["some_miss"] > 0, seen


def test_predicate_runs_on_the_users_table(conn: Connection) -> None:
    rule = parse(
        'user.displayName -startsWith "a%" -and user.mail -match "^x\\d{2}" -and user.usageLocation -in ["NO"]'
        ' -and -not (user.accountEnabled -eq false -or user.employeeId -eq null)'
    )
    count = conn.scalar(select(func.count()).select_from(User.__table__).where(predicate(rule)).where(User.tenant_id == "none"))
    assert count == 0
    conn.rollback()


def test_values_are_bind_parameters_and_like_is_escaped() -> None:
    from sqlalchemy.dialects import postgresql

    rule = parse("user.department -contains \"50%_/'; drop table users; --\" -or user.mail -match \"'\"")
    compiled = predicate(rule).compile(dialect=postgresql.dialect())  # type: ignore[no-untyped-call]
    assert "drop table" not in str(compiled) and "'''" not in str(compiled)
    assert "50/%/_//'; drop table users; --" in "".join(str(v) for v in compiled.params.values())
    assert like_escape("a/b%c_d") == "a//b/%c/_d"


@pytest.fixture(params=["translate", "collation"])
def sql_fold(request: pytest.FixtureRequest, conn: Connection) -> Iterator[str | None]:
    """Both ways SQL folds non-ASCII values: translate() with the engine's table, and lower()
    under the first collation choose_fold accepts on this server (skipped if it has none)."""
    chosen = None
    if request.param == "collation":
        chosen = next((name for name in FOLD_COLLATIONS if _agrees(conn, name)), None)
        if chosen is None:
            pytest.skip("this server has no collation whose lower() agrees with the engine's fold")
    set_fold_collation(chosen)
    yield chosen
    set_fold_collation(None)


def _agrees(conn: Connection, name: str) -> bool:
    from engine.membership_rules import fold

    if not conn.scalar(text("SELECT count(*) FROM pg_collation WHERE collname = :n"), {"n": name}):
        return False
    sample = fold_sample()
    agrees = conn.scalar(text(f'SELECT lower(CAST(:s AS text) COLLATE "{name}")'), {"s": sample}) == fold(sample)
    conn.rollback()
    return bool(agrees)


def test_fold_agrees_with_postgresql_on_every_character(conn: Connection, sql_fold: str | None) -> None:
    """The engine's fold and the SQL one (membership_rule_sql.folded) agree on every character
    below U+30000 (surrogates and NUL aside), whatever the database's collation: ASCII text
    through lower(x COLLATE "C"), any other through translate() with the engine's table or
    lower() under a collation that agrees."""
    from engine.membership_rules import fold

    ascii_text = "".join(chr(c) for c in range(1, 0x80))
    everything = fold_sample()
    for sample in (ascii_text, everything, ALPHABET, "ÅSE", "İSTANBUL", "", None):
        got = conn.scalar(select(folded(literal(sample, Text))))
        assert got == (fold(sample) if sample else None), repr(sample)[:40]
    conn.rollback()


def test_a_collation_whose_lower_disagrees_is_not_chosen(conn: Connection) -> None:
    """ICU's root lower() maps İ to two characters and a final Σ to ς: not the engine's fold."""
    if not conn.scalar(text("SELECT count(*) FROM pg_collation WHERE collname = 'und-x-icu'")):
        pytest.skip("this server has no ICU")
    assert not _agrees(conn, "und-x-icu")
