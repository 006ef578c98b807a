"""R1, R4 and D14: who holds the seats of a product.

A user holds at most one seat per product however many paths lead there (R1): the unit of
seat allocation is a *claim*, one per (user, product) with at least one path still in the
running. Holders (D14) keep their seat while they have such a path; everyone else waits in
line by R4 order — the claim's earliest place in line (`queue_seq`), then user creation
order — and takes a seat while one is free.

`free` seats of a product are the seats available to new holders: availableUnits
(totalUnits − consumedUnits, where consumedUnits counts current holders, those of the batch
included) plus every seat a holder of the batch gives up. It may be negative when the
product is over-assigned (R15): then nobody gets a new seat until it is positive again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


class Claim:
    """A user's claim to one seat of one product, backed by that user's candidate paths."""

    __slots__ = ("user_id", "product_id", "created_seq", "paths", "first_seq", "holder", "seated", "alive")

    def __init__(
        self, user_id: str, product_id: str, created_seq: int, holder: bool, ref: int, queue_seq: int
    ) -> None:
        self.user_id = user_id
        self.product_id = product_id
        self.created_seq = created_seq
        self.paths = [ref]
        self.first_seq = queue_seq
        self.holder = holder
        self.seated = holder
        self.alive = True

    def add_path(self, ref: int, queue_seq: int) -> None:
        """Back the claim with one more candidate path."""
        self.paths.append(ref)
        if queue_seq < self.first_seq:
            self.first_seq = queue_seq

    def drop_path(self, ref: int, queue_seq_of: Sequence[int]) -> bool:
        """Remove a path that dropped out; True when the claim's place in line moved."""
        self.paths.remove(ref)
        if not self.paths:
            return False
        before, self.first_seq = self.first_seq, min(queue_seq_of[other] for other in self.paths)
        return self.first_seq != before

    def place_in_line(self) -> tuple[int, int, str]:
        """R4/D2: earliest path first, ties by user creation order (then id, for determinism)."""
        return (self.first_seq, self.created_seq, self.user_id)


class SeatLine:
    """The seats of one product: holders keep theirs, the rest are served in R4 order."""

    __slots__ = ("free", "_waiting", "_next", "_reorder")

    def __init__(self, free: int) -> None:
        self.free = free
        self._waiting: list[Claim] = []
        self._next = 0
        self._reorder = False

    def join(self, claim: Claim) -> None:
        """Add a claim: a holder keeps its seat; any other claim queues (call `settle`)."""
        if not claim.holder:
            self._waiting.append(claim)
            self._reorder = True

    def withdraw(self, claim: Claim, *, set_aside: bool = False) -> None:
        """The claim has no candidate path left: its seat, if any, becomes free — unless it is
        `set_aside` (D14: a holder whose user is judged again keeps it out of the line)."""
        claim.alive = False
        if claim.seated:
            claim.seated = False
            if not set_aside:
                self.free += 1

    def requeue(self) -> None:
        """A waiting claim's place in line moved: serve the line again from the start."""
        self._reorder = True

    def settle(self) -> tuple[list[Claim], list[Claim]]:
        """Hand free seats to waiting claims in R4 order; returns (seated, unseated) claims.

        Withdrawals only move seats down the line, so normally this continues where it left
        off; only a changed place in line makes it serve the line again from the start, which
        may take a seat back from a claim now behind it.
        """
        if self._reorder:
            return self._serve_from_start()
        seated: list[Claim] = []
        while self.free > 0 and self._next < len(self._waiting):
            claim = self._waiting[self._next]
            self._next += 1
            if claim.alive and not claim.seated:
                claim.seated = True
                self.free -= 1
                seated.append(claim)
        return seated, []

    def _serve_from_start(self) -> tuple[list[Claim], list[Claim]]:
        self._reorder = False
        waiting = [claim for claim in self._waiting if claim.alive]
        waiting.sort(key=Claim.place_in_line)
        seats = self.free + sum(1 for claim in waiting if claim.seated)
        gained: list[Claim] = []
        lost: list[Claim] = []
        for position, claim in enumerate(waiting):
            should_sit = position < seats
            if should_sit and not claim.seated:
                gained.append(claim)
            elif claim.seated and not should_sit:
                lost.append(claim)
            claim.seated = should_sit
        taken = min(max(seats, 0), len(waiting))
        self.free = seats - taken
        self._waiting = waiting
        self._next = taken
        return gained, lost


@dataclass(frozen=True, slots=True)
class SeatChange:
    """How one product's pool moves when the evaluation is applied.

    `available_before` is the input availableUnits; `acquired` counts users of the batch
    who newly hold a seat, `released` those who no longer do.
    """

    product_id: str
    available_before: int
    acquired: int
    released: int

    @property
    def consumed_delta(self) -> int:
        """New consumedUnits − old consumedUnits."""
        return self.acquired - self.released

    @property
    def available_after(self) -> int:
        """availableUnits once the evaluation is applied."""
        return self.available_before - self.consumed_delta
