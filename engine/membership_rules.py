"""The dynamic-group rule language (SPEC R23, D24, D32): parsed once into a tree that evaluates
two ways — here in Python (`Rule.matches`) and as SQL (`db.repo.membership_rule_sql.predicate`).

Syntax (Entra's spelling, a subset)::

    rule       := expr <end>
    expr       := unary ( (-and unary)* | (-or unary)* )     -- mixing at one level: "add parentheses"
    unary      := -not unary | "(" expr ")" | comparison
    comparison := user "." property operator value
    value      := "string" | true | false | null | "[" "string" ("," "string")* "]"

Operator names (`-and`, `-or`, `-not` included), `user`, property names and `true`/`false`/`null`
ignore the case of A–Z. Strings are double-quoted; `\\"` is a quote and `\\\\` a backslash; a
backslash before any other character is kept as it is, so `-match "\\d+"` and `-match "\\\\d+"`
are the same regular expression. Rules are not trimmed and at most `MAX_RULE_LENGTH` characters;
NUL and lone surrogates are refused. Errors are `RuleError(message, position)`, the position
being the 0-based index in code points (Python `str` indices) of the rule as given.

Values. "Empty" is null, and an empty string counts as null (D32). An empty property never
satisfies a positive string operator (`-eq "x"`, `-startsWith`, `-endsWith`, `-contains`, `-in`,
`-match`) and always satisfies its negation, whatever the value (so `-eq ""` matches no one and
`-ne ""` everyone; write `-eq null` / `-ne null` to test emptiness). `accountEnabled` takes only
`-eq`/`-ne` with unquoted `true`/`false`; the other properties only strings (and `null` with
`-eq`/`-ne`). `userType` is stored as "MEMBER"/"GUEST" and compares like any string.

Case folding — the one definition both sides compute. `fold` maps each character to its simple
lower case (Unicode's one-to-one lower-case mapping: Python's `str.lower` of the character alone,
and İ to i), one character at a time: "Ø" and "ø", "Ä" and "ä", "Σ" and "σ", the Kelvin sign
and "k" are the same letter to a rule; "ς" (final sigma) and "σ" are not, nor "ı" and "i". The
table (`fold_table`) is computed here, and SQL applies this same table: with `translate()`, or
with `lower()` under a collation found, on the server, to give exactly this table's answer for
every character (db.repo.membership_rule_sql.choose_fold) — never the database's default
`lower()`, whose answer outside ASCII depends on its collation and its libc/ICU version (ICU
maps İ to two characters, for one).

Comparisons are then exact code-point comparisons of folded strings: `=` / `startswith` /
`endswith` / `in` in Python, `=` / `LIKE` (pattern escaped) / `IN` under collation "C" in SQL.

Regular expressions (`-match`). A small parser here validates the portable core — literals, `.`,
`[...]`, `[^...]`, `*`, `+`, `?`, `{m}`, `{m,}`, `{m,n}` (bounds ≤ 100), `|`, `(...)`, `^`, `$`,
`\\d`, `\\w`, `\\s` (ASCII), and backslash-escaped ASCII punctuation as literals — and refuses
everything else (other escapes, backreferences, `(?...)`, empty alternatives, a quantifier on a
group that contains one, a quantifier after a quantifier). It then writes one pattern in the
syntax both engines read identically, so Python's `re` and PostgreSQL's ARE never interpret the
user's text themselves:

- every class, `\\d`/`\\w`/`\\s` included, becomes an explicit code-point class written with
  `\\uXXXX` / `\\UXXXXXXXX` escapes (`\\d` → `[0-9]`, `\\w` → `[A-Za-z0-9_]`,
  `\\s` → `[ \\t\\n\\r\\f\\v]`);
- literals are folded, then written raw (ASCII letters and digits), backslash-escaped (ASCII
  punctuation) or as `\\u` escapes (everything else);
- `^` → `\\A`, `$` → `\\Z` (start/end of the string in both); `.` is any character (Python
  compiles with DOTALL; ARE's default is not newline-sensitive).

Case-insensitivity is done by folding, not by the engines' flags (`re.IGNORECASE` and `~*` differ
outside ASCII): the subject is folded, literals are folded, and each class is widened by the folds
of its members (`[A-C]` → also `a-c`; `[^Ø]` excludes `Ø` and `ø`). A folded subject holds no
character the fold changes, so a character matches iff its fold is in the fold-image of the class — the same
case-sensitive question in both engines (`re.search` and `~`). Searching is "anywhere".

Known limit: refusing nested quantifiers does not make every pattern linear for a backtracking
engine — a repeated alternation whose branches overlap, such as `^(a|a)*b`, is still exponential
in Python's `re` (24 characters of "a": ~1 s). SQL runs under a statement timeout (D32); the
Python side has none, so callers evaluating untrusted rules over long values should bound them.
"""

from __future__ import annotations

import functools
import re
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TypeAlias

PROPERTIES: dict[str, str] = {
    "displayName": "display_name",
    "userPrincipalName": "user_principal_name",
    "mail": "mail",
    "department": "department",
    "jobTitle": "job_title",
    "usageLocation": "usage_location",
    "givenName": "given_name",
    "surname": "surname",
    "employeeId": "employee_id",
    "userType": "user_type",
    "accountEnabled": "account_enabled",
}
BOOLEAN_PROPERTIES = frozenset({"accountEnabled"})
STRING_PROPERTIES = frozenset(PROPERTIES) - BOOLEAN_PROPERTIES

MAX_RULE_LENGTH = 3072
MAX_BOUND = 100  # {m,n} in -match

# Canonical spelling → (positive test, negated).
OPERATORS: dict[str, tuple[str, bool]] = {
    "-eq": ("eq", False),
    "-ne": ("eq", True),
    "-startsWith": ("startsWith", False),
    "-notStartsWith": ("startsWith", True),
    "-endsWith": ("endsWith", False),
    "-notEndsWith": ("endsWith", True),
    "-contains": ("contains", False),
    "-notContains": ("contains", True),
    "-in": ("in", False),
    "-notIn": ("in", True),
    "-match": ("match", False),
    "-notMatch": ("match", True),
}

_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)
_PROPERTY_BY_FOLD = {name.translate(_ASCII_LOWER): name for name in PROPERTIES}
_OPERATOR_BY_FOLD = {name.translate(_ASCII_LOWER): name for name in OPERATORS}
_OPERATOR_LIST = ", ".join(OPERATORS)
_PROPERTY_LIST = ", ".join(PROPERTIES)


def _keyword(text: str) -> str:
    """Keywords (properties, operators, `user`, `true`, `false`, `null`) ignore the case of A–Z."""
    return text.translate(_ASCII_LOWER)


# The one character whose lower case (Python's `str.lower`, Unicode's full mapping) is longer
# than one character: its one-character (simple) lower case is i.
_SIMPLE_LOWER = {"\u0130": "i"}


@functools.cache
def fold_table() -> tuple[str, str]:
    """The case folding of rule values as two equal-length strings, `from` and `to`: Unicode's
    simple lower-case mapping, one character to one — Python's `str.lower` of each character
    alone, and İ to i. SQL applies the same map (db.repo.membership_rule_sql.folded): with
    `lower()` under a collation checked to agree on every character, or with
    `translate(x, from, to)`, which looks each character up from the front of `from` — so the
    common letters of Latin, Greek and Cyrillic come first, with their folds, or themselves when
    already lower-case. Idempotent: a folded string holds no character the map changes."""
    mapping: dict[str, str] = {}
    for cp in range(0x30000):  # no cased letter lies above (Unicode 15: Adlam, U+1E900)
        c = chr(cp)
        low = c.lower()
        if len(low) > 1:
            low = _SIMPLE_LOWER[c]
        if low != c:
            assert low.lower() == low, c
            mapping[c] = low
    common = [chr(cp) for cp in (*range(0x20, 0x7F), *range(0xA0, 0x250), *range(0x370, 0x530))]
    first = [(c, mapping.get(c, c)) for c in common]
    listed = set(common)
    rest = [(c, low) for c, low in mapping.items() if c not in listed]
    pairs = first + rest
    return "".join(c for c, _ in pairs), "".join(low for _, low in pairs)


@functools.cache
def _fold_map() -> dict[int, int]:
    source, target = fold_table()
    return {ord(a): ord(b) for a, b in zip(source, target, strict=True) if a != b}


def fold(text: str) -> str:
    """The rule language's case folding of values: each character to its simple lower case
    (`fold_table`; on ASCII text, where the table maps exactly A–Z, `str.lower`)."""
    if text.isascii():
        return text.lower()
    return text.translate(_fold_map())


class RuleError(ValueError):
    """A refused rule: `message` names what was expected, `position` is a 0-based code-point index."""

    def __init__(self, message: str, position: int) -> None:
        super().__init__(f"{message} (at position {position})")
        self.message = message
        self.position = position


# ------------------------------------------------------------------------------------ tree


@dataclass(frozen=True)
class Pattern:
    """A validated -match regular expression and its translation (the same text for both engines)."""

    source: str  # as written in the rule, after string unescaping
    python: str  # for re.compile(python, re.DOTALL), searched on the folded subject
    postgres: str  # for `folded ~ postgres` (ARE, case-sensitive)
    compiled: re.Pattern[str] = field(compare=False, repr=False, hash=False)


Value: TypeAlias = str | bool | None | tuple[str, ...] | Pattern


@dataclass(frozen=True)
class Comparison:
    """`user.<property> <operator> <value>`. String values and list items are stored folded."""

    property: str  # canonical name, a key of PROPERTIES
    operator: str  # canonical spelling, a key of OPERATORS
    test: str  # the positive test: eq, startsWith, endsWith, contains, in, match
    negated: bool
    value: Value  # str (folded), None (-eq/-ne null), bool (accountEnabled), tuple (folded), Pattern
    position: int  # where the comparison starts in the rule


@dataclass(frozen=True)
class Not:
    operand: Node


@dataclass(frozen=True)
class And:
    operands: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    operands: tuple[Node, ...]


Node: TypeAlias = Comparison | Not | And | Or

UserValues: TypeAlias = Mapping[str, str | bool | None]


@dataclass(frozen=True)
class Rule:
    source: str
    tree: Node
    properties: frozenset[str]  # canonical names the rule reads

    def matches(self, user: UserValues) -> bool:
        """Whether a user (keyed by canonical property names) satisfies the rule."""
        return evaluate(self.tree, user)

    @property
    def uses_regex(self) -> bool:
        """Whether the rule has a -match/-notMatch: Python's `re` has no time limit (some allowed
        patterns, such as `(a|a)*b`, backtrack exponentially), so callers evaluate such rules in
        SQL, under the statement timeout."""
        return _has_pattern(self.tree)


def evaluate(node: Node, user: UserValues) -> bool:
    if isinstance(node, Comparison):
        return _compare(node, user.get(node.property))
    if isinstance(node, Not):
        return not evaluate(node.operand, user)
    if isinstance(node, And):
        return all(evaluate(operand, user) for operand in node.operands)
    return any(evaluate(operand, user) for operand in node.operands)


def _compare(node: Comparison, raw: str | bool | None) -> bool:
    value = node.value
    if isinstance(value, bool):  # accountEnabled -eq/-ne true/false (SQL: IS [NOT] true/false)
        return (raw is value) != node.negated
    text = raw if isinstance(raw, str) and raw != "" else None
    if value is None:  # -eq null / -ne null
        return (text is None) != node.negated
    if text is None:
        return node.negated
    subject = fold(text)
    if isinstance(value, Pattern):
        hit = value.compiled.search(subject) is not None
    elif isinstance(value, tuple):
        hit = subject in value
    elif node.test == "eq":
        hit = subject == value
    elif node.test == "startsWith":
        hit = subject.startswith(value)
    elif node.test == "endsWith":
        hit = subject.endswith(value)
    else:
        hit = value in subject
    return hit != node.negated


def _has_pattern(node: Node) -> bool:
    if isinstance(node, Comparison):
        return isinstance(node.value, Pattern)
    if isinstance(node, Not):
        return _has_pattern(node.operand)
    return any(_has_pattern(operand) for operand in node.operands)


def properties_of(node: Node) -> frozenset[str]:
    if isinstance(node, Comparison):
        return frozenset({node.property})
    if isinstance(node, Not):
        return properties_of(node.operand)
    return frozenset().union(*(properties_of(operand) for operand in node.operands))


# ------------------------------------------------------------------------------------ lexer


@dataclass(frozen=True)
class _Token:
    kind: str  # word, dash, string, ( ) [ ] , . other end
    text: str  # the source text (for a string: the decoded value)
    position: int
    offsets: tuple[int, ...] = ()  # string: the rule position of each decoded character
    end: int = 0  # string: the position of the closing quote


def _lex(rule: str) -> list[_Token]:
    tokens: list[_Token] = []
    i, n = 0, len(rule)
    while True:
        while i < n and rule[i].isspace():
            i += 1
        if i >= n:
            tokens.append(_Token("end", "", n))
            return tokens
        c = rule[i]
        start = i
        if c in "()[],.":
            tokens.append(_Token(c, c, i))
            i += 1
        elif c == '"':
            i += 1
            chars: list[str] = []
            offsets: list[int] = []
            while True:
                if i >= n:
                    raise RuleError(f'expected a closing " for the string that starts at position {start}', n)
                c = rule[i]
                if c == '"':
                    break
                if c == "\\" and i + 1 < n and rule[i + 1] in '"\\':
                    chars.append(rule[i + 1])
                    offsets.append(i)
                    i += 2
                    continue
                chars.append(c)
                offsets.append(i)
                i += 1
            tokens.append(_Token("string", "".join(chars), start, tuple(offsets), i))
            i += 1
        elif c == "-" and i + 1 < n and _word_char(rule[i + 1]):
            i += 1
            while i < n and _word_char(rule[i]):
                i += 1
            tokens.append(_Token("dash", rule[start:i], start))
        elif _word_char(c):
            while i < n and _word_char(rule[i]):
                i += 1
            tokens.append(_Token("word", rule[start:i], start))
        else:
            tokens.append(_Token("other", c, i))
            i += 1


def _word_char(c: str) -> bool:
    return c.isalnum() or c == "_"


def _describe(token: _Token) -> str:
    if token.kind == "end":
        return "the end of the rule"
    if token.kind == "string":
        return "a string"
    return f"'{token.text}'"


# ------------------------------------------------------------------------------------ parser


class _Parser:
    def __init__(self, rule: str) -> None:
        self.tokens = _lex(rule)
        self.i = 0

    def peek(self) -> _Token:
        return self.tokens[self.i]

    def take(self) -> _Token:
        token = self.tokens[self.i]
        if token.kind != "end":
            self.i += 1
        return token

    def fail(self, token: _Token, expected: str) -> RuleError:
        return RuleError(f"expected {expected}, found {_describe(token)}", token.position)

    def rule(self) -> Node:
        node = self.expr()
        token = self.peek()
        if token.kind != "end":
            raise self.fail(token, "-and, -or or the end of the rule")
        return node

    def expr(self) -> Node:
        operands = [self.unary()]
        connector: str | None = None
        while (token := self.peek()).kind == "dash" and _keyword(token.text) in ("-and", "-or"):
            word = _keyword(token.text)
            if connector is not None and word != connector:
                raise RuleError(
                    f"-and and -or cannot be mixed at one level: add parentheses around the {connector} or the {word} part",
                    token.position,
                )
            connector = word
            self.take()
            operands.append(self.unary())
        if connector is None:
            return operands[0]
        return And(tuple(operands)) if connector == "-and" else Or(tuple(operands))

    def unary(self) -> Node:
        token = self.peek()
        if token.kind == "dash" and _keyword(token.text) == "-not":
            self.take()
            return Not(self.unary())
        if token.kind == "(":
            self.take()
            node = self.expr()
            close = self.peek()
            if close.kind != ")":
                raise self.fail(close, f"-and, -or or ')' to close the '(' at position {token.position}")
            self.take()
            return node
        if token.kind == "word" and _keyword(token.text) == "user":
            return self.comparison()
        raise self.fail(token, "a condition such as user.department -eq \"Sales\", '(' or -not")

    def comparison(self) -> Comparison:
        start = self.take().position
        dot = self.peek()
        if dot.kind != ".":
            raise self.fail(dot, "'.' and a property after user")
        self.take()
        name = self.peek()
        prop = _PROPERTY_BY_FOLD.get(_keyword(name.text)) if name.kind == "word" else None
        if prop is None:
            if name.kind == "word":
                raise RuleError(f"unknown property '{name.text}': expected one of {_PROPERTY_LIST}", name.position)
            raise self.fail(name, f"a property ({_PROPERTY_LIST})")
        self.take()
        op_token = self.peek()
        operator = _OPERATOR_BY_FOLD.get(_keyword(op_token.text)) if op_token.kind == "dash" else None
        if operator is None:
            if op_token.kind == "dash":
                raise RuleError(f"unknown operator '{op_token.text}': expected one of {_OPERATOR_LIST}", op_token.position)
            raise self.fail(op_token, f"an operator ({_OPERATOR_LIST})")
        self.take()
        test, negated = OPERATORS[operator]
        value = self.value(prop, operator, test, op_token)
        return Comparison(prop, operator, test, negated, value, start)

    def value(self, prop: str, operator: str, test: str, op_token: _Token) -> Value:
        token = self.peek()
        if prop in BOOLEAN_PROPERTIES:
            if test != "eq":
                raise RuleError(f"{prop} is compared only with -eq or -ne and true or false, not {operator}", op_token.position)
            if token.kind == "word" and _keyword(token.text) in ("true", "false"):
                self.take()
                return _keyword(token.text) == "true"
            if token.kind == "string":
                raise RuleError(f"expected true or false, unquoted: {prop} is not a string", token.position)
            raise self.fail(token, "true or false")
        if test == "in":
            return self.string_list(operator)
        if token.kind == "string":
            self.take()
            if test == "match":
                return _compile_regex(token)
            return fold(token.text)
        if test == "eq" and token.kind == "word" and _keyword(token.text) == "null":
            self.take()
            return None
        if test == "eq":
            raise self.fail(token, "a quoted string or null")
        raise self.fail(token, f"a quoted string after {operator}")

    def string_list(self, operator: str) -> tuple[str, ...]:
        token = self.peek()
        if token.kind != "[":
            raise self.fail(token, f'a list such as ["NO", "SE"] after {operator}')
        self.take()
        items: list[str] = []
        while True:
            item = self.peek()
            if item.kind != "string":
                raise self.fail(item, "a quoted string in the list")
            self.take()
            items.append(fold(item.text))
            after = self.peek()
            if after.kind == "]":
                self.take()
                return tuple(items)
            if after.kind != ",":
                raise self.fail(after, f"',' or ']' to close the list at position {token.position}")
            self.take()


def parse(rule: str) -> Rule:
    """Parse a membership rule (R23) or raise RuleError."""
    if len(rule) > MAX_RULE_LENGTH:
        raise RuleError(f"a rule has at most {MAX_RULE_LENGTH} characters", MAX_RULE_LENGTH)
    for i, c in enumerate(rule):
        if c == "\x00":
            raise RuleError("expected a character other than NUL", i)
        if "\ud800" <= c <= "\udfff":
            raise RuleError("expected valid Unicode text (a lone surrogate)", i)
    tree = _Parser(rule).rule()
    return Rule(rule, tree, properties_of(tree))


@functools.lru_cache(maxsize=4096)
def parse_cached(rule: str) -> Rule:
    """`parse`, memoised process-wide (trees are immutable). Refusals are not cached."""
    return parse(rule)


# ------------------------------------------------------------------------------------ regex

_META_ESCAPES = frozenset(string.punctuation)  # backslash + ASCII punctuation: that character
_QUANTIFIERS = "*+?{"
_DIGIT = ((0x30, 0x39),)
_WORD = ((0x30, 0x39), (0x41, 0x5A), (0x5F, 0x5F), (0x61, 0x7A))
_SPACE = ((0x09, 0x0D), (0x20, 0x20))  # \t \n \v \f \r and space
_CLASS_ESCAPES = {"d": _DIGIT, "w": _WORD, "s": _SPACE}

Ranges = tuple[tuple[int, int], ...]


def _code(cp: int) -> str:
    return f"\\u{cp:04x}" if cp <= 0xFFFF else f"\\U{cp:08x}"


def _literal(c: str) -> str:
    c = fold(c)
    if c.isascii() and c.isalnum():
        return c
    if c in _META_ESCAPES:
        return "\\" + c
    return _code(ord(c))


def _class(ranges: Ranges, negated: bool) -> str:
    """An explicit code-point class widened by case folding: members plus the folds of members."""
    widened = list(ranges)
    for upper, lower in _fold_map().items():
        if any(lo <= upper <= hi for lo, hi in ranges):
            widened.append((lower, lower))
    merged: list[tuple[int, int]] = []
    for lo, hi in sorted(widened):
        if merged and lo <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(hi, merged[-1][1]))
        else:
            merged.append((lo, hi))
    body = "".join(_code(lo) if lo == hi else f"{_code(lo)}-{_code(hi)}" for lo, hi in merged)
    return f"[{'^' if negated else ''}{body}]"


class _RegexParser:
    def __init__(self, token: _Token) -> None:
        self.s = token.text
        self.offsets = token.offsets
        self.end = token.end
        self.i = 0

    def pos(self, i: int) -> int:
        return self.offsets[i] if i < len(self.s) else self.end

    def fail(self, i: int, message: str) -> RuleError:
        return RuleError(message, self.pos(i))

    def peek(self) -> str:
        return self.s[self.i] if self.i < len(self.s) else ""

    def parse(self) -> str:
        out, _ = self.alternation()
        if self.i < len(self.s):  # only an unmatched ')' stops an alternation early
            raise self.fail(self.i, "expected the end of the regular expression: unmatched ')' (write \\) for a literal)")
        return out

    def alternation(self) -> tuple[str, bool]:
        out, quantified = self.sequence()
        while self.peek() == "|":
            self.i += 1
            more, q = self.sequence()
            out += "|" + more
            quantified = quantified or q
        return out, quantified

    def sequence(self) -> tuple[str, bool]:
        parts: list[str] = []
        quantified = False
        while self.i < len(self.s) and self.peek() not in "|)":
            part, q = self.repeat()
            parts.append(part)
            quantified = quantified or q
        if not parts:
            raise self.fail(self.i, "expected a pattern here (empty alternatives and groups are not supported)")
        return "".join(parts), quantified

    def repeat(self) -> tuple[str, bool]:
        atom, kind, inner_quantified = self.atom()
        if self.peek() == "" or self.peek() not in _QUANTIFIERS:
            return atom, inner_quantified
        q_start = self.i
        if kind == "anchor":
            raise self.fail(q_start, f"expected a character, class or group before '{self.peek()}': an anchor cannot be repeated")
        if inner_quantified:
            raise self.fail(q_start, "nested quantifiers such as (a+)+ are not supported: a repeated group cannot contain a quantifier")
        quantifier = self.quantifier()
        if self.peek() != "" and self.peek() in _QUANTIFIERS:
            raise self.fail(self.i, "expected a pattern after the quantifier: a quantifier cannot follow a quantifier (lazy and possessive forms are not supported)")
        return atom + quantifier, True

    def quantifier(self) -> str:
        c = self.s[self.i]
        if c != "{":
            self.i += 1
            return c
        brace = self.i
        self.i += 1
        low = self.number()
        if low is None:
            raise self.fail(brace, "expected a bound such as {3}, {2,} or {2,5} (write \\{ for a literal brace)")
        high: int | None = low
        if self.peek() == ",":
            self.i += 1
            high = self.number()
        if self.peek() != "}":
            raise self.fail(self.i, "expected '}' to close the bound (bounds are {m}, {m,} or {m,n})")
        self.i += 1
        if high is not None and high < low:
            raise self.fail(brace, f"expected a lower bound not above the upper bound, found {{{low},{high}}}")
        return f"{{{low},}}" if high is None else f"{{{low},{high}}}"

    def number(self) -> int | None:
        start = self.i
        while self.peek().isascii() and self.peek().isdigit():
            self.i += 1
        if self.i == start:
            return None
        value = int(self.s[start:self.i])
        if value > MAX_BOUND:
            raise self.fail(start, f"expected a bound of at most {MAX_BOUND}, found {value}")
        return value

    def atom(self) -> tuple[str, str, bool]:
        c = self.s[self.i]
        start = self.i
        if c == "(":
            self.i += 1
            if self.peek() == "?":
                raise self.fail(self.i, "expected a pattern after '(': (?...) groups (lookahead, lookbehind, flags, non-capturing) are not supported")
            inner, quantified = self.alternation()
            if self.peek() != ")":
                raise self.fail(self.i, f"expected ')' to close the group at position {self.pos(start)}")
            self.i += 1
            return f"({inner})", "group", quantified
        if c in _QUANTIFIERS:
            raise self.fail(self.i, f"expected a character, class or group before '{c}': nothing to repeat (write \\{c} for a literal)")
        self.i += 1
        if c == ".":
            return ".", "atom", False
        if c == "^":
            return "\\A", "anchor", False
        if c == "$":
            return "\\Z", "anchor", False
        if c == "[":
            return self.bracket(start), "atom", False
        if c == "\\":
            escaped = self.escape(start)
            if isinstance(escaped, tuple):
                return _class(escaped, False), "atom", False
            return _literal(escaped), "atom", False
        return _literal(c), "atom", False

    def escape(self, backslash: int) -> str | Ranges:
        """After a backslash: a class escape's ranges, or the literal character."""
        if self.i >= len(self.s):
            raise self.fail(self.i, "expected a character after \\ (write \\\\ for a literal backslash)")
        c = self.s[self.i]
        self.i += 1
        if c in _CLASS_ESCAPES:
            return _CLASS_ESCAPES[c]
        if c in _META_ESCAPES:
            return c
        if c.isdigit():
            raise self.fail(backslash, f"expected \\d, \\w, \\s or an escaped metacharacter: backreferences such as \\{c} are not supported")
        raise self.fail(backslash, f"expected \\d, \\w, \\s or an escaped metacharacter: \\{c} is not supported")

    def bracket(self, start: int) -> str:
        negated = False
        if self.peek() == "^":
            negated = True
            self.i += 1
        ranges: list[tuple[int, int]] = []
        first = True
        while True:
            if self.i >= len(self.s):
                raise self.fail(self.i, f"expected ']' to close the class at position {self.pos(start)}")
            c = self.s[self.i]
            if c == "]" and not first:
                self.i += 1
                break
            first = False
            item_start = self.i
            if c == "[" and self.i + 1 < len(self.s) and self.s[self.i + 1] in ":.=":
                raise self.fail(self.i, "expected a character or range: POSIX classes such as [:alpha:] are not supported (write \\[ for a literal [)")
            low = self.class_char()
            if isinstance(low, tuple):
                ranges.extend(low)
                continue
            if self.peek() == "-" and self.i + 1 < len(self.s) and self.s[self.i + 1] != "]":
                self.i += 1
                high_start = self.i
                high = self.class_char()
                if isinstance(high, tuple):
                    raise self.fail(high_start, "expected a character to end the range, not a class such as \\d")
                if ord(high) < ord(low):
                    raise self.fail(item_start, f"expected a range in order (low-high), found {low}-{high}")
                ranges.append((ord(low), ord(high)))
            else:
                ranges.append((ord(low), ord(low)))
        return _class(tuple(ranges), negated)

    def class_char(self) -> str | Ranges:
        c = self.s[self.i]
        if c == "\\":
            backslash = self.i
            self.i += 1
            return self.escape(backslash)
        self.i += 1
        return c


def _compile_regex(token: _Token) -> Pattern:
    translated = _RegexParser(token).parse()
    return Pattern(token.text, translated, translated, re.compile(translated, re.DOTALL))
