"""The membership graph as a change leaves it (R10, D3, D17).

An `Overlay` holds the edges a change would add or remove and the group licenses it would set;
db.group_bulk joins it onto the stored graph, so a dry run sees the graph as the change would
leave it without writing it.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass
class Overlay:
    """Changes a mutation makes to the graph or the group licenses, applied on top of the stored ones."""

    add_user_edges: list[tuple[uuid.UUID, uuid.UUID]] = field(default_factory=list)  # (group, user)
    remove_user_edges: list[tuple[uuid.UUID, uuid.UUID]] = field(default_factory=list)
    add_group_edges: list[tuple[uuid.UUID, uuid.UUID]] = field(default_factory=list)  # (group, member group)
    remove_group_edges: list[tuple[uuid.UUID, uuid.UUID]] = field(default_factory=list)
    removed_groups: list[uuid.UUID] = field(default_factory=list)
    # group licenses as the change leaves them, for these groups: {group: {product: disabled plans}}
    group_licenses: dict[uuid.UUID, dict[uuid.UUID, frozenset[uuid.UUID]]] = field(default_factory=dict)


def _pairs(pairs: Sequence[tuple[uuid.UUID, uuid.UUID]]) -> tuple[list[uuid.UUID], list[uuid.UUID]]:
    return [a for a, _ in pairs], [b for _, b in pairs]


def overlay_params(overlay: Overlay) -> dict[str, object]:
    """The overlay as the array parameters db.group_bulk takes."""
    ag_parent, ag_child = _pairs(overlay.add_group_edges)
    rg_parent, rg_child = _pairs(overlay.remove_group_edges)
    au_group, au_user = _pairs(overlay.add_user_edges)
    ru_group, ru_user = _pairs(overlay.remove_user_edges)
    return {
        "ag_parent": ag_parent, "ag_child": ag_child, "rg_parent": rg_parent,
        "rg_child": rg_child, "au_group": au_group, "au_user": au_user, "ru_group": ru_group, "ru_user": ru_user,
        "gone": list(overlay.removed_groups), "overridden": list(overlay.group_licenses),
    }
