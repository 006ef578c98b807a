"""License paths, effective licenses and seat counters: the set-based reads and writes.

Bulk writes pass one array per column (unnest): one statement and a handful of parameters,
whether the change touches one path or 300,000. Every row is written for users read in the
same tenant under its license lock (D21); the tables carry no foreign keys (migration 0002).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

import engine
from db.models import DIRECT, LicensePath, User, UserLicense
from db.sql import any_uuid

LP = LicensePath.__table__
UL = UserLicense.__table__
U = User.__table__

PathKey = tuple[uuid.UUID, uuid.UUID, uuid.UUID]  # (user, product, group or DIRECT)
LicenseKey = tuple[uuid.UUID, uuid.UUID]  # (user, product)


@dataclass(frozen=True, slots=True)
class StoredPath:
    user_id: uuid.UUID
    product_id: uuid.UUID
    group_id: uuid.UUID
    disabled_plan_ids: frozenset[uuid.UUID]
    queue_seq: int
    state: str
    error_code: str | None
    error_message: str | None
    subscription_id: uuid.UUID | None
    updated_at: datetime

    @property
    def key(self) -> PathKey:
        return (self.user_id, self.product_id, self.group_id)


@dataclass(frozen=True)
class Facts:
    """What a license decision needs of its users, loaded in bulk."""

    users: dict[uuid.UUID, engine.UserFacts]
    paths: dict[PathKey, StoredPath]
    holders: set[LicenseKey]  # pool seats held now
    self_service_holders: dict[LicenseKey, uuid.UUID]  # seats drawn from a self-service subscription
    tenant_default_location: str | None


async def load_facts(conn: AsyncConnection, tenant_id: str, user_ids: Iterable[uuid.UUID]) -> Facts:
    ids = sorted(set(user_ids))
    users: dict[uuid.UUID, engine.UserFacts] = {}
    paths: dict[PathKey, StoredPath] = {}
    holders: set[LicenseKey] = set()
    self_service: dict[LicenseKey, uuid.UUID] = {}
    default = (await conn.execute(text("SELECT default_usage_location FROM tenants WHERE id = :t"), {"t": tenant_id})).scalar()
    if ids:
        for row in await conn.execute(
            select(U.c.id, U.c.usage_location, U.c.created_seq).where(U.c.tenant_id == tenant_id, U.c.id == any_uuid(ids))
        ):
            users[row.id] = engine.UserFacts(str(row.id), row.usage_location, row.created_seq)
        for row in await conn.execute(
            select(
                LP.c.user_id, LP.c.product_id, LP.c.group_id, LP.c.disabled_plan_ids, LP.c.queue_seq, LP.c.state,
                LP.c.error_code, LP.c.error_message, LP.c.subscription_id, LP.c.updated_at,
            ).where(LP.c.tenant_id == tenant_id, LP.c.user_id == any_uuid(ids))
        ):
            path = StoredPath(
                row.user_id, row.product_id, row.group_id, frozenset(row.disabled_plan_ids or ()), row.queue_seq,
                row.state, row.error_code, row.error_message, row.subscription_id, row.updated_at,
            )
            paths[path.key] = path
        for row in await conn.execute(
            select(UL.c.user_id, UL.c.product_id, UL.c.subscription_id).where(
                UL.c.tenant_id == tenant_id, UL.c.user_id == any_uuid(ids), UL.c.holds_seat
            )
        ):
            if row.subscription_id is None:
                holders.add((row.user_id, row.product_id))
            else:
                self_service[(row.user_id, row.product_id)] = row.subscription_id
    return Facts(users, paths, holders, self_service, default)


# ------------------------------------------------------------------------------------ writes

PATH_COLUMNS = ("user_id", "product_id", "group_id", "disabled", "queue_seq", "state", "error_code", "error_message", "subscription_id")
UPSERT_PATHS = """
INSERT INTO license_paths (tenant_id, user_id, product_id, group_id, disabled_plan_ids, queue_seq, state, error_code,
                           error_message, subscription_id, updated_at)
SELECT :t, r.user_id, r.product_id, r.group_id, CAST(r.disabled AS uuid[]), r.queue_seq, r.state, r.error_code,
       r.error_message, r.subscription_id, :now
FROM unnest(CAST(:user_id AS uuid[]), CAST(:product_id AS uuid[]), CAST(:group_id AS uuid[]), CAST(:disabled AS text[]),
            CAST(:queue_seq AS bigint[]), CAST(:state AS text[]), CAST(:error_code AS text[]), CAST(:error_message AS text[]),
            CAST(:subscription_id AS uuid[]))
     AS r(user_id, product_id, group_id, disabled, queue_seq, state, error_code, error_message, subscription_id)
ON CONFLICT (tenant_id, user_id, product_id, group_id) DO UPDATE SET
    disabled_plan_ids = EXCLUDED.disabled_plan_ids, state = EXCLUDED.state, error_code = EXCLUDED.error_code,
    error_message = EXCLUDED.error_message, updated_at = EXCLUDED.updated_at
"""
LICENSE_COLUMNS = ("user_id", "product_id", "holds_seat", "subscription_id")
UPSERT_LICENSES = """
INSERT INTO user_licenses (tenant_id, user_id, product_id, holds_seat, subscription_id, updated_at)
SELECT :t, r.user_id, r.product_id, r.holds_seat, r.subscription_id, :now
FROM unnest(CAST(:user_id AS uuid[]), CAST(:product_id AS uuid[]), CAST(:holds_seat AS boolean[]), CAST(:subscription_id AS uuid[]))
     AS r(user_id, product_id, holds_seat, subscription_id)
ON CONFLICT (tenant_id, user_id, product_id) DO UPDATE SET
    holds_seat = EXCLUDED.holds_seat, subscription_id = EXCLUDED.subscription_id, updated_at = EXCLUDED.updated_at
"""
ADD_CONSUMED = """
INSERT INTO product_pools (tenant_id, product_id, consumed)
SELECT :t, d.p, d.n FROM unnest(CAST(:p AS uuid[]), CAST(:n AS int[])) AS d(p, n) ORDER BY d.p
ON CONFLICT (tenant_id, product_id) DO UPDATE SET consumed = product_pools.consumed + EXCLUDED.consumed
"""
ADD_GROUP_COUNTS = """
UPDATE group_licenses gl SET active_count = gl.active_count + d.a, error_count = gl.error_count + d.e
FROM unnest(CAST(:g AS uuid[]), CAST(:p AS uuid[]), CAST(:a AS int[]), CAST(:e AS int[])) AS d(g, p, a, e)
WHERE gl.tenant_id = :t AND gl.group_id = d.g AND gl.product_id = d.p
"""


def _columns(rows: Sequence[Mapping[str, object]], names: tuple[str, ...]) -> dict[str, object]:
    return {name: [row[name] for row in rows] for name in names}


async def draw_places(conn: AsyncConnection, count: int) -> list[int]:
    """`count` new places in line (D2), increasing in the order returned."""
    rows = await conn.execute(text("SELECT nextval('order_seq') FROM generate_series(1, :n)"), {"n": count})
    return list(rows.scalars().all())


async def delete_paths(conn: AsyncConnection, tenant_id: str, keys: Sequence[PathKey]) -> None:
    if not keys:
        return
    await conn.execute(
        text(
            "DELETE FROM license_paths p USING unnest(CAST(:u AS uuid[]), CAST(:p AS uuid[]), CAST(:g AS uuid[])) AS r(u, p, g) "
            "WHERE p.tenant_id = :t AND p.user_id = r.u AND p.product_id = r.p AND p.group_id = r.g"
        ),
        {"t": tenant_id, "u": [k[0] for k in keys], "p": [k[1] for k in keys], "g": [k[2] for k in keys]},
    )


async def upsert_paths(conn: AsyncConnection, tenant_id: str, now: datetime, rows: Sequence[Mapping[str, object]]) -> None:
    """Rows of PATH_COLUMNS (`disabled` as a uuid[] literal); an existing path keeps its place in line."""
    if rows:
        await conn.execute(text(UPSERT_PATHS), {"t": tenant_id, "now": now, **_columns(rows, PATH_COLUMNS)})


async def delete_licenses(conn: AsyncConnection, tenant_id: str, keys: Sequence[LicenseKey]) -> None:
    if not keys:
        return
    await conn.execute(
        text(
            "DELETE FROM user_licenses l USING unnest(CAST(:u AS uuid[]), CAST(:p AS uuid[])) AS r(u, p) "
            "WHERE l.tenant_id = :t AND l.user_id = r.u AND l.product_id = r.p"
        ),
        {"t": tenant_id, "u": [k[0] for k in keys], "p": [k[1] for k in keys]},
    )


async def upsert_licenses(conn: AsyncConnection, tenant_id: str, now: datetime, rows: Sequence[Mapping[str, object]]) -> None:
    """Rows of LICENSE_COLUMNS."""
    if rows:
        await conn.execute(text(UPSERT_LICENSES), {"t": tenant_id, "now": now, **_columns(rows, LICENSE_COLUMNS)})


async def add_consumed(conn: AsyncConnection, tenant_id: str, deltas: Mapping[uuid.UUID, int]) -> None:
    """Move each product's pool counter by its delta (in product-id order, D21): the one writer
    of `product_pools.consumed`."""
    moves = sorted((p, n) for p, n in deltas.items() if n)
    if moves:
        await conn.execute(text(ADD_CONSUMED), {"t": tenant_id, "p": [p for p, _ in moves], "n": [n for _, n in moves]})


async def add_group_counts(
    conn: AsyncConnection, tenant_id: str, deltas: Mapping[tuple[uuid.UUID, uuid.UUID], tuple[int, int]]
) -> None:
    """Move the (active, error) member counters of group licenses, keyed (group, product)."""
    moves = sorted((k, v) for k, v in deltas.items() if v[0] or v[1])
    if moves:
        await conn.execute(
            text(ADD_GROUP_COUNTS),
            {
                "t": tenant_id, "g": [k[0] for k, _ in moves], "p": [k[1] for k, _ in moves],
                "a": [v[0] for _, v in moves], "e": [v[1] for _, v in moves],
            },
        )


# ------------------------------------------------------------------------------------ self-service seats


async def self_service_seats_used(conn: AsyncConnection, tenant_id: str, subscription_id: uuid.UUID) -> int:
    row = await conn.execute(
        select(func.count()).where(UL.c.tenant_id == tenant_id, UL.c.subscription_id == subscription_id, UL.c.holds_seat)
    )
    return int(row.scalar_one())


async def self_service_free(conn: AsyncConnection, tenant_id: str, products: Sequence[uuid.UUID]) -> dict[uuid.UUID, int]:
    """Unassigned self-service seats per product (named in COUNT_VIOLATION messages, D6)."""
    rows = await conn.execute(
        text(
            """
            SELECT s.product_id, sum(s.quantity) - coalesce(sum(u.used), 0) AS free
            FROM subscriptions s
            LEFT JOIN LATERAL (
                SELECT count(*) AS used FROM user_licenses l
                WHERE l.tenant_id = s.tenant_id AND l.subscription_id = s.id AND l.holds_seat
            ) u ON true
            WHERE s.tenant_id = :t AND s.is_self_service AND s.cancelled_at IS NULL AND s.product_id = ANY(:p)
            GROUP BY s.product_id
            """
        ),
        {"t": tenant_id, "p": list(products)},
    )
    return {r.product_id: int(r.free) for r in rows if r.free and r.free > 0}


async def take_over_seats(conn: AsyncConnection, tenant_id: str, subscription_id: uuid.UUID, product_id: uuid.UUID) -> int:
    """R3: licenses drawn from a self-service subscription join the pool when it is taken over."""
    moved = await conn.execute(
        update(UL)
        .where(UL.c.tenant_id == tenant_id, UL.c.subscription_id == subscription_id)
        .values(subscription_id=None)
        .returning(UL.c.holds_seat)
    )
    seats = sum(1 for (holds,) in moved if holds)
    await conn.execute(
        update(LP).where(LP.c.tenant_id == tenant_id, LP.c.subscription_id == subscription_id).values(subscription_id=None)
    )
    await add_consumed(conn, tenant_id, {product_id: seats})
    return seats


async def remove_self_service_licenses(
    conn: AsyncConnection, tenant_id: str, subscription_id: uuid.UUID, no_seat_message: str
) -> list[uuid.UUID]:
    """D23: licenses drawn from a self-service subscription that reached DELETED are removed:
    its paths, and the licenses left without a path. A license that keeps another path (the
    user is also in a group licensing the product) stays, without a seat and without the
    subscription, its paths waiting for a pool seat in their places in line (COUNT_VIOLATION,
    `no_seat_message`; the group counters follow): returns those users, to be judged for a seat
    now (a path never outlives its license row, and a path that waits holds no seat)."""
    await conn.execute(LP.delete().where(LP.c.tenant_id == tenant_id, LP.c.subscription_id == subscription_id))
    params = {"t": tenant_id, "s": subscription_id, "m": no_seat_message}
    kept = await conn.execute(
        text(
            "UPDATE user_licenses l SET subscription_id = NULL, holds_seat = false, updated_at = now() "
            "WHERE l.tenant_id = :t AND l.subscription_id = :s AND EXISTS (SELECT 1 FROM license_paths p "
            "WHERE p.tenant_id = l.tenant_id AND p.user_id = l.user_id AND p.product_id = l.product_id) "
            "RETURNING l.user_id, l.product_id"
        ),
        params,
    )
    pairs = [(r.user_id, r.product_id) for r in kept]
    if pairs:
        await conn.execute(
            text(
                """
                WITH parked AS (
                    UPDATE license_paths p SET state = 'ERROR', error_code = 'COUNT_VIOLATION', error_message = :m,
                                               updated_at = now()
                    FROM unnest(CAST(:u AS uuid[]), CAST(:p AS uuid[])) AS k(u, p)
                    WHERE p.tenant_id = :t AND p.user_id = k.u AND p.product_id = k.p AND p.state = 'ACTIVE'
                    RETURNING p.group_id, p.product_id
                )
                UPDATE group_licenses gl SET active_count = gl.active_count - c.n, error_count = gl.error_count + c.n
                FROM (SELECT group_id, product_id, count(*) AS n FROM parked GROUP BY group_id, product_id) c
                WHERE gl.tenant_id = :t AND gl.group_id = c.group_id AND gl.product_id = c.product_id
                """
            ),
            {**params, "u": [u for u, _ in pairs], "p": [p for _, p in pairs]},
        )
    await conn.execute(UL.delete().where(UL.c.tenant_id == tenant_id, UL.c.subscription_id == subscription_id))
    return sorted({u for u, _ in pairs})


# ------------------------------------------------------------------------------------ reads


async def paths_of_users(conn: AsyncConnection, tenant_id: str, user_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[Any]]:
    """Every path of these users (one statement, for the DataLoader)."""
    rows = await conn.execute(
        select(
            LP.c.user_id, LP.c.product_id, LP.c.group_id, LP.c.disabled_plan_ids, LP.c.state, LP.c.error_code,
            LP.c.error_message, LP.c.updated_at, LP.c.queue_seq,
        ).where(LP.c.tenant_id == tenant_id, LP.c.user_id == any_uuid(list(user_ids)))
    )
    result: dict[uuid.UUID, list[Any]] = {u: [] for u in user_ids}
    for r in rows:
        result[r.user_id].append(r)
    return result


async def seats_of_users(conn: AsyncConnection, tenant_id: str, user_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, set[uuid.UUID]]:
    """Products for which each user holds a seat."""
    rows = await conn.execute(
        select(UL.c.user_id, UL.c.product_id).where(UL.c.tenant_id == tenant_id, UL.c.user_id == any_uuid(list(user_ids)), UL.c.holds_seat)
    )
    result: dict[uuid.UUID, set[uuid.UUID]] = {u: set() for u in user_ids}
    for r in rows:
        result[r.user_id].add(r.product_id)
    return result


async def waiting_users(
    conn: AsyncConnection, tenant_id: str, product_ids: Sequence[uuid.UUID], limit: int, *,
    excluding: Iterable[uuid.UUID] = (),
) -> list[uuid.UUID]:
    """Users whose paths wait for a seat of these products, first in line first (R4, D2).
    `excluding` may be a whole batch: an anti-join, not a scan of the list per path."""
    rows = await conn.execute(
        text(
            "SELECT p.user_id, min(p.queue_seq) AS first FROM license_paths p "
            "WHERE p.tenant_id = :t AND p.product_id = ANY(CAST(:products AS uuid[])) AND p.state = 'ERROR' "
            "AND p.error_code = 'COUNT_VIOLATION' "
            "AND NOT EXISTS (SELECT FROM unnest(CAST(:skip AS uuid[])) AS s(id) WHERE s.id = p.user_id) "
            "GROUP BY p.user_id ORDER BY first LIMIT :limit"
        ),
        {"t": tenant_id, "products": list(product_ids), "skip": sorted(set(excluding)), "limit": limit},
    )
    return [r.user_id for r in rows]


async def users_relying_on_default_location(conn: AsyncConnection, tenant_id: str) -> list[uuid.UUID]:
    """Users without a usage location who have group paths (R8: the tenant default applies to them)."""
    rows = await conn.execute(
        text(
            "SELECT DISTINCT p.user_id FROM license_paths p JOIN users u ON u.tenant_id = p.tenant_id AND u.id = p.user_id "
            "WHERE p.tenant_id = :t AND p.group_id <> :direct AND u.usage_location IS NULL"
        ),
        {"t": tenant_id, "direct": DIRECT},
    )
    return [r[0] for r in rows]
