"""The public surface: every type, field, argument and enum value of the contract exists as written.

The contract's first part is checked whole. Its second part (SPEC §9–§12) is adopted issue by
issue: `ADOPTED` names what has been built of it so far, and only those names are checked; the
rest of the second part (still to be built) is skipped, and a test keeps `ADOPTED` true to the file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLSchema,
    GraphQLUnionType,
    Undefined,
    ast_from_value,
    build_schema,
    print_ast,
)

from db.config import Settings
from gql.schema import build_schema as build_service_schema

CONTRACT = Path(__file__).with_name("schema-contract.graphql")
SECOND_PART = "# ================================================================ second part"

# The names of the contract's second part built so far: a type with the fields (or enum values)
# it gains there, or None for a type new there, checked whole.
ADOPTED: dict[str, frozenset[str] | None] = {
    # the users' new fields (D31) and their license history (R26)
    "User": frozenset({"givenName", "surname", "employeeId", "externalId", "licenseHistory"}),
    "CreateUserInput": frozenset({"givenName", "surname", "employeeId"}),
    "UpdateUserInput": frozenset({"givenName", "surname", "employeeId", "mail"}),
    # dynamic groups (R22–R24)
    "ErrorCode": frozenset({"DYNAMIC_MEMBERSHIP"}),
    "GroupMembershipType": None,
    "Group": frozenset({"membershipType", "membershipRule"}),
    "CreateGroupInput": frozenset({"membershipRule"}),
    "GroupFilter": frozenset({"membershipType"}),
    "UpdateGroupInput": None,
    "MembershipChanges": None,
    "UpdateGroupPayload": None,
    "RuleError": None,
    "MembershipRulePreview": None,
    "Query": frozenset({"membershipRulePreview", "licenseEvents", "webhooks"}),
    # license events (R25, R26)
    "LicenseEventKind": None,
    "LicensePathSnapshot": None,
    "LicenseEvent": None,
    "LicenseEventConnection": None,
    "LicenseEventEdge": None,
    "LicenseEventFilter": None,
    "Mutation": frozenset({"updateGroup", "createWebhook", "updateWebhook", "deleteWebhook"}),
    # live updates (R27)
    "SubscriptionRoot": None,
    # webhooks (R28)
    "Webhook": None,
    "CreateWebhookInput": None,
    "CreateWebhookPayload": None,
    "UpdateWebhookInput": None,
    "WebhookPayload": None,
    "DeleteWebhookInput": None,
    "DeleteWebhookPayload": None,
}
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


def contract_parts() -> tuple[GraphQLSchema, GraphQLSchema]:
    """The first part alone, and the whole contract (the second part extends the first)."""
    text = CONTRACT.read_text()
    first, marker, _ = text.partition(SECOND_PART)
    assert marker, f"{CONTRACT.name} has no line starting {SECOND_PART!r}"
    return build_schema(first), build_schema(text)


def _members(t: GraphQLNamedType) -> set[str]:
    if isinstance(t, GraphQLEnumType):
        return set(t.values)
    if isinstance(t, (GraphQLObjectType, GraphQLInterfaceType, GraphQLInputObjectType)):
        return set(t.fields)
    return set()


def checked_members(first: GraphQLSchema, whole: GraphQLSchema) -> dict[str, set[str]]:
    """Contract type → the fields or enum values to check: the first part's and the adopted ones."""
    checked: dict[str, set[str]] = {}
    for name, ctype in whole.type_map.items():
        if name.startswith("__"):
            continue
        before = first.type_map.get(name)
        if before is not None:
            adopted = ADOPTED.get(name) or frozenset()
            checked[name] = _members(before) | (_members(ctype) & adopted)
        elif name in ADOPTED:
            checked[name] = _members(ctype)
    return checked


def contract_differences() -> list[str]:
    first, contract = contract_parts()
    checked = checked_members(first, contract)
    ours = build_service_schema(Settings())._schema
    problems: list[str] = []
    for name, ctype in contract.type_map.items():
        if name not in checked:
            continue  # a built-in, or a type of the second part not adopted yet
        otype = ours.type_map.get(name)
        if otype is None:
            problems.append(f"missing type {name}")
            continue
        if not isinstance(otype, _KINDS[type(ctype)]):
            problems.append(f"{name} is a {type(otype).__name__}, contract says {type(ctype).__name__}")
            continue
        if isinstance(ctype, GraphQLEnumType):
            missing = (set(ctype.values) & checked[name]) - set(otype.values)
            problems += [f"enum {name} lacks {v}" for v in sorted(missing)]
        if isinstance(ctype, GraphQLUnionType):
            if {t.name for t in ctype.types} - {t.name for t in otype.types}:
                problems.append(f"union {name} members differ")
        if isinstance(ctype, (GraphQLObjectType, GraphQLInterfaceType)):
            ifaces = {i.name for i in ctype.interfaces} - {i.name for i in otype.interfaces}
            problems += [f"{name} does not implement {i}" for i in sorted(ifaces)]
        if isinstance(ctype, (GraphQLObjectType, GraphQLInterfaceType, GraphQLInputObjectType)):
            for fname, cfield in ctype.fields.items():
                if fname not in checked[name]:
                    continue
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


def test_adopted_names_are_in_the_second_part_of_the_contract() -> None:
    """A misspelt or already-first-part name in ADOPTED would check nothing: refuse it."""
    first, whole = contract_parts()
    for name, members in ADOPTED.items():
        assert name in whole.type_map, f"ADOPTED names {name}, which the contract does not have"
        if members is None:
            assert name not in first.type_map, f"{name} is in the first part: name the fields it gains instead"
            continue
        assert name in first.type_map, f"{name} is new in the second part: adopt it whole (None)"
        gained = _members(whole.type_map[name]) - _members(first.type_map[name])
        assert members <= gained, f"{name}: {sorted(members - gained)} are not fields the second part adds"


def test_the_users_fields_are_checked_and_what_is_not_adopted_is_not() -> None:
    first, whole = contract_parts()
    checked = checked_members(first, whole)
    assert {"givenName", "surname", "employeeId", "externalId", "userPrincipalName"} <= checked["User"]
    assert {"givenName", "surname", "employeeId"} <= checked["CreateUserInput"]
    assert {"givenName", "surname", "employeeId", "mail"} <= checked["UpdateUserInput"]
    for name, ctype in whole.type_map.items():
        if name.startswith("__"):
            continue
        if name not in first.type_map:
            assert (name in checked) == (name in ADOPTED), name
        else:
            gained = _members(ctype) - _members(first.type_map[name])
            assert checked[name] & gained == gained & (ADOPTED.get(name) or frozenset()), name
