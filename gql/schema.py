"""The schema: Query, Mutation, SubscriptionRoot (R27), and the abuse limits that are on by default (SPEC §6, D9, D21)."""

from __future__ import annotations

import logging
from typing import Any

import strawberry
from graphql import FieldNode, GraphQLError, InlineFragmentNode, OperationDefinitionNode, ValidationRule
from strawberry.extensions import (
    DisableIntrospection,
    MaskErrors,
)
from strawberry.schema.config import StrawberryConfig
from strawberry.schema.name_converter import NameConverter
from strawberry.types import Info

from db.availability import is_database_unavailable
from db.config import Settings
from gql.documents import DocumentChecks
from gql.errors import DATABASE_UNAVAILABLE, DATABASE_UNAVAILABLE_MESSAGE
from gql.execution import PlainSubtrees
from gql.http import ExecutionStartedMarker
from gql.live import SubscriptionRoot
from gql.mutations import groups, licenses, subscriptions, tenant, users, webhooks
from gql.queries import Query

log = logging.getLogger("licensing.graphql")

FIELDS = {**licenses.FIELDS, **users.FIELDS, **groups.FIELDS, **subscriptions.FIELDS, **tenant.FIELDS, **webhooks.FIELDS}


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(word.capitalize() for word in rest)


# Fields that may change licenses or seats (D21): those whose payload carries `changes`, and
# inviteGuest, whose guest joins the dynamic groups its rule-matching (user.userType) gives.
LICENSE_CHANGING_FIELDS = frozenset(
    _camel(name) for name, (_resolver, payload, _permissions) in FIELDS.items() if "changes" in payload.__annotations__
) | {"inviteGuest"}


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


class MaskUnexpectedErrors(MaskErrors):
    """MaskErrors, except that losing the database is said as such (DATABASE_UNAVAILABLE):
    the client can try again, and the HTTP endpoint answers 503 with Retry-After."""

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        if not is_database_unavailable(error.original_error):
            return super().anonymise_error(error)
        return GraphQLError(
            DATABASE_UNAVAILABLE_MESSAGE,
            nodes=error.nodes,
            source=error.source,
            positions=error.positions,
            path=error.path,
            extensions={"code": DATABASE_UNAVAILABLE},
        )


def is_expected(error: GraphQLError) -> bool:
    """A refusal meant for the client: a document that does not parse or validate, a variable of
    the wrong type, a permission refusal, our PublicError. Anything else is a bug."""
    original = error.original_error
    if original is None or isinstance(original, GraphQLError):
        return True
    return bool(error.extensions and error.extensions.get("code"))


def should_mask(error: GraphQLError) -> bool:
    """Mask unexpected failures ("Unexpected error."); our own client-facing errors pass."""
    return not is_expected(error)


def log_error(error: GraphQLError) -> None:
    """One line for an expected refusal; the traceback only for an unexpected failure."""
    where = ".".join(str(key) for key in error.path) if error.path else "the request"
    if is_database_unavailable(error.original_error):
        log.warning("database unavailable in %s: %s", where, " ".join(str(error.original_error).split()))
    elif is_expected(error):
        code = (error.extensions or {}).get("code", "GRAPHQL_ERROR")
        log.info("refused %s (%s): %s", where, code, " ".join(error.message.split()))
    else:
        log.error("unexpected error in %s", where, exc_info=error.original_error)


class CachedNames(NameConverter):
    """Strawberry converts every argument's name (snake to camel case) on every resolution; the
    names are a handful, so each is converted once."""

    def __init__(self) -> None:
        super().__init__(auto_camel_case=True)
        self._names: dict[str, str] = {}

    def apply_naming_config(self, name: str) -> str:
        converted = self._names.get(name)
        if converted is None:
            converted = self._names[name] = super().apply_naming_config(name)
        return converted


class LicensingSchema(strawberry.Schema):
    document_checks: DocumentChecks  # the documents that passed validation, by text

    def process_errors(self, errors: list[GraphQLError], execution_context: Any = None) -> None:
        # Strawberry logs every error at ERROR with its traceback, refusals included.
        for error in errors:
            log_error(error)


def build_schema(settings: Settings, extra_extensions: list[Any] | None = None) -> LicensingSchema:
    checks = DocumentChecks(
        max_depth=settings.max_depth, max_aliases=settings.max_aliases, max_tokens=settings.max_tokens,
        rules=[OneLicenseChangePerOperation],
    )
    extensions: list[Any] = [
        checks.extension,
        lambda: MaskUnexpectedErrors(should_mask_error=should_mask, error_message="Unexpected error."),
        ExecutionStartedMarker,
    ]
    if not settings.introspection:
        extensions.append(DisableIntrospection)
    extensions.extend(extra_extensions or [])
    schema = LicensingSchema(
        query=Query, mutation=Mutation, subscription=SubscriptionRoot, extensions=extensions,
        config=StrawberryConfig(name_converter=CachedNames()), execution_context_class=PlainSubtrees,
    )
    schema.document_checks = checks
    return schema


__all__ = ["Info", "build_schema"]
