"""gql.execution.PlainSubtrees answers exactly as Strawberry's own executor: the same data, the
same errors with the same paths and nulls, the same permission refusals — for plain sub-trees
and for everything that makes one not plain."""

from __future__ import annotations

import asyncio
import enum
from typing import Any

import pytest
import strawberry
from strawberry.permission import BasePermission

from gql.documents import DocumentChecks
from gql.execution import PlainSubtrees


@strawberry.enum
class Colour(enum.Enum):
    RED = "RED"
    BLUE = "BLUE"


@strawberry.interface
class Thing:
    id: strawberry.ID


class Never(BasePermission):
    message = "no"

    def has_permission(self, source: Any, info: Any, **kwargs: Any) -> bool:
        return False


@strawberry.type
class Leaf(Thing):
    name: str
    maybe: str | None
    colour: Colour
    number: int

    @strawberry.field
    def shout(self) -> str:
        return self.name.upper()

    @strawberry.field
    def broken(self) -> str:
        raise ValueError("broken resolver")

    @strawberry.field(permission_classes=[Never])
    def secret(self) -> str:
        return "secret"

    @strawberry.field
    def with_info(self, info: strawberry.Info) -> str:
        return f"{info.path.key}"

    @strawberry.field
    def with_arg(self, times: int = 2) -> str:
        return self.name * times

    @strawberry.field
    def where(self, info: strawberry.Info) -> str:
        return "/".join(str(key) for key in info.path.as_list())

    @strawberry.field
    def maybe_later(self, info: strawberry.Info) -> str:
        """Like User.licenses: a value when it is ready, else a coroutine graphql-core awaits."""
        if self.number % 2:
            return f"ready {self.name}"
        return self._later()  # type: ignore[return-value]

    async def _later(self) -> str:
        await asyncio.sleep(0)
        return f"later {self.name}"

    @strawberry.field
    async def later(self) -> str:
        await asyncio.sleep(0)
        return self.name


@strawberry.type
class Box:
    leaves: list[Leaf]
    maybe_leaves: list[Leaf | None] | None
    one: Leaf
    other: Leaf | None
    numbers: list[int]

    @strawberry.field
    def shouted(self) -> list[Leaf]:
        return [Leaf(id=strawberry.ID(f"s{leaf.id}"), name=leaf.name.upper(), maybe=None, colour=Colour.RED, number=0) for leaf in self.leaves]


def leaf(i: int, name: Any = None, number: Any = 1, colour: Any = Colour.BLUE) -> Leaf:
    return Leaf(id=strawberry.ID(str(i)), name=f"leaf {i}" if name is None else name, maybe=None, colour=colour, number=number)


BOXES: list[Any] = []


@strawberry.type
class Query:
    @strawberry.field
    def boxes(self) -> list[Box]:
        return BOXES

    @strawberry.field
    def box(self) -> Box:
        return BOXES[0]

    @strawberry.field
    def things(self) -> list[Thing]:
        return [b.one for b in BOXES]


def box(leaves: list[Any], **kw: Any) -> Box:
    values: dict[str, Any] = {"maybe_leaves": None, "one": leaf(100), "other": None, "numbers": [1, 2], **kw}
    return Box(leaves=leaves, **values)


PLAIN = strawberry.Schema(query=Query, execution_context_class=PlainSubtrees)
USUAL = strawberry.Schema(query=Query)
# documents kept as validated (as the service keeps them): the same nodes on every request, so
# completers are shared between operations
CHECKS = DocumentChecks(max_depth=20, max_aliases=20, max_tokens=2000, rules=[])
PLAIN_CACHED = strawberry.Schema(query=Query, execution_context_class=PlainSubtrees, extensions=[CHECKS.extension])


def _answer(schema: strawberry.Schema, query: str, variables: dict[str, Any] | None = None) -> Any:
    if query.startswith("query($t"):
        variables = {"t": 3}
    result = asyncio.run(schema.execute(query, variable_values=variables))
    errors = sorted(((e.message, tuple(e.path or ())) for e in result.errors or []), key=str)
    return result.data, errors


SAME, BAD = leaf(7), leaf(8, name=None)
GOOD = [box([leaf(1), leaf(2)], maybe_leaves=[leaf(3), None], other=leaf(4)), box([], numbers=[])]
CASES: list[tuple[str, Any]] = [
    ("{ boxes { leaves { id name maybe colour number } } }", GOOD),
    ("{ boxes { leaves { __typename id n: name name2: name } one { name } other { name } } }", GOOD),
    ("{ boxes { leaves { shout } maybeLeaves { name colour } numbers } }", GOOD),
    ("{ boxes { shouted { name } } }", GOOD),
    ("{ box { one { name ... on Leaf { number } } leaves { ...F } } } fragment F on Leaf { id colour }", GOOD),
    ("{ things { id ... on Leaf { name } } }", GOOD),
    # not plain: resolvers with info, arguments, async, permissions, directives
    ("{ boxes { leaves { name withInfo } } }", GOOD),
    ("{ boxes { leaves { withArg(times: 3) } } }", GOOD),
    ("query($t: Int!) { boxes { leaves { withArg(times: $t) w: withArg } } }", GOOD),
    ("{ boxes { leaves { where shout } maybeLeaves { where } one { where } } }", GOOD),
    ("{ boxes { leaves { maybeLater } } }", [box([leaf(1, number=1), leaf(2, number=3)])]),
    ("{ boxes { leaves { maybeLater } } }", [box([leaf(1, number=1), leaf(2, number=2)])]),
    ("{ boxes { leaves { name secret } one { secret } } }", GOOD),
    ("{ boxes { leaves { name later } } }", GOOD),
    ("{ boxes { leaves { name secret } } }", GOOD),
    ("{ boxes { leaves { name broken } } }", GOOD),
    ("{ boxes { leaves { name number @include(if: false) colour @skip(if: true) } } }", GOOD),
    # a value that breaks the rules: null in a non-null leaf, in a non-null object, a wrong type
    ("{ boxes { leaves { id name } } }", [box([leaf(1), leaf(2, name=None)])]),
    ("{ boxes { leaves { id number } } }", [box([leaf(1), leaf(2, number="x")])]),
    ("{ boxes { leaves { id number } } }", [box([leaf(1), leaf(2, number=2**40)])]),
    ("{ boxes { leaves { id colour } } }", [box([leaf(1), leaf(2, colour="GREEN")])]),
    ("{ boxes { leaves { id } } }", [box([leaf(1), None])]),
    ("{ boxes { maybeLeaves { id } } }", [box([], maybe_leaves=[None, leaf(5)])]),
    ("{ boxes { leaves { id } } }", [box([leaf(1), "not a leaf"])]),
    ("{ boxes { leaves { id } } }", [box(None)]),  # type: ignore[arg-type]
    ("{ boxes { leaves { id } } }", [box((leaf(1), leaf(2)))]),  # type: ignore[arg-type]
    ("{ boxes { leaves { id } } }", lambda: [box(iter([leaf(1)]))]),  # type: ignore[arg-type]  # read once
    ("{ boxes { leaves { id } } }", [box("leaves")]),  # type: ignore[arg-type]
    ("{ boxes { numbers } }", [box([], numbers=[1, None])]),
    ("{ boxes { one { id } } }", [box([], one=None)]),
    ("{ boxes { shouted { name } } }", [box([leaf(1, name=7)])]),
    # one object many times (completed once per operation), also where it fails
    ("{ boxes { leaves { id name } one { id name } } }", [box([SAME, SAME, leaf(2), SAME], one=SAME)]),
    ("{ boxes { leaves { id colour } } }", [box([SAME, SAME, None, SAME])]),
    ("{ boxes { maybeLeaves { name } } }", [box([], maybe_leaves=[SAME, None, SAME, BAD]), box([], maybe_leaves=[SAME])]),
]


@pytest.mark.parametrize(("query", "boxes"), CASES, ids=[q for q, _ in CASES])
def test_the_short_cut_answers_as_the_usual_executor(query: str, boxes: Any) -> None:
    BOXES[:] = boxes() if callable(boxes) else boxes
    usual = _answer(USUAL, query)
    BOXES[:] = boxes() if callable(boxes) else boxes
    assert _answer(PLAIN, query) == usual


def test_completers_shared_between_operations_of_one_document_answer_each_as_the_usual_executor() -> None:
    """Every case twice more on one kept document (its completers built by the first operation
    of that text, whichever case it was): each answer still is that of the usual executor for
    that case's data — nothing of one operation (memoised objects, resolve infos, paths) leaks
    into the next."""
    for query, boxes in CASES * 2:
        BOXES[:] = boxes() if callable(boxes) else boxes
        usual = _answer(USUAL, query)
        BOXES[:] = boxes() if callable(boxes) else boxes
        assert _answer(PLAIN_CACHED, query) == usual, query
    assert CHECKS.known(CASES[0][0]) is not None


def test_an_awaitable_in_a_plain_attribute_is_awaited_as_before() -> None:
    async def later() -> Leaf:
        return leaf(9)

    async def run(schema: strawberry.Schema) -> Any:
        BOXES[:] = [box([leaf(1)], other=later())]
        result = await schema.execute("{ boxes { other { name } } }")
        return result.data, result.errors

    assert asyncio.run(run(PLAIN)) == asyncio.run(run(USUAL)) == ({"boxes": [{"other": {"name": "leaf 9"}}]}, None)


def test_a_plain_sub_tree_is_completed_without_a_resolver_call_per_field(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    execute_field = PlainSubtrees.execute_field

    def counted(self: Any, parent_type: Any, *args: Any) -> Any:
        calls.append(parent_type.name)
        return execute_field(self, parent_type, *args)

    monkeypatch.setattr(PlainSubtrees, "execute_field", counted)
    BOXES[:] = [box([leaf(i) for i in range(20)])]
    data, errors = _answer(PLAIN, "{ boxes { leaves { id name colour shout } } }")
    assert errors == [] and len(data["boxes"][0]["leaves"]) == 20
    assert calls == ["Query"]  # `boxes`; every box and leaf below it in one pass
    calls.clear()
    data, errors = _answer(PLAIN, "{ boxes { leaves { where withArg(times: 1) maybeLater } } }")
    assert errors == [] and data["boxes"][0]["leaves"][3] == {"where": "boxes/0/leaves/3/where", "withArg": "leaf 3", "maybeLater": "ready leaf 3"}
    assert calls == ["Query"]  # synchronous resolvers with info and arguments too
