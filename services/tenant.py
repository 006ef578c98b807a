"""Tenants: creating and editing one (the CLI, with the OpenID Connect issuer it trusts, R31) and
updateTenant (the default usage location, R8)."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlsplit

from db.records import OidcTrust, TenantRecord
from db.repo import licensing, tenants
from db.session import Database
from services import validation as v
from services.change import Change, begin
from services.context import Actor, Runtime
from services.errors import ErrorCode, refuse
from services.ids import to_global_id
from services.license_changes import Proposal, decide_and_write
from services.summaries import ChangeSummary

TENANT_ID = re.compile(r"^[a-z0-9][a-z0-9\-]{1,62}$")
DOMAIN = re.compile(r"^(?=.{3,253}$)[a-z0-9](?:[a-z0-9\-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9\-]*[a-z0-9])?)+$")


def tenant_id_arg(value: str, field: str = "id") -> str:
    tid = v.no_nul(value, field).strip().lower()
    if not TENANT_ID.match(tid):
        raise v.invalid(field, "the tenant ID must be 2–63 characters of lower-case letters, digits and hyphens, e.g. contoso.")
    return tid


ROLES_CLAIM = re.compile(r"^[^.\s]+(?:\.[^.\s]+)*$")  # a dotted path: realm_access.roles
MAX_OIDC_TEXT = 2048


def oidc_url_problem(url: str, *, allow_http_loopback: bool) -> str | None:
    """Why `url` may not be an issuer (or a provider's `jwks_uri`), or None: https only; http
    only to a loopback address when LICENSING_OIDC_ALLOW_HTTP_LOOPBACK is true (R31)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        return "it is not a URL"
    if not host or parts.username is not None or parts.password is not None:
        return "it needs a host name and no user name or password"
    if parts.query or parts.fragment:
        return "it may not have a query or a fragment"
    if parts.scheme == "https":
        return None
    if parts.scheme != "http":
        return "it must start with https://"
    if not _is_loopback(host):
        return "it must start with https:// (http:// is accepted only for loopback addresses, for tests)"
    if not allow_http_loopback:
        return "http:// to a loopback address is accepted only when LICENSING_OIDC_ALLOW_HTTP_LOOPBACK=true (tests)"
    return None


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def oidc_trust(issuer: str, audience: str | None, roles_claim: str | None, *, allow_http_loopback: bool) -> OidcTrust:
    """The issuer settings of `--oidc-issuer`, `--oidc-audience` and `--oidc-roles-claim`,
    checked (nothing is fetched: `licensing tenants check-oidc` does that)."""
    url = v.no_nul(issuer, "--oidc-issuer").strip()
    if len(url) > MAX_OIDC_TEXT:
        raise v.invalid("--oidc-issuer", "--oidc-issuer is too long.")
    if problem := oidc_url_problem(url, allow_http_loopback=allow_http_loopback):
        raise v.invalid("--oidc-issuer", f"--oidc-issuer {url!r} is refused: {problem}.")
    aud = v.no_nul(audience or "", "--oidc-audience").strip()
    if not aud or len(aud) > MAX_OIDC_TEXT:
        raise v.invalid(
            "--oidc-audience",
            "--oidc-audience is required with --oidc-issuer: the `aud` of the API's tokens "
            "(in Microsoft Entra, the API's application (client) id).",
        )
    claim = v.no_nul(roles_claim or "roles", "--oidc-roles-claim").strip()
    if not ROLES_CLAIM.match(claim) or len(claim) > 256:
        raise v.invalid("--oidc-roles-claim", f"--oidc-roles-claim {claim!r} must be a claim name or a dotted path like realm_access.roles.")
    return OidcTrust(url, aud, claim)


def _issuer_taken(trust: OidcTrust) -> Exception:
    return refuse(
        ErrorCode.ALREADY_EXISTS,
        f"another tenant already trusts the issuer {trust.issuer!r}: an issuer is trusted by one tenant only "
        "(remove it there with `licensing tenants update OTHER --no-oidc`).",
    )


@dataclass(frozen=True)
class CreateTenant:
    tenant_id: str
    display_name: str
    domain: str | None = None
    default_usage_location: str | None = None
    oidc: OidcTrust | None = None  # checked with oidc_trust()


async def create_tenant(db: Database, request: CreateTenant) -> TenantRecord:
    """A new organisation (the CLI's `tenants create`). Refused when the id or the issuer is
    taken; a refusal leaves no tenant behind (one transaction)."""
    tid = tenant_id_arg(request.tenant_id)
    name = v.required_text(request.display_name, "--name")
    domain = _domain(request.domain or f"{tid}.example")
    location = v.usage_location(request.default_usage_location, "--default-usage-location")
    try:
        async with db.write() as conn:
            if await tenants.get_tenant(conn, tid):
                raise refuse(ErrorCode.ALREADY_EXISTS, f"a tenant {tid!r} already exists.")
            return await tenants.create_tenant(conn, tid, name, domain, location, request.oidc)
    except tenants.IssuerTaken as exc:
        assert request.oidc is not None
        raise _issuer_taken(request.oidc) from exc


def _domain(value: str) -> str:
    domain = v.no_nul(value, "--domain").strip().lower()
    if not DOMAIN.match(domain):
        raise v.invalid("--domain", f"--domain {domain!r} is not a domain name like contoso.example.")
    return domain


KEEP: Any = object()


@dataclass(frozen=True)
class UpdateTenant:
    default_usage_location: Any = KEEP  # None clears the default (D8)
    dry_run: bool = False


@dataclass(frozen=True)
class TenantChanged:
    tenant: TenantRecord
    changes: ChangeSummary


async def update_tenant(rt: Runtime, actor: Actor, request: UpdateTenant) -> TenantChanged:
    """R8: the tenant default applies to group paths of users without a location; a new default
    re-evaluates them and records their errors (D1)."""
    async with begin(rt, actor, dry_run=request.dry_run, license_lock=True) as change:
        current = await tenants.get_tenant(change.conn, change.tenant_id)
        assert current is not None
        if request.default_usage_location is KEEP:
            return TenantChanged(current, ChangeSummary(change.dry_run))
        location = v.usage_location(request.default_usage_location, "input.defaultUsageLocation")
        if location == current.default_usage_location:
            return TenantChanged(current, ChangeSummary(change.dry_run))
        updated, changes = await _set_default_location(change, current, location)
        await change.audit("TENANT_UPDATED", _location_said(current, location), target_id=to_global_id("Tenant", updated.id))
        return TenantChanged(updated, changes)


def _location_said(current: TenantRecord, location: str | None) -> str:
    return f"Default usage location changed from {current.default_usage_location or 'none'} to {location or 'none'}"


async def _set_default_location(change: Change, current: TenantRecord, location: str | None) -> tuple[TenantRecord, ChangeSummary]:
    if change.dry_run:
        updated = replace(current, default_usage_location=location)
    else:
        updated = await tenants.update_tenant(change.conn, change.tenant_id, {"default_usage_location": location})
    ids = await licensing.users_relying_on_default_location(change.conn, change.tenant_id)
    changes = ChangeSummary(change.dry_run)
    if ids:
        proposal = Proposal(user_ids=set(ids), changes_default_location=True, new_default_location=location)
        changes = await decide_and_write(change, proposal)
    return updated, changes


@dataclass(frozen=True)
class EditTenant:
    """`licensing tenants update`: each field KEEP unless given; `oidc` None removes the trust."""

    display_name: Any = KEEP
    domain: Any = KEEP
    default_usage_location: Any = KEEP
    oidc: Any = KEEP  # an OidcTrust (checked with oidc_trust()) or None


@dataclass(frozen=True)
class TenantEdited:
    tenant: TenantRecord
    oidc: OidcTrust | None
    changes: ChangeSummary


async def edit_tenant(rt: Runtime, actor: Actor, request: EditTenant) -> TenantEdited:
    """The CLI's `tenants update`: name, domain, default usage location (re-evaluating the users
    relying on it, R8) and the trusted issuer, in one audited transaction. Fetches nothing."""
    values: dict[str, Any] = {}
    if request.display_name is not KEEP:
        values["display_name"] = v.required_text(request.display_name, "--name")
    if request.domain is not KEEP:
        values["domain"] = _domain(request.domain)
    if request.oidc is not KEEP:
        values.update(tenants.oidc_values(request.oidc))
    location_changes = ChangeSummary(False)
    try:
        async with begin(rt, actor, license_lock=request.default_usage_location is not KEEP) as change:
            current = await tenants.get_tenant(change.conn, change.tenant_id)
            assert current is not None
            said = []
            if "display_name" in values and values["display_name"] != current.display_name:
                said.append(f"Name changed from {current.display_name} to {values['display_name']}")
            if "domain" in values and values["domain"] != current.domain:
                said.append(f"Domain changed from {current.domain} to {values['domain']}")
            if request.oidc is not KEEP:
                said.append(f"Trusted OpenID Connect issuer set to {request.oidc.issuer}" if request.oidc else "Trusted OpenID Connect issuer removed")
            before = current
            if values:
                current = await tenants.update_tenant(change.conn, change.tenant_id, values)
            if request.default_usage_location is not KEEP:
                location = v.usage_location(request.default_usage_location, "--default-usage-location")
                if location != current.default_usage_location:
                    current, location_changes = await _set_default_location(change, current, location)
                    said.append(_location_said(before, location))
            if said:  # one audit event for the change (R21)
                await change.audit("TENANT_UPDATED", "; ".join(said), target_id=to_global_id("Tenant", current.id))
            oidc = await tenants.get_oidc_trust(change.conn, change.tenant_id)
            return TenantEdited(current, oidc, location_changes)
    except tenants.IssuerTaken as exc:
        raise _issuer_taken(request.oidc) from exc


async def tenant_oidc(db: Database, tenant_id: str) -> tuple[TenantRecord, OidcTrust | None] | None:
    async with db.read() as conn:
        found = await tenants.get_tenant(conn, tenant_id)
        return (found, await tenants.get_oidc_trust(conn, tenant_id)) if found else None


async def find_tenant(db: Database, tenant_id: str) -> TenantRecord | None:
    async with db.read() as conn:
        return await tenants.get_tenant(conn, tenant_id)
