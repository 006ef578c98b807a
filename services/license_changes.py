"""License changes decided by the engine: load the facts of the affected users in bulk, let the
engine decide, write the result in bulk — dry run or not.

A change is a `Proposal`: paths to create or edit, paths to end, and optionally new usage
locations. `decide()` evaluates the affected users as they are stored and as the proposal
would leave them; `write()` stores a decided change — this one or the SQL batch's of
`services.group_changes` — and hands the seats it freed to whoever waits for them (R4). A dry
run decides and summarises, and writes nothing.

`write()` is the one place a license change is stored: what must follow every license change
(license events) goes there.
"""

from __future__ import annotations

import asyncio
import heapq
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

import engine
from db.models import DIRECT
from db.records import SubscriptionRecord
from db.repo import events
from db.repo import licensing as rows
from db.repo import subscriptions as subscription_repo
from db.repo.licensing import Facts, LicenseKey, PathKey, StoredPath, load_facts
from engine.subscription_lifecycle import SubscriptionStatus, view
from engine.subscription_pool import PoolFigures
from services.change import Change
from services.errors import ErrorCode, Problem, Refused, path_code
from services.pools import read_figures
from services.summaries import MAX_OUTCOMES, ChangeSummary, PathOutcome, error_totals, seat_moves

OFF_LOOP_PATHS = 2_000  # a batch this large decides in a worker thread: the event loop keeps serving
RECOVERY_BATCH = 500

__all__ = ["Decision", "Facts", "NewPath", "Proposal", "decide", "decide_direct", "load_facts", "write"]


def _gid(group_id: uuid.UUID) -> str | None:
    return None if group_id == DIRECT else str(group_id)


@dataclass(frozen=True, slots=True)
class NewPath:
    """A path the change creates (queue_seq None: a new place in line) or edits."""

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


class Decided(Protocol):
    """A decided license change, whichever path decided it."""

    def summary(self, change: Change) -> ChangeSummary: ...

    def pool_deltas(self) -> Mapping[uuid.UUID, int]: ...

    def path_counts(self) -> Counter[tuple[uuid.UUID, str, str | None]]:
        """Created or changed (not removed) paths per (product, state, error code)."""
        ...

    async def store(self, change: Change) -> None: ...

    async def append_events(self, change: Change) -> None:
        """After `store`: one license event per (user, product) whose outcome the change altered,
        in the same transaction (R25)."""
        ...

    def seats_before(self) -> Mapping[uuid.UUID, PoolFigures]:
        """The pool figures the decision was made on, per product it involves."""
        ...

    async def user_ids(self) -> list[uuid.UUID]:
        """The users the decision judged."""
        ...


@dataclass
class Decision:
    """What the change does, as the engine decided it (the same for a dry run and a real run)."""

    proposal: Proposal
    facts: Facts
    before: dict[PathKey, StoredPath]
    after: engine.Evaluation
    after_paths: dict[PathKey, engine.PathFacts]
    pools_before: dict[uuid.UUID, PoolFigures]
    refusals: tuple[engine.Refusal, ...] = ()
    self_service: SubscriptionRecord | None = None  # the purchaser's subscription its new seats come from (D6)

    _changed: list[tuple[PathKey, engine.PathState | None]] | None = None
    _keys: dict[tuple[str, str, str | None], PathKey] | None = None
    _ids: dict[str, uuid.UUID] | None = None
    _writes: LicenseWrites | None = None

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

    def license_key(self, lic: engine.EffectiveLicense) -> LicenseKey:
        return (self.ids[lic.user_id], self.ids[lic.product_id])

    def affected_users(self) -> frozenset[uuid.UUID]:
        """D16: users whose effective licenses or any path state changed."""
        users = {key[0] for key, _ in self.changed_paths()}
        before_lic = self.facts.holders | set(self.facts.self_service_holders)
        for lic in self.after.licenses:
            key = self.license_key(lic)
            if (key in before_lic) != lic.holds_seat:
                users.add(key[0])
        return frozenset(users)

    def writes(self) -> LicenseWrites:
        if self._writes is None:
            self._writes = license_writes(self)
        return self._writes

    def pool_deltas(self) -> Mapping[uuid.UUID, int]:
        return self.writes().pool_delta

    def seats_before(self) -> Mapping[uuid.UUID, PoolFigures]:
        return self.pools_before

    async def user_ids(self) -> list[uuid.UUID]:
        return list(self.facts.users)

    def path_counts(self) -> Counter[tuple[uuid.UUID, str, str | None]]:
        counts: Counter[tuple[uuid.UUID, str, str | None]] = Counter()
        for key, state in self.changed_paths():
            if state is not None:
                counts[(key[1], "ACTIVE" if state.is_active else "ERROR", state.error.value if state.error else None)] += 1
        return counts

    def problems(self) -> list[Problem]:
        """The refusals of a direct change (D1, D16) as problems."""
        return [
            Problem(
                path_code(r.code), r.message, user_id=uuid.UUID(r.user_id) if r.user_id else None,
                product_id=uuid.UUID(r.product_id),
            )
            for r in self.refusals
        ]

    def summary(self, change: Change) -> ChangeSummary:
        """D16: seats before/after per product, the created/changed/removed paths (errors first,
        in R4 order), per-product per-code error totals, and how many users were affected."""
        changed = self.changed_paths()
        deltas = self.pool_deltas()
        seats = seat_moves(change.catalog, {key[1] for key, _ in changed} | set(deltas), self.pools_before, deltas)
        users = self.facts.users

        def line(key: PathKey) -> tuple[int, int, str, str]:
            stored = self.before.get(key)
            seq = stored.queue_seq if stored else self.after_paths[key].queue_seq
            return (seq, users[key[0]].created_seq if key[0] in users else 0, str(key[1]), str(key[2]))

        counts: dict[tuple[uuid.UUID, str], int] = defaultdict(int)
        for key, state in changed:
            if state is not None and state.error is not None:
                counts[(key[1], state.error.value)] += 1
        # only the first MAX_OUTCOMES can be asked for (D16): errors first, then R4 order
        shown = heapq.nsmallest(MAX_OUTCOMES, changed, key=lambda item: (item[1] is None or item[1].is_active, line(item[0])))
        outcomes = []
        for key, state in shown:
            if state is None:  # removed: as it was stored, its error included (null only when ACTIVE)
                stored = self.before[key]
                had = ErrorCode(stored.error_code) if stored.state == "ERROR" and stored.error_code else None
                outcome = PathOutcome(
                    key[0], key[1], _group_or_none(key[2]), stored.state, had,
                    (stored.error_message or "") if had else None, True, line(key),
                )
            else:
                code = path_code(state.error) if state.error is not None else None
                outcome = PathOutcome(
                    key[0], key[1], _group_or_none(key[2]), "ACTIVE" if state.is_active else "ERROR", code,
                    (state.message or "") if code else None, False, line(key),
                )
            outcomes.append(outcome)
        affected = self.affected_users()
        return ChangeSummary(
            change.dry_run, len(affected), seats, error_totals(change.catalog, counts), outcomes, affected
        )

    async def store(self, change: Change) -> None:
        """Write paths, effective licenses, pool counters and group-license counters."""
        await _store(change, self)

    def event_keys(self) -> list[tuple[uuid.UUID, uuid.UUID, bool, set[uuid.UUID]]]:
        """(user, product, held a seat before, groups whose path changed) for every pair whose
        paths or seat the decision changes (R25: nothing for a pair it leaves as it was)."""
        held_before = self.facts.holders | set(self.facts.self_service_holders)
        groups: dict[LicenseKey, set[uuid.UUID]] = {}
        for key, _state in self.changed_paths():
            groups.setdefault((key[0], key[1]), set()).add(key[2])
        for lic in self.after.licenses:
            key = self.license_key(lic)
            if (key in held_before) != lic.holds_seat:
                groups.setdefault(key, set())
        return [(u, p, (u, p) in held_before, {g for g in gs if g != DIRECT}) for (u, p), gs in groups.items()]

    async def append_events(self, change: Change) -> None:
        """The pairs come from the decision itself; their state after is read back in one
        INSERT … SELECT (db.repo.events)."""
        keys = self.event_keys()
        if not keys:
            return
        await events.stage(change.conn)
        await events.add_keys(change.conn, keys)
        await events.append(
            change.conn, change.tenant_id, actor=change.actor.sub, audit_id=await change.audit_number(), now=change.now
        )


def _group_or_none(group_id: uuid.UUID) -> uuid.UUID | None:
    return None if group_id == DIRECT else group_id


# ------------------------------------------------------------------------------------ decide


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
    change: Change, proposal: Proposal, *, direct: bool, requested: Iterable[tuple[uuid.UUID, uuid.UUID]] = (),
    self_service_subscription: SubscriptionRecord | None = None, facts: Facts | None = None,
    free_seats: Mapping[uuid.UUID, int] | None = None, refused_from: Mapping[PathKey, StoredPath] | None = None,
) -> Decision:
    """Evaluate the affected users before and after the proposal (`engine.evaluate`).

    A real run locks the pool rows of every product involved FOR UPDATE, in product-id order
    (D21; the change holds the tenant's license lock). `direct`: a direct change, refused when
    it would newly put any path into ERROR (D1, D16: `Decision.refusals`). `free_seats`: the
    free seats of some products as the change leaves them, where a dry run has not stored
    what changes them (a subscription's new quantity, seats an earlier step took).
    `refused_from`: for a direct change that follows an earlier step of the same change (a
    user's dynamic groups followed, D24), the paths as they were before the whole change
    (`_judged_from`: D1 refuses the location errors of the kept paths).
    """
    conn, rt, tid = change.conn, change.runtime, change.tenant_id
    if facts is None:
        facts = await load_facts(conn, tid, proposal.user_ids)
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
        seq = new.queue_seq if new.queue_seq is not None else (engine.FRONT_OF_QUEUE if proposal.direct_first else engine.BACK_OF_QUEUE)
        after_paths[key] = _engine_path(key, new.disabled_plan_ids, seq, False, new.subscription_id, edited=False)

    products = sorted({k[1] for k in after_paths} | {k[1] for k in facts.paths} | {p for _, p in facts.holders})
    if not change.dry_run:
        await subscription_repo.lock_pools(conn, tid, products)
    pools = await read_figures(conn, tid, products, change.now, rt.cancellation_window)
    available = {str(pid): f.available for pid, f in pools.items()}
    for pid, free in (free_seats or {}).items():
        available[str(pid)] = free
    if self_service_subscription is not None:
        # D6: the purchaser's seats come from their own subscription, not the pool; R15: a
        # DISABLED (or DELETED) one gives no new seat, while the seats already drawn stay
        used = await rows.self_service_seats_used(conn, tid, self_service_subscription.id)
        status = view(self_service_subscription.terms, change.now, rt.cancellation_window).status
        usable = self_service_subscription.quantity if status in (SubscriptionStatus.ACTIVE, SubscriptionStatus.EXPIRED) else 0
        available[str(self_service_subscription.product_id)] = usable - used
    holders = [(str(u), str(p)) for u, p in facts.holders | set(facts.self_service_holders)]
    args = (users, list(after_paths.values()), rt.engine_catalog, rt.rules, available)
    if len(after_paths) > OFF_LOOP_PATHS:
        after = await asyncio.to_thread(engine.evaluate, *args, tenant_default_location=default, seat_holders=holders)
    else:
        after = engine.evaluate(*args, tenant_default_location=default, seat_holders=holders)
    decision = Decision(proposal, facts, dict(facts.paths), after, after_paths, pools, self_service=self_service_subscription)
    if direct:
        before_states = [_engine_state(p) for p in facts.paths.values()]
        if refused_from is not None:
            before_states = _judged_from(decision, refused_from)
        free = await rows.self_service_free(conn, tid, products)
        decision.refusals = engine.direct_refusals(
            before_states, after, rt.engine_catalog, requested=[(str(u), str(p)) for u, p in requested],
            self_service_seats={str(p): n for p, n in free.items()},
        )
    return decision


LOCATION_ERRORS = frozenset({engine.ErrorCode.USAGE_LOCATION_REQUIRED, engine.ErrorCode.PROHIBITED_IN_USAGE_LOCATION_VIOLATION})


def _engine_state(p: StoredPath) -> engine.PathState:
    return engine.PathState(
        str(p.user_id), str(p.product_id), _gid(p.group_id), engine.PathStatus(p.state),
        engine.ErrorCode(p.error_code) if p.error_code else None, p.error_message,
    )


def _judged_from(decision: Decision, original: Mapping[PathKey, StoredPath]) -> list[engine.PathState]:
    """D24: what a user change's location decision is refused against, after its dynamic
    groups were followed (which may already have recorded the new location's errors): a kept
    path that now has a location error is judged against how it was before the whole change;
    any other path against how the earlier step left it (its errors — a prerequisite lost with
    a group — are recorded, never refused); a path that step created is never refused for."""
    states = []
    for state in decision.after.paths:
        key = decision.key_of(state)
        if key in original and state.error in LOCATION_ERRORS:
            states.append(_engine_state(original[key]))
        elif key in decision.facts.paths:
            states.append(_engine_state(decision.facts.paths[key]))
        else:
            states.append(state)
    return states


async def decide_direct(
    change: Change, proposal: Proposal, requested: list[tuple[uuid.UUID, uuid.UUID]], *, facts: Facts | None = None,
    self_service_subscription: SubscriptionRecord | None = None, field: str | None = None,
) -> ChangeSummary:
    """A direct change (D1): refused as a whole if it would newly put a path into ERROR, else
    summarised and written (`write`). `field`: the input the refusals name, if one."""
    decision = await decide(
        change, proposal, direct=True, requested=requested, facts=facts, self_service_subscription=self_service_subscription
    )
    if decision.refusals:
        problems = decision.problems()
        if field is not None:
            problems = [Problem(p.code, p.message, field, p.user_id, p.product_id) for p in problems]
        raise Refused(problems)
    return decision.summary(change).merged(await write(change, decision), change.catalog)


async def decide_and_write(change: Change, proposal: Proposal, *, facts: Facts | None = None) -> ChangeSummary:
    """A group-driven change decided by the engine: errors are recorded on paths (D1)."""
    decision = await decide(change, proposal, direct=False, facts=facts)
    return decision.summary(change).merged(await write(change, decision), change.catalog)


def changed_anything(summary: ChangeSummary, decision: Decision) -> bool:
    """R21: whether a decided (and written) change altered any user or path: its audit event is
    due then, and only then (the license events it appended point at that event)."""
    return bool(summary.affected_user_count or decision.changed_paths())


# ------------------------------------------------------------------------------------ write


async def write(change: Change, decided: Decided) -> ChangeSummary:
    """Store a decided license change — the one place every license change is written — then
    let the paths waiting for seats it freed take them, in queue order, in the same
    transaction (R4, D2). Returns what that hand-on did (empty when no seat was freed or nobody
    waits), for the change's summary. A dry run stores nothing and decides the same hand-on."""
    if not change.dry_run:
        await store(change, decided)
    return await hand_on(change, decided)


async def hand_on(change: Change, decided: Decided, *, stored: bool | None = None) -> ChangeSummary:
    """R4, D2: the seats a decided (and, in a real run, stored) change frees go to the paths
    waiting for them; their decisions as one summary. A dry run has stored nothing: the free
    seats are those the change would leave, and its own users (whose stored paths are as they
    were before it) are not taken for waiting ones. `stored`: the change is stored (default: in
    a real run) — a dry run that stores a step in its own rolled-back transaction, so that later
    steps see it, stores the hand-on's decisions there too."""
    deltas = decided.pool_deltas()
    freed = [p for p, d in deltas.items() if d < 0]
    if not freed:
        return ChangeSummary(change.dry_run)
    stored = not change.dry_run if stored is None else stored
    free: dict[uuid.UUID, int] | None = None
    skip: list[uuid.UUID] = []
    if not stored:
        before = decided.seats_before()
        free = {p: before[p].available - d for p, d in deltas.items() if p in before}
        skip = await decided.user_ids()
    summary = ChangeSummary(change.dry_run)
    for decision in await recover_seats(change, freed, free_seats=free, excluding=skip, store_decisions=stored):
        summary = summary.merged(decision.summary(change), change.catalog)
    return summary


async def store(change: Change, decided: Decided) -> None:
    """Write a decided change and append its license events in the same transaction (R25)."""
    await decided.store(change)
    await decided.append_events(change)
    await events.notify_seats(change.conn, change.tenant_id, [p for p, d in decided.pool_deltas().items() if d])


async def recover_seats(
    change: Change, product_ids: Iterable[uuid.UUID], *, free_seats: Mapping[uuid.UUID, int] | None = None,
    excluding: Iterable[uuid.UUID] = (), store_decisions: bool | None = None,
) -> list[Decision]:
    """R4, D2: when seats become free (unassigned, bought, taken over), paths waiting for them
    are re-evaluated in queue order until the seats are taken or nobody waits; returns the
    decisions, in order. A dry run decides the same without storing: `free_seats` then gives
    the free seats as the change would leave them; `excluding`: users not to take for waiting
    ones; `store_decisions`: store each decision (default: in a real run)."""
    store_each = not change.dry_run if store_decisions is None else store_decisions
    pending = sorted(set(product_ids))
    seen: set[uuid.UUID] = set(excluding)
    free = dict(free_seats) if free_seats is not None else None
    decisions: list[Decision] = []
    while pending:
        waiting = await rows.waiting_users(change.conn, change.tenant_id, pending, RECOVERY_BATCH, excluding=seen)
        if not waiting:
            break
        seen.update(waiting)
        decision = await decide(change, Proposal(user_ids=set(waiting)), direct=False, free_seats=free)
        decisions.append(decision)
        if store_each:
            await store(change, decision)
        if free is not None:
            for pid, delta in decision.pool_deltas().items():
                if pid in free:
                    free[pid] -= delta
        if not any(seat.acquired for seat in decision.after.seat_changes.values()):
            break
    return decisions


@dataclass
class LicenseWrites:
    rows: list[dict[str, object]]
    gone: list[LicenseKey]
    pool_delta: dict[uuid.UUID, int]


def license_writes(decision: Decision) -> LicenseWrites:
    """Effective-license rows to upsert and delete, and how each pool's consumed count moves.

    A seat drawn from a self-service subscription (D6) is not a pool seat."""
    facts = decision.facts
    self_service = decision.self_service.id if decision.self_service else None
    with_paths = {(k[0], k[1]) for k in decision.after_paths}
    # a license exists only while it has a path: one whose last path ended is deleted (its seat released)
    after = {key: lic for lic in decision.after.licenses if (key := decision.license_key(lic)) in with_paths}
    had = {(u, p) for (u, p, _g) in decision.before}
    gone = sorted(k for k in had | facts.holders | set(facts.self_service_holders) if k not in after)
    drawing = {(k[0], k[1]) for k, f in decision.after_paths.items() if f.subscription_id}
    pool_delta: dict[uuid.UUID, int] = defaultdict(int)
    out: list[dict[str, object]] = []
    for key, lic in after.items():
        was_pool = key in facts.holders
        source = facts.self_service_holders.get(key)
        if lic.holds_seat and not was_pool and source is None and self_service is not None and key in drawing:
            source = self_service
        if not lic.holds_seat:
            source = None
        if source is None:
            pool_delta[key[1]] += int(lic.holds_seat) - int(was_pool)
        held_before = was_pool or key in facts.self_service_holders
        if key in had and held_before == lic.holds_seat and source == facts.self_service_holders.get(key):
            continue  # the stored row is already right
        out.append({"user_id": key[0], "product_id": key[1], "holds_seat": lic.holds_seat, "subscription_id": source})
    for key in gone:
        if key in facts.holders:
            pool_delta[key[1]] -= 1
    return LicenseWrites(out, gone, {p: d for p, d in pool_delta.items() if d})


async def _store(change: Change, decision: Decision) -> None:
    conn, tid, now = change.conn, change.tenant_id, change.now
    changed = decision.changed_paths()
    removed = [key for key, state in changed if state is None]
    written = [(key, state) for key, state in changed if state is not None]
    new_keys = [key for key, _ in written if key not in decision.before]
    seqs: dict[PathKey, int] = {}
    if new_keys:
        # new places in line, handed out in user creation order (D2)
        ordered = sorted(new_keys, key=lambda k: (decision.facts.users[k[0]].created_seq, str(k[1]), str(k[2])))
        seqs = dict(zip(ordered, await rows.draw_places(conn, len(ordered)), strict=True))
        for key in new_keys:
            given = decision.proposal.upserts[key].queue_seq
            if given is not None:
                seqs[key] = given
    await rows.delete_paths(conn, tid, removed)
    path_rows = []
    for key, state in written:
        facts = decision.after_paths[key]
        stored = decision.before.get(key)
        path_rows.append(
            {
                "user_id": key[0], "product_id": key[1], "group_id": key[2],
                "disabled": "{" + ",".join(sorted(facts.disabled_plan_ids)) + "}",
                "queue_seq": stored.queue_seq if stored else seqs[key],
                "state": state.state.value, "error_code": state.error.value if state.error else None,
                "error_message": state.message if state.error else None,
                "subscription_id": uuid.UUID(facts.subscription_id) if facts.subscription_id else None,
            }
        )
    await rows.upsert_paths(conn, tid, now, path_rows)
    writes = decision.writes()
    await rows.delete_licenses(conn, tid, writes.gone)
    await rows.upsert_licenses(conn, tid, now, writes.rows)
    await rows.add_consumed(conn, tid, writes.pool_delta)
    counts: dict[tuple[uuid.UUID, uuid.UUID], list[int]] = defaultdict(lambda: [0, 0])
    for key, state in changed:
        if key[2] == DIRECT:
            continue
        old = decision.before.get(key)
        if old is not None:
            counts[(key[2], key[1])][0 if old.state == "ACTIVE" else 1] -= 1
        if state is not None:
            counts[(key[2], key[1])][0 if state.is_active else 1] += 1
    await rows.add_group_counts(conn, tid, {k: (a, e) for k, (a, e) in counts.items()})
