"""Which documents are answered by the snapshot's first statement alone (the caller with the
tenant's pool: `db.repo.reads.caller_and_pool`), so that the request needs no explicit
transaction: one statement is its own snapshot, and BEGIN and ROLLBACK are two round trips of
three (the Licenses page).

A document qualifies when it is one query operation that selects nothing but the fields listed
here, whose resolvers read only the actor, the catalog and the tenant's pool (`Loaders.ready_pool`)
— never a statement of their own. Anything else (another field, a second operation, a document
not yet validated) is read the usual way, in a REPEATABLE READ transaction. Should a listed field
still ask for a second statement, the context refuses it (`gql.context.OneStatementOnly`) rather
than read outside the caller's snapshot. A pure function of the document's text and the schema,
so the answer is kept per text (a bounded cache; not state another replica could disagree with).
"""

from __future__ import annotations

from collections import OrderedDict

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    get_named_type,
)

# type -> the fields that resolve from the actor, the catalog and the tenant's pool alone
POOL_ONLY_FIELDS: dict[str, frozenset[str]] = {
    "Query": frozenset({"products", "subscriptions"}),
    "Product": frozenset({
        "id", "skuId", "skuPartNumber", "displayName", "servicePlans", "totalUnits", "consumedUnits", "availableUnits",
        "prepaidUnits", "subscriptions",
    }),
    "ServicePlan": frozenset({"id", "servicePlanId", "servicePlanName", "displayName"}),
    "PrepaidUnits": frozenset({"enabled", "warning", "suspended"}),
    "Subscription": frozenset({
        "id", "quantity", "status", "isTrial", "isSelfService", "startsAt", "currentTermEndsAt", "recurringBilling",
        "cancellationWindowEndsAt", "canCancel", "product",
    }),
}
_KEPT = 512


class OneStatementDocuments:
    """Per document text: is it answered by the caller-and-pool statement alone?"""

    def __init__(self, schema: GraphQLSchema) -> None:
        self.schema = schema
        self._answers: OrderedDict[str, bool] = OrderedDict()

    def answers_from_pool(self, query: str, document: DocumentNode | None) -> bool:
        """`document`: the parsed and validated document of `query`, or None when it has not been
        validated yet (then no)."""
        found = self._answers.get(query)
        if found is not None:
            return found
        if document is None:
            return False
        found = self._answers[query] = pool_only(self.schema, document)
        if len(self._answers) > _KEPT:
            self._answers.popitem(last=False)
        return found


def pool_only(schema: GraphQLSchema, document: DocumentNode) -> bool:
    """One query operation selecting only `POOL_ONLY_FIELDS` (and `__typename`)."""
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if len(operations) != 1 or operations[0].operation is not OperationType.QUERY:
        return False
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    query_type = schema.query_type
    return query_type is not None and _selects_pool_only(schema, query_type, operations[0].selection_set, fragments, set())


def _selects_pool_only(
    schema: GraphQLSchema, parent: GraphQLObjectType, selection_set: SelectionSetNode | None,
    fragments: dict[str, FragmentDefinitionNode], visiting: set[str],
) -> bool:
    if selection_set is None:
        return True
    allowed = POOL_ONLY_FIELDS.get(parent.name, frozenset())
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            name = selection.name.value
            if name == "__typename":
                continue
            if name not in allowed or selection.arguments:
                return False
            field = parent.fields.get(name)
            if field is None:
                return False
            named = get_named_type(field.type)
            if isinstance(named, GraphQLObjectType):
                if not _selects_pool_only(schema, named, selection.selection_set, fragments, visiting):
                    return False
            elif selection.selection_set is not None:
                return False  # interfaces and unions are not on the list
        elif isinstance(selection, InlineFragmentNode):
            if selection.type_condition is not None and selection.type_condition.name.value != parent.name:
                return False
            if not _selects_pool_only(schema, parent, selection.selection_set, fragments, visiting):
                return False
        elif isinstance(selection, FragmentSpreadNode):
            fragment = fragments.get(selection.name.value)
            if fragment is None or fragment.type_condition.name.value != parent.name or selection.name.value in visiting:
                return False
            if not _selects_pool_only(schema, parent, fragment.selection_set, fragments, visiting | {selection.name.value}):
                return False
        else:
            return False
    return True
