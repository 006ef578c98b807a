"""OpenID Connect access tokens (R31, D35): the keys of trusted issuers, and checking a token
against the issuer settings its tenant has in the database.

Only the keys are cached (with the discovery document they came from), per issuer, in this
process: the issuer settings are read by the request itself (`db.repo.reads.oidc_caller`), so
a changed issuer takes effect on the next request in every replica. Nothing is fetched for an
issuer no tenant trusts: the URL fetched is the tenant's `oidc_issuer`, never a token's `iss`
taken as such. An issuer's keys are requested at most once every REFRESH_INTERVAL_SECONDS,
whatever caused it (first use, an unknown `kid`); while the provider is down, the cached keys
keep working.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import httpx
import jwt

from db.records import OidcTrust
from gql.auth import (
    ALGORITHM_REFUSED,
    BAD_SIGNATURE,
    EMPTY_SUB,
    EXPIRED,
    MALFORMED,
    NOT_YET_VALID,
    OIDC_ALGORITHMS,
    UNTRUSTED_ISSUER,
    WRONG_AUDIENCE,
    AuthError,
    Claims,
    bearer_token,
    decode_token,
    is_numeric_date,
)
from services.roles import CLAIM_ROLES, Role
from services.tenant import oidc_url_problem

log = logging.getLogger("licensing.oidc")

REFRESH_INTERVAL_SECONDS = 30.0  # at most one keys request per issuer in this long (R31); tests lower it
LEEWAY_SECONDS = 60  # exp and nbf (R31)
FETCH_TIMEOUT = httpx.Timeout(3.0, connect=2.0)  # each step of one request
FETCH_DEADLINE_SECONDS = 5.0  # discovery and keys together: a request may be waiting on them
MAX_DOCUMENT_BYTES = 512 * 1024
CACHED_ISSUERS = 1024
DISCOVERY_PATH = "/.well-known/openid-configuration"
KEY_TYPES = {"RS256": "RSA", "PS256": "RSA", "ES256": "EC"}


class FetchError(Exception):
    """The discovery document or the keys could not be fetched or read (the log says why)."""


@dataclass(frozen=True)
class SigningKey:
    jwk: jwt.PyJWK
    alg: str | None  # the JWK's own `alg`, when it names one


@dataclass(frozen=True)
class ProviderKeys:
    """What discovery and `jwks_uri` gave: the keys by `kid` (None for a key without one)."""

    jwks_uri: str
    keys: dict[str | None, SigningKey]
    skipped: int = 0  # keys of the set that cannot sign our algorithms (e.g. `use: enc`)


async def fetch_provider_keys(issuer: str, *, allow_http_loopback: bool) -> ProviderKeys:
    """`<issuer>/.well-known/openid-configuration`, then its `jwks_uri` (also `licensing tenants
    check-oidc`). Short timeouts, no redirects; the document must name the same issuer."""
    try:
        async with asyncio.timeout(FETCH_DEADLINE_SECONDS):
            return await _fetch_provider_keys(issuer, allow_http_loopback=allow_http_loopback)
    except TimeoutError as exc:
        raise FetchError(f"no answer from {issuer} within {FETCH_DEADLINE_SECONDS} s") from exc


async def _fetch_provider_keys(issuer: str, *, allow_http_loopback: bool) -> ProviderKeys:
    async with httpx.AsyncClient(timeout=FETCH_TIMEOUT, follow_redirects=False, trust_env=False) as client:
        discovery = await _get_json(client, issuer.rstrip("/") + DISCOVERY_PATH)
        if discovery.get("issuer") != issuer:
            raise FetchError(f"the discovery document names the issuer {discovery.get('issuer')!r}, not {issuer!r}")
        jwks_uri = discovery.get("jwks_uri")
        if not isinstance(jwks_uri, str):
            raise FetchError("the discovery document has no jwks_uri")
        if problem := oidc_url_problem(jwks_uri, allow_http_loopback=allow_http_loopback):
            raise FetchError(f"its jwks_uri {jwks_uri!r} is refused: {problem}")
        jwks = await _get_json(client, jwks_uri)
    raw_keys = jwks.get("keys")
    if not isinstance(raw_keys, list):
        raise FetchError(f"{jwks_uri} is not a JWK set (no `keys` list)")
    keys: dict[str | None, SigningKey] = {}
    skipped = 0
    for raw in raw_keys:
        if not isinstance(raw, dict) or raw.get("use", "sig") != "sig" or raw.get("kty") not in ("RSA", "EC"):
            skipped += 1
            continue
        try:
            key = jwt.PyJWK(raw)
        except jwt.PyJWTError:
            skipped += 1
            continue
        alg = raw.get("alg")
        keys[raw.get("kid") if isinstance(raw.get("kid"), str) else None] = SigningKey(key, alg if isinstance(alg, str) else None)
    return ProviderKeys(jwks_uri, keys, skipped)


async def _get_json(client: httpx.AsyncClient, url: str) -> dict[str, Any]:
    try:
        response = await client.get(url, headers={"Accept": "application/json"})
    except httpx.HTTPError as exc:
        raise FetchError(f"GET {url} failed: {exc!r}") from exc
    if response.status_code != 200:
        raise FetchError(f"GET {url} answered {response.status_code}")
    if len(response.content) > MAX_DOCUMENT_BYTES:
        raise FetchError(f"GET {url} answered more than {MAX_DOCUMENT_BYTES} bytes")
    try:
        document = response.json()
    except ValueError as exc:
        raise FetchError(f"GET {url} did not answer JSON") from exc
    if not isinstance(document, dict):
        raise FetchError(f"GET {url} did not answer a JSON object")
    return document


@dataclass
class _IssuerEntry:
    keys: dict[str | None, SigningKey] = field(default_factory=dict)
    jwks_uri: str | None = None
    requested_at: float | None = None  # time.monotonic() of the last keys request, answered or not
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class KeyCache:
    """The keys of trusted issuers, per issuer (the process's only OIDC state)."""

    def __init__(self, *, allow_http_loopback: bool) -> None:
        self.allow_http_loopback = allow_http_loopback
        self._issuers: OrderedDict[str, _IssuerEntry] = OrderedDict()

    async def signing_key(self, issuer: str, kid: str | None) -> SigningKey:
        """The key `kid` of `issuer` (a tenant's trusted issuer), refreshing the keys when it
        is unknown and the last request is at least REFRESH_INTERVAL_SECONDS old."""
        entry = self._entry(issuer)
        if (key := _pick(entry.keys, kid)) is not None:
            return key
        async with entry.lock:  # one request at a time per issuer; the others then find the key
            if (key := _pick(entry.keys, kid)) is not None:
                return key
            now = time.monotonic()
            if entry.requested_at is not None and now - entry.requested_at < REFRESH_INTERVAL_SECONDS:
                raise _unknown_key(issuer, kid, f"keys last requested {now - entry.requested_at:.0f} s ago")
            entry.requested_at = now
            if problem := oidc_url_problem(issuer, allow_http_loopback=self.allow_http_loopback):
                raise _unknown_key(issuer, kid, f"the issuer URL is refused: {problem}")
            try:
                fetched = await fetch_provider_keys(issuer, allow_http_loopback=self.allow_http_loopback)
            except FetchError as exc:  # the cached keys stay
                raise _unknown_key(issuer, kid, f"refreshing the keys failed: {exc}") from exc
            entry.keys, entry.jwks_uri = fetched.keys, fetched.jwks_uri
            log.info("OIDC keys of %s fetched from %s: kids %s", issuer, fetched.jwks_uri, sorted(map(str, fetched.keys)))
            if (key := _pick(entry.keys, kid)) is not None:
                return key
            raise _unknown_key(issuer, kid, "not in the keys just fetched")

    def _entry(self, issuer: str) -> _IssuerEntry:
        entry = self._issuers.get(issuer)
        if entry is None:
            entry = self._issuers[issuer] = _IssuerEntry()
            while len(self._issuers) > CACHED_ISSUERS:
                self._issuers.popitem(last=False)
        self._issuers.move_to_end(issuer)
        return entry


def _pick(keys: dict[str | None, SigningKey], kid: str | None) -> SigningKey | None:
    if kid is not None:
        return keys.get(kid)
    return next(iter(keys.values())) if len(keys) == 1 else None  # no kid: only an unambiguous key


def _unknown_key(issuer: str, kid: str | None, why: str) -> AuthError:
    log.warning("OIDC token refused: issuer %s, kid %r unknown (%s)", issuer, kid, why)
    return AuthError(BAD_SIGNATURE)


@dataclass(frozen=True)
class UnverifiedOidcToken:
    """An RS256/PS256/ES256 token, routed to the tenant that trusts its `iss` (D35); checked
    by `verify` once the request has read that tenant's settings."""

    token: str
    alg: str
    kid: str | None
    issuer: str
    payload: dict[str, Any]

    @property
    def expires_at(self) -> float:
        """When it stops being accepted (only meaningful once verified)."""
        exp = self.payload.get("exp")
        return float(exp) + LEEWAY_SECONDS if isinstance(exp, int | float) and is_numeric_date(exp) else 0.0

    def upn_candidates(self) -> list[str]:
        """`preferred_username`, `upn`, then `email`: the UPNs the caller may be (D5)."""
        return [v for v in (self.payload.get(c) for c in ("preferred_username", "upn", "email")) if isinstance(v, str) and v]


def read_credentials(secret: str, authorization: str | None) -> Claims | UnverifiedOidcToken:
    """The bearer token routed by its `alg` (D35): HS256 is checked against the service's
    secret only (whatever its `iss`); RS256/PS256/ES256 go to the tenant that trusts their
    `iss`, checked by `verify` in the request; anything else (`none`, HS384, …) is refused."""
    token = bearer_token(authorization)
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise AuthError(MALFORMED) from exc
    alg = header.get("alg")
    if alg == "HS256":
        return decode_token(secret, authorization)
    if alg not in OIDC_ALGORITHMS:
        log.info("token refused: alg %r", alg)
        raise AuthError(ALGORITHM_REFUSED)
    return _route(token, header, str(alg))


def _route(token: str, header: dict[str, Any], alg: str) -> UnverifiedOidcToken:
    """An OIDC token as it claims to be (nothing verified yet)."""
    try:
        payload = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError as exc:
        raise AuthError(MALFORMED) from exc
    issuer = payload.get("iss")
    if not isinstance(issuer, str) or not issuer:
        raise AuthError(UNTRUSTED_ISSUER)
    kid = header.get("kid")
    return UnverifiedOidcToken(token, alg, kid if isinstance(kid, str) else None, issuer, payload)


async def verify(keys: KeyCache, token: UnverifiedOidcToken, trust: OidcTrust) -> dict[str, Any]:
    """The token's claims, checked against the tenant's trust: signature by the issuer's key
    `kid` for the token's algorithm, `iss`, `aud` (a string or a list), `exp`/`nbf` with
    LEEWAY_SECONDS. Every refusal is an AuthError naming its category; details go to the log."""
    key = await keys.signing_key(trust.issuer, token.kid)
    if key.jwk.key_type != KEY_TYPES[token.alg] or key.alg not in (None, token.alg):
        log.warning("OIDC token refused: issuer %s, kid %r is a %s key (alg %s), not one for %s",
                    trust.issuer, token.kid, key.jwk.key_type, key.alg, token.alg)
        raise AuthError(BAD_SIGNATURE)
    try:
        payload: dict[str, Any] = jwt.decode(
            token.token, key.jwk.key, algorithms=[token.alg], audience=trust.audience, issuer=trust.issuer,
            leeway=LEEWAY_SECONDS, options={"require": ["exp", "iss", "aud", "sub"]},
        )
    except jwt.ExpiredSignatureError as exc:
        raise AuthError(EXPIRED) from exc
    except jwt.ImmatureSignatureError as exc:
        raise AuthError(NOT_YET_VALID) from exc
    except jwt.InvalidAudienceError as exc:
        log.info("OIDC token refused: aud %r, tenant expects %r", token.payload.get("aud"), trust.audience)
        raise AuthError(WRONG_AUDIENCE) from exc
    except jwt.InvalidIssuerError as exc:
        raise AuthError(UNTRUSTED_ISSUER) from exc
    except jwt.MissingRequiredClaimError as exc:
        if exc.claim != "aud":
            raise AuthError(MALFORMED) from exc
        log.info("OIDC token refused: no aud, tenant expects %r", trust.audience)
        raise AuthError(WRONG_AUDIENCE) from exc  # D35: a token for no audience is not for this one
    except jwt.InvalidSignatureError as exc:
        log.warning("OIDC token refused: issuer %s, kid %r: the signature does not match", trust.issuer, token.kid)
        raise AuthError(BAD_SIGNATURE) from exc
    except jwt.PyJWTError as exc:
        log.info("OIDC token refused: %s", exc)
        raise AuthError(MALFORMED) from exc
    for claim in ("exp", "nbf", "iat"):
        if claim in payload and not is_numeric_date(payload[claim]):
            raise AuthError(MALFORMED)
    if not isinstance(payload.get("sub"), str):
        raise AuthError(MALFORMED)
    if not payload["sub"].strip():
        raise AuthError(EMPTY_SUB)
    return payload


def roles_from(payload: dict[str, Any], roles_claim: str) -> frozenset[Role]:
    """The §5 roles at the dotted path `roles_claim` (`roles`, `realm_access.roles`); other
    values are ignored."""
    value: Any = payload
    for part in roles_claim.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        return frozenset()
    return frozenset(CLAIM_ROLES[r] for r in value if isinstance(r, str) and r in CLAIM_ROLES)
