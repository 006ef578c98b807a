"""Bulk intake (`licensing import users|members`): rows are staged with COPY into a temporary
table, checked against the tenant with one join each, and written with one INSERT … SELECT.

Nothing here loops over rows with a statement each: a 100,000-row file is a few COPY chunks
and a handful of set-based statements. The temporary tables live until the transaction ends,
so a refused import leaves nothing behind.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from db.records import GroupRecord

COPY_CHUNK = 20_000
"""Rows per COPY call: the progress bar moves between chunks."""


@dataclass(frozen=True, slots=True)
class StagedUser:
    line: int
    user_principal_name: str
    display_name: str
    mail: str | None
    usage_location: str | None
    department: str | None
    job_title: str | None
    given_name: str | None
    surname: str | None
    employee_id: str | None


@dataclass(frozen=True, slots=True)
class ResolvedMember:
    line: int
    user_principal_name: str  # as written in the file
    user_id: uuid.UUID | None  # None: no user of the tenant has this name
    created_seq: int | None
    already_member: bool
    path_count: int  # the user's stored license paths (bounds how many rows a license change writes)


async def _copy(
    conn: AsyncConnection, table: str, columns: Sequence[str], records: Sequence[tuple[Any, ...]],
    on_progress: Callable[[int], None] | None,
) -> None:
    """COPY `records` into `table` on the transaction's own connection (asyncpg's binary COPY)."""
    raw = await conn.get_raw_connection()
    driver = raw.driver_connection
    assert driver is not None
    for start in range(0, len(records), COPY_CHUNK):
        chunk = records[start : start + COPY_CHUNK]
        await driver.copy_records_to_table(table, records=chunk, columns=list(columns))
        if on_progress:
            on_progress(start + len(chunk))
    if on_progress and not records:
        on_progress(0)


# ------------------------------------------------------------------------------------ users

_USER_STAGE = """
CREATE TEMP TABLE import_users (
    line integer NOT NULL, upn text NOT NULL, display_name text NOT NULL, mail text,
    usage_location text, department text, job_title text, given_name text, surname text, employee_id text
) ON COMMIT DROP
"""


async def stage_users(
    conn: AsyncConnection, users: Sequence[StagedUser], on_progress: Callable[[int], None] | None = None
) -> None:
    await conn.execute(text(_USER_STAGE))
    records = [
        (u.line, u.user_principal_name, u.display_name, u.mail, u.usage_location, u.department, u.job_title,
         u.given_name, u.surname, u.employee_id)
        for u in users
    ]
    columns = ("line", "upn", "display_name", "mail", "usage_location", "department", "job_title",
               "given_name", "surname", "employee_id")
    await _copy(conn, "import_users", columns, records, on_progress)
    await conn.execute(text("ANALYZE import_users"))  # the tenant check joins it with users


async def staged_users_taken(conn: AsyncConnection, tenant_id: str) -> list[tuple[int, str]]:
    """(line, the stored name) of every staged user whose name the tenant already has (D20: case-insensitive)."""
    rows = await conn.execute(
        text(
            """
            SELECT i.line, u.user_principal_name
            FROM import_users i
            JOIN users u ON u.tenant_id = :t AND lower(u.user_principal_name) COLLATE "C" = lower(i.upn) COLLATE "C"
            ORDER BY i.line
            """
        ),
        {"t": tenant_id},
    )
    return [(r.line, r.user_principal_name) for r in rows]


async def insert_staged_users(conn: AsyncConnection, tenant_id: str) -> int:
    """Create every staged user; creation order (D2 ties) follows the file."""
    result = await conn.execute(
        text(
            """
            INSERT INTO users (tenant_id, id, user_principal_name, display_name, mail, user_type, usage_location,
                               account_enabled, department, job_title, given_name, surname, employee_id, created_seq)
            SELECT :t, gen_random_uuid(), i.upn, i.display_name, i.mail, 'MEMBER', i.usage_location,
                   true, i.department, i.job_title, i.given_name, i.surname, i.employee_id, nextval('order_seq')
            FROM (SELECT * FROM import_users ORDER BY line) i
            """
        ),
        {"t": tenant_id},
    )
    return int(result.rowcount)


async def staged_user_ids(conn: AsyncConnection, tenant_id: str) -> list[uuid.UUID]:
    """The ids of the users just created from the staged file, in creation order."""
    rows = await conn.execute(
        text(
            """
            SELECT u.id FROM import_users i
            JOIN users u ON u.tenant_id = :t AND u.user_principal_name = i.upn
            ORDER BY u.created_seq
            """
        ),
        {"t": tenant_id},
    )
    return [r[0] for r in rows]


# ------------------------------------------------------------------------------------ members

_MEMBER_STAGE = "CREATE TEMP TABLE import_members (line integer NOT NULL, upn text NOT NULL) ON COMMIT DROP"


async def groups_named(conn: AsyncConnection, tenant_id: str, name: str) -> list[GroupRecord]:
    """Groups whose display name is `name`, compared case-insensitively."""
    rows = await conn.execute(
        text(
            """
            SELECT id, display_name, description, security_enabled, created_at, membership_rule FROM groups
            WHERE tenant_id = :t AND lower(display_name) COLLATE "C" = lower(:n) COLLATE "C"
            ORDER BY created_at, id
            """
        ),
        {"t": tenant_id, "n": name.strip()},
    )
    return [GroupRecord.from_row(r) for r in rows]


async def licensed_routes(conn: AsyncConnection, tenant_id: str, group_id: uuid.UUID) -> int:
    """Group licenses a new member of this group reaches: the group's own and those of every
    group it is nested in (R10). Zero means adding members changes nobody's licenses."""
    row = await conn.execute(
        text(
            """
            WITH RECURSIVE up(id) AS (
                SELECT CAST(:g AS uuid)
                UNION
                SELECT e.group_id FROM group_group_members e JOIN up ON e.member_group_id = up.id WHERE e.tenant_id = :t
            )
            SELECT count(*) FROM group_licenses gl JOIN up ON gl.group_id = up.id WHERE gl.tenant_id = :t
            """
        ),
        {"t": tenant_id, "g": group_id},
    )
    return int(row.scalar_one())


async def stage_members(
    conn: AsyncConnection, members: Sequence[tuple[int, str]], on_progress: Callable[[int], None] | None = None
) -> None:
    await conn.execute(text(_MEMBER_STAGE))
    await _copy(conn, "import_members", ("line", "upn"), list(members), on_progress)
    await conn.execute(text("ANALYZE import_members"))


async def resolve_staged_members(conn: AsyncConnection, tenant_id: str, group_id: uuid.UUID) -> list[ResolvedMember]:
    """Every staged name with its user (or None), whether it is a direct member already, and its
    stored path count; users in creation order, unknown names last."""
    rows = await conn.execute(
        text(
            """
            SELECT i.line, i.upn, u.id AS user_id, u.created_seq,
                   (m.user_id IS NOT NULL) AS already,
                   coalesce(p.n, 0) AS path_count
            FROM import_members i
            LEFT JOIN users u ON u.tenant_id = :t AND lower(u.user_principal_name) COLLATE "C" = lower(i.upn) COLLATE "C"
            LEFT JOIN group_user_members m ON m.tenant_id = :t AND m.group_id = :g AND m.user_id = u.id
            LEFT JOIN LATERAL (
                SELECT count(*) AS n FROM license_paths lp WHERE lp.tenant_id = :t AND lp.user_id = u.id
            ) p ON true
            ORDER BY u.created_seq NULLS LAST, i.line
            """
        ),
        {"t": tenant_id, "g": group_id},
    )
    return [ResolvedMember(r.line, r.upn, r.user_id, r.created_seq, bool(r.already), int(r.path_count)) for r in rows]


async def add_staged_members(conn: AsyncConnection, tenant_id: str, group_id: uuid.UUID) -> int:
    """Make every staged user a direct member (existing members are a no-op, D17); places in line
    (`added_seq`) in user creation order (D2)."""
    result = await conn.execute(
        text(
            """
            INSERT INTO group_user_members (tenant_id, group_id, user_id, added_seq)
            SELECT :t, :g, s.id, nextval('order_seq')
            FROM (
                SELECT DISTINCT u.id, u.created_seq FROM import_members i
                JOIN users u ON u.tenant_id = :t AND lower(u.user_principal_name) COLLATE "C" = lower(i.upn) COLLATE "C"
                WHERE NOT EXISTS (
                    SELECT 1 FROM group_user_members m WHERE m.tenant_id = :t AND m.group_id = :g AND m.user_id = u.id
                )
                ORDER BY u.created_seq
            ) s
            ON CONFLICT DO NOTHING
            """
        ),
        {"t": tenant_id, "g": group_id},
    )
    return int(result.rowcount)


BIG_IMPORT = 1_000
"""From this many rows on, an import refreshes the planner's statistics of the tables it grew
(as `licensing seed` does), so the queries that follow do not plan for an empty tenant."""


async def refresh_statistics(conn: AsyncConnection, rows: int, *tables: str) -> None:
    if rows >= BIG_IMPORT:
        await conn.execute(text(f"ANALYZE {', '.join(tables)}"))
