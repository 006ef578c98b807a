"""Hypothesis strategies for membership rules (engine.membership_rules): random users and random
rules over every property and operator, shared by the parser tests and the SQL property test.

Users: every property None, empty or drawn from ALPHABET (quotes, backslashes, % _ /, regex
metacharacters, newline, tab, and non-ASCII letters where Python's and PostgreSQL's Unicode
lower-casing disagree or depend on the collation: İ ı K ſ ς ǅ ß ẞ ﬃ, plus an astral character).
Rules: values derived from the users' values (whole, prefix, suffix, infix; upper, lower, swapped
case) so that they often match, random regexes of the allowed core, randomly cased keywords.
"""

from __future__ import annotations

import string
from typing import Any

from hypothesis import strategies as st

from engine.membership_rules import OPERATORS, PROPERTIES

STRING_PROPERTIES = [p for p in PROPERTIES if p != "accountEnabled"]
# Letters where Python's str.lower()/re.IGNORECASE and PostgreSQL's lower()/~* disagree or depend
# on the collation (İ, ı, Kelvin sign, long s, final sigma, titlecase ǅ, ß, ﬃ), plus ordinary
# non-ASCII letters in both cases and an astral character.
ALPHABET = "aAbBsSkKiIzZ019 _%/\\\"'.*+?()[]{}|^$-\n\tÅåØøÉéßẞİıKſΣσςǅǆﬃ😀"
METACHARS = set(string.punctuation)

values = st.text(alphabet=ALPHABET, max_size=7)
maybe_values = st.one_of(st.none(), st.just(""), values)

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
