"""Group changes: a change to who reaches which licensing group (R10, R11) — a group license
added, edited or removed, members added or removed, a group nested, un-nested or deleted.

Both decision paths live here, side by side, behind one `Decided` result:

- the SQL batch (`BatchDecision`): the batch's users and their paths are staged as the change
  leaves the graph (db.repo.group_batch) and every path is judged there, set-based, exactly as
  `engine.evaluate` would (R4, R8, D14, D15);
- the engine (`license_changes.Decision`) for the users the screening gate
  (`engine.screening.screen`) finds touched by a cross-path rule (R6, R7, a location
  prohibition) or holding a self-service seat: when every staged product has seats for every
  claim, the engine decides those users and SQL the others (`SplitDecision`); when some product
  is short of seats (then who is served first depends on the whole queue), the engine decides
  the batch whole.

Group-driven changes record errors on paths instead of refusing (D1). The property test
(tests/gql/test_group_licensing_properties.py) checks the stored outcome against the pure
engine's recomputation after every step.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import engine
from db.models import DIRECT
from db.repo import events, tenants
from db.repo import licensing as licensing_rows
from db.repo import subscriptions as subscription_repo
from db.repo.group_batch import Figures, GroupBatch, Outcome, Overlay
from db.repo.licensing import PathKey, load_facts
from engine.screening import linked_products, rule_products, screen
from engine.subscription_pool import PoolFigures
from services.change import Change
from services.errors import ErrorCode
from services.license_changes import Decided, Decision, NewPath, Proposal, decide
from services.pools import read_figures
from services.summaries import MAX_OUTCOMES, ChangeSummary, PathOutcome, error_totals, seat_moves

__all__ = ["BatchDecision", "Overlay", "Reconciled", "reconcile"]

PathCounts = Counter[tuple[uuid.UUID, str, str | None]]  # (product, state, error code) -> created or changed paths


@dataclass
class BatchDecision:
    """A group change decided in SQL for its whole batch."""

    batch: GroupBatch
    figures: Figures
    pools_before: dict[uuid.UUID, PoolFigures]

    def pool_deltas(self) -> Mapping[uuid.UUID, int]:
        return self.figures.pool_deltas

    def seats_before(self) -> Mapping[uuid.UUID, PoolFigures]:
        return self.pools_before

    async def user_ids(self) -> list[uuid.UUID]:
        return await self.batch.user_ids()

    def summary(self, change: Change) -> ChangeSummary:
        figures = self.figures
        touched = {key[0] for key in figures.changed_paths} | set(figures.pool_deltas)
        seats = seat_moves(change.catalog, touched, self.pools_before, figures.pool_deltas)
        errors: Counter[tuple[uuid.UUID, str]] = Counter()
        for (product_id, _, code, removed), n in figures.changed_paths.items():
            if code is not None and not removed:
                errors[(product_id, code)] += n
        messages = error_messages(change, {o.product_id for o in figures.outcomes})
        outcomes = [
            PathOutcome(
                o.user_id, o.product_id, None if o.group_id == DIRECT else o.group_id, o.state,
                # a removed path as it was stored, its error included (null only when ACTIVE; the
                # batch decides in SQL only paths whose errors are a seat's or a location's)
                None if o.error_code is None or o.state != "ERROR" else ErrorCode(o.error_code),
                None if o.error_code is None or o.state != "ERROR" else message_of(messages, o), o.removed,
                (o.queue_seq, o.created_seq, str(o.product_id), str(o.group_id)),
            )
            for o in figures.outcomes
        ]
        return ChangeSummary(
            change.dry_run, figures.affected_users, seats, error_totals(change.catalog, errors), outcomes, figures.affected_ids
        )

    def path_counts(self) -> PathCounts:
        counts: PathCounts = Counter()
        for (product_id, state, code, removed), n in self.figures.changed_paths.items():
            if not removed:
                counts[(product_id, state, code)] += n
        return counts

    async def store(self, change: Change) -> None:
        await self.batch.apply(self.figures, error_messages(change, self.batch.products), change.now)

    async def append_events(self, change: Change) -> None:
        """From the rows the batch staged (db.repo.group_batch.APPEND_EVENTS), set-based."""
        if await self.batch.has_events():
            await self.batch.append_events(
                error_messages(change, self.batch.products), actor=change.actor.sub,
                audit_id=await change.audit_number(), now=change.now,
            )
            await events.notify_events(change.conn, change.tenant_id)


def error_messages(change: Change, product_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, tuple[str, str, str]]:
    """Per product, the messages of the errors decided in SQL: no seat, no usage location
    (direct path), no usage location (group path) — the engine's own wording."""
    result = {}
    for p in product_ids:
        product_name = change.catalog.products[p].display_name
        result[p] = (
            engine.no_seat_message(product_name),
            engine.usage_location_required_message(product_name, direct=True),
            engine.usage_location_required_message(product_name, direct=False),
        )
    return result


def message_of(messages: Mapping[uuid.UUID, tuple[str, str, str]], outcome: Outcome) -> str:
    no_seat, direct, group = messages[outcome.product_id]
    if outcome.error_code == "COUNT_VIOLATION":
        return no_seat
    return direct if outcome.group_id == DIRECT else group


@dataclass(frozen=True)
class Reconciled:
    decided: Decided
    batch_size: int  # users in the batch


async def _engine_users(change: Change, batch: GroupBatch) -> set[uuid.UUID]:
    """The gate: the users of the batch who hold or draw on a self-service seat (D6), or whose
    paths have shapes `engine.screening.screen` flags (R6, R7, R8 prohibitions)."""
    users = await batch.self_service_users()
    if not batch.rule_products:
        return users  # the staged paths enable no rule plan: nothing links them to other paths
    shapes = await batch.rule_shapes()
    verdict = screen(
        change.runtime.engine_catalog, change.runtime.rules,
        [(str(s.product_id), frozenset(str(p) for p in s.disabled)) for s in shapes],
    )
    if not verdict.clear:
        users |= await batch.users_with_shapes(shapes, verdict.alone, verdict.pairs)
    return users


@dataclass
class SplitDecision:
    """A batch decided in two parts: the users the gate sent to the engine, and the others in
    SQL. Only when no staged product is short of seats, for the batch and for its SQL part
    alone (decided first, without the seats the engine's users give up): then every claim that
    passes its own checks gets a seat whatever its place in line, so the two parts cannot
    disagree about who is served first (R4)."""

    in_sql: BatchDecision
    by_engine: Decision

    def pool_deltas(self) -> Mapping[uuid.UUID, int]:
        deltas = Counter(self.in_sql.pool_deltas())
        deltas.update(self.by_engine.pool_deltas())
        return {p: d for p, d in deltas.items() if d}

    def seats_before(self) -> Mapping[uuid.UUID, PoolFigures]:
        return {**self.by_engine.pools_before, **self.in_sql.pools_before}

    async def user_ids(self) -> list[uuid.UUID]:
        return [*await self.in_sql.user_ids(), *await self.by_engine.user_ids()]

    def path_counts(self) -> Counter[tuple[uuid.UUID, str, str | None]]:
        return self.in_sql.path_counts() + self.by_engine.path_counts()

    def summary(self, change: Change) -> ChangeSummary:
        """The two parts' summaries as the steps of one change (their users are disjoint; both
        read the pools before either is stored, so each part's seat move adds to the other's)."""
        return self.in_sql.summary(change).merged(self.by_engine.summary(change), change.catalog)

    async def store(self, change: Change) -> None:
        await self.in_sql.store(change)
        await self.by_engine.store(change)

    async def append_events(self, change: Change) -> None:
        await self.in_sql.append_events(change)
        await self.by_engine.append_events(change)


async def _by_engine(
    change: Change, user_ids: list[uuid.UUID], proposed: list[tuple[PathKey, frozenset[uuid.UUID] | None]], **kwargs: object
) -> Decision:
    """The engine's decision for these users of the batch, with the group paths the change
    creates, edits (disabled plans) or ends (None) for them."""
    facts = await load_facts(change.conn, change.tenant_id, user_ids)
    proposal = Proposal(user_ids=set(user_ids), direct_first=False)
    for key, disabled in proposed:
        if disabled is None:
            proposal.removals.add(key)
        else:
            proposal.upserts[key] = NewPath(disabled)
    return await decide(change, proposal, direct=False, facts=facts, **kwargs)  # type: ignore[arg-type]


WAITERS_PER_GROUP_REMOVAL = 10_000  # waiting users staged beside a change that ends a group's membership or nesting


async def reconcile(
    change: Change, overlay: Overlay, *, groups: Iterable[uuid.UUID] = (), users: Iterable[uuid.UUID] = (),
    below: Iterable[uuid.UUID] | None = None,
) -> Reconciled:
    """Decide the group paths of every member of `groups` and of `users` on the graph as
    `overlay` changes it (no writes; a real run locks the pools it draws on, D21).

    `below`: the change happens inside these groups (an edge of theirs, or a member group of
    theirs deleted): only their licenses and those of the groups containing them can reach
    someone differently. None: any group's."""
    conn, rt, tid = change.conn, change.runtime, change.tenant_id
    batch = GroupBatch(conn, tid)
    tenant = await tenants.get_tenant(conn, tid)
    licensing = None if below is None else await batch.supergroups(below)
    products = await batch.licensed_products(overlay, licensing)
    removes = bool(overlay.remove_user_edges or overlay.remove_group_edges or overlay.removed_groups or overlay.ends_group_licenses)
    if removes and products:
        # the seats a change's leavers give up go first to whoever already waits for them (R4),
        # not to another claim of the batch behind them in line: the first waiting users join
        # the batch and queue with its claims by their places (as many as seats may be freed)
        users = list(users)
        releasing = len({u for _, u in overlay.remove_user_edges}) or WAITERS_PER_GROUP_REMOVAL
        users += await licensing_rows.waiting_users(conn, tid, products, releasing * len(products), excluding=users)
    staged = [str(p) for p in products]
    staged_rules = rule_products(rt.engine_catalog, rt.rules, staged)
    linked = staged_rules | linked_products(rt.engine_catalog, rt.rules, staged) if staged_rules else frozenset()
    size = await batch.stage(
        overlay, groups=groups, users=users, default_location=tenant.default_usage_location if tenant else None,
        rule_products=[uuid.UUID(p) for p in linked],
    )
    await batch.collect_claims()
    engine_users = await _engine_users(change, batch)
    if not change.dry_run:
        await subscription_repo.lock_pools(conn, tid, products)
    pools = await read_figures(conn, tid, products, change.now, rt.cancellation_window)
    available = {p: f.available for p, f in pools.items()}
    if engine_users:
        def short(counts: Mapping[uuid.UUID, tuple[int, int]]) -> bool:
            return any(wanting > available.get(p, 0) + released for p, (wanting, released) in counts.items())

        # the SQL part is decided first, without the seats the engine's users give up: if its
        # claims need those seats, they would get them only from the recovery after the write
        # (a second event for the same pair, R25; a dry run not showing it): the engine decides
        # the batch whole
        whole, in_sql = await batch.seat_counts(excluding=engine_users)
        scarce = short(whole) or short(in_sql)
        await batch.nested_loops(on=True)
        if scarce or len(engine_users) == size:
            # who gets a seat depends on the whole queue: the engine decides the batch whole
            return Reconciled(await _by_engine(change, await batch.user_ids(), await batch.proposed_paths()), size)
        # enough seats for every claim: the engine decides its users, SQL the others
        engine_proposed = await batch.proposed_paths_of(engine_users)
        await batch.set_aside(engine_users)
        await batch.nested_loops(on=not batch.large)
    await batch.decide(available)
    in_sql = BatchDecision(batch, await batch.figures(MAX_OUTCOMES), pools)
    if not engine_users:
        return Reconciled(in_sql, size)
    taken = in_sql.pool_deltas()
    free = {p: available.get(p, 0) - taken.get(p, 0) for p in products}
    by_engine = await _by_engine(change, sorted(engine_users), engine_proposed, free_seats=free)
    return Reconciled(SplitDecision(in_sql, by_engine), size)

