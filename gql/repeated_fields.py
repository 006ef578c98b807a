"""Documents that repeat a field many times (``{ viewer { tenant { id id id … } } }``).

graphql-core's OverlappingFieldsCanBeMerged rule compares every pair of fields with the same
response name, and gives up after ``MAX_COMPLEXITY_BUDGET`` (500,000) units of work with a bare
"Validation aborted.": a field repeated about 700 times in one selection set is enough. The
GraphQL spec merges identical selections anyway (CollectFields groups them under one response
key and their sub-selections are the same), so ``merge_repeated_selections`` (run by gql.documents) drops exact repeats of
a selection — same alias, name, arguments, directives and (already merged) sub-selections —
before validation: the document means the same, and validation sees each selection once.

Selections that share a response name without being identical still go through the full
check; when that runs out of budget, the error names the limit instead of "Validation
aborted.".
"""

from __future__ import annotations

import dataclasses
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    SelectionSetNode,
    print_ast,
)
from graphql.validation.rules.overlapping_fields_can_be_merged import MAX_COMPLEXITY_BUDGET

TOO_COMPLEX = (
    "The document is too complex to validate: it selects fields with the same name (or spreads "
    f"fragments) so many times that the check for conflicting fields ran past its limit of "
    f"{MAX_COMPLEXITY_BUDGET:,} comparisons, or it nests fragments too deeply. Select each field "
    "once per selection set (identical repeats are fine), and use aliases sparingly."
)


def _printed(nodes: Any) -> str:
    return " ".join(print_ast(node) for node in nodes or ())


def _merged(selection_set: SelectionSetNode) -> tuple[SelectionSetNode, tuple[Any, ...]]:
    """The selection set without exact repeats, and a key that identifies what it selects.

    Recursion follows the document's nesting, which graphql-core's parser bounds."""
    kept: list[Any] = []
    keys: list[Any] = []
    seen: set[Any] = set()
    changed = False
    selection: Any
    for selection in selection_set.selections:
        child_key: tuple[Any, ...] | None = None
        if getattr(selection, "selection_set", None) is not None:
            child, child_key = _merged(selection.selection_set)
            if child is not selection.selection_set:
                selection = dataclasses.replace(selection, selection_set=child)
                changed = True
        if isinstance(selection, FieldNode):
            alias = selection.alias.value if selection.alias else None
            key: Any = ("field", alias, selection.name.value, _printed(selection.arguments), _printed(selection.directives), child_key)
        elif isinstance(selection, InlineFragmentNode):
            condition = selection.type_condition.name.value if selection.type_condition else None
            key = ("inline", condition, _printed(selection.directives), child_key)
        elif isinstance(selection, FragmentSpreadNode):
            key = ("spread", selection.name.value, _printed(selection.directives))
        else:  # pragma: no cover - no other kind of selection exists
            key = ("other", id(selection))
        if key in seen:
            changed = True
            continue
        seen.add(key)
        kept.append(selection)
        keys.append(key)
    merged = dataclasses.replace(selection_set, selections=tuple(kept)) if changed else selection_set
    return merged, tuple(keys)


def merge_repeated_selections(document: DocumentNode) -> DocumentNode:
    """``document`` with exact repeats of a selection dropped (the same object if there are none)."""
    definitions = []
    changed = False
    definition: Any
    for definition in document.definitions:
        selection_set = getattr(definition, "selection_set", None)
        if selection_set is not None:
            merged, _ = _merged(selection_set)
            if merged is not selection_set:
                definition = dataclasses.replace(definition, selection_set=merged)
                changed = True
        definitions.append(definition)
    return dataclasses.replace(document, definitions=tuple(definitions)) if changed else document


def named_errors(errors: list[GraphQLError]) -> list[GraphQLError]:
    """Validation errors with "Validation aborted." replaced by one that names the limit."""
    return [_named(error) for error in errors]


def _named(error: GraphQLError) -> GraphQLError:
    if error.message != "Validation aborted.":
        return error
    return GraphQLError(TOO_COMPLEX, nodes=error.nodes, original_error=error.original_error)
