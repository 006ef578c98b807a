"""D15: evaluating a batch of users' assignment paths.

Every path of every user of the batch is judged in this order, one error per path:

1. R8 location — USAGE_LOCATION_REQUIRED, PROHIBITED_IN_USAGE_LOCATION_VIOLATION;
2. R6 exclusivity among the paths that passed it, current holders first (D14: an ACTIVE,
   unchanged path keeps its plans), then R4 order — the later path errors;
3. R7 paths whose prerequisites no other remaining path of the user could supply (they
   would fail whatever the seats do, so they take none);
4. R4 seats — holders keep theirs (D14), the others are served in R4 order (seats.py);
5. R7 again: a path whose prerequisite is not enabled by an ACTIVE path loses its place and
   the freed seats are handed out again, until nothing changes (the candidates only shrink).

A user whose outcome hangs on the order of those steps (an exclusivity rejection judged in
another order than the result's holders would be, or a path that lost its place in step 5
although its prerequisite could still come) is evaluated again with the result as the
holders (D14), until that reproduces itself. So evaluating the output again — holders =
ACTIVE paths, availableUnits after the change — gives the same states.

Through those rounds the user's current holders keep their seats (D14): a seat such a holder
gave up in the first judging (its paths failed in an order the rounds undo) is set aside —
everyone is judged again without handing it to the line — and the holder takes it back if a
path of its own is ACTIVE in the end. Only a set-aside seat its holder does not keep, of a
product someone waits for, is then handed out after all (judged again without setting it aside).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from engine.batch import Batch, Outcome, Seat
from engine.decisions import decide
from engine.errors import ErrorCode, MissingPrerequisite
from engine.exclusivity import ExclusivityClaim, judge_exclusivity
from engine.facts import Catalog, PathFacts, UserFacts
from engine.results import Evaluation
from engine.rules import ServicePlanRules
from engine.seats import Claim, SeatLine

_NO_SEAT: Outcome = (ErrorCode.COUNT_VIOLATION, None)


def evaluate(
    users: Iterable[UserFacts],
    paths: Iterable[PathFacts],
    catalog: Catalog,
    rules: ServicePlanRules,
    available_units: Mapping[str, int],
    tenant_default_location: str | None = None,
    seat_holders: Iterable[tuple[str, str]] = (),
) -> Evaluation:
    """Decide every path of a batch of users (1 or 100,000) — D15 — and what it does to seats.

    - `paths` must hold every path of every user in `users` (R6/R7 look across products).
    - `available_units[product_id]`: availableUnits of the product's pool before this
      evaluation — totalUnits − consumedUnits, where consumedUnits counts every current
      holder, the batch's included (users with a `holds_seat` path). A holder of the batch
      who keeps the seat needs no new one; one who loses it frees one; each new holder takes
      one, in R4 order, while the result is ≥ 1. A missing product counts as 0.
    - `tenant_default_location`: the usage location of group paths of users with none (R8).
    - `seat_holders`: (user_id, product_id) pairs holding a seat now, besides those with a
      `holds_seat` path — needed for a user whose paths to a product all ended (group license
      removed, member left): the seat is released and reported in `seat_changes`.
    """
    batch = Batch(users, paths, catalog, rules, tenant_default_location, seat_holders)
    products = {path.product_id for path in batch.paths} | {product_id for _, product_id in batch.holders}
    free = {product_id: available_units.get(product_id, 0) for product_id in products}

    def unchanged_holder(ref: int) -> bool:
        path = batch.paths[ref]
        return path.holds_seat and not path.edited

    set_aside: set[Seat] = set()  # D14: holders' seats kept out of the line (module docstring)
    banned: set[Seat] = set()  # set-aside seats their holders did not keep, wanted by the line
    # Each retry sets seats aside or bans some; a seat leaves `set_aside` only when banned, and
    # a banned one never comes back: at most two retries per holder's seat.
    for _ in range(2 * len(batch.holders) + 2):
        judged = _Pass(batch, unchanged_holder, batch.holders, free, set_aside).run(batch.paths_of)
        outcome = judged.outcome
        if not judged.unsettled and not set_aside:
            return decide(batch, outcome, available_units)
        again = sorted(judged.unsettled | {user_id for user_id, _ in set_aside})
        in_again = set(again)
        kept = {seat for seat in batch.holders if seat[0] in in_again and batch.could_hold(seat)} - banned
        given_up = {seat for seat in kept - set_aside if not judged.seated(seat)}
        if given_up:  # judge everyone again without handing these seats out
            set_aside |= given_up
            continue
        refs = [ref for user_id in again for ref in batch.paths_of[user_id]]
        active = frozenset(ref for ref in refs if outcome[ref] is None)
        # Each round keeps every ACTIVE path of the one before (holders come first in R6,
        # keep their seats and their prerequisites), so ACTIVE only grows: this ends.
        for _ in range(len(refs) + 1):
            holders = {(batch.paths[ref].user_id, batch.paths[ref].product_id) for ref in active} | kept
            judged = _Pass(batch, active.__contains__, holders, judged.leftover(), kept).run(again)
            outcome.update(judged.outcome)
            now_active = frozenset(ref for ref in refs if outcome[ref] is None)
            if now_active == active:
                break
            active = now_active
        else:  # pragma: no cover - guarded by the argument above
            raise RuntimeError("re-evaluation with the result as holders did not settle")
        unused = _unused_seats_wanted(batch, outcome, kept, active, judged.leftover())
        if not unused:
            return decide(batch, outcome, available_units)
        banned |= unused
        set_aside -= unused
    raise RuntimeError("setting holders' seats aside did not settle")  # pragma: no cover


def _unused_seats_wanted(
    batch: Batch, outcome: Mapping[int, Outcome], kept: set[Seat], active: frozenset[int], free: Mapping[str, int]
) -> set[Seat]:
    """The set-aside seats no ACTIVE path keeps, of products where someone waits for a seat
    (COUNT_VIOLATION) that they would free: these must go to the line after all (R4).

    Those of products that users with such unused seats wait for go first, alone: the seat
    may be what lets another holder's path meet its prerequisite (R7) and keep its own seat.
    """
    held = {(batch.paths[ref].user_id, batch.paths[ref].product_id) for ref in active}
    unused = kept - held
    if not unused:
        return set()
    freed: dict[str, int] = {}
    for _, product_id in unused:
        freed[product_id] = freed.get(product_id, 0) + 1
    waiting: set[Seat] = set()
    for ref, decided in outcome.items():
        if decided is not None and decided[0] is ErrorCode.COUNT_VIOLATION:
            waiting.add((batch.paths[ref].user_id, batch.paths[ref].product_id))
    awaited = {product_id for _, product_id in waiting}
    wanted = {seat for seat in unused if seat[1] in awaited and free.get(seat[1], 0) + freed[seat[1]] >= 1}
    holders_waiting = {user_id for user_id, _ in unused}
    awaited_by_holders = {product_id for user_id, product_id in waiting if user_id in holders_waiting}
    first = {seat for seat in wanted if seat[1] in awaited_by_holders}
    return first or wanted


class _Pass:
    """Steps 1–5 for some users of the batch, given who holds seats and how many are free.

    `first(ref)` says which paths are D14 holders for R6 (judged before the others).
    """

    def __init__(
        self,
        batch: Batch,
        first: Callable[[int], bool],
        holders: set[Seat],
        free: Mapping[str, int],
        set_aside: set[Seat],
    ) -> None:
        self.batch = batch
        self.first = first
        self.holders = holders
        self.free = free
        self.set_aside = set_aside  # holders' seats that stay out of the line when given up
        self.outcome: dict[int, Outcome] = {}
        self.candidates: dict[str, list[int]] = {}  # per user: paths still in the running
        self.claims: dict[Seat, Claim] = {}
        self.claim_of: dict[int, Claim] = {}
        self.lines: dict[str, SeatLine] = {}
        self.contested: dict[str, list[int]] = {}  # users with an R6 conflict: the paths judged
        self.lost: dict[str, list[int]] = {}  # users with paths that lost their place (step 5)
        self.unsettled: set[str] = set()

    def run(self, user_ids: Iterable[str]) -> _Pass:
        """Judge the users; afterwards `outcome` holds every path's verdict."""
        needy = [user_id for user_id in user_ids if self._judge_user(user_id)]
        self._hand_out_seats()
        self._drop_unmet_prerequisites(set(needy))
        for refs in self.candidates.values():
            for ref in refs:
                self.outcome[ref] = None if self.claim_of[ref].seated else _NO_SEAT
        self._find_unsettled()
        return self

    def seated(self, seat: Seat) -> bool:
        """Whether the (user, product) holds a seat after this pass."""
        claim = self.claims.get(seat)
        return claim is not None and claim.seated

    def leftover(self) -> dict[str, int]:
        """Free seats per product after this pass."""
        free = dict(self.free)
        free.update((product_id, line.free) for product_id, line in self.lines.items())
        return free

    def _judge_user(self, user_id: str) -> bool:
        """Steps 1–3 for one user; True when a remaining path has a prerequisite (R7)."""
        batch, outcome = self.batch, self.outcome
        passing = []
        needy = False
        for ref in batch.paths_of[user_id]:
            verdict = batch.location[ref]
            if verdict is None:
                passing.append(ref)
                needy = needy or batch.needs[ref]
            else:
                outcome[ref] = verdict
        if self._judge_exclusivity(user_id, passing):
            passing = [ref for ref in passing if ref not in outcome]
            needy = any(batch.needs[ref] for ref in passing)
        if needy:
            pruned = batch.prerequisites.unsatisfiable(tuple([batch.names[ref] for ref in passing]))
            if pruned:
                for position, gap in pruned:
                    outcome[passing[position]] = (ErrorCode.DEPENDENCY_VIOLATION, gap)
                passing = [ref for ref in passing if ref not in outcome]
        self.candidates[user_id] = passing
        created_seq = batch.users[user_id].created_seq
        for ref in passing:
            path = batch.paths[ref]
            seat = (user_id, path.product_id)
            claim = self.claims.get(seat)
            if claim is None:
                claim = Claim(
                    user_id, path.product_id, created_seq, seat in self.holders, ref, path.queue_seq
                )
                self.claims[seat] = claim
            else:
                claim.add_path(ref, path.queue_seq)
            self.claim_of[ref] = claim
        return needy

    def _judge_exclusivity(self, user_id: str, passing: list[int]) -> bool:
        """Step 2 (R6); True when some path was judged against another."""
        batch = self.batch
        check = batch.exclusivity
        contested = [ref for ref in passing if batch.contested[ref]]
        if not contested or (len(contested) == 1 and not check.self_conflicting(batch.names[contested[0]])):
            return False
        contested.sort(key=batch.exclusivity_order(self.first))
        claims = (
            ExclusivityClaim(ref, batch.paths[ref].product_id, batch.paths[ref].group_id, batch.names[ref])
            for ref in contested
        )
        for ref, conflict in judge_exclusivity(claims, check.exclusive_with).items():
            self.outcome[ref] = (ErrorCode.MUTUALLY_EXCLUSIVE_VIOLATION, conflict)
        self.contested[user_id] = contested
        return True

    def _line(self, product_id: str) -> SeatLine:
        line = self.lines.get(product_id)
        if line is None:
            line = self.lines[product_id] = SeatLine(self.free.get(product_id, 0))
        return line

    def _hand_out_seats(self) -> None:
        """Step 4 (R4, D14): holders keep their seats, the rest queue in R4 order."""
        for claim in self.claims.values():
            self._line(claim.product_id).join(claim)
        for seat in self.holders:
            if seat not in self.claims and seat not in self.set_aside:  # no path left in the running
                self._line(seat[1]).free += 1
        for line in self.lines.values():
            line.settle()

    def _drop_unmet_prerequisites(self, to_check: set[str]) -> None:
        """Step 5 (R7): paths whose prerequisites no ACTIVE path enables lose their place; the
        seats they free are handed out again, and the users who lose one are checked again."""
        batch = self.batch
        names, candidates, claim_of = batch.names, self.candidates, self.claim_of
        while to_check:
            losses: list[tuple[int, MissingPrerequisite]] = []
            for user_id in to_check:
                refs = candidates[user_id]
                profile = tuple([(names[ref], claim_of[ref].seated) for ref in refs])
                losses.extend(
                    (refs[position], gap) for position, gap in batch.prerequisites.not_enabled(profile)
                )
            to_check = set()
            touched: set[str] = set()
            for ref, gap in losses:
                path = batch.paths[ref]
                self.outcome[ref] = (ErrorCode.DEPENDENCY_VIOLATION, gap)
                self.lost.setdefault(path.user_id, []).append(ref)
                to_check.add(path.user_id)
                candidates[path.user_id].remove(ref)
                claim = claim_of.pop(ref)
                moved = claim.drop_path(ref, batch.queue_seqs)
                line = self.lines[path.product_id]
                if not claim.paths:
                    line.withdraw(claim, set_aside=(path.user_id, path.product_id) in self.set_aside)
                elif moved and not claim.holder:
                    line.requeue()
                touched.add(path.product_id)
            for product_id in touched:
                _, unseated = self.lines[product_id].settle()
                to_check.update(claim.user_id for claim in unseated)

    def _find_unsettled(self) -> None:
        """Users whose verdict may differ once this pass's result holds the seats (D14)."""
        names = self.batch.names
        for user_id, contested in self.contested.items():
            if any(self.first(ref) != (self.outcome[ref] is None) for ref in contested):
                self.unsettled.add(user_id)
        for user_id, refs in self.lost.items():
            kept = [names[ref] for ref in self.candidates[user_id] if self.claim_of[ref].seated]
            if self.batch.prerequisites.could_be_met([names[ref] for ref in refs], kept):
                self.unsettled.add(user_id)
