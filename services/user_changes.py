"""What follows every change of users, inside its transaction: the one path each entry point
(GraphQL, the CLI's imports, SCIM) takes after creating, updating or deleting users.

A user's new usage location re-evaluates their paths (R8); a deleted user's paths end and
their seats go to whoever waits (R4, R11); created and updated users join and leave dynamic
groups by their rules (R22, `dynamic_groups.follow_rules`), with the licenses that follow.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from db.records import UserRecord
from db.repo import dynamic_groups as rule_rows
from db.repo.licensing import PathKey, StoredPath, load_facts
from services.change import Change
from services.dynamic_groups import RuleMoves, follow_rules
from services.errors import Problem, Refused
from services.license_changes import Proposal, decide, write
from services.summaries import ChangeSummary


@dataclass(frozen=True)
class UsersChanged:
    changes: ChangeSummary
    licenses_freed: int = 0  # seats the deleted users held
    rule_moves: RuleMoves | None = None  # dynamic-group joins and leaves

    def audit_details(self) -> dict[str, object]:
        """The joins and leaves per dynamic group, for the change's audit event (D32)."""
        moves = self.rule_moves
        return {"dynamic_groups": moves.counts()} if moves is not None and moves.any else {}

    def audit_text(self) -> str:
        return self.rule_moves.summary_text() if self.rule_moves is not None else ""


async def users_changed(
    change: Change, *, created: Sequence[UserRecord] = (), updated: Sequence[tuple[UserRecord, UserRecord]] = (),
    deleted: Sequence[UserRecord] = (), stored_ids: Sequence[uuid.UUID] = (), refuse_new_errors: bool = True,
) -> UsersChanged:
    """Bring licenses in line with users just created, updated (before, after) or about to be
    deleted (their rows still stored).

    `refuse_new_errors` (D1): a GraphQL user change is refused when its own new values would
    put an ACTIVE path into ERROR (e.g. clearing a licensed user's usage location); an identity
    provider's change is applied and the errors recorded (D27). `stored_ids`: a batch of users
    just stored (an import), whose rules are evaluated in SQL. Joining and leaving dynamic groups
    is never refused (D24)."""
    summary = ChangeSummary(change.dry_run)
    freed = 0
    locations = {after.id: after.usage_location for before, after in updated if before.usage_location != after.usage_location}
    # the dynamic groups first: D1 refuses only for the paths the users keep, so a path the
    # change ends by taking its user out of a dynamic group must be gone when the new
    # locations are judged (a dry run stores these moves in its own, rolled-back transaction)
    # D24: D1 judges the paths the users keep against how they were before the whole change
    # (the dynamic groups' step below may already have recorded the new values' errors)
    original = (await load_facts(change.conn, change.tenant_id, list(locations))).paths if locations and refuse_new_errors else None
    moves = await follow_rules(change, created=created, updated=updated, stored_ids=stored_ids, store_in_dry_run=bool(locations))
    if locations:
        summary = await _locations_changed(change, locations, refuse=refuse_new_errors, refused_from=original)
    if deleted:
        # the deleted users leave their dynamic groups with their memberships: the audit counts
        # those leaves as it counts a rule's (D32)
        for group_id, user_id, name in await rule_rows.dynamic_memberships(change.conn, change.tenant_id, [u.id for u in deleted]):
            moves.left.setdefault(group_id, []).append(user_id)
            moves.names[group_id] = name
        summary, freed = await _users_deleted(change, [u.id for u in deleted])
    if moves.any and moves.changes is not None:
        summary = moves.changes.merged(summary, change.catalog)
    return UsersChanged(summary, freed, moves)


async def _locations_changed(
    change: Change, locations: dict[uuid.UUID, str | None], *, refuse: bool,
    refused_from: Mapping[PathKey, StoredPath] | None = None,
) -> ChangeSummary:
    """R8, D1: new usage locations re-evaluate the users' paths (`refused_from`: the paths
    before the whole change, `license_changes.decide`)."""
    proposal = Proposal(user_ids=set(locations), locations=dict(locations))
    decision = await decide(change, proposal, direct=refuse, refused_from=refused_from)
    if decision.refusals:
        raise Refused([
            Problem(p.code, p.message, "input.usageLocation", p.user_id, p.product_id) for p in decision.problems()
        ])
    return decision.summary(change).merged(await write(change, decision), change.catalog)


async def _users_deleted(change: Change, user_ids: list[uuid.UUID]) -> tuple[ChangeSummary, int]:
    """Every path of users being deleted ends: seats go back to the pool (and to whoever waits
    for them, R4), group-license counters follow (R11). Returns the summary and seats freed."""
    facts = await load_facts(change.conn, change.tenant_id, user_ids)
    proposal = Proposal(user_ids=set(user_ids), removals=set(facts.paths))
    decision = await decide(change, proposal, direct=False, facts=facts)
    summary = decision.summary(change).merged(await write(change, decision), change.catalog)
    return summary, len(facts.holders) + len(facts.self_service_holders)
