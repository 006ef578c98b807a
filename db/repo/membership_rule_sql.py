"""A parsed membership rule (engine.membership_rules) as a SQL boolean over the users table.

The same tree as `Rule.matches`, with the same meaning (see the engine module's docstring):

- a string property reads `lower(nullif(col, '') COLLATE "C")` — empty is null, and the C
  collation lower-cases exactly ASCII A–Z like `engine.membership_rules.fold`; the rule's values
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

from sqlalchemy import Boolean, ColumnElement, and_, bindparam, false, func, not_, or_, true
from sqlalchemy.sql import FromClause, collate

from db.models import User
from engine.membership_rules import PROPERTIES, And, Comparison, Node, Not, Or, Pattern, Rule

LIKE_ESCAPE = "/"
_USERS: FromClause = User.__table__


def like_escape(value: str) -> str:
    """`value` as a LIKE pattern matching itself literally (escape character `/`)."""
    return value.replace("/", "//").replace("%", "/%").replace("_", "/_")


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
    folded = func.lower(collate(func.nullif(column, ""), "C"))
    hit: ColumnElement[bool]
    if isinstance(value, Pattern):
        hit = folded.bool_op("~")(bindparam(None, value.postgres))
    elif isinstance(value, tuple):
        hit = folded.in_(list(value))
    elif node.test == "eq":
        hit = folded == bindparam(None, value)
    elif node.test == "startsWith":
        hit = folded.like(like_escape(value) + "%", escape=LIKE_ESCAPE)
    elif node.test == "endsWith":
        hit = folded.like("%" + like_escape(value), escape=LIKE_ESCAPE)
    else:
        hit = folded.like("%" + like_escape(value) + "%", escape=LIKE_ESCAPE)
    decided = func.coalesce(hit, false(), type_=Boolean)
    return not_(decided) if node.negated else decided
