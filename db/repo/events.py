"""License events (R25–R27) in SQL: staged keys, the set-based append, reads, retention.

An engine decision stages the (user, product) pairs whose outcome it altered in `ev_keys` —
with whether the user held a seat before and the groups whose path it created, changed or
ended — after its writes, and `append` turns every staged pair into one event holding the
state after the change, read back from `user_licenses` and `license_paths` in one INSERT …
SELECT. A group batch appends its events from its own staged rows instead
(`db.repo.group_batch.APPEND_EVENTS`). Numbers
come from `tenants.event_seq` (UPDATE … RETURNING: the row lock is held to commit, so numbers
follow commit order within a tenant). Committed appends are announced with
`pg_notify('license_events', '<tenant>:<last seq>')`, and pool changes with
`pg_notify('license_seats', '<tenant>:<product>,…')`: cursors and ids only, never bodies.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from db.models import DIRECT
from db.repo.paging import encode_cursor

EVENTS_CHANNEL = "license_events"
SEATS_CHANNEL = "license_seats"

KEYS = (
    "DROP TABLE IF EXISTS pg_temp.ev_keys",
    """CREATE TEMP TABLE ev_keys (
        user_id uuid NOT NULL, product_id uuid NOT NULL, held_before boolean NOT NULL, group_ids uuid[] NOT NULL,
        PRIMARY KEY (user_id, product_id)
    ) ON COMMIT DROP""",
)

ADD_KEYS = """
INSERT INTO ev_keys (user_id, product_id, held_before, group_ids)
SELECT k.user_id, k.product_id, k.held, coalesce(
    (SELECT array_agg(DISTINCT g) FROM unnest(string_to_array(k.groups, ',')::uuid[]) g WHERE g <> :direct), '{}')
FROM unnest(CAST(:users AS uuid[]), CAST(:products AS uuid[]), CAST(:held AS boolean[]), CAST(:groups AS text[]))
     AS k(user_id, product_id, held, groups)
ON CONFLICT (user_id, product_id) DO UPDATE
SET held_before = ev_keys.held_before OR excluded.held_before,
    group_ids = ARRAY(SELECT DISTINCT unnest(ev_keys.group_ids || excluded.group_ids))
"""

# the licenses drawn from a self-service subscription (all of them end)
ADD_SELF_SERVICE_KEYS = """
INSERT INTO ev_keys (user_id, product_id, held_before, group_ids)
SELECT l.user_id, l.product_id, l.holds_seat, '{}' FROM user_licenses l
WHERE l.tenant_id = :t AND l.subscription_id = :s
ON CONFLICT (user_id, product_id) DO NOTHING
"""

# the licenses of the users with ids in a range, as just created (the seed): each key with the
# groups of its paths
ADD_LICENSE_KEYS = """
INSERT INTO ev_keys (user_id, product_id, held_before, group_ids)
SELECT l.user_id, l.product_id, false, coalesce(
    (SELECT array_agg(DISTINCT p.group_id) FROM license_paths p
     WHERE p.tenant_id = :t AND p.user_id = l.user_id AND p.product_id = l.product_id AND p.group_id <> :direct), '{}')
FROM user_licenses l
WHERE l.tenant_id = :t AND l.user_id BETWEEN :lo AND :hi
ON CONFLICT (user_id, product_id) DO NOTHING
"""

COUNT_KEYS = "SELECT count(*) FROM ev_keys"

# R25: the state after the change; ADDED / REMOVED by the seat (REMOVED also when no path is
# left), CHANGED otherwise (D26: a path that gets no seat is CHANGED).
APPEND = """
WITH base AS (
    UPDATE tenants SET event_seq = event_seq + :n WHERE id = :t RETURNING event_seq - :n AS first
),
k AS (  -- each key's user probed by primary key: ev_keys has no statistics, and planned as a
         -- join the 60 keys of a 20-user assignment hashed all of a 100,000-user tenant's users
         -- (49 ms of a 67 ms assignLicenses; probes: under 1 ms)
    SELECT k.*, u.user_principal_name, row_number() OVER (ORDER BY u.created_seq, k.user_id, k.product_id) AS rn
    FROM ev_keys k CROSS JOIN LATERAL (
        SELECT u.user_principal_name, u.created_seq FROM users u WHERE u.tenant_id = :t AND u.id = k.user_id OFFSET 0
    ) u
)
INSERT INTO license_events (tenant_id, seq, occurred_at, kind, user_id, user_principal_name, product_id, holds_seat,
                            paths, group_ids, actor, audit_id)
SELECT :t, base.first + k.rn, :now,
       CASE WHEN coalesce(l.holds_seat, false) AND NOT k.held_before THEN 'ADDED'
            WHEN k.held_before AND NOT coalesce(l.holds_seat, false) THEN 'REMOVED'
            WHEN p.paths IS NULL THEN 'REMOVED'
            ELSE 'CHANGED' END,
       k.user_id, k.user_principal_name, k.product_id, coalesce(l.holds_seat, false), coalesce(p.paths, '[]'::jsonb),
       k.group_ids, :actor, :audit
FROM k CROSS JOIN base
LEFT JOIN user_licenses l ON l.tenant_id = :t AND l.user_id = k.user_id AND l.product_id = k.product_id
LEFT JOIN LATERAL (
    SELECT jsonb_agg(jsonb_build_object(
               'g', CASE WHEN lp.group_id = :direct THEN NULL ELSE lp.group_id END,
               's', lp.state, 'c', lp.error_code, 'm', lp.error_message, 'd', to_jsonb(lp.disabled_plan_ids))
           ORDER BY lp.group_id) AS paths
    FROM license_paths lp
    WHERE lp.tenant_id = :t AND lp.user_id = k.user_id AND lp.product_id = k.product_id
) p ON true
"""


async def stage(conn: AsyncConnection) -> None:
    """A fresh `ev_keys` for the next store of this transaction."""
    for statement in KEYS:
        await conn.execute(text(statement))


async def add_keys(
    conn: AsyncConnection, keys: Iterable[tuple[uuid.UUID, uuid.UUID, bool, Iterable[uuid.UUID]]]
) -> None:
    """(user, product, held a seat before, groups whose path changed) of an engine decision."""
    users: list[uuid.UUID] = []
    products: list[uuid.UUID] = []
    held: list[bool] = []
    groups: list[str] = []
    for user_id, product_id, was_held, group_ids in keys:
        users.append(user_id)
        products.append(product_id)
        held.append(was_held)
        groups.append(",".join(str(g) for g in group_ids) or str(DIRECT))
    if users:
        await conn.execute(
            text(ADD_KEYS), {"users": users, "products": products, "held": held, "groups": groups, "direct": DIRECT}
        )


async def add_self_service_keys(conn: AsyncConnection, tenant_id: str, subscription_id: uuid.UUID) -> None:
    await conn.execute(text(ADD_SELF_SERVICE_KEYS), {"t": tenant_id, "s": subscription_id})


async def add_license_keys(conn: AsyncConnection, tenant_id: str, lo: uuid.UUID, hi: uuid.UUID) -> None:
    """Every license of the users with ids from `lo` to `hi`, as new (held no seat before)."""
    await conn.execute(text(ADD_LICENSE_KEYS), {"t": tenant_id, "lo": lo, "hi": hi, "direct": DIRECT})


async def staged(conn: AsyncConnection) -> int:
    """How many keys are staged."""
    return int((await conn.execute(text(COUNT_KEYS))).scalar_one())


async def append(conn: AsyncConnection, tenant_id: str, *, actor: str, audit_id: int | None, now: datetime) -> int:
    """One event per staged key (see the module docstring); returns how many. Announces them."""
    n = int((await conn.execute(text(COUNT_KEYS))).scalar_one())
    if not n:
        return 0
    await conn.execute(text(APPEND), {"n": n, "t": tenant_id, "now": now, "actor": actor, "audit": audit_id, "direct": DIRECT})
    await conn.execute(text("TRUNCATE ev_keys"))
    await notify_events(conn, tenant_id)
    return n


async def notify_events(conn: AsyncConnection, tenant_id: str) -> None:
    """New events of the tenant, up to its counter (sent at commit): '<tenant>:<last seq>'."""
    await conn.execute(
        text("SELECT pg_notify(:c, :t || ':' || (SELECT event_seq FROM tenants WHERE id = :t))"),
        {"c": EVENTS_CHANNEL, "t": tenant_id},
    )


async def notify_seats(conn: AsyncConnection, tenant_id: str, product_ids: Iterable[uuid.UUID]) -> None:
    """Pool figures of these products changed (sent at commit)."""
    ids = sorted({str(p) for p in product_ids})
    if ids:
        await conn.execute(text("SELECT pg_notify(:c, :p)"), {"c": SEATS_CHANNEL, "p": f"{tenant_id}:{','.join(ids)}"})


# ------------------------------------------------------------------------------------ reads


@dataclass(frozen=True, slots=True)
class EventPath:
    group_id: uuid.UUID | None  # None: direct
    state: str
    error_code: str | None
    error_message: str | None
    disabled_plan_ids: tuple[uuid.UUID, ...]


@dataclass(frozen=True, slots=True)
class EventRecord:
    seq: int
    occurred_at: datetime
    kind: str
    user_id: uuid.UUID
    user_principal_name: str
    product_id: uuid.UUID
    holds_seat: bool
    paths: tuple[EventPath, ...]
    actor: str
    audit_id: int | None

    @classmethod
    def from_row(cls, r: Any) -> EventRecord:
        paths = tuple(
            EventPath(
                uuid.UUID(p["g"]) if p.get("g") else None, p["s"], p.get("c"), p.get("m"),
                tuple(uuid.UUID(d) for d in (p.get("d") or ())),
            )
            for p in (r.paths or [])
        )
        return cls(r.seq, r.occurred_at, r.kind, r.user_id, r.user_principal_name, r.product_id, r.holds_seat, paths,
                   r.actor, r.audit_id)


@dataclass(frozen=True)
class EventFilter:
    user_id: uuid.UUID | None = None
    product_id: uuid.UUID | None = None
    group_id: uuid.UUID | None = None
    kinds: tuple[str, ...] = ()
    since: datetime | None = None
    until: datetime | None = None


COLUMNS = "seq, occurred_at, kind, user_id, user_principal_name, product_id, holds_seat, paths, actor, audit_id"


def _where(tenant_id: str, f: EventFilter, params: dict[str, Any]) -> str:
    params["t"] = tenant_id
    conds = ["tenant_id = :t"]
    if f.user_id is not None:
        conds.append("user_id = :user_id")
        params["user_id"] = f.user_id
    if f.product_id is not None:
        conds.append("product_id = :product_id")
        params["product_id"] = f.product_id
    if f.group_id is not None:
        conds.append("group_ids @> ARRAY[CAST(:group_id AS uuid)]")  # D29: its path created, changed or ended
        params["group_id"] = f.group_id
    if f.kinds:
        conds.append("kind = ANY(:kinds)")
        params["kinds"] = list(f.kinds)
    if f.since is not None:
        conds.append("occurred_at >= :since")
        params["since"] = f.since
    if f.until is not None:
        conds.append("occurred_at < :until")
        params["until"] = f.until
    return " AND ".join(conds)


async def page(
    conn: AsyncConnection, tenant_id: str, f: EventFilter, *, after: int | None, first: int, newest_first: bool = False
) -> list[EventRecord]:
    """`first` events after the cursor `after` (a seq), oldest first (or newest first)."""
    params: dict[str, Any] = {"n": first}
    where = _where(tenant_id, f, params)
    if after is not None:
        where += " AND seq " + ("<" if newest_first else ">") + " :after"
        params["after"] = after
    order = "DESC" if newest_first else "ASC"
    rows = await conn.execute(text(f"SELECT {COLUMNS} FROM license_events WHERE {where} ORDER BY seq {order} LIMIT :n"), params)
    return [EventRecord.from_row(r) for r in rows]


async def page_upto(
    conn: AsyncConnection, tenant_id: str, f: EventFilter, *, after: int, first: int
) -> tuple[list[EventRecord], int]:
    """`first` events after `after`, oldest first, and the tenant's newest seq, in one statement
    (one snapshot): when fewer than `first` come back, none up to that seq is left to read."""
    params: dict[str, Any] = {"n": first, "after": after}
    where = _where(tenant_id, f, params)
    rows = list(await conn.execute(text(
        f"SELECT m.upto, e.* FROM (SELECT coalesce(max(seq), 0) AS upto FROM license_events WHERE tenant_id = :t) m "
        f"LEFT JOIN LATERAL (SELECT {COLUMNS} FROM license_events WHERE {where} AND seq > :after ORDER BY seq LIMIT :n) e "
        "ON true ORDER BY e.seq"
    ), params))
    return [EventRecord.from_row(r) for r in rows if r.seq is not None], int(rows[0].upto)


async def count(conn: AsyncConnection, tenant_id: str, f: EventFilter) -> int:
    params: dict[str, Any] = {}
    where = _where(tenant_id, f, params)
    return int((await conn.execute(text(f"SELECT count(*) FROM license_events WHERE {where}"), params)).scalar_one())


async def count_between(conn: AsyncConnection, tenant_id: str, f: EventFilter, *, after: int, upto: int, limit: int) -> int:
    """How many events matching `f` have `after` < seq <= `upto`, counted no further than `limit`."""
    params: dict[str, Any] = {"after": after, "upto": upto, "n": limit}
    where = _where(tenant_id, f, params)
    sql = f"SELECT count(*) FROM (SELECT 1 FROM license_events WHERE {where} AND seq > :after AND seq <= :upto LIMIT :n) e"
    return int((await conn.execute(text(sql), params)).scalar_one())


async def by_seqs(conn: AsyncConnection, tenant_id: str, seqs: Sequence[int]) -> dict[int, EventRecord]:
    if not seqs:
        return {}
    rows = await conn.execute(
        text(f"SELECT {COLUMNS} FROM license_events WHERE tenant_id = :t AND seq = ANY(:s)"), {"t": tenant_id, "s": list(seqs)}
    )
    return {r.seq: EventRecord.from_row(r) for r in rows}


async def last_seq(conn: AsyncConnection, tenant_id: str) -> int:
    """The tenant's newest committed cursor (0: none yet)."""
    row = await conn.execute(text("SELECT coalesce(max(seq), 0) FROM license_events WHERE tenant_id = :t"), {"t": tenant_id})
    return int(row.scalar_one())


async def delete_older_than(conn: AsyncConnection, cutoff: datetime, *, limit: int = 50_000) -> int:
    """Retention (R26): delete up to `limit` events that occurred before `cutoff`."""
    result = await conn.execute(
        text(
            "DELETE FROM license_events WHERE ctid IN "
            "(SELECT ctid FROM license_events WHERE occurred_at < :cutoff LIMIT :limit)"
        ),
        {"cutoff": cutoff, "limit": limit},
    )
    return int(result.rowcount or 0)


CURSOR_TAG = "ev"


def event_cursor(seq: int) -> str:
    """An event's cursor, as GraphQL and webhook bodies give it (D33)."""
    return encode_cursor([CURSOR_TAG, seq])
