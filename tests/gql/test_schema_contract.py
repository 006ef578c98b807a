"""The public surface: every type, field, argument and enum value of the contract exists as written."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLUnionType,
    Undefined,
    ast_from_value,
    build_schema,
    print_ast,
)

from db.config import Settings
from gql.schema import build_schema as build_service_schema

CONTRACT = Path(__file__).with_name("schema-contract.graphql")
_KINDS = {
    GraphQLEnumType: GraphQLEnumType,
    GraphQLInputObjectType: GraphQLInputObjectType,
    GraphQLInterfaceType: GraphQLInterfaceType,
    GraphQLObjectType: GraphQLObjectType,
    GraphQLUnionType: GraphQLUnionType,
    GraphQLScalarType: GraphQLScalarType,
}


def _default(field: Any) -> str | None:
    """The default as SDL prints it (None when there is none)."""
    ast_default = getattr(getattr(field, "ast_node", None), "default_value", None)
    if ast_default is not None:
        return print_ast(ast_default)
    if field.default_value is Undefined:
        return None
    node = ast_from_value(field.default_value, field.type)
    return print_ast(node) if node else None


def contract_differences() -> list[str]:
    contract = build_schema(CONTRACT.read_text())
    ours = build_service_schema(Settings())._schema
    problems: list[str] = []
    for name, ctype in contract.type_map.items():
        if name.startswith("__"):
            continue
        otype = ours.type_map.get(name)
        if otype is None:
            problems.append(f"missing type {name}")
            continue
        if not isinstance(otype, _KINDS[type(ctype)]):
            problems.append(f"{name} is a {type(otype).__name__}, contract says {type(ctype).__name__}")
            continue
        if isinstance(ctype, GraphQLEnumType):
            missing = set(ctype.values) - set(otype.values)
            problems += [f"enum {name} lacks {v}" for v in sorted(missing)]
        if isinstance(ctype, GraphQLUnionType):
            if {t.name for t in ctype.types} - {t.name for t in otype.types}:
                problems.append(f"union {name} members differ")
        if isinstance(ctype, (GraphQLObjectType, GraphQLInterfaceType)):
            ifaces = {i.name for i in ctype.interfaces} - {i.name for i in otype.interfaces}
            problems += [f"{name} does not implement {i}" for i in sorted(ifaces)]
        if isinstance(ctype, (GraphQLObjectType, GraphQLInterfaceType, GraphQLInputObjectType)):
            for fname, cfield in ctype.fields.items():
                ofield = otype.fields.get(fname)
                if ofield is None:
                    problems.append(f"missing field {name}.{fname}")
                    continue
                if str(ofield.type) != str(cfield.type):
                    problems.append(f"{name}.{fname} is {ofield.type}, contract says {cfield.type}")
                if isinstance(ctype, GraphQLInputObjectType):
                    if _default(cfield) is not None and _default(cfield) != _default(ofield):
                        problems.append(f"{name}.{fname} defaults to {_default(ofield)}, contract says {_default(cfield)}")
                    continue
                for aname, carg in cfield.args.items():
                    oarg = ofield.args.get(aname)
                    if oarg is None:
                        problems.append(f"missing argument {name}.{fname}({aname})")
                    elif str(oarg.type) != str(carg.type):
                        problems.append(f"{name}.{fname}({aname}) is {oarg.type}, contract says {carg.type}")
                    elif _default(carg) is not None and _default(carg) != _default(oarg):
                        problems.append(f"{name}.{fname}({aname}) defaults to {_default(oarg)}, contract says {_default(carg)}")
                for aname, oarg in ofield.args.items():
                    if aname not in cfield.args and str(oarg.type).endswith("!") and oarg.default_value is None:
                        problems.append(f"{name}.{fname}({aname}) is a new required argument")
    return problems


def test_schema_has_every_contract_name_and_type() -> None:
    assert contract_differences() == []
