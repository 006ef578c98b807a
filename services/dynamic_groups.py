"""Dynamic groups (R22–R24, D24, D32): members by rule, always right, in the changing transaction.

A dynamic group's members are stored like an assigned group's (`group_user_members`), so the
group path (R4–R10) licenses them unchanged. What keeps them right lives here:

- `follow_rules`: after users are created or updated (GraphQL, `licensing import users`, SCIM),
  each changed user joins the dynamic groups whose rule they now match and leaves the others.
  Called from `user_changes.users_changed`, the one place every user change passes.
- `apply_rule`: a group's members made to follow a (new) rule: createGroup, updateGroup and
  reprocessLicenses of a dynamic group.

Both reconcile the users they move through `group_changes.reconcile` (D24: group-driven, never
refused; their errors are recorded) and are computed the same way in a dry run, which writes
nothing. A rule is evaluated by the engine (`engine.membership_rules`) for users given as
records and in SQL (`db.repo.membership_rule_sql`) for a whole tenant or a stored batch; a
property test keeps the two in agreement. Statements that evaluate rules run under
LICENSING_RULE_TIMEOUT_MS.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

from db.records import GroupRecord, UserRecord
from db.repo import directory
from db.repo import dynamic_groups as rows
from engine.membership_rules import MAX_RULE_LENGTH, PROPERTIES, Rule, RuleError, parse_cached
from services.change import Change, sqlstate
from services.context import Runtime
from services.errors import ErrorCode, Refused, invalid, refuse
from services.group_changes import Overlay, reconcile
from services.ids import to_global_id
from services.license_changes import hand_on, store, write
from services.summaries import ChangeSummary

QUERY_CANCELED = "57014"
RULE_FIELD = "input.membershipRule"


# ------------------------------------------------------------------------------ rules


def parse_rule(text: str, field: str = RULE_FIELD) -> Rule:
    """A rule as the admin wrote it (not trimmed, D32), parsed; INVALID_INPUT naming the 0-based
    position and what was expected there (R23)."""
    check = RuleCheck.of(text)  # too long or a NUL: an error with its position too, as in the preview
    if check.rule is None:
        assert check.error is not None
        raise invalid(field, rule_error_message(check.error))
    return check.rule


def rule_error_message(exc: RuleError) -> str:
    return f"The membership rule is not valid at position {exc.position}: {exc.message}"


def slow_rule(rt: Runtime, exc: DBAPIError) -> Refused | None:
    """The refusal for a rule whose evaluation passed LICENSING_RULE_TIMEOUT_MS (else None)."""
    if sqlstate(exc) != QUERY_CANCELED:
        return None
    return invalid(
        RULE_FIELD,
        f"Evaluating the membership rule took longer than {rt.settings.rule_timeout_ms / 1000:g} s; "
        "simplify its regular expressions (-match) or narrow it, then try again. Nothing was changed.",
    )


@asynccontextmanager
async def under_rule_timeout(rt: Runtime, conn: AsyncConnection) -> AsyncIterator[None]:
    """Statements inside evaluate rules: LICENSING_RULE_TIMEOUT_MS applies, and passing it is
    the admin's refusal (`slow_rule`), not a database error."""
    try:
        async with rows.rule_timeout(conn, rt.settings.rule_timeout_ms):
            yield
    except DBAPIError as exc:
        raise slow_rule(rt, exc) or exc from exc


def attributes(user: UserRecord) -> dict[str, str | bool | None]:
    """A user's values as a rule reads them (`usageLocation` is the user's own, D32)."""
    return {name: getattr(user, column, None) for name, column in PROPERTIES.items()}


def _columns(user: UserRecord) -> dict[str, object]:
    """A user's id and the columns rules read, as stored (for evaluation in SQL)."""
    return {"id": user.id, **{column: getattr(user, column, None) for column in PROPERTIES.values()}}


def stored_rules(texts: Mapping[uuid.UUID, str]) -> dict[uuid.UUID, Rule]:
    """The tenant's stored rules, parsed (a stored rule was valid when stored)."""
    return {gid: parse_cached(text) for gid, text in texts.items()}


async def check_cap(rt: Runtime, conn: AsyncConnection, tenant_id: str) -> None:
    """D32: at most LICENSING_MAX_DYNAMIC_GROUPS dynamic groups per tenant."""
    limit = rt.settings.max_dynamic_groups
    if await rows.count(conn, tenant_id) >= limit:
        raise invalid(
            RULE_FIELD,
            f"This organisation already has {limit:,} dynamic groups, the most allowed "
            "(LICENSING_MAX_DYNAMIC_GROUPS); remove the rule of one you no longer need first.",
        )


# ------------------------------------------------------------------------------ moves


@dataclass
class RuleMoves:
    """Who joined and who left which dynamic group (user creation order), and what that did to
    their licenses."""

    joined: dict[uuid.UUID, list[uuid.UUID]] = field(default_factory=dict)
    left: dict[uuid.UUID, list[uuid.UUID]] = field(default_factory=dict)
    changes: ChangeSummary | None = None
    names: dict[uuid.UUID, str] = field(default_factory=dict)  # the groups' display names, for the audit

    @property
    def any(self) -> bool:
        return any(self.joined.values()) or any(self.left.values())

    def counts(self) -> dict[str, dict[str, int]]:
        """Per dynamic group (global id): joins and leaves — the audit's details (D32)."""
        groups = sorted(set(self.joined) | set(self.left), key=str)
        return {
            to_global_id("Group", g): {"joined": len(self.joined.get(g, ())), "left": len(self.left.get(g, ()))}
            for g in groups
        }

    def summary_text(self) -> str:
        """'; dynamic groups: 2 joined, 1 left (Sales: 2 joined; Finance: 1 left)' — the totals,
        then per group (D32); empty when nobody moved."""
        if not self.any:
            return ""
        joined = sum(len(v) for v in self.joined.values())
        left = sum(len(v) for v in self.left.values())
        per_group = []
        for g in sorted(set(self.joined) | set(self.left), key=lambda g: (self.names.get(g, "").lower(), str(g))):
            moved = [f"{len(self.joined[g])} joined"] if self.joined.get(g) else []
            moved += [f"{len(self.left[g])} left"] if self.left.get(g) else []
            per_group.append(f"{self.names.get(g, to_global_id('Group', g))}: {', '.join(moved)}")
        return f"; dynamic groups: {joined} joined, {left} left ({'; '.join(per_group)})"


async def move(
    change: Change, joins: Iterable[tuple[uuid.UUID, uuid.UUID]], leaves: Iterable[tuple[uuid.UUID, uuid.UUID]],
    order: Mapping[uuid.UUID, int] | None = None, *, store_in_dry_run: bool = False,
) -> RuleMoves:
    """Reconcile, then (real run) store, these rule-driven membership changes: (group, user)
    pairs. Joins are stored in user creation order (`order`: user → created_seq), so ties
    between users who start to match at once go by creation order (D24). `store_in_dry_run`:
    a dry run stores them too, in its own transaction (always rolled back), for a next step of
    the same change to see."""
    joined: dict[uuid.UUID, list[uuid.UUID]] = defaultdict(list)
    left: dict[uuid.UUID, list[uuid.UUID]] = defaultdict(list)
    for g, u in joins:
        joined[g].append(u)
    for g, u in leaves:
        left[g].append(u)
    moves = RuleMoves(dict(joined), dict(left))
    if not moves.any:
        moves.changes = ChangeSummary(change.dry_run)
        return moves
    found = await directory.groups_by_ids(change.conn, change.tenant_id, sorted(set(joined) | set(left)))
    moves.names = {g: record.display_name for g, record in found.items()}
    if order is not None:
        for users in moves.joined.values():
            users.sort(key=lambda u: order.get(u, 0))
    overlay = Overlay(
        add_user_edges=[(g, u) for g, users in moves.joined.items() for u in users],
        remove_user_edges=[(g, u) for g, users in moves.left.items() for u in users],
    )
    users = {u for _, u in overlay.add_user_edges} | {u for _, u in overlay.remove_user_edges}
    if not users:
        moves.changes = ChangeSummary(change.dry_run)
        return moves
    groups = set(moves.joined) | set(moves.left)
    reconciled = await reconcile(change, overlay, users=sorted(users), below=sorted(groups))
    moves.changes = reconciled.decided.summary(change)
    if not change.dry_run or store_in_dry_run:
        for g, members in moves.joined.items():
            await directory.add_members(change.conn, change.tenant_id, g, members, [])
        for g, members in moves.left.items():
            await directory.remove_members(change.conn, change.tenant_id, g, members, [])
    if change.dry_run and store_in_dry_run:
        await store(change, reconciled.decided)  # in the dry run's own transaction, rolled back
        handed = await hand_on(change, reconciled.decided, stored=True)  # so later steps see it
    else:
        handed = await write(change, reconciled.decided)
    moves.changes = moves.changes.merged(handed, change.catalog)
    return moves


async def follow_rules(
    change: Change, *, created: Sequence[UserRecord] = (), updated: Sequence[tuple[UserRecord, UserRecord]] = (),
    stored_ids: Sequence[uuid.UUID] = (), store_in_dry_run: bool = False,
) -> RuleMoves:
    """R22: users just created or updated (records as they are now; `stored_ids`: a stored batch,
    evaluated in SQL) join the dynamic groups whose rule they match and leave the others
    (`store_in_dry_run`: see `move`)."""
    conn, tid = change.conn, change.tenant_id
    moved = [after for before, after in updated if attributes(before) != attributes(after)]
    users = [*created, *moved]
    if not users and not stored_ids:
        return RuleMoves(changes=ChangeSummary(change.dry_run))
    # D21: rule-driven membership is a license change; the lock also orders this change
    # after a concurrent createGroup/updateGroup of a rule, so neither misses the other
    await change.lock_licenses()
    texts = await rows.rules(conn, tid)
    if not texts:
        return RuleMoves(changes=ChangeSummary(change.dry_run))
    rules = stored_rules(texts)
    # the engine judges the users given as records, except for rules with a regular expression:
    # Python's `re` has no time limit, so those go to PostgreSQL under the rule timeout
    plain = {g: r for g, r in rules.items() if not r.uses_regex}
    with_regex = {g: r for g, r in rules.items() if r.uses_regex}
    matches = {(g, u.id) for u in users for g, rule in plain.items() if rule.matches(attributes(u))}
    ids = [u.id for u in users]
    order = {u.id: u.created_seq for u in users}
    if (with_regex and users) or stored_ids:  # the timeout costs three statements: only when rules run in SQL
        async with under_rule_timeout(change.runtime, conn):
            if with_regex and users:
                matches |= await rows.matches_of_values(conn, [_columns(u) for u in users], with_regex)
            if stored_ids:
                matches |= await rows.matches_of_users(conn, tid, stored_ids, rules)
    if stored_ids:
        ids += list(stored_ids)
        order.update(await rows.created_order(conn, tid, stored_ids))
    current = await rows.memberships(conn, tid, ids, rules)
    return await move(
        change, sorted(matches - current, key=str), sorted(current - matches, key=str), order, store_in_dry_run=store_in_dry_run
    )


async def apply_rule(change: Change, group: GroupRecord, rule: Rule) -> RuleMoves:
    """The group's members made to follow `rule`: matching users join (creation order), members
    who no longer match leave; members who still match keep their places (D17, D32)."""
    rt = change.runtime
    if await rows.has_group_members(change.conn, change.tenant_id, group.id):
        raise invalid(
            RULE_FIELD,
            f"{group.display_name} has groups as members; a dynamic group has users only. "
            "Remove its member groups first, then give it a rule.",
        )
    async with under_rule_timeout(rt, change.conn):
        joined, left = await rows.membership_moves(change.conn, change.tenant_id, group.id, rule)
    order = {u: i for i, u in enumerate(joined)}
    return await move(change, [(group.id, u) for u in joined], [(group.id, u) for u in left], order)


async def fill_new_group(change: Change, group: GroupRecord, rule: Rule) -> int:
    """A group just created with a rule: every matching user becomes a member, in creation order,
    in one statement. It holds no licenses and is in no group yet, so no license moves."""
    async with under_rule_timeout(change.runtime, change.conn):
        return await rows.add_rule_members(change.conn, change.tenant_id, group.id, rule)


def refuse_manual(group: GroupRecord) -> Refused:
    """R22: members of a dynamic group cannot be added or removed by hand."""
    return refuse(
        ErrorCode.DYNAMIC_MEMBERSHIP,
        f"{group.display_name} is a dynamic group: its members follow its rule ({group.membership_rule}). "
        "Change the rule with updateGroup, or remove the rule to manage members by hand.",
        group_id=group.id,
    )


# ------------------------------------------------------------------------------ what-if (R24)


@dataclass(frozen=True)
class RuleCheck:
    """A rule as typed: parsed, or the error with its 0-based position."""

    rule: Rule | None
    error: RuleError | None

    @classmethod
    def of(cls, text: str) -> RuleCheck:
        if len(text) > MAX_RULE_LENGTH:
            return cls(None, RuleError(f"the rule is longer than {MAX_RULE_LENGTH:,} characters", MAX_RULE_LENGTH))
        if "\x00" in text:
            return cls(None, RuleError("NUL characters are not allowed in a rule", text.index("\x00")))
        try:
            return cls(parse_cached(text), None)
        except RuleError as exc:
            return cls(None, exc)


async def matching_count(rt: Runtime, conn: AsyncConnection, tenant_id: str, rule: Rule) -> int:
    """How many of the tenant's users match (R24), under the rule timeout."""
    async with under_rule_timeout(rt, conn):
        return await rows.matching_count(conn, tenant_id, rule)


async def matching_sample(rt: Runtime, conn: AsyncConnection, tenant_id: str, rule: Rule, first: int) -> list[uuid.UUID]:
    """The first `first` matching users in creation order (R24), under the rule timeout."""
    async with under_rule_timeout(rt, conn):
        return await rows.matching_ids(conn, tenant_id, rule, limit=first)
