"""Which group paths users should have (R10, D3, D17): every licensing group they reach through
(nested) membership, each of its products, with the group license's disabled plans.

`desired_group_paths` computes this in SQL from the stored membership graph plus an optional
`Overlay` of edges a change would add or remove and group licenses it would set — so a dry run
sees the graph as the change would leave it without writing it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

GroupPathKey = tuple[uuid.UUID, uuid.UUID]  # (product, licensing group)


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


REACH_SQL = """
WITH RECURSIVE
group_edges AS (
    SELECT e.group_id, e.member_group_id FROM group_group_members e
    WHERE e.tenant_id = :t
      AND NOT (e.group_id, e.member_group_id) IN (SELECT * FROM unnest(CAST(:rg_parent AS uuid[]), CAST(:rg_child AS uuid[])))
    UNION ALL
    SELECT * FROM unnest(CAST(:ag_parent AS uuid[]), CAST(:ag_child AS uuid[]))
),
user_edges AS (
    SELECT m.group_id, m.user_id FROM group_user_members m
    WHERE m.tenant_id = :t AND m.user_id = ANY(CAST(:users AS uuid[]))
      AND NOT (m.group_id, m.user_id) IN (SELECT * FROM unnest(CAST(:ru_group AS uuid[]), CAST(:ru_user AS uuid[])))
    UNION ALL
    SELECT * FROM unnest(CAST(:au_group AS uuid[]), CAST(:au_user AS uuid[]))
),
reach (user_id, group_id) AS (
    SELECT ue.user_id, ue.group_id FROM user_edges ue WHERE NOT ue.group_id = ANY(CAST(:gone AS uuid[]))
    UNION
    SELECT r.user_id, ge.group_id FROM reach r JOIN group_edges ge ON ge.member_group_id = r.group_id
    WHERE NOT ge.group_id = ANY(CAST(:gone AS uuid[]))
)
SELECT r.user_id, gl.group_id, gl.product_id, gl.disabled_plan_ids
FROM reach r
JOIN group_licenses gl ON gl.tenant_id = :t AND gl.group_id = r.group_id
WHERE NOT gl.group_id = ANY(CAST(:overridden AS uuid[]))
"""

REACH_GROUPS_SQL = REACH_SQL.split("SELECT r.user_id, gl.group_id")[0] + """
SELECT r.user_id, r.group_id FROM reach r WHERE r.group_id = ANY(CAST(:licensed AS uuid[]))
"""


def _params(tenant_id: str, users: list[uuid.UUID], overlay: Overlay) -> dict[str, object]:
    ag_parent, ag_child = _pairs(overlay.add_group_edges)
    rg_parent, rg_child = _pairs(overlay.remove_group_edges)
    au_group, au_user = _pairs(overlay.add_user_edges)
    ru_group, ru_user = _pairs(overlay.remove_user_edges)
    return {
        "t": tenant_id, "users": users, "ag_parent": ag_parent, "ag_child": ag_child, "rg_parent": rg_parent,
        "rg_child": rg_child, "au_group": au_group, "au_user": au_user, "ru_group": ru_group, "ru_user": ru_user,
        "gone": list(overlay.removed_groups), "overridden": list(overlay.group_licenses),
    }


async def desired_group_paths(
    conn: AsyncConnection, tenant_id: str, user_ids: Iterable[uuid.UUID], overlay: Overlay | None = None
) -> dict[uuid.UUID, dict[GroupPathKey, frozenset[uuid.UUID]]]:
    """For each user: {(product, licensing group): disabled plans} after the overlay is applied."""
    overlay = overlay or Overlay()
    users = sorted(set(user_ids))
    result: dict[uuid.UUID, dict[GroupPathKey, frozenset[uuid.UUID]]] = {u: {} for u in users}
    if not users:
        return result
    params = _params(tenant_id, users, overlay)
    for row in await conn.execute(text(REACH_SQL), params):
        result[row.user_id][(row.product_id, row.group_id)] = frozenset(row.disabled_plan_ids or ())
    if overlay.group_licenses:
        licensed = list(overlay.group_licenses)
        rows = await conn.execute(text(REACH_GROUPS_SQL), {**params, "licensed": licensed})
        for row in rows:
            for product_id, disabled in overlay.group_licenses[row.group_id].items():
                result[row.user_id][(product_id, row.group_id)] = disabled
    return result


async def users_reached_by(
    conn: AsyncConnection, tenant_id: str, group_ids: Iterable[uuid.UUID], user_ids: Iterable[uuid.UUID] = ()
) -> list[uuid.UUID]:
    """Users reached through these groups (and their nested groups), plus `user_ids`."""
    groups = sorted(set(group_ids))
    found = set(user_ids)
    if groups:
        rows = await conn.execute(
            text(
                """
                WITH RECURSIVE sub(id) AS (
                    SELECT unnest(CAST(:g AS uuid[]))
                    UNION
                    SELECT e.member_group_id FROM group_group_members e JOIN sub ON e.group_id = sub.id WHERE e.tenant_id = :t
                )
                SELECT DISTINCT m.user_id FROM group_user_members m JOIN sub ON m.group_id = sub.id WHERE m.tenant_id = :t
                """
            ),
            {"t": tenant_id, "g": groups},
        )
        found.update(r[0] for r in rows)
    return sorted(found)
