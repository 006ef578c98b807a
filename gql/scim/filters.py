"""SCIM filters (RFC 7644 §3.4.2.2) parsed by `scim2-filter-parser` into its AST, then turned
into the tree `db.repo.scim` compiles to SQL.

The library's own SQL transpiler is not used: it drops a comparison whose attribute is not in
its map (a filter on an unknown attribute would then match everyone), binds booleans as
strings, leaves `%` and `_` of a `co`/`sw`/`ew` value unescaped, ignores case for `userName`
only, and has no form for a multi-valued attribute such as `members` (an EXISTS). Its parser
accepts both D29 forms: `emails[type eq "work" and value eq "…"]` and
`emails[type eq "work"].value eq "…"`.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from scim2_filter_parser import ast as scim_ast
from scim2_filter_parser.lexer import SCIMLexer
from scim2_filter_parser.parser import SCIMParser

from db.repo.scim import And, Compare, Node, Not, Or, Some, Value
from gql.scim.protocol import ScimError

CORE_USER = "urn:ietf:params:scim:schemas:core:2.0:user"
CORE_GROUP = "urn:ietf:params:scim:schemas:core:2.0:group"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:user"
TIME_ATTRIBUTES = {"meta.created", "meta.lastmodified"}
OPERATORS = {"eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le", "pr"}
MAX_FILTER = 4096


class Quoted(str):
    """A comparison value written as a JSON string (so `"null"` is the text null, not null)."""


class JsonLexer(SCIMLexer):
    """The library's lexer with compValue strings read as JSON strings (RFC 7644 §3.4.2.2: a
    comparison value is a JSON value): `\"` and `\\` escapes work, a bad escape or a raw control
    character is refused."""

    tokens = SCIMLexer.tokens

    @_(r'"(?:[^"\\]|\\.)*"')  # type: ignore[name-defined]  # noqa: F821 - sly's rule decorator
    def COMP_VALUE(self, t: Any) -> Any:  # noqa: N802 - sly names rules after their tokens
        try:
            t.value = Quoted(json.loads(t.value))
        except ValueError as exc:
            raise ValueError(f"{t.value[:80]} is not a JSON string: {exc}") from exc
        return t


def invalid_filter(detail: str) -> ScimError:
    return ScimError(400, "invalidFilter", detail)


def parse_filter(text: str | None) -> Node | None:
    if text is None or not text.strip():
        return None
    if len(text) > MAX_FILTER:
        raise invalid_filter(f"The filter is longer than {MAX_FILTER} characters.")
    try:
        tree = SCIMParser().parse(JsonLexer().tokenize(text))
    except Exception as exc:  # noqa: BLE001 - the parser raises plain exceptions of several kinds
        raise invalid_filter(f"The filter {text[:200]!r} is not valid SCIM filter syntax: {exc}") from exc
    if tree is None:
        raise invalid_filter(f"The filter {text[:200]!r} is not valid SCIM filter syntax.")
    return _node(tree, None)


def _node(node: Any, namespace: str | None) -> Node:
    if isinstance(node, scim_ast.Filter):
        inner_namespace = namespace
        if node.namespace is not None:
            inner_namespace = _attr_name(node.namespace, None)
        result = _node(node.expr, inner_namespace)
        if node.namespace is not None:
            result = _some_value(inner_namespace, result)
        return Not(result) if node.negated else result
    if isinstance(node, scim_ast.LogExpr):
        left, right = _node(node.expr1, namespace), _node(node.expr2, namespace)
        return And(left, right) if node.op.lower() == "and" else Or(left, right)
    if isinstance(node, scim_ast.AttrExpr):
        return _compare(node, namespace)
    raise invalid_filter(f"Unsupported filter element {type(node).__name__}.")


def _some_value(attribute: Any, inner: Node) -> Node:
    """`emails[…]` matches when a value of `emails` satisfies the inner filter: there must be a
    value (`emails[not (type eq "work")]` does not match a user without an email). A user has at
    most one of each; a group has many members: one of them must satisfy all of it."""
    if str(attribute) == "members":
        return Some("members", inner)
    return And(Compare(str(attribute), "pr", None), inner)


def _attr_name(path: Any, namespace: str | None) -> str:
    """`name.givenName` → "name.givenname"; inside `emails[…]`, `type` → "emails.type"; URN prefixes dropped."""
    name = str(path.attr_name)
    sub = path.sub_attr.value if path.sub_attr is not None else None
    uri = (path.uri or "").lower().rstrip(":")
    if uri and uri not in (CORE_USER, CORE_GROUP, ENTERPRISE):
        raise invalid_filter(f"Unknown schema {path.uri!r} in the filter.")
    full = f"{name}.{sub}" if sub else name
    if namespace is not None:
        full = f"{namespace}.{full}"
    return full.lower()


def _compare(node: Any, namespace: str | None) -> Node:
    op = str(node.value).lower()
    if op not in OPERATORS:
        raise invalid_filter(f"Unknown operator {node.value!r}.")
    path = node.attr_path
    if isinstance(path.attr_name, scim_ast.Filter):
        # emails[type eq "work"].value eq "x": the value filter, and the sub-attribute compared
        value_filter = path.attr_name
        outer = _attr_name(value_filter.namespace, None)  # "emails.value"
        base = outer.split(".")[0]
        inner = _node(value_filter.expr, base)
        compared = Compare(outer, op, _value(node.comp_value, outer) if op != "pr" else None)
        work = (isinstance(inner, Compare) and inner.attr == f"{base}.type" and inner.op == "eq"
                and isinstance(inner.value, str) and inner.value.lower() == "work")
        if base != "members" and work and not value_filter.negated:
            # a user's one email and one address are the work entry, stored or not (as in PATCH
            # paths): `emails[type eq "work"].value ne "x"` is `emails.value ne "x"`, which a user
            # without an email matches
            return compared
        return And(_some_value(base, inner), compared)
    attr = _attr_name(path, namespace)
    return Compare(attr, op, _value(node.comp_value, attr) if op != "pr" else None)


def _value(comp: Any, attr: str) -> Value:
    if comp is None:
        return None
    raw = comp.value
    if raw == "null" and not isinstance(raw, Quoted):  # the literal null, not the string "null"
        return None
    if raw in ("true", "false") and attr not in TIME_ATTRIBUTES and attr == "active":
        return raw == "true"
    if attr in TIME_ATTRIBUTES:
        try:
            return datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
        except ValueError as exc:
            raise invalid_filter(f"{raw!r} is not an xsd:dateTime (e.g. \"2026-01-31T00:00:00Z\").") from exc
    if "\x00" in raw:
        raise invalid_filter("A filter value cannot contain a NUL character (U+0000); no stored value does.")
    return str(raw)
