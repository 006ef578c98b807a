"""graphql-core's executor with a short cut for plain sub-trees, same answers.

graphql-core completes every field of every object on its own: a path, a resolve info, the
resolver (Strawberry's wrapper around a `getattr`), the completion of the value — some 5 µs
per field. A users page with plans has thousands of such fields (every plan of every license),
and nearly all of them just read an attribute.

`PlainSubtrees` completes a value in one tight loop when everything selected below it is
*plain*: fields without arguments or directives whose value is an attribute of the object
(Strawberry's basic fields: no resolver, no permission classes, no extensions) or the result of
a synchronous resolver that takes only `self`; leaves coerced by their type, objects checked by
their `is_type_of`, lists of either. Such a sub-tree cannot start I/O and has nothing to check,
so its answer is a function of the object alone. Whenever anything is off the ordinary — a
null where the type is non-null, a leaf that does not coerce, a resolver that raises or returns
an awaitable, a value that is not a list or tuple where a list is expected, an object of the
wrong type — the short cut gives up and graphql-core completes the same value the usual way
(attribute reads and `self`-only resolvers are pure, so reading again changes nothing), with
its errors, paths and nulls exactly as before. Fields with permission classes (D22), arguments,
async resolvers or resolvers taking `info` are never plain.
"""

from __future__ import annotations

import inspect
from collections import OrderedDict
from collections.abc import Callable
from operator import attrgetter
from typing import Any

from graphql import (
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    is_leaf_type,
)
from graphql.execution.values import get_argument_values
from graphql.pyutils import Path, Undefined
from graphql.type.introspection import TypeNameMetaFieldDef
from strawberry.permission import PermissionExtension
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.schema.schema_converter import GraphQLCoreConverter
from strawberry.types.base import StrawberryMaybe, StrawberryOptional

Complete = Callable[[Any, Any], Any]  # (value, its path: None where nothing below needs one)
_BACKREF = GraphQLCoreConverter.DEFINITION_BACKREF
_MISSING = object()


class _Running:
    """The execution whose plain sub-tree is being completed: completion is synchronous, so one
    at a time. Shared completers (`PlainSubtrees._shared_completer`) take from here what is per
    execution: its resolve infos and its memo of completed objects."""

    __slots__ = ("context", "memo")

    def __init__(self) -> None:
        self.context: PlainSubtrees | None = None
        self.memo: dict[Any, dict[int, tuple[Any, Any]]] | None = None


_RUNNING = _Running()
# (return type, ids of the field nodes) -> (the nodes, the completer or None, the type)
_SHARED: OrderedDict[tuple[Any, tuple[int, ...]], tuple[tuple[Any, ...], Complete | None, Any]] = OrderedDict()
_SHARED_KEPT = 4096


class GiveUp(Exception):  # noqa: N818 - not an error: the usual completion takes over
    """The short cut does not apply to this value."""


def _attribute(python_name: str) -> Callable[[Any], Any]:
    return attrgetter(python_name)


def _settled(value: Any, is_awaitable: Callable[[Any], bool] = inspect.isawaitable) -> Any:
    """A resolver's value as it is; an awaitable one is not for this pass (GiveUp), and a
    coroutine that will never be awaited is closed."""
    if is_awaitable(value):
        if inspect.iscoroutine(value):
            value.close()
        raise GiveUp
    return value


def _self_resolver(func: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def run(source: Any) -> Any:
        return _settled(func(source))

    return run


def _typename(name: str) -> Callable[[Any], Any]:
    return lambda _source: name


def plain_getter(field_def: Any, parent_type: GraphQLObjectType) -> Callable[[Any], Any] | None:
    """How a plain field's value is read from its object, or None when the field is not plain."""
    if field_def is TypeNameMetaFieldDef:
        return _typename(parent_type.name)
    field = (field_def.extensions or {}).get(_BACKREF)
    if field is None or field.extensions or field_def.args:
        return None
    resolve = field_def.resolve
    if field.base_resolver is None:
        if getattr(resolve, "__name__", "") != "_get_basic_result" or field.default_resolver is not getattr:
            return None
        return _attribute(field.python_name)
    resolver = field.base_resolver
    if (
        field.is_async or resolver.is_async or resolver.arguments or resolver.info_parameter or resolver.root_parameter
        or resolver.parent_parameter or not resolver.self_parameter
    ):
        return None
    return _self_resolver(resolver.wrapped_func)


class PlainSubtrees(StrawberryGraphQLCoreExecutionContext):
    """Strawberry's execution context, completing plain sub-trees in one pass (see the module)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # (return type, id of the field details list) -> (that list, kept alive; its completer or None)
        self._plain: dict[tuple[Any, int], tuple[Any, Complete | None]] = {}
        self._memo: dict[Any, dict[int, tuple[Any, Any]]] = {}  # see _memoized
        middleware = self.middleware_manager
        self._no_middleware = middleware is None or not middleware.middlewares

    def complete_value(
        self, return_type: GraphQLOutputType, field_details_list: Any, info: Any, path: Any, result: Any,
        position_context: Any,
    ) -> Any:
        key = (return_type, id(field_details_list))
        found = self._plain.get(key)
        if found is None:
            found = self._plain[key] = (field_details_list, self._shared_completer(return_type, field_details_list))
        complete = found[1]
        if complete is not None:
            running = _RUNNING
            running.context, running.memo = self, self._memo
            try:
                return complete(result, path)
            except Exception:  # noqa: BLE001, S110 - GiveUp or anything unusual: the usual way decides
                pass
            finally:
                running.context = running.memo = None
        return super().complete_value(return_type, field_details_list, info, path, result, position_context)

    def _shared_completer(self, return_type: GraphQLOutputType, field_details_list: Any) -> Complete | None:
        """The completer of these fields, built once for every operation that selects them the
        same way: the same field nodes of a (cached) document, with no variables (a variable can
        change an argument or an @include). Completers take what is per execution from
        `_RUNNING`; otherwise they are a function of the nodes and the schema."""
        if getattr(self.variable_values, "coerced", self.variable_values):  # graphql-core 3.3: VariableValues
            return self._completer(return_type, field_details_list, top=True)
        nodes = tuple(details.node for details in field_details_list)
        key = (return_type, tuple(map(id, nodes)))
        found = _SHARED.get(key)
        if found is not None and all(a is b for a, b in zip(found[0], nodes)):
            return found[1]
        complete = self._completer(return_type, field_details_list, top=True)
        _SHARED[key] = (nodes, complete, return_type)  # the nodes and type kept: their ids stay theirs
        if len(_SHARED) > _SHARED_KEPT:
            _SHARED.popitem(last=False)
        return complete

    # ------------------------------------------------------------------ building completers

    def _completer(self, return_type: GraphQLOutputType, field_details_list: Any, *, top: bool = False) -> Complete | None:
        """A completer for values of `return_type` selected by `field_details_list`, or None when
        the selection is not plain. At the top only types that contain an object are worth it."""
        if not self._no_middleware:
            return None
        if top and not _has_object(return_type):
            return None
        if isinstance(return_type, GraphQLNonNull):
            inner = self._completer(return_type.of_type, field_details_list)
            return None if inner is None else _non_null(inner)
        if isinstance(return_type, GraphQLList):
            inner = self._completer(return_type.of_type, field_details_list)
            return None if inner is None else _list(inner)
        if is_leaf_type(return_type):
            return _leaf(return_type.coerce_output_value, self.is_awaitable)
        if isinstance(return_type, GraphQLObjectType):
            return self._object(return_type, field_details_list)
        return None  # interfaces and unions: their runtime type is resolved the usual way

    def _object(self, object_type: GraphQLObjectType, field_details_list: Any) -> Complete | None:
        for details in field_details_list:
            if getattr(details, "fragment_variable_values", None) is not None:
                return None
        grouped, new_defer_usages, *_ = self.collect_subfields(object_type, field_details_list)
        if new_defer_usages:
            return None
        fields: list[tuple[str, Callable[..., Any], Complete, bool]] = []
        only_attributes = True  # attributes (no resolver) of leaf types
        for response_name, sub_details in grouped.items():
            for details in sub_details:
                if details.node.directives or getattr(details, "defer_usage", None) is not None:
                    return None
            field_def = self.schema.get_field(object_type, sub_details[0].node.name.value)
            if field_def is None:
                return None
            complete = self._completer(field_def.type, sub_details)
            if complete is None:
                return None
            getter = plain_getter(field_def, object_type) if not sub_details[0].node.arguments else None
            if getter is not None:
                only_attributes = only_attributes and complete.is_leaf and _is_attribute(field_def)  # type: ignore[attr-defined]
                if complete.needs_path:  # type: ignore[attr-defined]
                    fields.append((response_name, _ignoring_path(getter), complete, True))
                else:
                    fields.append((response_name, getter, complete, False))
                continue
            only_attributes = False
            resolving = self._resolving(field_def, sub_details, object_type)
            if resolving is None:
                return None
            fields.append((response_name, resolving, complete, True))
        is_type_of = object_type.is_type_of
        if is_type_of is not None and inspect.iscoroutinefunction(is_type_of):
            return None
        complete_object = _object(tuple(fields), is_type_of, self.is_awaitable, object_type.name)
        # attributes and leaves only: a function of the object, which nothing changes during a query
        return _memoized(complete_object) if only_attributes else complete_object

    def _resolving(self, field_def: Any, field_details_list: Any, parent_type: GraphQLObjectType) -> Callable[..., Any] | None:
        """A field with a synchronous Strawberry resolver (permissions, `info`, scalar arguments):
        called as graphql-core calls it, with its resolve info and arguments; an awaitable result
        gives up (a coroutine not started is closed: nothing ran)."""
        resolve = field_def.resolve
        field = (field_def.extensions or {}).get(_BACKREF)
        if field is None or field.is_async or getattr(resolve, "__name__", "") != "_resolver":
            return None
        details = field_details_list[0]
        node = details.node
        args: dict[str, Any] = {}
        if field_def.args or node.arguments:
            try:
                args = get_argument_values(field_def, node, self.variable_values, None, self.hide_suggestions)
            except Exception:  # noqa: BLE001 - the usual way reports it, if the field is reached at all
                return None
            if any(value is not None and type(value) not in _PLAIN_LEAVES for value in args.values()):
                return None  # lists and input objects: fresh ones for every call, the usual way
        nodes = [d.node for d in field_details_list]
        is_awaitable = self.is_awaitable
        running = _RUNNING

        def build_info(*args: Any) -> Any:
            return running.context.build_resolve_info(*args)  # type: ignore[union-attr]
        direct = self._direct_call(field, args)
        if direct is not None:
            call = direct

            def get_direct(source: Any, path: Any) -> Any:
                return _settled(call(source, build_info(field_def, nodes, parent_type, path)), is_awaitable)

            return get_direct

        def get(source: Any, path: Any) -> Any:
            return _settled(resolve(source, build_info(field_def, nodes, parent_type, path), **args), is_awaitable)

        return get


    def _direct_call(self, field: Any, args: dict[str, Any]) -> Callable[[Any, Any], Any] | None:
        """For a resolver without field extensions whose arguments are plain scalars, or one whose
        only extension is its permission classes and that takes no arguments: what Strawberry's
        wrapper would do (each permission asked, giving up unless it says True; its Info,
        arguments by their Python names — converting an int, str, bool or float, or null, leaves
        it as it is — `self`, `root`/`parent`, `info`), without building the wrapper's chain on
        every call."""
        resolver = field.base_resolver
        strawberry_schema = getattr(self.schema, "_strawberry_schema", None)
        permissions = _permissions_only(field)
        if permissions is None or resolver is None or resolver.is_async or strawberry_schema is None:
            return None
        if permissions and field.arguments:
            return None
        if getattr(strawberry_schema, "exception_handlers", ()):  # the wrapper would apply them
            return None
        if not all(_unconverted(argument.type) for argument in field.arguments):
            return None
        config = strawberry_schema.config
        given = {}
        for argument in field.arguments:
            name = config.name_converter.from_argument(argument)
            if name in args:
                given[argument.python_name] = args[name]
        func, info_class = resolver.wrapped_func, config.info_class
        if not callable(func):
            return None
        takes_self = resolver.self_parameter is not None
        source_names = [p.name for p in (resolver.parent_parameter, resolver.root_parameter) if p is not None]
        info_name = resolver.info_parameter.name if resolver.info_parameter is not None else None

        def call(source: Any, raw_info: Any) -> Any:
            kwargs = dict(given)
            for name in source_names:
                kwargs[name] = source
            if info_name is not None or permissions:
                info = info_class(_raw_info=raw_info, _field=field)
                for permission in permissions:
                    if permission.has_permission(source, info) is not True:
                        raise GiveUp  # refused (or not a plain yes): the usual way says so
                if info_name is not None:
                    kwargs[info_name] = info
            return func(source, **kwargs) if takes_self else func(**kwargs)

        return call


def _permissions_only(field: Any) -> tuple[Any, ...] | None:
    """The permission classes of a field whose only extension is Strawberry's permission check
    (`permission_classes=`: D22), checked synchronously and failing loudly; () for a field
    without extensions; None for anything else. `_direct_call` asks them as Strawberry's
    extension would (`has_permission(source, info)`), and gives up unless each says True."""
    if not field.extensions:
        return ()
    if len(field.extensions) != 1 or type(field.extensions[0]) is not PermissionExtension:
        return None
    extension = field.extensions[0]
    if extension.fail_silently or not extension.supports_sync:
        return None
    return tuple(extension.permissions)


def _unconverted(type_: Any) -> bool:
    """An argument type whose values Strawberry passes on as graphql-core coerced them."""
    if isinstance(type_, StrawberryMaybe):
        return False
    if isinstance(type_, StrawberryOptional):
        type_ = type_.of_type
    return type_ in _PLAIN_LEAVES


def _is_attribute(field_def: Any) -> bool:
    if field_def is TypeNameMetaFieldDef:
        return True
    field = (field_def.extensions or {}).get(_BACKREF)
    return field is not None and field.base_resolver is None


def _has_object(return_type: Any) -> bool:
    while isinstance(return_type, (GraphQLNonNull, GraphQLList)):
        return_type = return_type.of_type
    return isinstance(return_type, GraphQLObjectType)


def _ignoring_path(get: Callable[[Any], Any]) -> Callable[[Any, Any], Any]:
    return lambda source, _path: get(source)


def _non_null(inner: Complete) -> Complete:
    def complete(value: Any, path: Any) -> Any:
        completed = inner(value, path)
        if completed is None:
            raise GiveUp
        return completed

    complete.needs_path = inner.needs_path  # type: ignore[attr-defined]
    complete.is_leaf = inner.is_leaf  # type: ignore[attr-defined]
    return complete


def _memoized(inner: Complete) -> Complete:
    """An object of attributes and leaves, completed once per object in the operation: a users
    page with plans names the same few dozen plans two thousand times. The object is kept with
    its answer, so its id is not reused while the operation runs (the answers are the running
    operation's: `_RUNNING.memo`)."""

    def complete(value: Any, path: Any) -> Any:
        memo = _RUNNING.memo
        done = memo.get(complete)  # type: ignore[union-attr]
        if done is None:
            done = memo[complete] = {}  # type: ignore[index]
        found = done.get(id(value))
        if found is not None and found[0] is value:
            return found[1]
        completed = inner(value, path)
        if completed is not None:
            done[id(value)] = (value, completed)
        return completed

    complete.needs_path = False  # type: ignore[attr-defined]
    complete.is_leaf = False  # type: ignore[attr-defined]
    return complete


def _list(inner: Complete) -> Complete:
    if inner.needs_path:  # type: ignore[attr-defined]

        def complete(value: Any, path: Any) -> Any:
            if value is None or value is Undefined:
                return None
            if type(value) is not list and type(value) is not tuple:
                raise GiveUp
            return [inner(item, path.add_key(index, None)) for index, item in enumerate(value)]

        complete.needs_path = True  # type: ignore[attr-defined]
        complete.is_leaf = False  # type: ignore[attr-defined]
        return complete

    def complete_unpathed(value: Any, _path: Any) -> Any:
        if value is None or value is Undefined:
            return None
        if type(value) is not list and type(value) is not tuple:
            raise GiveUp
        return [inner(item, None) for item in value]

    complete_unpathed.needs_path = False  # type: ignore[attr-defined]
    complete_unpathed.is_leaf = False  # type: ignore[attr-defined]
    return complete_unpathed


_PLAIN_LEAVES = (str, int, bool, float)


def _leaf(coerce: Callable[[Any], Any], is_awaitable: Callable[[Any], bool]) -> Complete:
    def complete(value: Any, _path: Any) -> Any:
        if value is None or value is Undefined:
            return None
        if type(value) not in _PLAIN_LEAVES and (isinstance(value, Exception) or is_awaitable(value)):
            raise GiveUp
        coerced = coerce(value)
        if coerced is None or coerced is Undefined:
            raise GiveUp
        return coerced

    complete.needs_path = False  # type: ignore[attr-defined]
    complete.is_leaf = True  # type: ignore[attr-defined]
    return complete


def _object(
    fields: tuple[tuple[str, Callable[..., Any], Complete, bool], ...], is_type_of: Any,
    is_awaitable: Callable[[Any], bool], type_name: str,
) -> Complete:
    def complete(value: Any, path: Any) -> Any:
        if value is None or value is Undefined:
            return None
        if is_type_of is not None:
            if is_type_of(value, None) is not True:
                raise GiveUp
        elif isinstance(value, Exception) or is_awaitable(value):
            raise GiveUp
        completed = {}
        for name, get, complete_field, pathed in fields:
            if pathed:
                field_path = Path(path, name, type_name)
                completed[name] = complete_field(get(value, field_path), field_path)
            else:
                completed[name] = complete_field(get(value), None)
        return completed

    complete.needs_path = any(pathed for *_, pathed in fields)  # type: ignore[attr-defined]
    complete.is_leaf = False  # type: ignore[attr-defined]
    return complete
