"""Checking GraphQL documents once: the abuse limits (SPEC §6, D9), the rule of one license
change per operation (D21), identical repeated fields merged, and a bounded cache of the
documents that passed, keyed by their text.

A document's validity depends only on its text and the schema, so a document seen before is
taken from the cache as parsed and validated: no parsing, no validation, on every later request
(it is not state another replica could disagree with). Documents that fail are not cached.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator, Sequence

from graphql import DocumentNode, GraphQLError, OperationDefinitionNode
from graphql.validation import ASTValidationRule
from strawberry.extensions import SchemaExtension
from strawberry.extensions.max_aliases import create_validator as alias_limit
from strawberry.extensions.query_depth_limiter import create_validator as depth_limit

from gql.repeated_fields import merge_repeated_selections, named_errors

CACHED_DOCUMENTS = 512


class DocumentChecks:
    """The checks of one schema and its cache of documents that passed them."""

    def __init__(self, *, max_depth: int, max_aliases: int, max_tokens: int, rules: Sequence[type[ASTValidationRule]]) -> None:
        self.rules: tuple[type[ASTValidationRule], ...] = (
            depth_limit(max_depth, None, None), alias_limit(max_aliases), *rules
        )
        self.max_tokens = max_tokens
        self.valid: OrderedDict[str, DocumentNode] = OrderedDict()

    def extension(self) -> CheckedDocuments:
        return CheckedDocuments(self)

    def remember(self, query: str, document: DocumentNode) -> None:
        self.valid[query] = document
        if len(self.valid) > CACHED_DOCUMENTS:
            self.valid.popitem(last=False)

    def known(self, query: str) -> DocumentNode | None:
        document = self.valid.get(query)
        if document is not None:
            self.valid.move_to_end(query)
        return document


class CheckedDocuments(SchemaExtension):
    def __init__(self, checks: DocumentChecks) -> None:
        self.checks = checks
        self.cached = False

    def on_operation(self) -> Iterator[None]:
        context = self.execution_context
        context.parse_options["max_tokens"] = self.checks.max_tokens  # a parse option: counted while parsing
        context.validation_rules = context.validation_rules + self.checks.rules
        yield

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        if context.graphql_document is None and context.query:
            document = self.checks.known(context.query)
            if document is not None:
                context.graphql_document = document
                self.cached = True
        yield

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        document = context.graphql_document
        # the name the request gave (`operation_name` falls back to the first operation's)
        provided = getattr(context, "_provided_operation_name", None)
        if (
            document is not None and provided is None
            and sum(isinstance(d, OperationDefinitionNode) for d in document.definitions) > 1
        ):
            # GraphQL's GetOperation: without a name nothing is chosen, nothing runs (a request
            # error; validation is skipped, the document is not cached)
            context.pre_execution_errors = [GraphQLError(
                "The document holds several operations: name the one to run with `operationName`."
            )]
            yield
            return
        if self.cached:
            context.pre_execution_errors = []  # validated when it was first seen
        elif context.graphql_document is not None:
            context.graphql_document = merge_repeated_selections(context.graphql_document)
        yield
        errors = context.pre_execution_errors
        if errors:
            errors[:] = named_errors(errors)  # in place: the result holds this list
        elif not self.cached and context.query and context.graphql_document is not None:
            self.checks.remember(context.query, context.graphql_document)


__all__ = ["DocumentChecks", "GraphQLError"]
