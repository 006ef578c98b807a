"""`licensing seed`: a realistic synthetic tenant of any size, written set-based.

Everything a person or a group is made of comes from md5(seed/n) in SQL, so a seed gives the
same names, departments and usage locations on every run and every PostgreSQL (parallel plans
and `setseed()` are not involved). User ids are UUIDv7 in creation order from a base that
hashes the tenant and the seed, so two tenants never share one.

The tenant:
- users: members with a department, job title and usage location (a few disabled accounts),
  and about 1% guests (no department, in no group, unlicensed);
- groups: "All Staff", which nests one group per department (largest departments first;
  the people of departments without a group are direct members of All Staff), and team
  groups nested in the department groups: three levels. Every member is in one team of their
  department where it has teams (a lead also in the department group: two routes), else in
  the department's group;
- subscriptions with enough seats: Microsoft 365 E3 (two subscriptions, pooled), EMS E3,
  Power BI Pro, plus a few bought but unassigned products (one a trial), and the `add_ons`;
- licenses, written as the licensing engine would: SPE_E3 as a group license on All Staff
  (one path per transitive member) plus a direct E3 for the executives (two paths, one seat),
  POWER_BI_PRO as a group license on the Finance group, EMS direct to about 60% of members,
  and each add-on direct to every member. Every path is ACTIVE: all members have a usage
  location, the seats suffice, and the engine is asked beforehand that these combinations
  break no service-plan rule in any seeded location (the seed refuses otherwise).

The seed is a change of the CLI (D33): one audit event (`TENANT_SEEDED`, actor `cli`) and one
license event per license it wrote (R25: `ADDED`, actor `cli`, pointing at that audit event),
so the tenant's history starts complete.

Places in line (D2) come from `order_seq` in user creation order: created_seq, then
membership added_seq, then group-license assigned_seq, then each path's queue_seq. Seat
counters (product_pools) and group-license counters move by the counts written.

One transaction: a failure leaves nothing behind. Everything is written in chunks of users
(id ranges) so a progress callback can follow; all statements are INSERT … SELECT (no per-row
round trips). A million users, with their 1.6 million licenses and as many events, take about
80 s on 2 cores, most of it index upkeep.
"""

from __future__ import annotations

import hashlib
import itertools
import time
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

import engine
from db.clock import SystemClock
from db.models import DIRECT
from db.repo import audit as audit_repo
from db.repo import events as event_repo
from db.repo import subscriptions as subscription_repo
from db.repo import tenants as tenant_repo
from db.repo.catalog import Catalog, load_catalog
from db.repo.licensing import add_consumed, add_group_counts
from db.session import Database, lock_tenant_licenses
from engine.subscription_lifecycle import first_term

PHASES = ("users", "groups", "memberships", "licenses", "events", "analyze")
"""The phases reported to the progress callback, in order."""

ProgressCallback = Callable[[str, int, int], None]
"""Called as (phase, done, total) after each step of a phase; users are the unit of the chunked ones."""

CHUNK = 50_000
MAX_USERS = 5_000_000
MAX_QUANTITY = 1_000_000  # D8: one subscription has at most a million seats

FIRST_NAMES = (
    "Adele Alex Allan Amara Ana Anders Anika Arjun Astrid Ben Bianca Camille Carlos Chen Chiara Chloe Daniel "
    "Dara Diego Elena Emeka Emil Emma Erik Fatima Felix Freya Gabriel Grace Hana Hannah Hassan Ines Ingrid "
    "Isaac Isabel Ivan Jack Jana Javier Jonas Julia Kai Karin Kenji Lars Laura Lea Lee Leon Lidia Lina Lucas "
    "Luis Maja Malik Marco Maria Mateo Megan Mei Mia Miguel Mina Nadia Nestor Nina Noah Nora Olga Omar Oscar "
    "Patti Paul Pedro Priya Rafael Rahul Rosa Ruth Sakura Samir Sara Sofia Sven Tariq Thea Tomas Uma Victor "
    "Wei Yara Yuki Zara Zoe"
).split()
LAST_NAMES = (
    "Abbott Adeyemi Andersen Archie Bakker Bauer Bowen Brown Castro Chen Costa Dahl Diaz Dubois Eriksen "
    "Fernandez Fischer Garcia Graham Gu Haddad Hansen Holloway Ito Jensen Johansson Kaur Khan Kim Kowalski "
    "Langer Larsen Lee Lopez Lorenz Martin Moreau Muller Murphy Nakamura Nguyen Nilsen Novak Okafor Olsen "
    "Patel Pereira Petrov Quinn Rossi Santos Sato Schmidt Silva Singh Smith Sorensen Tanaka Taylor Torres "
    "Vance Wagner Walsh Wang Weber Wilber Wilke Wong Yamamoto Zhang"
).split()
# (department, weight, job titles): the department groups are made in this order.
DEPARTMENTS = (
    ("Engineering", 8, ("Software Engineer", "Senior Software Engineer", "Engineering Manager", "Site Reliability Engineer")),
    ("Sales", 6, ("Account Executive", "Sales Representative", "Sales Manager", "Solutions Consultant")),
    ("Operations", 4, ("Operations Analyst", "Operations Manager", "Logistics Coordinator", "Facilities Coordinator")),
    ("Support", 4, ("Support Engineer", "Customer Success Manager", "Support Team Lead", "Technical Support Specialist")),
    ("Marketing", 3, ("Marketing Manager", "Content Strategist", "Designer", "Marketing Analyst")),
    ("Finance", 2, ("Accountant", "Financial Analyst", "Controller", "Payroll Specialist")),
    ("IT", 2, ("IT Administrator", "Systems Engineer", "Helpdesk Technician", "Security Analyst")),
    ("Human Resources", 2, ("HR Business Partner", "Recruiter", "HR Generalist", "Learning Specialist")),
    ("Product", 2, ("Product Manager", "Product Owner", "UX Researcher", "Program Manager")),
    ("Legal", 1, ("Counsel", "Paralegal", "Compliance Officer", "Contracts Manager")),
    ("Research", 1, ("Research Scientist", "Data Scientist", "Research Engineer", "Lab Manager")),
    ("Executive", 1, ("Vice President", "Director", "Chief of Staff", "Executive Assistant")),
)
EXECUTIVE = len(DEPARTMENTS)  # 1-based index of "Executive": its people also get E3 directly
FINANCE = 1 + [d[0] for d in DEPARTMENTS].index("Finance")  # its group holds the Power BI Pro group license
# usage locations, weighted by repetition
LOCATIONS = tuple(
    itertools.chain.from_iterable(
        [code] * weight
        for code, weight in (
            ("US", 12), ("GB", 4), ("DE", 3), ("IN", 3), ("NO", 2), ("FR", 2), ("CA", 2), ("JP", 2), ("BR", 1),
            ("AU", 1), ("NL", 1), ("SE", 1), ("ES", 1), ("IT", 1), ("PL", 1), ("IE", 1), ("SG", 1), ("MX", 1),
        )
    )
)
GROUP_LICENSED = "SPE_E3"  # group license on All Staff, and direct for the executives
FINANCE_GROUP_LICENSED = "POWER_BI_PRO"
DIRECT_SHARE = "EMS"  # direct, to about 60% of members
SPARE = (("PROJECTPROFESSIONAL", False), ("VISIOCLIENT", False), ("MCOEV", True))  # bought, unassigned (sku, trial)
ADD_ONS = (
    # direct to every member with `add_ons`: volume for benchmarks (10 licenses, ~25 plans each)
    "SPE_E5", "ENTERPRISEPREMIUM", "INFORMATION_PROTECTION_COMPLIANCE", "DYN365_ENTERPRISE_PLAN1", "EMSPREMIUM",
    "IDENTITY_THREAT_PROTECTION", "Microsoft_Teams_Premium", "WIN10_VDA_E3", "POWERAPPS_PER_USER", "FLOW_PER_USER",
)


class SeedError(Exception):
    """Why the tenant cannot be seeded, in the admin's words."""


@dataclass
class SeedSummary:
    tenant_id: str
    users: int = 0
    members: int = 0
    guests: int = 0
    groups: int = 0
    memberships: int = 0
    paths: int = 0
    licenses: int = 0  # effective licenses (user_licenses rows), all holding a seat
    events: int = 0  # license events appended (R25: one ADDED per license)
    audit_event_id: int = 0  # the seed's audit event, which the events point at (D33)
    consumed: dict[str, int] = field(default_factory=dict)  # skuPartNumber -> seats consumed
    seconds: dict[str, float] = field(default_factory=dict)  # per phase


@dataclass(frozen=True)
class _Group:
    key: int  # 0: All Staff; then departments; then teams
    id: uuid.UUID
    name: str
    description: str
    department: int  # 1-based department index, 0 for All Staff
    team: int  # 0 for All Staff and department groups
    parent: uuid.UUID | None


def _uuid(*parts: object) -> uuid.UUID:
    return uuid.UUID(hashlib.md5("/".join(str(p) for p in parts).encode()).hexdigest())


def _group_layout(tenant_id: str, seed: int, groups: int) -> list[_Group]:
    """All Staff, then department groups (up to one per department), then teams nested in them."""
    all_staff = _Group(0, _uuid(tenant_id, seed, "group", 0), "All Staff", "Everyone (nests the department groups)", 0, 0, None)
    layout = [all_staff]
    departments = min(len(DEPARTMENTS), groups - 1)
    by_department: dict[int, uuid.UUID] = {}
    for d in range(1, departments + 1):
        name = DEPARTMENTS[d - 1][0]
        gid = _uuid(tenant_id, seed, "group", d)
        by_department[d] = gid
        layout.append(_Group(d, gid, name, f"The {name} department", d, 0, all_staff.id))
    for k in range(groups - 1 - departments):
        d = 1 + k % departments
        team = 1 + k // departments
        key = 1 + departments + k
        name = f"{DEPARTMENTS[d - 1][0]} Team {team}"
        layout.append(
            _Group(key, _uuid(tenant_id, seed, "group", key), name, f"A team of {DEPARTMENTS[d - 1][0]}", d, team, by_department[d])
        )
    return layout


def _descendants(layout: list[_Group], root: uuid.UUID) -> list[uuid.UUID]:
    found = [root]
    for g in layout:  # parents precede their children in the layout
        if g.parent in found:
            found.append(g.id)
    return found


def _split(quantity: int) -> list[int]:
    return [min(MAX_QUANTITY, quantity - start) for start in range(0, quantity, MAX_QUANTITY)] or [1]


# ------------------------------------------------------------------------------------ SQL

# One md5 per person, of seed/n; its bytes pick the name (0-3), department (4-5), location (6-7),
# job title (8), guest (9, ~1.2%), disabled account (10, ~2%), team (11-12) and the direct-share
# product (13, 60%). The id is a UUIDv7 whose timestamp grows with n from a base of the tenant
# and seed, so ids follow creation order (every index keyed on the user is filled in order,
# chunks are id ranges) and carry bytes 9-15 of the hash for the later phases. (OFFSET 0 keeps
# each level a subquery of its own, so the hash and the names are computed once per person.)
_USERS = """
INSERT INTO users (tenant_id, id, user_principal_name, display_name, mail, user_type, usage_location, account_enabled,
                   department, job_title, created_seq)
SELECT CAST(:tid AS text), p.id,
       CASE WHEN p.member THEN p.local || '@' || CAST(:domain AS text)
            ELSE p.local || '_fabrikam.example#EXT#@' || CAST(:domain AS text) END,
       p.first || ' ' || p.last,
       p.local || CASE WHEN p.member THEN '@' || CAST(:domain AS text) ELSE '@fabrikam.example' END,
       CASE WHEN p.member THEN 'MEMBER' ELSE 'GUEST' END,
       CASE WHEN p.member OR get_byte(p.h, 6) % 2 = 0
            THEN (CAST(:locations AS text[]))[1 + (get_byte(p.h, 6) * 256 + get_byte(p.h, 7)) % :nloc] END,
       get_byte(p.h, 10) >= 5,
       (CAST(:department_names AS text[]))[p.department],
       (CAST(:titles AS text[]))[(p.department - 1) * 4 + 1 + get_byte(p.h, 8) % 4],
       nextval('order_seq')
FROM (
    SELECT n, h, first, last, member, lower(first || '.' || last || '.' || n) AS local,
           CASE WHEN member THEN (CAST(:departments AS int[]))[1 + (get_byte(h, 4) * 256 + get_byte(h, 5)) % :nd] END AS department,
           CAST(lpad(to_hex(CAST(:base AS bigint) + n * :step), 12, '0') || '7' || lpad(to_hex(n & 4095), 3, '0') || '8'
                || substr(hx, 18, 15) AS uuid) AS id
    FROM (
        SELECT n, hx, h, get_byte(h, 9) >= 3 AS member,
               (CAST(:firsts AS text[]))[1 + (get_byte(h, 0) * 256 + get_byte(h, 1)) % :nf] AS first,
               (CAST(:lasts AS text[]))[1 + (get_byte(h, 2) * 256 + get_byte(h, 3)) % :nl] AS last
        FROM (
            SELECT n, hx, decode(hx, 'hex') AS h
            FROM (SELECT n, md5(CAST(:seed AS text) || '/' || n) AS hx FROM generate_series(CAST(:lo AS int), CAST(:hi AS int)) AS n) a
            OFFSET 0
        ) b
        OFFSET 0
    ) c
    ORDER BY n
) p
"""

_GROUPS = """
INSERT INTO groups (tenant_id, id, display_name, description, security_enabled)
SELECT :tid, g.id, g.name, g.description, true
FROM unnest(CAST(:ids AS uuid[]), CAST(:names AS text[]), CAST(:descriptions AS text[])) AS g(id, name, description)
"""

_NESTING = """
INSERT INTO group_group_members (tenant_id, group_id, member_group_id)
SELECT :tid, x.parent, x.child
FROM unnest(CAST(:parents AS uuid[]), CAST(:children AS uuid[])) WITH ORDINALITY AS x(parent, child, i)
ORDER BY x.i
"""

# The members of a chunk (an id range), with their department's number and the rolls the id carries.
_CHUNK_MEMBERS = """
    SELECT u.id, u.created_seq, array_position(CAST(:department_names AS text[]), u.department) AS department,
           get_byte(uuid_send(u.id), 11) * 256 + get_byte(uuid_send(u.id), 12) AS team_roll,
           get_byte(uuid_send(u.id), 13) < 154 AS direct_share
    FROM users u
    WHERE u.tenant_id = :tid AND u.id BETWEEN :lo_id AND :hi_id AND u.user_type = 'MEMBER'
"""

# Each member joins one group: a team of their department where it has teams (one in 16 of them,
# the leads, also the department group itself: two routes to All Staff), else the department's
# group, else All Staff. Places in line in user creation order.
_MEMBERSHIPS = """
WITH people AS (""" + _CHUNK_MEMBERS + """)
INSERT INTO group_user_members (tenant_id, group_id, user_id)
SELECT :tid, m.group_id, m.user_id
FROM (
    SELECT p.created_seq, 0 AS k, p.id AS user_id,
           coalesce(
               (CAST(:teams AS uuid[]))[(CAST(:team_offsets AS int[]))[p.department] + 1
                                        + (p.team_roll >> 4) % nullif((CAST(:team_counts AS int[]))[p.department], 0)],
               (CAST(:department_groups AS uuid[]))[p.department],
               CAST(:all_staff AS uuid)
           ) AS group_id
    FROM people p
    UNION ALL
    SELECT p.created_seq, 1, p.id, (CAST(:department_groups AS uuid[]))[p.department]
    FROM people p
    WHERE (CAST(:team_counts AS int[]))[p.department] > 0 AND p.team_roll & 15 = 0
) m
ORDER BY m.created_seq, m.k
"""

# Paths of a chunk: group licenses reach every transitive member (whoever is a direct member of
# the licensing group or of a group nested in it), direct ones follow the rules above. Places in
# line in creation order; the effective licenses, one per (user, product), come from the same rows.
_LICENSES = """
WITH people AS (""" + _CHUNK_MEMBERS + """), source AS (
    SELECT DISTINCT p.id AS user_id, p.created_seq, gl.product_id, gl.group_id
    FROM people p
    JOIN group_user_members m ON m.tenant_id = :tid AND m.user_id BETWEEN :lo_id AND :hi_id AND m.user_id = p.id
    JOIN unnest(CAST(:gl_products AS uuid[]), CAST(:gl_groups AS uuid[]), CAST(:gl_member_groups AS uuid[]))
        AS gl(product_id, group_id, member_group) ON gl.member_group = m.group_id
    UNION ALL
    SELECT p.id, p.created_seq, d.product_id, CAST(:direct AS uuid)
    FROM people p
    JOIN unnest(CAST(:d_products AS uuid[]), CAST(:d_rules AS text[])) AS d(product_id, rule)
        ON d.rule = 'all' OR (d.rule = 'share' AND p.direct_share) OR (d.rule = 'executive' AND p.department = :executive)
), paths AS (
    INSERT INTO license_paths (tenant_id, user_id, product_id, group_id, disabled_plan_ids, queue_seq, state)
    SELECT :tid, o.user_id, o.product_id, o.group_id, '{}', nextval('order_seq'), 'ACTIVE'
    FROM (SELECT * FROM source ORDER BY created_seq, product_id, group_id) o
    RETURNING user_id, product_id, group_id
), licenses AS (
    INSERT INTO user_licenses (tenant_id, user_id, product_id, holds_seat)
    SELECT :tid, user_id, product_id, true FROM paths GROUP BY user_id, product_id ORDER BY user_id, product_id
    RETURNING product_id
)
SELECT 'seats' AS kind, product_id, NULL::uuid AS group_id, count(*) AS n FROM licenses GROUP BY product_id
UNION ALL
SELECT 'group', product_id, group_id, count(*) FROM paths WHERE group_id <> CAST(:direct AS uuid) GROUP BY product_id, group_id
UNION ALL
SELECT 'paths', NULL, NULL, count(*) FROM paths
"""


# ------------------------------------------------------------------------------------ seed


@asynccontextmanager
async def _transaction(conn_or_db: AsyncConnection | Database) -> AsyncIterator[AsyncConnection]:
    if isinstance(conn_or_db, Database):
        async with conn_or_db.write() as conn:
            yield conn
    else:
        yield conn_or_db


@dataclass(frozen=True)
class _Ids:
    """User ids (UUIDv7) of the tenant: timestamp base + n * STEP milliseconds."""

    base: int
    STEP = 37

    @classmethod
    def of(cls, tenant_id: str, seed: int) -> _Ids:
        seconds = int(hashlib.md5(f"{tenant_id}/{seed}".encode()).hexdigest()[:8], 16) % 31_536_000
        return cls(1_609_459_200_000 + seconds * 1000)  # some moment of 2021

    def bounds(self, lo: int, hi: int) -> tuple[uuid.UUID, uuid.UUID]:
        return (uuid.UUID(f"{self.base + lo * self.STEP:012x}" + "0" * 20),
                uuid.UUID(f"{self.base + hi * self.STEP:012x}" + "f" * 20))


async def seed_tenant(
    conn_or_db: AsyncConnection | Database,
    tenant_id: str,
    users: int,
    groups: int = 20,
    seed: int = 1,
    progress_callback: ProgressCallback | None = None,
    *,
    add_ons: int = 0,
    now: datetime | None = None,
) -> SeedSummary:
    """Create (or fill an empty) tenant with `users` people, `groups` groups and their licenses.

    A Database: one write transaction of its own. A connection: the caller's transaction.
    Refuses (SeedError) a tenant that already has users.
    """
    if not 1 <= users <= MAX_USERS:
        raise SeedError(f"the number of users must be 1–{MAX_USERS:,}, not {users:,}.")
    if groups < 1:
        raise SeedError("the number of groups must be at least 1 (All Staff).")
    if groups > users:
        raise SeedError(
            f"{groups:,} groups for {users:,} users is more groups than people: pass --groups {users:,} or fewer "
            f"(its default is 20), or seed more --users."
        )
    if not 0 <= add_ons <= len(ADD_ONS):
        raise SeedError(f"add-ons must be 0–{len(ADD_ONS)}, not {add_ons}.")
    report = progress_callback or (lambda _phase, _done, _total: None)
    now = now or SystemClock().now()
    summary = SeedSummary(tenant_id, users=users)
    ids = _Ids.of(tenant_id, seed)
    chunks = [(lo, min(users, lo + CHUNK - 1)) for lo in range(1, users + 1, CHUNK)]
    async with _transaction(conn_or_db) as conn:
        await conn.execute(text("SET LOCAL work_mem = '256MB'"))
        await conn.execute(text("SET LOCAL jit = off"))  # compiling each chunk's plan costs more than it saves
        await _skip_reference_checks(conn)
        await lock_tenant_licenses(conn, tenant_id)
        tenant = await tenant_repo.get_tenant(conn, tenant_id)
        if tenant is None:
            tenant = await tenant_repo.create_tenant(conn, tenant_id, f"Seeded {tenant_id}", f"{tenant_id}.example", "US")
        else:
            existing = (await conn.execute(text("SELECT count(*) FROM users WHERE tenant_id = :t"), {"t": tenant_id})).scalar_one()
            if existing:
                raise SeedError(
                    f"tenant {tenant_id!r} already has {existing:,} users; seed a new tenant id instead "
                    "(the seed only fills an empty tenant)."
                )
        catalog = await load_catalog(conn)
        plan = _LicensePlan.of(catalog, add_ons)
        plan.check_rules(catalog)
        await _buy(conn, tenant_id, plan, users, now)

        started = time.perf_counter()
        department_weights = [d for d, (_n, weight, _t) in enumerate(DEPARTMENTS, 1) for _ in range(weight)]
        for lo, hi in chunks:
            result = await conn.execute(
                text(_USERS),
                {
                    "tid": tenant_id, "seed": str(seed), "lo": lo, "hi": hi, "domain": tenant.domain,
                    "base": ids.base, "step": ids.STEP,
                    "departments": department_weights, "nd": len(department_weights),
                    "firsts": list(FIRST_NAMES), "nf": len(FIRST_NAMES), "lasts": list(LAST_NAMES), "nl": len(LAST_NAMES),
                    "locations": list(LOCATIONS), "nloc": len(LOCATIONS),
                    "department_names": [d[0] for d in DEPARTMENTS], "titles": [t for d in DEPARTMENTS for t in d[2]],
                },
            )
            report("users", hi, users)
        await conn.execute(text("ANALYZE users"))  # so the later phases read each chunk by its id range
        summary.guests = (
            await conn.execute(text("SELECT count(*) FROM users WHERE tenant_id = :t AND user_type = 'GUEST'"), {"t": tenant_id})
        ).scalar_one()
        summary.members = users - summary.guests
        summary.seconds["users"] = time.perf_counter() - started

        started = time.perf_counter()
        layout = _group_layout(tenant_id, seed, groups)
        await conn.execute(
            text(_GROUPS),
            {"tid": tenant_id, "ids": [g.id for g in layout], "names": [g.name for g in layout],
             "descriptions": [g.description for g in layout]},
        )
        nested = [g for g in layout if g.parent is not None]
        if nested:
            await conn.execute(
                text(_NESTING), {"tid": tenant_id, "parents": [g.parent for g in nested], "children": [g.id for g in nested]}
            )
        summary.groups = len(layout)
        summary.seconds["groups"] = time.perf_counter() - started
        report("groups", 1, 1)

        started = time.perf_counter()
        department_groups: list[uuid.UUID | None] = [None] * len(DEPARTMENTS)
        teams: dict[int, list[uuid.UUID]] = defaultdict(list)
        for g in layout:
            if g.department and not g.team:
                department_groups[g.department - 1] = g.id
            elif g.team:
                teams[g.department].append(g.id)
        team_counts = [len(teams[d]) for d in range(1, len(DEPARTMENTS) + 1)]
        team_offsets = [sum(team_counts[: d - 1]) for d in range(1, len(DEPARTMENTS) + 1)]
        flat_teams = [t for d in range(1, len(DEPARTMENTS) + 1) for t in teams[d]]
        for lo, hi in chunks:
            lo_id, hi_id = ids.bounds(lo, hi)
            result = await conn.execute(
                text(_MEMBERSHIPS),
                {"tid": tenant_id, "lo_id": lo_id, "hi_id": hi_id, "department_names": [d[0] for d in DEPARTMENTS],
                 "teams": flat_teams, "team_offsets": team_offsets, "team_counts": team_counts,
                 "department_groups": department_groups, "all_staff": layout[0].id},
            )
            summary.memberships += result.rowcount
            report("memberships", hi, users)
        await conn.execute(text("ANALYZE group_user_members"))  # the licenses phase joins each chunk's memberships
        summary.seconds["memberships"] = time.perf_counter() - started

        started = time.perf_counter()
        await _license(conn, tenant_id, catalog, plan, layout, ids, chunks, summary, report)
        summary.seconds["licenses"] = time.perf_counter() - started

        started = time.perf_counter()
        await _events(conn, tenant_id, ids, chunks, summary, report, now)
        summary.seconds["events"] = time.perf_counter() - started

        started = time.perf_counter()
        await conn.execute(
            text(
                # users and group_user_members were analyzed when they were complete
                "ANALYZE groups, group_group_members, group_licenses, license_paths, user_licenses, product_pools, subscriptions"
            )
        )
        summary.seconds["analyze"] = time.perf_counter() - started
        report("analyze", 1, 1)
    return summary


async def _skip_reference_checks(conn: AsyncConnection) -> None:
    """Like `pg_restore --disable-triggers`: when the role may, skip the per-row foreign-key checks.

    Every row the seed writes refers to rows written earlier in this transaction (tenant,
    users, groups) or to catalog products it looked up, so the checks cannot fail; they are
    most of the cost of a million-user seed. Without the privilege the checks simply run.
    """
    allowed = (await conn.execute(text("SELECT current_setting('is_superuser') = 'on'"))).scalar_one()
    if allowed:
        await conn.execute(text("SET LOCAL session_replication_role = replica"))


@dataclass(frozen=True)
class _LicensePlan:
    group_licensed: uuid.UUID
    finance_licensed: uuid.UUID
    direct_share: uuid.UUID
    add_ons: tuple[uuid.UUID, ...]
    spare: tuple[tuple[uuid.UUID, bool], ...]

    @classmethod
    def of(cls, catalog: Catalog, add_ons: int) -> _LicensePlan:
        def product(sku: str) -> uuid.UUID:
            found = catalog.product_by_sku(sku)
            if found is None:
                raise SeedError(f"the catalog has no product {sku}; the seed needs it (is the database migrated?).")
            return found.id

        return cls(
            product(GROUP_LICENSED), product(FINANCE_GROUP_LICENSED), product(DIRECT_SHARE),
            tuple(product(s) for s in ADD_ONS[:add_ons]), tuple((product(s), trial) for s, trial in SPARE),
        )

    def check_rules(self, catalog: Catalog) -> None:
        """Ask the engine whether each seeded combination of paths is all ACTIVE in each seeded location."""
        cat, rules = catalog.to_engine()
        always = [(self.group_licensed, "all-staff"), *((p, None) for p in self.add_ons)]
        optional = [(self.group_licensed, None), (self.finance_licensed, "finance"), (self.direct_share, None)]
        for location in sorted(set(LOCATIONS)):
            for mask in range(1 << len(optional)):
                chosen = always + [optional[i] for i in range(len(optional)) if mask >> i & 1]
                paths = [
                    engine.PathFacts(
                        user_id="u", product_id=str(pid), group_id=group, disabled_plan_ids=frozenset(), queue_seq=i,
                        holds_seat=False, subscription_id=None, edited=False,
                    )
                    for i, (pid, group) in enumerate(chosen, 1)
                ]
                result = engine.evaluate(
                    [engine.UserFacts("u", location, 1)], paths, cat, rules, {str(p): 10 for p, _ in chosen}
                )
                for state in result.paths:
                    if not state.is_active:
                        sku = catalog.products[uuid.UUID(state.product_id)].sku_part_number
                        raise SeedError(
                            f"the service-plan rules refuse {sku} for a seeded user in {location}: {state.message} "
                            "Seed with fewer add-ons, or adjust LICENSING_SERVICE_PLAN_RULES."
                        )

    def subscriptions(self, users: int) -> list[tuple[uuid.UUID, int, bool]]:
        """(product, seats, trial): enough for every member; E3 as two pooled subscriptions."""
        e3 = users + max(5, users // 20)
        first = (e3 * 2 + 2) // 3
        spare = max(25, users // 20)
        wanted = [(self.group_licensed, first, False), (self.group_licensed, e3 - first, False),
                  (self.direct_share, users, False), (self.finance_licensed, max(25, users // 10), False)]
        wanted += [(p, users, False) for p in self.add_ons]
        wanted += [(p, spare, trial) for p, trial in self.spare]
        return [(p, q, trial) for p, total, trial in wanted for q in _split(total)]


async def _buy(conn: AsyncConnection, tenant_id: str, plan: _LicensePlan, users: int, now: datetime) -> None:
    for product_id, quantity, trial in plan.subscriptions(users):
        starts = now - timedelta(days=5 if trial else 200)
        term_start, term_end = first_term(starts, trial)
        await subscription_repo.insert_subscription(
            conn, tenant_id,
            {"product_id": product_id, "quantity": quantity, "is_trial": trial, "is_self_service": False,
             "purchased_by": None, "starts_at": starts, "term_starts_at": term_start, "term_ends_at": term_end,
             "recurring_billing": True},
        )


async def _license(
    conn: AsyncConnection, tenant_id: str, catalog: Catalog, plan: _LicensePlan, layout: list[_Group], ids: _Ids,
    chunks: list[tuple[int, int]], summary: SeedSummary, report: ProgressCallback,
) -> None:
    finance = next((g for g in layout if g.department == FINANCE and not g.team), None)
    group_licenses = [(plan.group_licensed, layout[0].id)]
    if finance is not None:
        group_licenses.append((plan.finance_licensed, finance.id))
    for product_id, group_id in group_licenses:  # assigned after every membership: paths queue behind them (D2)
        await conn.execute(
            text("INSERT INTO group_licenses (tenant_id, group_id, product_id, disabled_plan_ids) VALUES (:t, :g, :p, '{}')"),
            {"t": tenant_id, "g": group_id, "p": product_id},
        )
    direct = [(plan.group_licensed, "executive"), (plan.direct_share, "share"), *((p, "all") for p in plan.add_ons)]
    params = {
        "tid": tenant_id, "direct": DIRECT, "executive": EXECUTIVE, "department_names": [d[0] for d in DEPARTMENTS],
        # one row per (group license, group whose direct members reach it): the group and those nested in it
        "gl_products": [p for p, g in group_licenses for _ in _descendants(layout, g)],
        "gl_groups": [g for _, g in group_licenses for _ in _descendants(layout, g)],
        "gl_member_groups": [m for _, g in group_licenses for m in _descendants(layout, g)],
        "d_products": [p for p, _ in direct], "d_rules": [r for _, r in direct],
    }
    seats: dict[uuid.UUID, int] = defaultdict(int)
    active: dict[tuple[uuid.UUID, uuid.UUID], int] = defaultdict(int)
    for lo, hi in chunks:
        lo_id, hi_id = ids.bounds(lo, hi)
        for row in await conn.execute(text(_LICENSES), {**params, "lo_id": lo_id, "hi_id": hi_id}):
            if row.kind == "seats":
                seats[row.product_id] += int(row.n)
            elif row.kind == "group":
                active[(row.group_id, row.product_id)] += int(row.n)
            else:
                summary.paths += int(row.n)
        report("licenses", hi, summary.users)
    await add_consumed(conn, tenant_id, seats)
    await add_group_counts(conn, tenant_id, {key: (n, 0) for key, n in active.items()})
    summary.licenses = sum(seats.values())
    summary.consumed = dict(sorted((catalog.products[p].sku_part_number, n) for p, n in seats.items()))


# R25, D33: the seed is a change of the CLI like any other: one audit event, and one ADDED event
# per license it wrote (actor `cli`), appended as every engine decision's are (`db.repo.events`:
# the licenses staged as keys, then one append), chunk by chunk in the users' creation order.


async def _events(
    conn: AsyncConnection, tenant_id: str, ids: _Ids, chunks: list[tuple[int, int]], summary: SeedSummary,
    report: ProgressCallback, now: datetime,
) -> None:
    """The seed's audit event and its license events; announced at commit."""
    summary.audit_event_id = await audit_repo.append(
        conn, tenant_id, actor="cli", action="TENANT_SEEDED", target_id=tenant_id,
        summary=(f"Seeded {summary.users:,} users, {summary.groups:,} groups and {summary.licenses:,} licenses "
                 "(licensing seed)"),
        details={"users": summary.users, "groups": summary.groups, "licenses": summary.licenses, "paths": summary.paths},
        occurred_at=now,
    )
    await event_repo.stage(conn)
    for lo, hi in chunks:
        lo_id, hi_id = ids.bounds(lo, hi)
        await event_repo.add_license_keys(conn, tenant_id, lo_id, hi_id)
        summary.events += await event_repo.append(conn, tenant_id, actor="cli", audit_id=summary.audit_event_id, now=now)
        report("events", hi, summary.users)
    products = (await conn.execute(text("SELECT product_id FROM product_pools WHERE tenant_id = :t"), {"t": tenant_id})).scalars()
    await event_repo.notify_seats(conn, tenant_id, list(products))
