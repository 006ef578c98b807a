"""The SQL steps of a group change decided set-based (the services layer runs them in order:
`services.group_changes`). A batch lives in temporary tables of the change's transaction.

1. `stage`: the batch's users (creation order, usage locations) into `gb_users`; their paths to
   the products the affected licensing groups license — stored ones and those the graph implies
   as the change leaves it (`Overlay`) — into `gb_paths`: kept, new, edited (D18), removed (D17);
2. `self_service_users`, `rule_shapes`, `users_with_shapes`, `set_aside`: what the screening gate
   (`engine.screening.screen`) needs to decide whether the engine must judge the batch;
3. `collect_claims`, `decide`: each path judged exactly as `engine.evaluate` would judge it for
   a batch the gate cleared (each statement names the engine function it mirrors);
4. `figures`: what a change summary shows; `apply`: paths, licenses and counters by delta,
   one statement each. A dry run stops before `apply`.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from db.models import DIRECT
from db.repo.licensing import add_consumed
from engine.facts import BACK_OF_QUEUE

TABLES = (
    "DROP TABLE IF EXISTS pg_temp.gb_users, pg_temp.gb_paths, pg_temp.gb_claims, pg_temp.gb_waiting, pg_temp.gb_result, "
    "pg_temp.gb_licenses",
    """CREATE TEMP TABLE gb_users (
        user_id uuid PRIMARY KEY, created_seq bigint NOT NULL, own_location text, group_location text,
        user_principal_name text NOT NULL
    ) ON COMMIT DROP""",
    """CREATE TEMP TABLE gb_paths (
        user_id uuid NOT NULL, product_id uuid NOT NULL, group_id uuid NOT NULL,
        disabled uuid[], old_disabled uuid[], queue_seq bigint, old_state text, old_error text,
        kind text NOT NULL, subscription_id uuid, row_id tid
    ) ON COMMIT DROP""",
)
# gb_paths.kind: N new, K kept, E edited (disabled plans changed), R removed — paths of the
# staged products; O a path to another product a rule links to them, read for screening only.
# row_id (and gb_claims.license_row): where the stored row was read (its ctid; NULL for a new
# one), so that the writes find it without a join over the tenant's table (see WRITE_PATHS).


def _walk(*, down: bool) -> str:
    """Groups and, at any depth, every group nested in them (down) or containing them (up)."""
    near, far = ("group_id", "member_group_id") if down else ("member_group_id", "group_id")
    return f"""
WITH RECURSIVE walk(id) AS (
    SELECT unnest(CAST(:groups AS uuid[]))
    UNION
    SELECT e.{far} FROM group_group_members e JOIN walk ON e.{near} = walk.id WHERE e.tenant_id = :t
)
SELECT id FROM walk
"""


SUBGROUPS = _walk(down=True)  # the graph is small next to its members: walked on its own
SUPERGROUPS = _walk(down=False)

# Mirrors engine.location.usage_location_for: a direct path is judged in the user's own location,
# a group path in the user's, else the tenant default (R8).
FILL_USERS = """
WITH batch(user_id) AS (
    SELECT m.user_id FROM group_user_members m WHERE m.tenant_id = :t AND m.group_id = ANY(CAST(:groups AS uuid[]))
    UNION
    SELECT unnest(CAST(:users AS uuid[]))
)
INSERT INTO gb_users (user_id, created_seq, own_location, group_location, user_principal_name)
SELECT u.id, u.created_seq, upper(nullif(u.usage_location, '')),
       coalesce(upper(nullif(u.usage_location, '')), upper(nullif(:default_location, ''))), u.user_principal_name
FROM batch b JOIN users u ON u.tenant_id = :t AND u.id = b.user_id
"""

# The licensing groups whose members may change (`:licensing`) and the products they license,
# before and after the change: only these paths can change (see GroupBatch.stage).
LICENSED_PRODUCTS = """
SELECT DISTINCT product_id FROM group_licenses WHERE tenant_id = :t AND group_id = ANY(CAST(:licensing AS uuid[]))
"""

# Each licensing group and the groups nested in it, at any depth, on the graph as the change
# leaves it (the overlay's group edges added/removed, its groups gone): small, read first.
DOWN = """
WITH RECURSIVE
group_edges AS (
    SELECT e.group_id, e.member_group_id FROM group_group_members e
    WHERE e.tenant_id = :t
      AND NOT (e.group_id, e.member_group_id) IN (SELECT * FROM unnest(CAST(:rg_parent AS uuid[]), CAST(:rg_child AS uuid[])))
    UNION ALL
    SELECT * FROM unnest(CAST(:ag_parent AS uuid[]), CAST(:ag_child AS uuid[]))
),
down (top, group_id) AS (
    SELECT g, g FROM unnest(CAST(:licensing AS uuid[])) AS g WHERE NOT g = ANY(CAST(:gone AS uuid[]))
    UNION
    SELECT d.top, ge.member_group_id FROM down d JOIN group_edges ge ON ge.group_id = d.group_id
    WHERE NOT ge.member_group_id = ANY(CAST(:gone AS uuid[]))
)
SELECT top, group_id FROM down
"""

# The users' paths as the change leaves them (its user edges added/removed, its group licenses
# in place of the stored ones) next to the stored ones.
FILL_PATHS = """
WITH
down (top, group_id) AS (
    SELECT * FROM unnest(CAST(:down_top AS uuid[]), CAST(:down_group AS uuid[]))
),
user_edges AS (
    SELECT m.group_id, m.user_id FROM ({MEMBERSHIPS}) m
    WHERE NOT (m.group_id, m.user_id) IN (SELECT * FROM unnest(CAST(:ru_group AS uuid[]), CAST(:ru_user AS uuid[])))
    UNION ALL
    SELECT a.g, a.u FROM unnest(CAST(:au_group AS uuid[]), CAST(:au_user AS uuid[])) AS a(g, u)
    JOIN gb_users b ON b.user_id = a.u
),
reach (user_id, group_id) AS (
    SELECT DISTINCT ue.user_id, d.top FROM user_edges ue JOIN down d ON d.group_id = ue.group_id
),
licenses (group_id, product_id, disabled) AS (
    SELECT gl.group_id, gl.product_id, gl.disabled_plan_ids FROM group_licenses gl
    WHERE gl.tenant_id = :t AND gl.group_id = ANY(CAST(:licensing AS uuid[]))
      AND NOT gl.group_id = ANY(CAST(:overridden AS uuid[]))
    UNION ALL
    SELECT o.g, o.p, CAST(o.d AS uuid[])
    FROM unnest(CAST(:o_group AS uuid[]), CAST(:o_product AS uuid[]), CAST(:o_disabled AS text[])) AS o(g, p, d)
),
desired AS (
    SELECT r.user_id, l.product_id, l.group_id, l.disabled FROM reach r JOIN licenses l ON l.group_id = r.group_id
),
stored AS (
    SELECT p.user_id, p.product_id, p.group_id, p.disabled_plan_ids, p.queue_seq, p.state, p.error_code, p.subscription_id,
           {PATH_ROW} AS row_id
    FROM {STORED_PATHS}
)
INSERT INTO gb_paths (user_id, product_id, group_id, disabled, old_disabled, queue_seq, old_state, old_error, kind,
                      subscription_id, row_id)
SELECT coalesce(s.user_id, d.user_id), coalesce(s.product_id, d.product_id), coalesce(s.group_id, d.group_id),
       CASE WHEN d.user_id IS NULL THEN s.disabled_plan_ids ELSE d.disabled END,
       s.disabled_plan_ids, s.queue_seq, s.state, s.error_code,
       CASE
           WHEN s.user_id IS NULL THEN 'N'
           WHEN NOT s.product_id = ANY(CAST(:products AS uuid[])) THEN 'O'
           WHEN s.group_id = :direct OR NOT s.group_id = ANY(CAST(:licensing AS uuid[])) THEN 'K'
           WHEN d.user_id IS NULL THEN 'R'
           WHEN d.disabled @> s.disabled_plan_ids AND d.disabled <@ s.disabled_plan_ids THEN 'K'
           ELSE 'E'
       END,
       s.subscription_id, s.row_id
FROM stored s
FULL JOIN desired d ON d.user_id = s.user_id AND d.product_id = s.product_id AND d.group_id = s.group_id
"""

# The batch's stored rows, read one of two ways. A large batch (a large part of the tenant) reads
# them with one scan per table and hash joins. A smaller one probes each user's rows by index
# (`OFFSET 0` keeps each probe a sub-plan of its own, so the planner cannot turn it back into a
# scan): adding 10,000 members scanned all 2,000,000 paths of a 1,000,000-user tenant (0.4 s)
# and all 1,600,000 licenses (0.2 s) to read 30,000 of each.
BATCH_READS = {
    False: {
        "MEMBERSHIPS": """SELECT m.group_id, m.user_id FROM group_user_members m JOIN gb_users b ON b.user_id = m.user_id
    WHERE m.tenant_id = :t AND m.group_id = ANY(CAST(:down_group AS uuid[]))""",
        "STORED_PATHS": """license_paths p JOIN gb_users b ON b.user_id = p.user_id
    WHERE p.tenant_id = :t AND p.product_id = ANY(CAST(:read_products AS uuid[]))""",
        "STORED_LICENSES": """user_licenses l JOIN gb_users b ON b.user_id = l.user_id
    WHERE l.tenant_id = :t AND l.product_id = ANY(CAST(:products AS uuid[]))""",
        "PATH_ROW": "p.ctid", "LICENSE_ROW": "l.ctid",
    },
    True: {
        "MEMBERSHIPS": """SELECT m.group_id, m.user_id FROM gb_users b CROSS JOIN LATERAL (
        SELECT m.group_id, m.user_id FROM group_user_members m
        WHERE m.tenant_id = :t AND m.user_id = b.user_id AND m.group_id = ANY(CAST(:down_group AS uuid[])) OFFSET 0
    ) m""",
        "STORED_PATHS": """gb_users b CROSS JOIN LATERAL (
        SELECT p.*, p.ctid AS row_id FROM license_paths p
        WHERE p.tenant_id = :t AND p.user_id = b.user_id AND p.product_id = ANY(CAST(:read_products AS uuid[])) OFFSET 0
    ) p""",
        "STORED_LICENSES": """gb_users b CROSS JOIN LATERAL (
        SELECT l.*, l.ctid AS row_id FROM user_licenses l
        WHERE l.tenant_id = :t AND l.user_id = b.user_id AND l.product_id = ANY(CAST(:products AS uuid[])) OFFSET 0
    ) l""",
        "PATH_ROW": "p.row_id", "LICENSE_ROW": "l.row_id",
    },
}
# Of the products whose stored paths a batch reads, those someone in the tenant holds: a path
# exists only beside its user's license row (`user_licenses`: one per user and product with a
# path), found by the licenses' product index. Licensing a group with products nobody holds yet
# (the common first assignment) reads no stored path at all: for a 100,000-member group of a
# 1,000,000-user tenant that scan of the tenant's 2,000,000 paths found nothing in 0.3-0.45 s.
# One product at a time, each planned for its own value: a tenant holds few products, each by
# many users, so a plan for any product (a generic plan, or one correlated subquery for all)
# expects a match at once and walks the primary key, scanning all of it for a product nobody
# holds (0.3-0.4 s); for the product itself the statistics tell the licenses' product index.
HELD_PRODUCT = "SELECT EXISTS (SELECT 1 FROM user_licenses l WHERE l.tenant_id = :t AND l.product_id = :p)"
NO_STORED_PATHS = {"STORED_PATHS": "(SELECT p.*, p.ctid AS row_id FROM license_paths p WHERE false) p", "PATH_ROW": "p.row_id"}
PROBED_BATCH = 20_000  # users; above this, one scan per table (measured: see bench/group_licensing.py)

# D2: new paths take places in line after every stored one, in user creation order. While
# deciding, a new path's place is engine.BACK_OF_QUEUE + its user's created_seq (behind every
# stored place, in that order), as in the engine; the real run draws the places it stores from
# order_seq as it writes them, in the order (user creation, product, group).
NEW_PATHS = BACK_OF_QUEUE

WORK_MEM = "256MB"
USERS_RANDOM_PAGE_COST = 1.1  # for reading the batch's users (their table and index are cached)
# A batch this large reads its stored rows with one scan and hash joins, never a nested loop: a
# loop is the right plan for a few hundred users, but the table statistics lag behind bulk
# changes and a loop planned on them may scan a whole table once per user (adding 10,000
# members to a group created in bulk took 190 s with loops, 2.4 s without).
LARGE_BATCH = 1_000

SELF_SERVICE_USERS = """
SELECT user_id FROM gb_paths WHERE subscription_id IS NOT NULL AND kind NOT IN ('R', 'O')
UNION
SELECT user_id FROM gb_claims WHERE self_service
"""

# The batch's paths of products that enable a rule plan: staged ones as the change leaves them
# and as they were (a path that ends or changes may release another product's path from R6/R7),
# the users' stored paths of the other rule products as they are (kind 'O', staged for this only).
RULE_PATHS = """
rule_paths AS (
    SELECT user_id, product_id, disabled FROM gb_paths WHERE kind <> 'R' AND product_id = ANY(CAST(:rule AS uuid[]))
    UNION ALL
    SELECT user_id, product_id, old_disabled FROM gb_paths WHERE kind IN ('R', 'E') AND product_id = ANY(CAST(:rule AS uuid[]))
)"""
SHAPES = "WITH " + RULE_PATHS + " SELECT DISTINCT product_id, disabled FROM rule_paths"
SHAPE_USERS = "WITH " + RULE_PATHS + """,
shapes AS (
    SELECT s.p, CAST(s.d AS uuid[]) AS d, s.i
    FROM unnest(CAST(:s_product AS uuid[]), CAST(:s_disabled AS text[]), CAST(:s_index AS int[])) AS s(p, d, i)
),
tagged AS (
    -- a shape is a set of disabled plans: the stored array's order is not the shape's
    SELECT p.user_id, s.i FROM rule_paths p
    JOIN shapes s ON s.p = p.product_id AND coalesce(p.disabled, '{}') @> s.d AND coalesce(p.disabled, '{}') <@ s.d
)
SELECT user_id FROM tagged WHERE i = ANY(CAST(:alone AS int[]))
UNION
SELECT a.user_id FROM tagged a JOIN tagged b ON b.user_id = a.user_id
JOIN unnest(CAST(:pair_a AS int[]), CAST(:pair_b AS int[])) AS x(a, b) ON x.a = a.i AND x.b = b.i
"""
SET_ASIDE = (
    "DELETE FROM gb_users WHERE user_id = ANY(CAST(:ids AS uuid[]))",
    "DELETE FROM gb_paths WHERE user_id = ANY(CAST(:ids AS uuid[]))",
    "DELETE FROM gb_claims WHERE user_id = ANY(CAST(:ids AS uuid[]))",
)

# Mirrors engine.seats.Claim: one claim per (user, product), placed by its earliest located path
# (Claim.place_in_line), holders marked (D14).
# One row per (user, product) of the batch: its paths after the change (any; located
# ones make a claim on a seat, placed by the earliest of them, D2) and its license before.
CLAIMS = """
CREATE TEMP TABLE gb_claims ON COMMIT DROP AS
WITH after AS (
    SELECT p.user_id, p.product_id,
           min(coalesce(p.queue_seq, {NEW_PATHS} + u.created_seq))
               FILTER (WHERE (CASE WHEN p.group_id = :direct THEN u.own_location ELSE u.group_location END) IS NOT NULL)
               AS first_seq,
           min(u.created_seq) AS created_seq
    FROM gb_paths p JOIN gb_users u USING (user_id)
    WHERE p.kind NOT IN ('R', 'O')
    GROUP BY p.user_id, p.product_id
),
before AS (
    SELECT l.user_id, l.product_id, l.holds_seat, l.subscription_id, {LICENSE_ROW} AS row_id
    FROM {STORED_LICENSES}
)
SELECT coalesce(a.user_id, b.user_id) AS user_id, coalesce(a.product_id, b.product_id) AS product_id,
       a.user_id IS NOT NULL AS has_paths, a.first_seq IS NOT NULL AS claim, a.first_seq, a.created_seq,
       b.user_id IS NOT NULL AS had_row, coalesce(b.holds_seat, false) AS held,
       b.subscription_id IS NOT NULL AS self_service, b.row_id AS license_row
FROM after a FULL JOIN before b ON b.user_id = a.user_id AND b.product_id = a.product_id
"""

# Mirrors engine.seats.SeatLine's free seats: claims that need a new seat, and holders that give
# theirs up (R4, D14), per product — of the whole batch, and of the batch but some users, in one pass.
SEAT_COUNTS = """
SELECT c.product_id, count(*) FILTER (WHERE c.claim AND NOT c.held) AS wanting,
       count(*) FILTER (WHERE c.held AND NOT c.claim) AS released,
       count(*) FILTER (WHERE c.claim AND NOT c.held AND x.user_id IS NULL) AS rest_wanting,
       count(*) FILTER (WHERE c.held AND NOT c.claim AND x.user_id IS NULL) AS rest_released
FROM gb_claims c LEFT JOIN unnest(CAST(:excluding AS uuid[])) AS x(user_id) ON x.user_id = c.user_id
GROUP BY c.product_id
"""

# Mirrors engine.seats.SeatLine.settle with Claim.place_in_line's order (first_seq, created_seq,
# user id): where a product has fewer free seats than claims wanting one, the claims after the
# first `free` of them wait (R4).
WAITING = """
CREATE TEMP TABLE gb_waiting ON COMMIT DROP AS
SELECT r.user_id, r.product_id FROM (
    SELECT c.user_id, c.product_id,
           row_number() OVER (PARTITION BY c.product_id ORDER BY c.first_seq, c.created_seq, c.user_id) AS place
    FROM gb_claims c
    WHERE c.claim AND NOT c.held AND c.product_id = ANY(CAST(:scarce AS uuid[]))
) r
JOIN unnest(CAST(:scarce AS uuid[]), CAST(:seats AS bigint[])) AS s(product_id, seats) ON s.product_id = r.product_id
WHERE r.place > greatest(s.seats, 0)
"""

# Mirrors engine.evaluate's _Pass._judge_user for a batch the gate cleared: location first
# (engine.location.location_error; no prohibition applies, the gate saw to that), then the
# claim's seat (COUNT_VIOLATION, D15 order); removed paths listed with their stored state.
RESULT = """
CREATE TEMP TABLE gb_result ON COMMIT DROP AS
WITH judged AS (
    SELECT p.user_id, p.product_id, p.group_id, p.kind, p.disabled, coalesce(p.queue_seq, {NEW_PATHS} + u.created_seq) AS queue_seq,
           u.created_seq, p.old_state, p.old_error, p.subscription_id, p.row_id, false AS removed,
           CASE WHEN (CASE WHEN p.group_id = :direct THEN u.own_location ELSE u.group_location END) IS NULL
                    THEN 'USAGE_LOCATION_REQUIRED'
                WHEN w.user_id IS NOT NULL THEN 'COUNT_VIOLATION'
           END AS error_code
    FROM gb_paths p JOIN gb_users u USING (user_id)
    LEFT JOIN gb_waiting w ON w.user_id = p.user_id AND w.product_id = p.product_id
    WHERE p.kind NOT IN ('R', 'O')
    UNION ALL
    SELECT p.user_id, p.product_id, p.group_id, p.kind, p.old_disabled, p.queue_seq, u.created_seq, p.old_state,
           p.old_error, p.subscription_id, p.row_id, true, NULL
    FROM gb_paths p JOIN gb_users u USING (user_id)
    WHERE p.kind = 'R'
)
SELECT j.*, CASE WHEN j.removed THEN j.old_state WHEN j.error_code IS NULL THEN 'ACTIVE' ELSE 'ERROR' END AS state,
       j.removed OR j.kind IN ('N', 'E')
           OR j.old_state IS DISTINCT FROM (CASE WHEN j.error_code IS NULL THEN 'ACTIVE' ELSE 'ERROR' END)
           OR j.old_error IS DISTINCT FROM j.error_code AS changed
FROM judged j
"""

# Mirrors engine.results.EffectiveLicense (R1): one per (user, product) with a path; a seat iff
# some path is ACTIVE, i.e. iff the claim is seated.
LICENSES = """
CREATE TEMP TABLE gb_licenses ON COMMIT DROP AS
SELECT c.user_id, c.product_id, c.had_row, c.held, c.has_paths, c.claim AND w.user_id IS NULL AS holds, c.license_row
FROM gb_claims c LEFT JOIN gb_waiting w ON w.user_id = c.user_id AND w.product_id = c.product_id
"""

FIGURES = """
SELECT product_id, state, error_code, removed, count(*) AS n FROM gb_result
WHERE changed GROUP BY product_id, state, error_code, removed
"""
POOL_DELTAS = """
SELECT product_id, sum(holds::int - held::int) AS delta FROM gb_licenses WHERE holds <> held GROUP BY product_id
"""
# the affected users, each row with their number: read in one pass, listed when they are few
AFFECTED = """
SELECT user_id, count(*) OVER () AS n FROM (
    SELECT user_id FROM gb_result WHERE changed
    UNION
    SELECT user_id FROM gb_licenses WHERE holds <> held
) affected
LIMIT :n
"""
AFFECTED_LISTED = 1000
OUTCOMES = """
SELECT user_id, product_id, group_id, state, CASE WHEN removed THEN old_error ELSE error_code END AS error_code, removed,
       queue_seq, created_seq FROM gb_result
WHERE changed
ORDER BY (removed OR error_code IS NULL), queue_seq, created_seq, product_id, group_id
LIMIT :n
"""

# Writes run under the tenant's license lock (D21): a path staged as new ('N') or a license with
# no row before cannot have been written since, so new rows are plain INSERTs (no conflict
# handling, about a third cheaper) and changed ones UPDATEs.
_MESSAGES = """
    JOIN unnest(CAST(:m_product AS uuid[]), CAST(:m_no_seat AS text[]), CAST(:m_direct AS text[]), CAST(:m_group AS text[]))
         AS m(product_id, no_seat, no_location_direct, no_location_group) ON m.product_id = r.product_id"""
_MESSAGE = """
           CASE r.error_code WHEN 'COUNT_VIOLATION' THEN m.no_seat
                             WHEN 'USAGE_LOCATION_REQUIRED' THEN
                                 CASE WHEN r.group_id = :direct THEN m.no_location_direct ELSE m.no_location_group END
           END"""


@dataclass(frozen=True)
class RowWrite:
    """A write of stored rows by where they were read, and the same write by key (`_by_row`)."""

    by_row: str  # returns whether it wrote every row it should
    by_key: str


def _by_row(table: str, alias: str, staged: str, where: str, *, update: str | None = None, extra: str = "") -> RowWrite:
    """A DELETE (or, with `update`, an UPDATE) of the stored rows of `table` the staged rows
    `where` was read from, found by where they were read (`row_id`, their ctid) and their key,
    with the same statement joining by key alone for the case the first finds fewer.

    A join by key alone hashes or probes the tenant's whole table: removing a 100,000-member
    group's 3 licenses spent about 1.1 s joining its 300,000 paths to the tenant's 2,000,000, and
    0.7 s on the licenses; by row, about 0.5 s each, the counting included. The stored rows
    should not have moved since they were read: license-changing writes take the tenant's
    license lock (D21, `services.change`), and the lock the reads took on the table keeps
    VACUUM FULL and CLUSTER out until the change ends. Should one have moved all the same, it
    is not written by row (the ctid holds no row the change can see, or one with another key),
    the counts differ, and the statement by key writes it."""
    keys = " AND ".join(f"{alias}.{k} = r.{k}" for k in (("user_id", "product_id", "group_id") if table == "license_paths"
                                                          else ("user_id", "product_id")))
    row = "row_id" if table == "license_paths" else "license_row"
    head = (f"UPDATE {table} {alias} SET {update} FROM {staged} r{extra}" if update
            else f"DELETE FROM {table} {alias} USING {staged} r{extra}")
    tail = f"{alias}.tenant_id = :t AND {keys}"
    by_key = f"{head}\n    WHERE {where} AND {tail}"
    by_row = f"""
    WITH written AS (
        {head}
        WHERE {alias}.ctid = ANY(ARRAY(SELECT r.{row} FROM {staged} r WHERE {where}))
          AND {where} AND {alias}.ctid = r.{row} AND {tail}
        RETURNING 1
    )
    SELECT (SELECT count(*) FROM written) = (SELECT count(*) FROM {staged} r WHERE {where})"""
    return RowWrite(by_row, by_key)


WRITE_PATHS = (
    _by_row("license_paths", "p", "gb_result", "r.removed"),
    """
    INSERT INTO license_paths (tenant_id, user_id, product_id, group_id, disabled_plan_ids, queue_seq, state, error_code,
                               error_message, subscription_id, updated_at)
    SELECT :t, r.user_id, r.product_id, r.group_id, r.disabled, r.seq, r.state, r.error_code,"""
    + _MESSAGE + """,
           r.subscription_id, :now
    FROM (  -- the new paths in creation order, each drawing its place as it comes: PostgreSQL
            -- evaluates a volatile output expression after its query's ORDER BY, so the n-th
            -- path in that order draws the n-th place (no numbering, no join of drawn places)
        SELECT n.*, nextval('order_seq') AS seq FROM gb_result n WHERE n.kind = 'N'
        ORDER BY n.created_seq, n.product_id, n.group_id
    ) r""" + _MESSAGES + """
    ORDER BY r.user_id, r.product_id, r.group_id  -- primary-key order: one sweep over its pages
    """,
    _by_row(
        "license_paths", "p", "gb_result", "r.changed AND NOT r.removed AND r.kind <> 'N'",
        update="disabled_plan_ids = r.disabled, state = r.state, error_code = r.error_code, error_message = "
        + _MESSAGE.strip() + ", updated_at = :now",
        extra=_MESSAGES,
    ),
)
WRITE_LICENSES = (
    _by_row("user_licenses", "l", "gb_licenses", "r.had_row AND NOT r.has_paths"),
    """
    INSERT INTO user_licenses (tenant_id, user_id, product_id, holds_seat, subscription_id, updated_at)
    SELECT :t, g.user_id, g.product_id, g.holds, NULL, :now FROM gb_licenses g
    WHERE g.has_paths AND NOT g.had_row
    ORDER BY g.user_id, g.product_id
    """,
    _by_row(
        "user_licenses", "l", "gb_licenses", "r.has_paths AND r.had_row AND r.holds <> r.held",
        update="holds_seat = r.holds, updated_at = :now",
    ),
)
WRITE_GROUP_COUNTERS = """
WITH moves AS (
    SELECT group_id, product_id,
           sum(CASE WHEN kind <> 'N' AND old_state = 'ACTIVE' THEN -1 ELSE 0 END
               + CASE WHEN NOT removed AND state = 'ACTIVE' THEN 1 ELSE 0 END) AS active,
           sum(CASE WHEN kind <> 'N' AND old_state = 'ERROR' THEN -1 ELSE 0 END
               + CASE WHEN NOT removed AND state = 'ERROR' THEN 1 ELSE 0 END) AS error
    FROM gb_result WHERE changed AND group_id <> :direct GROUP BY group_id, product_id
)
UPDATE group_licenses gl SET active_count = gl.active_count + m.active, error_count = gl.error_count + m.error
FROM moves m
WHERE gl.tenant_id = :t AND gl.group_id = m.group_id AND gl.product_id = m.product_id AND (m.active <> 0 OR m.error <> 0)
"""


@dataclass
class Overlay:
    """Changes a group change makes to the graph or the group licenses, joined onto the stored
    ones (R10, D3, D17): a dry run sees the graph as the change would leave it without writing it."""

    add_user_edges: list[tuple[uuid.UUID, uuid.UUID]] = field(default_factory=list)  # (group, user)
    remove_user_edges: list[tuple[uuid.UUID, uuid.UUID]] = field(default_factory=list)
    add_group_edges: list[tuple[uuid.UUID, uuid.UUID]] = field(default_factory=list)  # (group, member group)
    remove_group_edges: list[tuple[uuid.UUID, uuid.UUID]] = field(default_factory=list)
    removed_groups: list[uuid.UUID] = field(default_factory=list)
    # group licenses as the change leaves them, for these groups: {group: {product: disabled plans}}
    group_licenses: dict[uuid.UUID, dict[uuid.UUID, frozenset[uuid.UUID]]] = field(default_factory=dict)
    ends_group_licenses: bool = False  # some group license is removed: its holders' seats may be freed

    def params(self) -> dict[str, object]:
        """The overlay as the array parameters of DOWN and FILL_PATHS."""
        ag_parent, ag_child = _pairs(self.add_group_edges)
        rg_parent, rg_child = _pairs(self.remove_group_edges)
        au_group, au_user = _pairs(self.add_user_edges)
        ru_group, ru_user = _pairs(self.remove_user_edges)
        return {
            "ag_parent": ag_parent, "ag_child": ag_child, "rg_parent": rg_parent,
            "rg_child": rg_child, "au_group": au_group, "au_user": au_user, "ru_group": ru_group, "ru_user": ru_user,
            "gone": list(self.removed_groups), "overridden": list(self.group_licenses),
        }


def _pairs(pairs: Sequence[tuple[uuid.UUID, uuid.UUID]]) -> tuple[list[uuid.UUID], list[uuid.UUID]]:
    return [a for a, _ in pairs], [b for _, b in pairs]


@dataclass(frozen=True)
class Outcome:
    """One created, changed or removed path, as the change summary lists it."""

    user_id: uuid.UUID
    product_id: uuid.UUID
    group_id: uuid.UUID  # DIRECT for a direct path
    state: str
    error_code: str | None  # a removed path's as it was stored
    removed: bool
    queue_seq: int = 0  # its place in line (D2) and its user's creation number: the R4 order
    created_seq: int = 0


@dataclass(frozen=True)
class Figures:
    """What the change does, read once after deciding (the same for a dry run and a real run)."""

    pool_deltas: Mapping[uuid.UUID, int]
    # (product, state, error code, removed) -> created, changed or removed paths
    changed_paths: Mapping[tuple[uuid.UUID, str, str | None, bool], int]
    affected_users: int
    outcomes: tuple[Outcome, ...]  # errors first, then R4 order
    affected_ids: frozenset[uuid.UUID] | None = None  # the affected users, when at most AFFECTED_LISTED


@dataclass(frozen=True)
class Shape:
    """A (product, disabled plans) combination some staged path of a rule product has."""

    product_id: uuid.UUID
    disabled: frozenset[uuid.UUID]


class GroupBatch:
    """One group change's batch, staged in temporary tables of the change's transaction."""

    def __init__(self, conn: AsyncConnection, tenant_id: str) -> None:
        self.conn = conn
        self.tenant_id = tenant_id
        self.large = False
        self.probed = True
        self.rule_products: list[uuid.UUID] = []
        self.new_paths = 0
        self.licensing: list[uuid.UUID] = []
        self.products: list[uuid.UUID] = []

    async def _run(self, sql: str, params: Mapping[str, object] | None = None) -> None:
        await self.conn.execute(text(sql), {"t": self.tenant_id, "direct": DIRECT, **(params or {})})

    async def _write(self, write: RowWrite, params: Mapping[str, object] | None = None) -> None:
        """`write` by row; by key as well if that missed a row (see `_by_row`)."""
        values = {"t": self.tenant_id, "direct": DIRECT, **(params or {})}
        if not (await self.conn.execute(text(write.by_row), values)).scalar_one():
            await self.conn.execute(text(write.by_key), values)

    async def _ids(self, sql: str, groups: Iterable[uuid.UUID]) -> list[uuid.UUID]:
        rows = await self.conn.execute(text(sql), {"t": self.tenant_id, "groups": sorted(set(groups))})
        return sorted(rows.scalars())

    async def supergroups(self, groups: Iterable[uuid.UUID]) -> list[uuid.UUID]:
        """These groups and every group they are nested in (the licensing groups a member of
        them reaches; a change below a group never changes what contains it)."""
        return await self._ids(SUPERGROUPS, groups)

    async def licensed_products(self, overlay: Overlay, licensing_groups: Iterable[uuid.UUID] | None) -> list[uuid.UUID]:
        """The products whose paths the batch will hold: those the licensing groups license,
        before and after the change (`licensing_groups`: the groups whose members or licenses
        the change may change; None: every group). Creates the batch's tables."""
        # sorts and hashes over a few hundred thousand rows stay in memory; no JIT compiling
        # for statements that run once (this transaction only)
        await self.conn.execute(text(f"SET LOCAL work_mem = '{WORK_MEM}'"))
        await self.conn.execute(text("SET LOCAL jit = off"))
        for statement in TABLES:
            await self.conn.execute(text(statement))
        if licensing_groups is None:
            rows = await self.conn.execute(text("SELECT DISTINCT group_id FROM group_licenses WHERE tenant_id = :t"), {"t": self.tenant_id})
            licensing_groups = rows.scalars()
        self.licensing = sorted(set(licensing_groups) | set(overlay.group_licenses))
        rows = await self.conn.execute(text(LICENSED_PRODUCTS), {"t": self.tenant_id, "licensing": self.licensing})
        self.products = sorted(set(rows.scalars()) | {p for lics in overlay.group_licenses.values() for p in lics})
        return list(self.products)

    async def stage(
        self, overlay: Overlay, *, groups: Iterable[uuid.UUID] = (), users: Iterable[uuid.UUID] = (),
        default_location: str | None, rule_products: Iterable[uuid.UUID] = (),
    ) -> int:
        """The batch (every member of `groups` and of the groups nested in them, and `users`)
        and its paths to the licensed products after the change; the users' paths to
        `rule_products` (products a rule links to the staged ones) are read too, for screening
        only. Returns the number of users in the batch. After `licensed_products`.

        A user's paths to other products keep their states: the stored state is the engine's
        fixpoint (R13), and each product's outcome depends only on its own paths for the users
        the SQL decides (the gate sends the others to the engine)."""
        self.rule_products = sorted(set(rule_products))
        members_of = await self._ids(SUBGROUPS, groups) if groups else []
        # the batch's users are read by their primary key unless they are a large part of the
        # tenant: with the default random_page_cost (4, a disk's) the planner scanned all
        # 1,000,000 users of a tenant to read 10,000 of them (0.7 s; their index, cached, 30 ms)
        await self.conn.execute(text(f"SET LOCAL random_page_cost = {USERS_RANDOM_PAGE_COST}"))
        await self._run(
            FILL_USERS, {"groups": members_of, "users": sorted(set(users)), "default_location": default_location}
        )
        await self.conn.execute(text("SET LOCAL random_page_cost TO DEFAULT"))
        count = int((await self.conn.execute(text("SELECT count(*) FROM gb_users"))).scalar_one())
        await self.conn.execute(text("ANALYZE gb_users"))
        self.large = count > LARGE_BATCH
        self.probed = count <= PROBED_BATCH
        await self.nested_loops(on=not self.large)
        o_group, o_product, o_disabled = [], [], []
        for group_id, products in overlay.group_licenses.items():
            for product_id, disabled in products.items():
                o_group.append(group_id)
                o_product.append(product_id)
                o_disabled.append(_array(disabled))
        graph = {**overlay.params(), "licensing": self.licensing}
        down = (await self.conn.execute(text(DOWN), {"t": self.tenant_id, **graph})).all()
        await self.conn.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))
        held = [
            p for p in sorted(set(self.products) | set(self.rule_products))
            if (await self.conn.execute(text(HELD_PRODUCT), {"t": self.tenant_id, "p": p})).scalar_one()
        ]
        await self.conn.execute(text("SET LOCAL plan_cache_mode TO DEFAULT"))
        reads = BATCH_READS[self.probed] if held else {**BATCH_READS[self.probed], **NO_STORED_PATHS}
        await self._run(
            FILL_PATHS.format(**reads),
            {
                **graph, "o_group": o_group, "o_product": o_product, "o_disabled": o_disabled,
                "down_top": [r.top for r in down], "down_group": [r.group_id for r in down],
                "products": self.products, "read_products": held,
            },
        )
        self.new_paths = int((await self.conn.execute(text("SELECT count(*) FROM gb_paths WHERE kind = 'N'"))).scalar_one())
        await self.conn.execute(text("ANALYZE gb_paths"))
        return count

    async def user_ids(self) -> list[uuid.UUID]:
        return list((await self.conn.execute(text("SELECT user_id FROM gb_users ORDER BY created_seq"))).scalars())

    async def proposed_paths(self) -> list[tuple[tuple[uuid.UUID, uuid.UUID, uuid.UUID], frozenset[uuid.UUID] | None]]:
        """The group paths the change creates or edits (with their disabled plans) or removes (None)."""
        rows = await self.conn.execute(
            text("SELECT user_id, product_id, group_id, kind, disabled FROM gb_paths WHERE kind IN ('N', 'E', 'R')")
        )
        return [
            ((r.user_id, r.product_id, r.group_id), None if r.kind == "R" else frozenset(r.disabled or ()))
            for r in rows
        ]

    async def collect_claims(self) -> None:
        """Per (user, product) of the batch, its claim on a seat (its located paths after the
        change) and its license before."""
        await self._run(CLAIMS.format(NEW_PATHS=NEW_PATHS, **BATCH_READS[self.probed]), {"products": self.products})

    async def nested_loops(self, *, on: bool) -> None:
        if self.large:
            await self.conn.execute(text(f"SET LOCAL enable_nestloop = {'on' if on else 'off'}"))

    async def self_service_users(self) -> set[uuid.UUID]:
        """Users of the batch who hold or draw on a self-service seat of a staged product (D6).
        After `collect_claims`."""
        return set((await self.conn.execute(text(SELF_SERVICE_USERS))).scalars())

    async def rule_shapes(self) -> list[Shape]:
        """The (product, disabled plans) shapes of the batch's paths of rule products, as the
        change leaves them and as they were."""
        rows = await self.conn.execute(text(SHAPES), {"rule": self.rule_products})
        # one shape per set of disabled plans, however the stored arrays order them
        return list(dict.fromkeys(Shape(r.product_id, frozenset(r.disabled or ())) for r in rows))

    async def users_with_shapes(
        self, shapes: Sequence[Shape], alone: Iterable[int], pairs: Iterable[tuple[int, int]]
    ) -> set[uuid.UUID]:
        """The users with a path of a shape in `alone` (indexes into `shapes`), or paths of both
        shapes of a pair in `pairs`."""
        ordered_pairs = sorted(pairs)
        found = await self.conn.execute(
            text(SHAPE_USERS),
            {
                "rule": self.rule_products, "s_product": [s.product_id for s in shapes],
                "s_disabled": [_array(s.disabled) for s in shapes], "s_index": list(range(len(shapes))),
                "alone": sorted(alone), "pair_a": [a for a, _ in ordered_pairs], "pair_b": [b for _, b in ordered_pairs],
            },
        )
        return set(found.scalars())

    async def seat_counts(
        self, excluding: Iterable[uuid.UUID] = ()
    ) -> tuple[dict[uuid.UUID, tuple[int, int]], dict[uuid.UUID, tuple[int, int]]]:
        """Per product: (claims wanting a new seat, holders giving theirs up), of the whole batch
        and of the batch's users but `excluding`. After `collect_claims`."""
        rows = list(await self.conn.execute(text(SEAT_COUNTS), {"excluding": sorted(set(excluding))}))
        return (
            {r.product_id: (int(r.wanting), int(r.released)) for r in rows},
            {r.product_id: (int(r.rest_wanting), int(r.rest_released)) for r in rows},
        )

    async def proposed_paths_of(
        self, user_ids: Iterable[uuid.UUID]
    ) -> list[tuple[tuple[uuid.UUID, uuid.UUID, uuid.UUID], frozenset[uuid.UUID] | None]]:
        """`proposed_paths` of some users only."""
        rows = await self.conn.execute(
            text("SELECT user_id, product_id, group_id, kind, disabled FROM gb_paths "
                 "WHERE kind IN ('N', 'E', 'R') AND user_id = ANY(CAST(:ids AS uuid[]))"),
            {"ids": sorted(set(user_ids))},
        )
        return [((r.user_id, r.product_id, r.group_id), None if r.kind == "R" else frozenset(r.disabled or ())) for r in rows]

    async def set_aside(self, user_ids: Iterable[uuid.UUID]) -> None:
        """Take these users out of the batch (the engine decides them): the SQL steps that follow
        judge the others only."""
        ids = sorted(set(user_ids))
        for statement in SET_ASIDE:
            await self.conn.execute(text(statement), {"ids": ids})
        self.new_paths = int((await self.conn.execute(text("SELECT count(*) FROM gb_paths WHERE kind = 'N'"))).scalar_one())

    async def decide(self, available: Mapping[uuid.UUID, int]) -> None:
        """Judge every path of the batch (`available`: each pool's free seats), as
        engine.evaluate would for a batch the gate cleared."""
        scarce: dict[uuid.UUID, int] = {}
        for product_id, (wanting, released) in (await self.seat_counts())[0].items():
            seats = available.get(product_id, 0) + released
            if wanting > seats:
                scarce[product_id] = seats
        products = sorted(scarce)
        await self._run(WAITING, {"scarce": products, "seats": [scarce[p] for p in products]})
        await self._run(RESULT.format(NEW_PATHS=NEW_PATHS))
        await self._run(LICENSES)

    async def figures(self, max_outcomes: int) -> Figures:
        """What the decided change does to seats, paths and users."""
        conn = self.conn
        changed = {
            (r.product_id, r.state, r.error_code, r.removed): int(r.n) for r in await conn.execute(text(FIGURES))
        }
        deltas = {r.product_id: int(r.delta) for r in await conn.execute(text(POOL_DELTAS))}
        listed = (await conn.execute(text(AFFECTED), {"n": AFFECTED_LISTED})).all()
        affected = int(listed[0].n) if listed else 0
        affected_ids = frozenset(r.user_id for r in listed) if affected <= AFFECTED_LISTED else None
        outcomes = tuple(
            Outcome(r.user_id, r.product_id, r.group_id, r.state, r.error_code, r.removed, r.queue_seq, r.created_seq)
            for r in await conn.execute(text(OUTCOMES), {"n": max_outcomes})
        )
        await self.nested_loops(on=True)  # the rest of the transaction plans as usual
        return Figures({p: d for p, d in deltas.items() if d}, changed, affected, outcomes, affected_ids)

    async def apply(self, figures: Figures, messages: Mapping[uuid.UUID, tuple[str, str, str]], now: datetime) -> None:
        """Write the decided batch: paths, effective licenses, group-license and pool counters.

        `messages[product]`: the admin messages of its path errors — no seat, no usage location
        (direct), no usage location (group)."""
        products = sorted(messages)
        message_params = {
            "m_product": products, "m_no_seat": [messages[p][0] for p in products],
            "m_direct": [messages[p][1] for p in products], "m_group": [messages[p][2] for p in products],
        }
        await self.nested_loops(on=False)
        # the writes join the decided rows to the stored tables: with their real sizes known the
        # planner hashes the batch's rows, not a whole stored table (the removing DELETEs hashed
        # all 2,000,000 paths or licenses of the tenant: about 1 s each)
        await self.conn.execute(text("ANALYZE gb_result, gb_licenses"))
        await self._write(WRITE_PATHS[0])
        if self.new_paths:
            await self._run(WRITE_PATHS[1], {"now": now, **message_params})
        await self._write(WRITE_PATHS[2], {"now": now, **message_params})
        removed, added, changed = WRITE_LICENSES
        await self._write(removed)
        await self._run(added, {"now": now})
        await self._write(changed, {"now": now})
        await self._run(WRITE_GROUP_COUNTERS)
        await add_consumed(self.conn, self.tenant_id, figures.pool_deltas)
        await self.nested_loops(on=True)

    async def has_events(self) -> bool:
        """Whether the decided batch appends any license event (R25): a path changed or a seat moved."""
        return bool((await self.conn.execute(text(HAS_EVENTS))).scalar_one())

    async def append_events(
        self, messages: Mapping[uuid.UUID, tuple[str, str, str]], *, actor: str, audit_id: int, now: datetime
    ) -> int:
        """Append the batch's license events (after `apply`), numbered from the tenant's counter;
        returns how many."""
        products = sorted(messages)
        await self.nested_loops(on=False)
        inserted = await self.conn.execute(text(APPEND_EVENTS), {
            "t": self.tenant_id, "direct": DIRECT, "now": now, "actor": actor, "audit": audit_id, "m_product": products,
            "m_no_seat": [messages[p][0] for p in products], "m_direct": [messages[p][1] for p in products],
            "m_group": [messages[p][2] for p in products],
        })
        n = int(inserted.rowcount or 0)
        if n:
            await self._run(ADVANCE_EVENTS, {"n": n})
        await self.nested_loops(on=True)
        return n


# R25: the batch's license events, from the rows it staged (no read-back of what it wrote): one
# per (user, product) with a changed path or a seat that moved, holding every path of the pair
# as the change leaves it (gb_result holds all of a staged user's paths to a staged product).
#
# One pass, no per-row or per-pair work that can be shared: each path's jsonb is built once
# per distinct shape (product, group, state, error, disabled plans: a few in a group change),
# and so is the one-path array a pair with a single path holds; the pairs are counted by one
# hash aggregate (no sort: a window over (user, product, group) sorted all 300,000 rows and
# spent about 0.8 s of a 100,000-member group's 2 s here), and only the pairs with several
# paths aggregate their objects in group order; the licenses joined by hash, the events
# numbered in (user creation, user, product) order.
# The tenant's counter row is locked here (FOR NO KEY UPDATE, as an UPDATE locks it) and
# advanced by the rows inserted (ADVANCE_EVENTS) in the same transaction: no count beforehand.
_SHAPE = """
    JOIN shapes s ON (s.product_id, s.group_id, coalesce(s.state, ''), coalesce(s.error_code, ''), s.disabled)
                   = (r.product_id, r.group_id, coalesce(r.state, ''), coalesce(r.error_code, ''), coalesce(r.disabled, '{}'))"""
APPEND_EVENTS = """
WITH base AS (
    SELECT event_seq AS first FROM tenants WHERE id = :t FOR NO KEY UPDATE
),
shapes AS MATERIALIZED (  -- a few rows: built once, then probed by hash
    SELECT row_number() OVER () AS i, r.*, o.obj, jsonb_build_array(o.obj) AS one,
           CASE WHEN r.group_id = :direct THEN CAST('{}' AS uuid[]) ELSE ARRAY[r.group_id] END AS one_group
    FROM (SELECT DISTINCT product_id, group_id, state, error_code, coalesce(disabled, '{}') AS disabled FROM gb_result) AS r
    """ + _MESSAGES + """
    CROSS JOIN LATERAL (SELECT jsonb_build_object(
               'g', CASE WHEN r.group_id = :direct THEN NULL ELSE r.group_id END, 's', r.state, 'c', r.error_code,
               'm',""" + _MESSAGE + """, 'd', to_jsonb(r.disabled)) AS obj) AS o
),
pairs AS (  -- per (user, product): its paths, whether one changed, the shape of its only path
    SELECT r.user_id, r.product_id, count(*) AS n, bool_or(r.changed) AS changed, bool_and(r.removed) AS removed,
           min(s.i) AS i
    FROM gb_result r""" + _SHAPE + """
    GROUP BY r.user_id, r.product_id
),
several AS (  -- the pairs with more than one path: their objects and changed groups in group order
    SELECT r.user_id, r.product_id,
           jsonb_agg(s.obj ORDER BY r.group_id) FILTER (WHERE NOT r.removed) AS paths,
           array_agg(r.group_id ORDER BY r.group_id) FILTER (WHERE r.changed AND r.group_id <> :direct) AS groups
    FROM gb_result r JOIN pairs c ON c.user_id = r.user_id AND c.product_id = r.product_id AND c.n > 1""" + _SHAPE + """
    GROUP BY r.user_id, r.product_id
),
keyed AS (
    SELECT coalesce(l.user_id, c.user_id) AS user_id, coalesce(l.product_id, c.product_id) AS product_id,
           coalesce(l.held, false) AS held, coalesce(l.holds, false) AS holds,
           CASE WHEN c.n > 1 THEN m.paths WHEN NOT c.removed THEN s.one END AS paths,
           CASE WHEN c.n > 1 THEN coalesce(m.groups, '{}') WHEN c.changed THEN s.one_group ELSE '{}' END AS groups
    FROM gb_licenses l
    FULL JOIN pairs c ON c.user_id = l.user_id AND c.product_id = l.product_id
    LEFT JOIN shapes s ON s.i = c.i
    LEFT JOIN several m ON m.user_id = c.user_id AND m.product_id = c.product_id
    WHERE c.changed OR l.holds <> l.held
),
numbered AS (
    SELECT k.*, u.user_principal_name, row_number() OVER (ORDER BY u.created_seq, k.user_id, k.product_id) AS rn
    FROM keyed k JOIN gb_users u ON u.user_id = k.user_id
)
INSERT INTO license_events (tenant_id, seq, occurred_at, kind, user_id, user_principal_name, product_id, holds_seat,
                            paths, group_ids, actor, audit_id)
SELECT :t, base.first + n.rn, :now,
       CASE WHEN n.holds AND NOT n.held THEN 'ADDED'
            WHEN n.held AND NOT n.holds THEN 'REMOVED'
            WHEN n.paths IS NULL THEN 'REMOVED'
            ELSE 'CHANGED' END,
       n.user_id, n.user_principal_name, n.product_id, n.holds, coalesce(n.paths, '[]'::jsonb), n.groups, :actor, :audit
FROM numbered n CROSS JOIN base
"""
HAS_EVENTS = (
    "SELECT EXISTS (SELECT 1 FROM gb_result WHERE changed) OR EXISTS (SELECT 1 FROM gb_licenses WHERE holds <> held)"
)
ADVANCE_EVENTS = "UPDATE tenants SET event_seq = event_seq + :n WHERE id = :t"


def _array(ids: Iterable[uuid.UUID | str]) -> str:
    """A uuid[] literal (kept in the given order: equal arrays stay equal)."""
    return "{" + ",".join(str(i) for i in ids) + "}"
