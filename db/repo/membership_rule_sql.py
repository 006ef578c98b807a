"""A parsed membership rule (engine.membership_rules) as a SQL boolean over the users table.

The same tree as `Rule.matches`, with the same meaning (see the engine module's docstring):

- a string property reads folded as `engine.membership_rules.fold` folds it (Unicode's simple
  lower case), empty as null — never by the database's default lower(), whose answer outside
  ASCII depends on the database's collation and its libc/ICU version. `choose_fold` (once per
  process, at start) looks for a collation whose lower() gives exactly the engine's fold on
  every character below U+30000 (`pg_c_utf8` from PostgreSQL 17, glibc's `C.utf8`); without
  one, non-ASCII values are folded by `translate()` with the engine's table as bind
  parameters (the same answer, about 40 µs a value instead of under 1). ASCII values take
  `lower(v COLLATE "C")` either way (the C collation lower-cases exactly A–Z). The rule's values
  are already folded and go in as bind parameters, never into the SQL text;
- `-eq` is `=`, `-startsWith`/`-endsWith`/`-contains` are `LIKE` with `%`, `_` and the escape
  character `/` escaped, `-in` is `IN`, `-match` is `~` (case-sensitive ARE on the folded subject)
  with the translated pattern as a bind parameter;
- each comparison is `coalesce(test, false)`, so an empty property is FALSE for a positive
  operator and its `NOT` is TRUE — the predicate is always TRUE or FALSE, never NULL (no
  three-valued surprises under `-not`); `-eq null` is `coalesce(col, '') = ''`;
  `accountEnabled` is `IS [NOT] true/false`.

The caller runs it under a statement timeout (D32) when a regular expression is involved.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    ColumnElement,
    String,
    and_,
    bindparam,
    case,
    false,
    func,
    not_,
    or_,
    text,
    true,
)
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import FromClause, collate

from db.models import User
from engine.membership_rules import (
    PROPERTIES,
    And,
    Comparison,
    Node,
    Not,
    Or,
    Pattern,
    Rule,
    fold,
    fold_table,
)

LIKE_ESCAPE = "/"
_USERS: FromClause = User.__table__


def like_escape(value: str) -> str:
    """`value` as a LIKE pattern matching itself literally (escape character `/`)."""
    return value.replace("/", "//").replace("%", "/%").replace("_", "/_")


FOLD_COLLATIONS = ("pg_c_utf8", "C.utf8", "C.UTF-8")  # candidates for choose_fold, best first
_fold_collation: str | None = None  # chosen by choose_fold; None: translate()


def fold_sample() -> str:
    """Every character below U+30000 but NUL and the surrogates: what choose_fold checks."""
    return "".join(chr(c) for c in range(1, 0x30000) if not 0xD800 <= c <= 0xDFFF)


_chosen: dict[str, str | None] = {}  # database URL -> its choice (a fact of the server, like the catalog)


async def choose_fold(conn: AsyncConnection, database: str | None = None) -> str | None:
    """Pick the fastest SQL fold that agrees with the engine's on every character: the first of
    FOLD_COLLATIONS this database has whose lower() equals `fold` on all of them (checked
    here, on this server; about 60 ms, remembered per `database` URL), else translate().
    Returns the collation, or None."""
    global _fold_collation
    if database is not None and database in _chosen:
        _fold_collation = _chosen[database]
        return _fold_collation
    sample = fold_sample()
    expected = fold(sample)
    present = set(
        (await conn.execute(
            text("SELECT collname FROM pg_collation WHERE collname = ANY(:names) "
                 "AND collencoding IN (-1, (SELECT encoding FROM pg_database WHERE datname = current_database()))"),
            {"names": list(FOLD_COLLATIONS)},
        )).scalars()
    )
    for name in FOLD_COLLATIONS:
        if name in present:
            got = (await conn.execute(text(f'SELECT lower(CAST(:s AS text) COLLATE "{name}")'), {"s": sample})).scalar_one()
            if got == expected:
                _fold_collation = name
                break
    else:
        _fold_collation = None
    if database is not None:
        _chosen[database] = _fold_collation
    return _fold_collation


def set_fold_collation(name: str | None) -> None:
    """Use this collation's lower() (one `choose_fold` accepted) or, None, translate()."""
    global _fold_collation
    _fold_collation = name


def folded(column: ColumnElement[str]) -> ColumnElement[str]:
    """`column` folded as `engine.membership_rules.fold` folds it; empty is null. The result
    compares byte for byte (collation "C")."""
    raw = func.nullif(column, "")
    value = collate(raw, "C")
    if _fold_collation is not None:
        other = collate(func.lower(collate(raw, _fold_collation)), "C")
    else:
        source, target = fold_table()
        other = func.translate(value, bindparam("fold_from", source, type_=String), bindparam("fold_to", target, type_=String))
    return case((func.octet_length(value) == func.char_length(value), func.lower(value)), else_=other)


def predicate(rule: Rule, users: FromClause = _USERS) -> ColumnElement[bool]:
    """The rule as a boolean over `users` (a table or alias with the users' column names)."""
    return _node(rule.tree, users)


def _node(node: Node, users: FromClause) -> ColumnElement[bool]:
    if isinstance(node, Comparison):
        return _comparison(node, users)
    if isinstance(node, Not):
        return not_(_node(node.operand, users))
    parts = [_node(operand, users) for operand in node.operands]
    if isinstance(node, And):
        return and_(*parts)
    assert isinstance(node, Or)
    return or_(*parts)


def _comparison(node: Comparison, users: FromClause) -> ColumnElement[bool]:
    column = users.c[PROPERTIES[node.property]]
    value = node.value
    if isinstance(value, bool):
        test: ColumnElement[bool] = column.is_(true() if value else false())
        return column.is_not(true() if value else false()) if node.negated else test
    if value is None:
        empty = func.coalesce(column, "") == ""
        return not_(empty) if node.negated else empty
    subject = folded(column)
    hit: ColumnElement[bool]
    if isinstance(value, Pattern):
        hit = subject.bool_op("~")(bindparam(None, value.postgres))
    elif isinstance(value, tuple):
        hit = subject.in_(list(value))
    elif node.test == "eq":
        hit = subject == bindparam(None, value)
    elif node.test == "startsWith":
        hit = subject.like(like_escape(value) + "%", escape=LIKE_ESCAPE)
    elif node.test == "endsWith":
        hit = subject.like("%" + like_escape(value), escape=LIKE_ESCAPE)
    else:
        hit = subject.like("%" + like_escape(value) + "%", escape=LIKE_ESCAPE)
    decided = func.coalesce(hit, false(), type_=Boolean)
    return not_(decided) if node.negated else decided
