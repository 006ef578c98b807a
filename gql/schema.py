"""The schema: Query, Mutation, and the abuse limits that are on by default (SPEC §6, D9, D21)."""

from __future__ import annotations

import logging
from typing import Any

import strawberry
from graphql import FieldNode, GraphQLError, InlineFragmentNode, OperationDefinitionNode, ValidationRule
from strawberry.extensions import (
    AddValidationRules,
    DisableIntrospection,
    MaskErrors,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    QueryDepthLimiter,
)
from strawberry.types import Info

from db.config import Settings
from gql.errors import PublicError
from gql.http import ExecutionStartedMarker
from gql.mutations import groups, licenses, subscriptions, tenant, users
from gql.queries import Query

log = logging.getLogger("licensing.graphql")

FIELDS = {**licenses.FIELDS, **users.FIELDS, **groups.FIELDS, **subscriptions.FIELDS, **tenant.FIELDS}


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(word.capitalize() for word in rest)


# Fields whose payload carries `changes`: each may change licenses or seats (D21).
LICENSE_CHANGING_FIELDS = frozenset(
    _camel(name) for name, (_resolver, payload, _permissions) in FIELDS.items() if "changes" in payload.__annotations__
)


def _mutation_type() -> type:
    namespace: dict[str, Any] = {
        name: strawberry.mutation(resolver=resolver, permission_classes=permissions)
        for name, (resolver, _payload, permissions) in FIELDS.items()
    }
    return strawberry.type(type("Mutation", (), namespace))


Mutation = _mutation_type()


class OneLicenseChangePerOperation(ValidationRule):
    """D21: at most one license-changing mutation field per operation, refused before anything runs."""

    def enter_operation_definition(self, node: OperationDefinitionNode, *_args: Any) -> None:
        if node.operation.value != "mutation":
            return
        names: list[str] = []

        def collect(selection_set: Any) -> None:
            for sel in selection_set.selections if selection_set else []:
                if isinstance(sel, FieldNode) and sel.name.value in LICENSE_CHANGING_FIELDS:
                    names.append(sel.name.value)
                elif isinstance(sel, InlineFragmentNode):
                    collect(sel.selection_set)
                elif hasattr(sel, "name") and sel.__class__.__name__ == "FragmentSpreadNode":
                    fragment = self.context.get_fragment(sel.name.value)
                    if fragment:
                        collect(fragment.selection_set)

        collect(node.selection_set)
        if len(names) > 1:
            self.report_error(
                GraphQLError(
                    f"One operation may contain at most one license-changing mutation; this one has {len(names)} "
                    f"({', '.join(names)}). Send them as separate requests.",
                    nodes=[node],
                    extensions={"code": "BAD_USER_INPUT"},
                )
            )


def should_mask(error: GraphQLError) -> bool:
    """Mask unexpected failures ("Unexpected error."); our own client-facing errors pass."""
    original = error.original_error
    if original is None or isinstance(original, PublicError):
        return False
    if isinstance(original, GraphQLError):
        return False
    # strawberry's permission errors and argument coercion errors are client-facing too
    if original.__class__.__name__ in {"PermissionError"} or getattr(error, "extensions", None):
        return not bool(error.extensions and error.extensions.get("code"))
    log.error("unexpected error in %s", error.path, exc_info=original)
    return True



def build_schema(settings: Settings, extra_extensions: list[Any] | None = None) -> strawberry.Schema:
    extensions: list[Any] = [
        lambda: QueryDepthLimiter(max_depth=settings.max_depth),
        lambda: MaxTokensLimiter(max_token_count=settings.max_tokens),
        lambda: MaxAliasesLimiter(max_alias_count=settings.max_aliases),
        lambda: AddValidationRules([OneLicenseChangePerOperation]),
        lambda: MaskErrors(should_mask_error=should_mask, error_message="Unexpected error."),
        ExecutionStartedMarker,
    ]
    if not settings.introspection:
        extensions.append(DisableIntrospection)
    extensions.extend(extra_extensions or [])
    return strawberry.Schema(query=Query, mutation=Mutation, extensions=extensions)


__all__ = ["Info", "build_schema"]
