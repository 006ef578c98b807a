"""Property test: a rule's SQL predicate (db.repo.membership_rule_sql) selects, in a real
PostgreSQL, exactly the users for whom `Rule.matches` (engine.membership_rules) is True.

Random users (every property; None, empty, case variants, quotes, backslashes, % _ /, non-ASCII
letters whose Unicode lower-casing differs between Python and PostgreSQL, astral characters,
newlines) go into a temporary table with the users' column names; random rules over every
property and operator are built from values derived from those users (whole values, prefixes,
suffixes, infixes, case variants, empty strings) and random regular expressions of the allowed
core (classes, ranges, escapes, anchors, bounds, groups, alternation, literal pieces of the
users' values). Keyword and property spellings are randomly cased.

PROPERTY_EXAMPLES (default 200) sets the number of examples.
"""

from __future__ import annotations

import os
import string
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Boolean, Column, Integer, MetaData, Table, Text, create_engine, func, select, text
from sqlalchemy.engine import Connection

from db.models import User
from db.repo.membership_rule_sql import like_escape, predicate
from db.urls import sync_url
from engine.membership_rules import OPERATORS, PROPERTIES, parse

EXAMPLES = int(os.environ.get("PROPERTY_EXAMPLES", "200"))

STRING_PROPERTIES = [p for p in PROPERTIES if p != "accountEnabled"]
# Letters where Python's str.lower()/re.IGNORECASE and PostgreSQL's lower()/~* disagree or depend
# on the collation (İ, ı, Kelvin sign, long s, final sigma, titlecase ǅ, ß, ﬃ), plus ordinary
# non-ASCII letters in both cases and an astral character.
ALPHABET = "aAbBsSkKiIzZ019 _%/\\\"'.*+?()[]{}|^$-\n\tÅåØøÉéßẞİıKſΣσςǅǆﬃ😀"
METACHARS = set(string.punctuation)

values = st.text(alphabet=ALPHABET, max_size=7)
maybe_values = st.one_of(st.none(), st.just(""), values)

metadata = MetaData()
rule_users = Table(
    "rule_users",
    metadata,
    Column("id", Integer, primary_key=True),
    *[Column(PROPERTIES[p], Text) for p in STRING_PROPERTIES],
    Column("account_enabled", Boolean),
)


@st.composite
def users(draw: st.DrawFn) -> dict[str, Any]:
    user: dict[str, Any] = {p: draw(maybe_values) for p in STRING_PROPERTIES}
    user["userType"] = draw(st.one_of(st.sampled_from(["MEMBER", "GUEST"]), maybe_values))
    user["accountEnabled"] = draw(st.one_of(st.booleans(), st.none()))
    return user


def spell(draw: st.DrawFn, word: str) -> str:
    """The word in a random mix of upper and lower case."""
    flips = draw(st.lists(st.booleans(), min_size=len(word), max_size=len(word)))
    return "".join(c.swapcase() if flip else c for c, flip in zip(word, flips))


def quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def derived(draw: st.DrawFn, seeds: list[str]) -> str:
    """A value likely to hit: a user's value, a piece of it, in another case; or random."""
    if not seeds or draw(st.integers(0, 4)) == 0:
        return draw(st.one_of(values, st.just("")))
    seed = draw(st.sampled_from(seeds))
    i = draw(st.integers(0, len(seed)))
    j = draw(st.integers(i, len(seed)))
    piece = draw(st.sampled_from([seed, seed[:j], seed[i:], seed[i:j]]))
    return draw(st.sampled_from([piece, piece.upper(), piece.lower(), piece.swapcase()]))


def regex_literal(c: str) -> str:
    return "\\" + c if c in METACHARS else c


@st.composite
def class_item(draw: st.DrawFn) -> str:
    kind = draw(st.integers(0, 3))
    if kind == 0:
        return draw(st.sampled_from(["\\d", "\\w", "\\s"]))
    a, b = sorted(draw(st.lists(st.sampled_from(ALPHABET), min_size=2, max_size=2)), key=ord)
    if kind == 1:
        return class_char(a) + "-" + class_char(b)
    return class_char(a)


def class_char(c: str) -> str:
    return "\\" + c if c in "]\\^-[" else c


def regex(draw: st.DrawFn, seeds: list[str], depth: int = 0) -> tuple[str, bool]:
    """A regex of the allowed core, and whether it contains a quantifier."""
    branches = []
    quantified = False
    for _ in range(draw(st.integers(1, 2 if depth < 2 else 1))):
        pieces = []
        for _ in range(draw(st.integers(1, 3))):
            kind = draw(st.integers(0, 8 if depth < 2 else 7))
            inner = False
            repeatable = True
            if kind == 0:
                atom = regex_literal(draw(st.sampled_from(ALPHABET)))
            elif kind == 1:
                atom = "".join(regex_literal(c) for c in derived(draw, seeds)) or "a"
                repeatable = len(atom) == 1
            elif kind == 2:
                atom = "."
            elif kind == 3:
                negated = draw(st.booleans())
                items = draw(st.lists(class_item(), min_size=1, max_size=3))
                atom = "[" + ("^" if negated else "") + "".join(items) + "]"
            elif kind == 4:
                atom = draw(st.sampled_from(["\\d", "\\w", "\\s"]))
            elif kind in (5, 6):
                atom = draw(st.sampled_from(["^", "$"]))
                repeatable = False
            else:
                body, inner = regex(draw, seeds, depth + 1)
                atom = f"({body})"
            if repeatable and not inner and draw(st.booleans()):
                atom += draw(st.sampled_from(["*", "+", "?", "{2}", "{0,}", "{1,3}", "{0,100}"]))
                inner = True
            quantified = quantified or inner
            pieces.append(atom)
        branches.append("".join(pieces))
    return "|".join(branches), quantified


def comparison(draw: st.DrawFn, population: list[dict[str, Any]]) -> str:
    prop = draw(st.sampled_from(list(PROPERTIES)))
    head = spell(draw, "user") + "." + spell(draw, prop)
    if prop == "accountEnabled":
        return f"{head} {spell(draw, draw(st.sampled_from(['-eq', '-ne'])))} {spell(draw, draw(st.sampled_from(['true', 'false'])))}"
    operator = draw(st.sampled_from(list(OPERATORS)))
    test = OPERATORS[operator][0]
    seeds = [u[prop] for u in population if u[prop]]
    if test == "in":
        value = "[" + ", ".join(quote(derived(draw, seeds)) for _ in range(draw(st.integers(1, 3)))) + "]"
    elif test == "match":
        value = quote(regex(draw, seeds)[0])
    elif test == "eq" and draw(st.integers(0, 5)) == 0:
        value = spell(draw, "null")
    else:
        value = quote(derived(draw, seeds))
    return f"{head} {spell(draw, operator)} {value}"


def expression(draw: st.DrawFn, population: list[dict[str, Any]], depth: int = 0) -> str:
    kind = draw(st.integers(0, 3 if depth < 2 else 0))
    if kind == 0:
        return comparison(draw, population)
    if kind == 1:
        return spell(draw, "-not") + " " + expression(draw, population, depth + 1)
    connector = spell(draw, "-and" if kind == 2 else "-or")
    parts = [expression(draw, population, depth + 1) for _ in range(draw(st.integers(2, 3)))]
    return "(" + f" {connector} ".join(parts) + ")"


@st.composite
def worlds(draw: st.DrawFn) -> tuple[list[dict[str, Any]], list[str]]:
    population = draw(st.lists(users(), min_size=1, max_size=8))
    rules = [expression(draw, population) for _ in range(draw(st.integers(1, 4)))]
    return population, rules


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


def test_sql_predicate_selects_exactly_the_matching_users(conn: Connection) -> None:
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
    compiled = predicate(rule).compile(dialect=postgresql.dialect())
    assert "drop table" not in str(compiled) and "'''" not in str(compiled)
    assert "50/%/_//'; drop table users; --" in "".join(str(v) for v in compiled.params.values())
    assert like_escape("a/b%c_d") == "a//b/%c/_d"


def test_fold_agrees_with_postgresql_on_every_alphabet_character(conn: Connection) -> None:
    """The engine's fold and lower(x COLLATE "C") agree, whatever the database's collation."""
    from engine.membership_rules import fold

    sample = ALPHABET + "".join(chr(c) for c in range(1, 0x250)) + "ΑΩАЯԱẞᲐ"
    got = conn.scalar(text('SELECT lower(CAST(:s AS text) COLLATE "C")'), {"s": sample})
    assert got == fold(sample)
    conn.rollback()
