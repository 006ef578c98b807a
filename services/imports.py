"""Bulk intake (`licensing import users|members FILE.csv`) for large tenants: the use cases.

Files follow the Microsoft 365 admin center's bulk-add template (or a simpler header with a
`Usage location` column). Every row is checked before anything is written — the D8 rules of
`services.validation`, duplicates within the file, names the tenant already has (users) or
does not have (members) — and every bad row is reported with its line number; one bad row
means nothing is imported. The writes are set-based (db/imports.py) and happen in one
transaction.

Importing members runs, batch by batch, the step `addGroupMembers` runs
(`services.groups.change_members`): the tenant's license lock (D21), then for each batch of
users in creation order the membership rows and the reconciliation of their group licenses,
all in one transaction. Members added at one moment queue by user creation order (D2), so
seats and places in line go as one call would give them, while memory stays bounded and the
progress bar moves.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.exc import IntegrityError

from db import imports
from db.imports import ResolvedMember, StagedUser
from db.records import GroupRecord
from db.repo import directory
from engine.countries import COUNTRY_CODES
from services import validation as v
from services.change import Change, begin
from services.context import Actor, Runtime
from services.dynamic_groups import refuse_manual
from services.errors import ErrorCode, Refused, refuse
from services.groups import change_members
from services.ids import BadId, parse_uuid_id, to_global_id
from services.license_changes import Decided
from services.user_changes import users_changed

Progress = Callable[[str, float, float], None]
"""(phase, done, total): how far an import is."""

# Header spellings (case and spacing ignored) → the column's meaning.
USER_COLUMNS = {
    "user name": "upn", "username": "upn", "user principal name": "upn", "userprincipalname": "upn",
    "display name": "display_name", "first name": "first_name", "last name": "last_name",
    "employee id": "employee_id", "employeeid": "employee_id",
    "job title": "job_title", "department": "department", "usage location": "usage_location",
    "country or region": "country", "mail": "mail",
}
# In the admin center's template but not part of a user here: accepted and not stored.
NOT_STORED = {
    "office number", "office phone", "mobile phone", "fax", "alternate email address", "address", "city",
    "state or province", "zip or postal code",
}
MEMBER_COLUMNS = {"user name": "upn", "username": "upn", "user principal name": "upn", "userprincipalname": "upn", "member": "upn"}

# "Country or region" as the admin center writes it: common names, besides the ISO codes.
COUNTRY_NAMES = {
    "united states": "US", "united states of america": "US", "usa": "US", "u.s.": "US", "u.s.a.": "US",
    "united kingdom": "GB", "uk": "GB", "great britain": "GB", "britain": "GB", "england": "GB", "scotland": "GB",
    "wales": "GB", "northern ireland": "GB", "ireland": "IE", "norway": "NO", "sweden": "SE", "denmark": "DK",
    "finland": "FI", "iceland": "IS", "germany": "DE", "france": "FR", "spain": "ES", "portugal": "PT", "italy": "IT",
    "netherlands": "NL", "the netherlands": "NL", "holland": "NL", "belgium": "BE", "luxembourg": "LU",
    "switzerland": "CH", "austria": "AT", "poland": "PL", "czech republic": "CZ", "czechia": "CZ", "slovakia": "SK",
    "hungary": "HU", "romania": "RO", "bulgaria": "BG", "greece": "GR", "croatia": "HR", "slovenia": "SI",
    "serbia": "RS", "estonia": "EE", "latvia": "LV", "lithuania": "LT", "ukraine": "UA", "turkey": "TR",
    "türkiye": "TR", "turkiye": "TR", "russia": "RU", "russian federation": "RU", "cyprus": "CY", "malta": "MT",
    "israel": "IL", "united arab emirates": "AE", "uae": "AE", "saudi arabia": "SA", "qatar": "QA", "egypt": "EG",
    "south africa": "ZA", "nigeria": "NG", "kenya": "KE", "morocco": "MA", "india": "IN", "pakistan": "PK",
    "bangladesh": "BD", "sri lanka": "LK", "china": "CN", "hong kong": "HK", "hong kong sar": "HK", "taiwan": "TW",
    "japan": "JP", "south korea": "KR", "korea": "KR", "republic of korea": "KR", "singapore": "SG",
    "malaysia": "MY", "indonesia": "ID", "thailand": "TH", "vietnam": "VN", "viet nam": "VN", "philippines": "PH",
    "australia": "AU", "new zealand": "NZ", "canada": "CA", "mexico": "MX", "brazil": "BR", "argentina": "AR",
    "chile": "CL", "colombia": "CO", "peru": "PE",
}

PATH_ROWS_PER_BATCH = 200_000
"""License paths (stored plus new) one reconciliation batch may hold: batches are decided in
SQL (db.group_bulk), so this only sets how often the progress bar moves."""
MAX_USERS_PER_BATCH = 25_000


@dataclass(frozen=True, order=True)
class RowProblem:
    line: int
    column: str
    message: str


class ImportRefused(Exception):
    """The file has bad rows: nothing was imported."""

    def __init__(self, problems: list[RowProblem]) -> None:
        super().__init__(f"{len(problems)} problem(s)")
        self.problems = sorted(problems)


class FileError(Exception):
    """The file cannot be read as a CSV of this kind (shown as is)."""


# ------------------------------------------------------------------------------------ reading


@dataclass
class CsvFile:
    name: str
    headers: dict[str, str]  # meaning → the header as written
    rows: list[tuple[int, dict[str, str]]]  # (line where the record starts, meaning → trimmed value)
    not_stored: list[str] = field(default_factory=list)
    too_long: list[RowProblem] = field(default_factory=list)  # rows with more values than the header has columns


def _key(header: str) -> str:
    return " ".join(header.replace("_", " ").split()).lower()


def read_csv(path: Path, meanings: dict[str, str], *, required: str, other_columns: set[str] | None,
             on_progress: Callable[[int, int], None]) -> CsvFile:
    """Read a UTF-8 CSV (a BOM is fine). `other_columns`: headers accepted but not stored; None
    accepts any other header. Raises FileError for what no row-by-row report can fix."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise FileError(f"cannot read {path}: {exc.strerror}.") from exc
    try:
        content = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise FileError(
            f"{path.name}, line {line}: not UTF-8 text. Save the file as 'CSV UTF-8 (Comma delimited)' and try again."
        ) from exc
    total_lines = max(1, content.count("\n") + (0 if content.endswith("\n") else 1))
    reader = csv.reader(io.StringIO(content, newline=""), strict=True)
    result = CsvFile(path.name, {}, [])
    width = 0
    wanted: list[tuple[str, int]] = []  # (meaning, index) of the columns this import reads
    start = 1
    try:
        for record in reader:
            line, start = start, reader.line_num + 1
            if not "".join(record).strip():
                continue  # blank lines and Excel's empty trailing rows
            if not result.headers:
                columns = _header(record, meanings, required, other_columns, result)
                width = len(columns)
                wanted = [(meaning, i) for i, meaning in enumerate(columns) if meaning]
                continue
            if len(record) > width:
                result.too_long.append(RowProblem(line, "", f"{len(record)} values, but the header has {width} columns."))
            size = len(record)
            result.rows.append((line, {meaning: record[i].strip() for meaning, i in wanted if i < size}))
            if len(result.rows) % 5_000 == 0:
                on_progress(reader.line_num, total_lines)
    except csv.Error as exc:
        raise FileError(f"{path.name}, line {reader.line_num}: {exc}. Check the quotes on that line.") from exc
    if not result.headers:
        raise FileError(f"{path.name} is empty: the first line must be a header such as 'User name,Display name,…'.")
    on_progress(total_lines, total_lines)
    return result


def _header(
    record: list[str], meanings: dict[str, str], required: str, other_columns: set[str] | None, out: CsvFile
) -> list[str | None]:
    columns: list[str | None] = []
    for cell in record:
        key = _key(cell)
        meaning = meanings.get(key)
        if meaning is None:
            if other_columns is not None and key not in other_columns:
                raise FileError(
                    f"{out.name}, line 1: unknown column {cell.strip()!r}. Columns this import reads: "
                    f"{', '.join(sorted({k.capitalize() for k in meanings} | {k.capitalize() for k in other_columns}))}."
                )
            if cell.strip():
                out.not_stored.append(cell.strip())
        elif meaning in out.headers:
            raise FileError(f"{out.name}, line 1: {out.headers[meaning]!r} and {cell.strip()!r} are the same column; keep one.")
        else:
            out.headers[meaning] = cell.strip()
        columns.append(meaning)
    if required not in out.headers:
        names = sorted(k.capitalize() for k, m in meanings.items() if m == required)
        raise FileError(f"{out.name}, line 1: the header has no {' or '.join(repr(n) for n in names)} column.")
    return columns


# ------------------------------------------------------------------------------------ validating


def country_code(value: str, column: str) -> str:
    """`Country or region`: an ISO 3166-1 alpha-2 code or a common English name."""
    code = COUNTRY_NAMES.get(" ".join(value.split()).lower())
    if code is None and len(value.strip()) == 2:
        code = value.strip().upper() if value.strip().upper() in COUNTRY_CODES else None
    if code is None:
        raise v.invalid(column, f"`{column}` {value[:40]!r} is not a country this import knows: use its two-letter "
                                "ISO 3166-1 code, such as NO or US.")
    return code


def _check(problems: list[RowProblem], line: int, column: str, check: Callable[[str, str], str | None], value: str) -> str | None:
    """Run one D8 check (`check(value, column)`); a refusal becomes a problem of this line."""
    try:
        return check(value, column)
    except Refused as exc:
        problems.append(RowProblem(line, column, exc.problems[0].message))
        return None


def validate_users(parsed: CsvFile, on_progress: Callable[[int], None]) -> tuple[list[StagedUser], list[RowProblem]]:
    """Every row checked by the D8 rules; duplicates in the file are bad rows too (D20)."""
    h = {meaning: parsed.headers.get(meaning, default) for meaning, default in _USER_LABELS.items()}
    problems = list(parsed.too_long)
    users: list[StagedUser] = []
    first_line: dict[str, int] = {}
    for done, (line, row) in enumerate(parsed.rows, 1):
        bad = len(problems)
        upn = _check(problems, line, h["upn"], v.user_principal_name, row.get("upn", ""))
        if upn is not None:
            seen = first_line.setdefault(upn.lower(), line)
            if seen != line:
                problems.append(RowProblem(line, h["upn"], f"{upn} is also on line {seen}; each user once."))
        # empty optional values are None; only what is there is checked
        given_name = surname = employee_id = None
        parts_bad = len(problems)
        if row.get("first_name"):
            given_name = _check(problems, line, h["first_name"], v.given_name, row["first_name"])
        if row.get("last_name"):
            surname = _check(problems, line, h["last_name"], v.surname, row["last_name"])
        parts_bad = len(problems) > parts_bad
        display = row.get("display_name") or " ".join(p for p in (given_name, surname) if p)
        display_name = None
        if display:
            display_name = _check(problems, line, h["display_name"], v.required_text, display)
        elif not parts_bad:  # a refused First or Last name is reported once, under its own column
            problems.append(RowProblem(line, h["display_name"], f"`{h['display_name']}` is required (or give First name and Last name)."))
        if row.get("employee_id"):
            employee_id = _check(problems, line, h["employee_id"], v.employee_id, row["employee_id"])
        mail = location = department = job_title = None
        if row.get("mail"):
            mail = _check(problems, line, h["mail"], v.mail_address, row["mail"])
        if row.get("usage_location"):
            location = _check(problems, line, h["usage_location"], v.usage_location, row["usage_location"])
        elif row.get("country"):
            location = _check(problems, line, h["country"], country_code, row["country"])
        if row.get("department"):
            department = _check(problems, line, h["department"], v.optional_text, row["department"])
        if row.get("job_title"):
            job_title = _check(problems, line, h["job_title"], v.optional_text, row["job_title"])
        if len(problems) == bad and upn is not None and display_name is not None:
            users.append(
                StagedUser(line, upn, display_name, mail, location, department, job_title, given_name, surname, employee_id)
            )
        if done % 5_000 == 0:
            on_progress(done)
    on_progress(len(parsed.rows))
    return users, problems


_USER_LABELS = {
    "upn": "User name", "display_name": "Display name", "mail": "Mail", "usage_location": "Usage location",
    "country": "Country or region", "department": "Department", "job_title": "Job title",
    "first_name": "First name", "last_name": "Last name", "employee_id": "Employee ID",
}


def validate_members(parsed: CsvFile, on_progress: Callable[[int], None]) -> tuple[list[tuple[int, str]], list[RowProblem]]:
    col = parsed.headers["upn"]
    problems = list(parsed.too_long)
    members: list[tuple[int, str]] = []
    first_line: dict[str, int] = {}
    for done, (line, row) in enumerate(parsed.rows, 1):
        upn = _check(problems, line, col, v.user_principal_name, row.get("upn", ""))
        if upn is not None:
            seen = first_line.setdefault(upn.lower(), line)
            if seen != line:
                problems.append(RowProblem(line, col, f"{upn} is also on line {seen}; name each member once."))
            else:
                members.append((line, upn))
        if done % 5_000 == 0:
            on_progress(done)
    on_progress(len(parsed.rows))
    return members, problems


# ------------------------------------------------------------------------------------ users


async def import_users(
    rt: Runtime, actor: Actor, parsed: CsvFile, users: list[StagedUser], problems: list[RowProblem], *,
    dry_run: bool, progress: Progress,
) -> int:
    """Create every user of a validated file (or, `dry_run`, check them against the tenant).
    Raises ImportRefused listing every bad row, names the tenant has already included."""
    rows = len(parsed.rows)
    async with begin(rt, actor, dry_run=dry_run) as change:
        conn, tid = change.conn, change.tenant_id
        await imports.stage_users(conn, users, lambda d: progress("validate", rows + d * rows / max(len(users), 1), 2 * rows))
        taken = await imports.staged_users_taken(conn, tid)
        col = parsed.headers["upn"]
        found = problems + [RowProblem(line, col, f"{upn} already exists in {tid}.") for line, upn in taken]
        if found:
            raise ImportRefused(found)
        progress("validate", 1, 1)
        if dry_run:
            return len(users)
        progress("write", 0, len(users))
        try:
            created = await imports.insert_staged_users(conn, tid)
        except IntegrityError as exc:  # a user of the file was created by someone else just now
            raise refuse(
                ErrorCode.ALREADY_EXISTS,
                "a user named in the file was created while importing; nothing was imported. Run the import again to see which.",
            ) from exc
        await imports.refresh_statistics(conn, created, "users")
        # R22: the new users join the dynamic groups whose rules they match (rules in SQL)
        followed = await users_changed(change, stored_ids=await imports.staged_user_ids(conn, tid), refuse_new_errors=False)
        await change.audit(
            "USERS_IMPORTED", f"Imported {created:,} user(s) from {parsed.name}" + followed.audit_text(),
            users=created, file=parsed.name, **followed.audit_details(),
        )
        progress("write", 1, 1)
        return created


# ------------------------------------------------------------------------------------ members


@dataclass
class LicenseTally:
    """What the reconciliation did to the added users' paths, per product."""

    affected: int = 0
    active: Counter[uuid.UUID] = field(default_factory=Counter)
    errors: Counter[tuple[uuid.UUID, str]] = field(default_factory=Counter)

    def add(self, affected: int, decided: Decided) -> None:
        self.affected += affected
        for (product_id, state, code), n in decided.path_counts().items():
            if state == "ACTIVE":
                self.active[product_id] += n
            else:
                self.errors[(product_id, code or "ERROR")] += n


def batches(members: Sequence[ResolvedMember], routes: int) -> Iterator[list[ResolvedMember]]:
    """Consecutive runs of users (already in creation order) whose path rows fit one batch."""
    batch: list[ResolvedMember] = []
    rows = 0
    for m in members:
        weight = m.path_count + routes
        if batch and (rows + weight > PATH_ROWS_PER_BATCH or len(batch) >= MAX_USERS_PER_BATCH):
            yield batch
            batch, rows = [], 0
        batch.append(m)
        rows += weight
    if batch:
        yield batch


async def find_group(change: Change, name: str) -> GroupRecord:
    """The one group with this display name (any case), or with this id."""
    found = await imports.groups_named(change.conn, change.tenant_id, name)
    if len(found) == 1:
        return found[0]
    if len(found) > 1:
        raise refuse(ErrorCode.INVALID_INPUT, f"{len(found)} groups are named {name!r}; pass the group's id (from the API) as --group instead.")
    try:
        gid = parse_uuid_id(name.strip(), "Group")
    except BadId:
        gid = None
    by_id = (await directory.groups_by_ids(change.conn, change.tenant_id, [gid])) if gid else {}
    if gid is None or gid not in by_id:
        raise refuse(ErrorCode.NOT_FOUND, f"no group named {name!r} in {change.tenant_id}; create it first, or check the spelling.")
    return by_id[gid]


@dataclass
class MembersImported:
    group: str
    added: int
    already: int
    tally: LicenseTally
    sku: dict[uuid.UUID, str] = field(default_factory=dict)

    def license_lines(self) -> list[str]:
        lines = []
        for product_id in sorted({p for p in self.tally.active} | {p for p, _ in self.tally.errors}, key=str):
            errors = [f"{n:,} in error ({code})" for (p, code), n in sorted(self.tally.errors.items()) if p == product_id]
            lines.append(f"{self.sku.get(product_id, str(product_id))}: " + ", ".join([f"{self.tally.active[product_id]:,} active", *errors]))
        return lines


async def import_members(
    rt: Runtime, actor: Actor, group: str, parsed: CsvFile, members: list[tuple[int, str]], problems: list[RowProblem], *,
    dry_run: bool, progress: Progress,
) -> MembersImported:
    """What `addGroupMembers` does, for a whole file: lock, then batch by batch the edges and the
    reconciliation of the added users (`services.groups.change_members`)."""
    async with begin(rt, actor, dry_run=dry_run, license_lock=True) as change:
        conn, tid = change.conn, change.tenant_id
        target = await find_group(change, group)
        if target.dynamic:
            raise refuse_manual(target)
        rows = len(parsed.rows)
        await imports.stage_members(conn, members, lambda d: progress("validate", rows + d * rows / max(len(members), 1), 2 * rows))
        resolved = await imports.resolve_staged_members(conn, tid, target.id)
        col = parsed.headers["upn"]
        unknown = [RowProblem(r.line, col, f"no user of {tid} is named {r.user_principal_name}.") for r in resolved if r.user_id is None]
        if problems or unknown:
            raise ImportRefused(problems + unknown)
        progress("validate", 1, 1)
        new = [r for r in resolved if not r.already_member]  # in user creation order
        result = MembersImported(target.display_name, len(new), len(resolved) - len(new), LicenseTally())
        result.sku = {p.id: p.sku_part_number for p in change.catalog.products.values()}
        if dry_run or not new:
            return result  # D17: adding existing members changes nothing, and records nothing
        routes = await imports.licensed_routes(conn, tid, target.id)
        done = 0
        for batch in batches(new, routes):
            added = await change_members(change, target, [m.user_id for m in batch if m.user_id], [], add=True)
            assert added.reconciled is not None
            result.tally.add(added.changes.affected_user_count, added.reconciled.decided)
            done += len(batch)
            progress("write", done, len(new))
        await imports.refresh_statistics(conn, len(new), "group_user_members", "license_paths", "user_licenses")
        tally = result.tally
        await change.audit(
            "MEMBERS_IMPORTED",
            f"Imported {result.added:,} member(s) into {target.display_name} from {parsed.name} "
            f"({result.already:,} already members); {tally.affected:,} user(s) affected",
            target_id=to_global_id("Group", target.id), users=result.added, already_members=result.already,
            affected=tally.affected, errors=sum(tally.errors.values()), file=parsed.name,
        )
        return result

