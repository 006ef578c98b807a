"""License changes: load the facts of the affected users in bulk, let the engine decide, write
the result in bulk — the one code path behind every license-affecting mutation, dry run or not.

A change is a `Proposal`: paths to create or edit, paths to end, and optionally new usage
locations. `decide()` evaluates the affected users as they are stored and as the proposal
would leave them; `apply()` writes paths, effective licenses, seat counters and group-license
counters. A dry run calls `decide()` only (read-only snapshot, no locks, nothing stored).
"""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncConnection

import engine
from db.models import DIRECT, LicensePath, ProductPool, User, UserLicense
from db.records import SubscriptionRecord
from db.repo import subscriptions as subscription_repo
from db.repo.catalog import Catalog
from db.sql import any_uuid
from engine.subscription_lifecycle import SubscriptionTerms
from engine.subscription_pool import PoolFigures, SubscriptionFacts, pool_figures

LP = LicensePath.__table__
UL = UserLicense.__table__
PP = ProductPool.__table__
U = User.__table__

PathKey = tuple[uuid.UUID, uuid.UUID, uuid.UUID]  # (user, product, group or DIRECT)
OFF_LOOP_PATHS = 2_000


def _group(gid: str | None) -> uuid.UUID:
    return DIRECT if gid is None else uuid.UUID(gid)


def _gid(group_id: uuid.UUID) -> str | None:
    return None if group_id == DIRECT else str(group_id)


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


@dataclass(frozen=True, slots=True)
class NewPath:
    """A path the change creates (queue_seq None: allocate a new place in line) or edits."""

    disabled_plan_ids: frozenset[uuid.UUID]
    queue_seq: int | None = None
    subscription_id: uuid.UUID | None = None


@dataclass
class Proposal:
    user_ids: set[uuid.UUID]
    upserts: dict[PathKey, NewPath] = field(default_factory=dict)
    removals: set[PathKey] = field(default_factory=set)
    locations: dict[uuid.UUID, str | None] = field(default_factory=dict)  # new usage locations
    changes_default_location: bool = False
    new_default_location: str | None = None  # the tenant's, when changes_default_location
    direct_first: bool = True  # D15: a direct request's new paths are served before the group queue


@dataclass(frozen=True)
class Facts:
    users: dict[uuid.UUID, engine.UserFacts]
    paths: dict[PathKey, StoredPath]
    holders: set[tuple[uuid.UUID, uuid.UUID]]  # pool seats held now
    self_service_holders: dict[tuple[uuid.UUID, uuid.UUID], uuid.UUID]
    tenant_default_location: str | None


@dataclass
class Decision:
    """What the change does, computed by the same code for a dry run and a real run."""

    proposal: Proposal
    facts: Facts
    before: dict[PathKey, StoredPath]
    after: engine.Evaluation
    after_paths: dict[PathKey, engine.PathFacts]
    pools_before: dict[uuid.UUID, PoolFigures]
    refusals: tuple[engine.Refusal, ...] = ()

    _changed: list[tuple[PathKey, engine.PathState | None]] | None = None
    _keys: dict[tuple[str, str, str | None], PathKey] | None = None

    def key_of(self, state: engine.PathState) -> PathKey:
        """The stored key of an engine path (engine ids are strings; no re-parsing)."""
        if self._keys is None:
            self._keys = {facts.key: key for key, facts in self.after_paths.items()}
        return self._keys[state.key]

    def changed_paths(self) -> list[tuple[PathKey, engine.PathState | None]]:
        """Created, changed and removed paths (None: removed); computed once."""
        if self._changed is not None:
            return self._changed
        result: list[tuple[PathKey, engine.PathState | None]] = []
        for state in self.after.paths:
            key = self.key_of(state)
            old = self.before.get(key)
            if (
                old is None
                or old.state != state.state.value
                or old.error_code != (state.error.value if state.error else None)
                or key in self.proposal.upserts and old.disabled_plan_ids != self.proposal.upserts[key].disabled_plan_ids
            ):
                result.append((key, state))
        for key in self.before:
            if key not in self.after_paths:
                result.append((key, None))
        self._changed = result
        return result

    def license_key(self, lic: engine.EffectiveLicense) -> tuple[uuid.UUID, uuid.UUID]:
        user_id, product_id = self.ids[lic.user_id], self.ids[lic.product_id]
        return (user_id, product_id)

    @property
    def ids(self) -> dict[str, uuid.UUID]:
        """Engine string ids back to uuids, for the users and products of the batch."""
        if self._ids is None:
            ids = {str(u): u for u in self.facts.users}
            for key in self.after_paths:
                ids.setdefault(str(key[1]), key[1])
            for _, product_id in self.facts.holders | set(self.facts.self_service_holders):
                ids.setdefault(str(product_id), product_id)
            for key in self.before:
                ids.setdefault(str(key[1]), key[1])
            self._ids = ids
        return self._ids

    _ids: dict[str, uuid.UUID] | None = None

    def affected_user_count(self) -> int:
        users = {key[0] for key, _ in self.changed_paths()}
        before_lic = self.facts.holders | set(self.facts.self_service_holders)
        for lic in self.after.licenses:
            key = self.license_key(lic)
            if (key in before_lic) != lic.holds_seat:
                users.add(key[0])
        return len(users)


def engine_catalog(catalog: Catalog) -> tuple[engine.Catalog, engine.ServicePlanRules]:
    """The engine's view of the catalog and rules (built once: both are immutable)."""
    products = [
        engine.ProductFacts(str(p.id), p.sku_part_number, p.display_name, frozenset(str(x.id) for x in p.plans))
        for p in catalog.products.values()
    ]
    cat = engine.Catalog.of(products, {str(pid): plan.name for pid, plan in catalog.plans.items()})
    rules = engine.rules_of(
        exclusions=[(r.subject, other) for r in catalog.rules if r.rule == "mutually_exclusive" for other in r.others],
        requirements=[(r.subject, r.others) for r in catalog.rules if r.rule == "requires_any"],
        prohibitions=[(r.subject, r.others) for r in catalog.rules if r.rule == "prohibited_location"],
    )
    return cat, rules


# ------------------------------------------------------------------------------------ facts


async def load_facts(conn: AsyncConnection, tenant_id: str, user_ids: Iterable[uuid.UUID]) -> Facts:
    ids = sorted(set(user_ids))
    users: dict[uuid.UUID, engine.UserFacts] = {}
    paths: dict[PathKey, StoredPath] = {}
    holders: set[tuple[uuid.UUID, uuid.UUID]] = set()
    self_service: dict[tuple[uuid.UUID, uuid.UUID], uuid.UUID] = {}
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


def _terms(s: SubscriptionRecord) -> SubscriptionTerms:
    return SubscriptionTerms(s.term_starts_at, s.term_ends_at, s.is_trial, s.recurring_billing, s.cancelled_at)


async def pool_figures_of(
    conn: AsyncConnection, tenant_id: str, product_ids: Sequence[uuid.UUID], now: datetime, window: timedelta
) -> dict[uuid.UUID, PoolFigures]:
    subs = await subscription_repo.tenant_subscriptions(conn, tenant_id)
    consumed = await subscription_repo.pool_consumed(conn, tenant_id, list(product_ids))
    result = {}
    for pid in product_ids:
        facts = [SubscriptionFacts(s.quantity, s.is_self_service, _terms(s)) for s in subs if s.product_id == pid]
        result[pid] = pool_figures(facts, consumed.get(pid, 0), now, window)
    return result


# ------------------------------------------------------------------------------------ decide


@dataclass(frozen=True)
class Environment:
    """What the process holds for deciding: the engine's catalog and rules, the clock's now."""

    tenant_id: str
    catalog: engine.Catalog
    rules: engine.ServicePlanRules
    now: datetime
    cancellation_window: timedelta


def _engine_path(
    key: PathKey, disabled: frozenset[uuid.UUID], queue_seq: int, holds_seat: bool,
    subscription_id: uuid.UUID | None, edited: bool,
) -> engine.PathFacts:
    return engine.PathFacts(
        user_id=str(key[0]), product_id=str(key[1]), group_id=_gid(key[2]),
        disabled_plan_ids=frozenset(str(p) for p in disabled), queue_seq=queue_seq, holds_seat=holds_seat,
        subscription_id=str(subscription_id) if subscription_id else None, edited=edited,
    )


async def decide(
    conn: AsyncConnection, env: Environment, proposal: Proposal, *, lock: bool, direct: bool,
    requested: Iterable[tuple[uuid.UUID, uuid.UUID]] = (), self_service_subscription: SubscriptionRecord | None = None,
    facts: Facts | None = None,
) -> Decision:
    """Evaluate the affected users before and after the proposal.

    `lock`: take the pool rows of every product involved FOR UPDATE, in product-id order (D21;
    the caller holds the tenant's advisory lock). `direct`: a direct change, refused when it
    would newly put any path into ERROR (D1, D16).
    """
    if facts is None:
        facts = await load_facts(conn, env.tenant_id, proposal.user_ids)
    default = proposal.new_default_location if proposal.changes_default_location else facts.tenant_default_location
    users = [
        engine.UserFacts(u.user_id, proposal.locations[uid] if uid in proposal.locations else u.usage_location, u.created_seq)
        for uid, u in facts.users.items()
    ]
    after_paths: dict[PathKey, engine.PathFacts] = {}
    for key, stored in facts.paths.items():
        if key in proposal.removals:
            continue
        new = proposal.upserts.get(key)
        disabled = new.disabled_plan_ids if new else stored.disabled_plan_ids
        after_paths[key] = _engine_path(
            key, disabled, stored.queue_seq, stored.state == "ACTIVE", stored.subscription_id,
            edited=new is not None and new.disabled_plan_ids != stored.disabled_plan_ids,
        )
    for key, new in proposal.upserts.items():
        if key in facts.paths:
            continue
        seq = new.queue_seq if new.queue_seq is not None else (engine.FRONT_OF_QUEUE if proposal.direct_first else 2**62)
        after_paths[key] = _engine_path(key, new.disabled_plan_ids, seq, False, new.subscription_id, edited=False)

    products = sorted({k[1] for k in after_paths} | {k[1] for k in facts.paths} | {p for _, p in facts.holders})
    if lock:
        await subscription_repo.lock_pools(conn, env.tenant_id, products)
    pools = await pool_figures_of(conn, env.tenant_id, products, env.now, env.cancellation_window)
    available = {str(pid): f.available for pid, f in pools.items()}
    if self_service_subscription is not None:
        # D6: the purchaser's seats come from their own subscription, not the pool
        used = await _self_service_used(conn, env.tenant_id, self_service_subscription.id)
        available[str(self_service_subscription.product_id)] = self_service_subscription.quantity - used
    holders = [(str(u), str(p)) for u, p in facts.holders | set(facts.self_service_holders)]
    args = (users, list(after_paths.values()), env.catalog, env.rules, available)
    if len(after_paths) > OFF_LOOP_PATHS:
        # a big batch (a large group) decides in a worker thread: the event loop keeps serving
        after = await asyncio.to_thread(engine.evaluate, *args, tenant_default_location=default, seat_holders=holders)
    else:
        after = engine.evaluate(*args, tenant_default_location=default, seat_holders=holders)
    decision = Decision(proposal, facts, dict(facts.paths), after, after_paths, pools)
    if direct:
        before_states = [
            engine.PathState(
                str(p.user_id), str(p.product_id), _gid(p.group_id), engine.PathStatus(p.state),
                engine.ErrorCode(p.error_code) if p.error_code else None, p.error_message,
            )
            for p in facts.paths.values()
        ]
        decision.refusals = engine.direct_refusals(
            before_states, after, env.catalog, requested=[(str(u), str(p)) for u, p in requested],
            self_service_seats=await _self_service_free(conn, env, products),
        )
    return decision


async def _self_service_used(conn: AsyncConnection, tenant_id: str, subscription_id: uuid.UUID) -> int:
    row = await conn.execute(
        text("SELECT count(*) FROM user_licenses WHERE tenant_id = :t AND subscription_id = :s AND holds_seat"),
        {"t": tenant_id, "s": subscription_id},
    )
    return int(row.scalar_one())


async def _self_service_free(conn: AsyncConnection, env: Environment, products: list[uuid.UUID]) -> dict[str, int]:
    """Unassigned self-service seats per product, named in COUNT_VIOLATION messages (D6)."""
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
        {"t": env.tenant_id, "p": products},
    )
    return {str(r.product_id): int(r.free) for r in rows if r.free and r.free > 0}


# ------------------------------------------------------------------------------------ apply

# Bulk writes pass one array per column (unnest): one statement and a handful of parameters,
# whether the change touches one path or 300,000.
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


def _columns(rows: list[dict[str, object]], names: tuple[str, ...]) -> dict[str, object]:
    return {name: [row[name] for row in rows] for name in names}


async def apply(
    conn: AsyncConnection, env: Environment, decision: Decision, *, self_service_subscription: uuid.UUID | None = None
) -> None:
    """Write the decision: paths, effective licenses, pool counters, group-license counters."""
    tid = env.tenant_id
    changed = decision.changed_paths()
    removed = [key for key, state in changed if state is None]
    written = [(key, state) for key, state in changed if state is not None]
    new_keys = [key for key, _ in written if key not in decision.before]
    seqs: dict[PathKey, int] = {}
    if new_keys:
        # new places in line, handed out in the order the engine listed them (user creation order within a request)
        ordered = sorted(new_keys, key=lambda k: (decision.facts.users[k[0]].created_seq, str(k[1]), str(k[2])))
        values = (await conn.execute(text("SELECT nextval('order_seq') FROM generate_series(1, :n)"), {"n": len(ordered)})).scalars().all()
        seqs = dict(zip(ordered, values, strict=True))
        for key in new_keys:
            given = decision.proposal.upserts[key].queue_seq
            if given is not None:
                seqs[key] = given
    if removed:
        await conn.execute(
            text(
                "DELETE FROM license_paths p USING unnest(CAST(:u AS uuid[]), CAST(:p AS uuid[]), CAST(:g AS uuid[])) AS r(u, p, g) "
                "WHERE p.tenant_id = :t AND p.user_id = r.u AND p.product_id = r.p AND p.group_id = r.g"
            ),
            {"t": tid, "u": [k[0] for k in removed], "p": [k[1] for k in removed], "g": [k[2] for k in removed]},
        )
    if written:
        rows = []
        for key, state in written:
            facts = decision.after_paths[key]
            stored = decision.before.get(key)
            rows.append(
                {
                    "user_id": key[0], "product_id": key[1], "group_id": key[2],
                    "disabled": "{" + ",".join(sorted(facts.disabled_plan_ids)) + "}",
                    "queue_seq": stored.queue_seq if stored else seqs[key],
                    "state": state.state.value, "error_code": state.error.value if state.error else None,
                    "error_message": state.message if state.error else None,
                    "subscription_id": uuid.UUID(facts.subscription_id) if facts.subscription_id else None,
                }
            )
        await conn.execute(text(UPSERT_PATHS), {"t": tid, "now": env.now, **_columns(rows, PATH_COLUMNS)})
    await _write_licenses(conn, env, decision, self_service_subscription)
    await _write_group_counters(conn, tid, decision, changed)


@dataclass
class LicenseWrites:
    rows: list[dict[str, object]]
    gone: list[tuple[uuid.UUID, uuid.UUID]]
    pool_delta: dict[uuid.UUID, int]


def license_writes(tenant_id: str, now: datetime, decision: Decision, self_service_subscription: uuid.UUID | None) -> LicenseWrites:
    """Effective-license rows to upsert and delete, and how each pool's consumed count moves.

    A seat drawn from a self-service subscription (D6) is not a pool seat."""
    facts = decision.facts
    with_paths = {(k[0], k[1]) for k in decision.after_paths}
    # a license exists only while it has a path: one whose last path ended is deleted (its seat released)
    after = {key: lic for lic in decision.after.licenses if (key := decision.license_key(lic)) in with_paths}
    had = {(u, p) for (u, p, _g) in decision.before}
    gone = sorted(k for k in had | facts.holders | set(facts.self_service_holders) if k not in after)
    drawing = {(k[0], k[1]) for k, f in decision.after_paths.items() if f.subscription_id}
    pool_delta: dict[uuid.UUID, int] = defaultdict(int)
    rows: list[dict[str, object]] = []
    for key, lic in after.items():
        was_pool = key in facts.holders
        source = facts.self_service_holders.get(key)
        if lic.holds_seat and not was_pool and source is None and self_service_subscription is not None and key in drawing:
            source = self_service_subscription
        if not lic.holds_seat:
            source = None
        if source is None:
            pool_delta[key[1]] += int(lic.holds_seat) - int(was_pool)
        held_before = was_pool or key in facts.self_service_holders
        if key in had and held_before == lic.holds_seat and source == facts.self_service_holders.get(key):
            continue  # the stored row is already right
        rows.append({"tenant_id": tenant_id, "user_id": key[0], "product_id": key[1], "holds_seat": lic.holds_seat,
                     "subscription_id": source, "updated_at": now})
    for key in gone:
        if key in facts.holders:
            pool_delta[key[1]] -= 1
    return LicenseWrites(rows, gone, {p: d for p, d in pool_delta.items() if d})


async def _write_licenses(
    conn: AsyncConnection, env: Environment, decision: Decision, self_service_subscription: uuid.UUID | None
) -> None:
    tid = env.tenant_id
    writes = license_writes(tid, env.now, decision, self_service_subscription)
    if writes.gone:
        await conn.execute(
            text(
                "DELETE FROM user_licenses l USING unnest(CAST(:u AS uuid[]), CAST(:p AS uuid[])) AS r(u, p) "
                "WHERE l.tenant_id = :t AND l.user_id = r.u AND l.product_id = r.p"
            ),
            {"t": tid, "u": [k[0] for k in writes.gone], "p": [k[1] for k in writes.gone]},
        )
    if writes.rows:
        await conn.execute(text(UPSERT_LICENSES), {"t": tid, "now": env.now, **_columns(writes.rows, LICENSE_COLUMNS)})
    for product_id in sorted(writes.pool_delta):
        await conn.execute(
            text(
                "INSERT INTO product_pools (tenant_id, product_id, consumed) VALUES (:t, :p, :d) "
                "ON CONFLICT (tenant_id, product_id) DO UPDATE SET consumed = product_pools.consumed + EXCLUDED.consumed"
            ),
            {"t": tid, "p": product_id, "d": writes.pool_delta[product_id]},
        )


async def _write_group_counters(
    conn: AsyncConnection, tenant_id: str, decision: Decision, changed: list[tuple[PathKey, engine.PathState | None]]
) -> None:
    deltas: dict[tuple[uuid.UUID, uuid.UUID], list[int]] = defaultdict(lambda: [0, 0])
    for key, state in changed:
        if key[2] == DIRECT:
            continue
        old = decision.before.get(key)
        if old is not None:
            deltas[(key[2], key[1])][0 if old.state == "ACTIVE" else 1] -= 1
        if state is not None:
            deltas[(key[2], key[1])][0 if state.is_active else 1] += 1
    for (group_id, product_id), (active, error) in sorted(deltas.items()):
        if active or error:
            await conn.execute(
                text(
                    "UPDATE group_licenses SET active_count = active_count + :a, error_count = error_count + :e "
                    "WHERE tenant_id = :t AND group_id = :g AND product_id = :p"
                ),
                {"a": active, "e": error, "t": tenant_id, "g": group_id, "p": product_id},
            )
