"""Bearer tokens (SPEC §5): HS256 JWTs with tid, sub, roles, exp."""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from dataclasses import dataclass

import jwt

from services.roles import CLAIM_ROLES, Role

__all__ = ["CLAIM_ROLES", "AuthError", "Claims", "Role", "decode_token", "issue_token"]
NUMERIC_DATE_CLAIMS = ("exp", "nbf", "iat")


class AuthError(Exception):
    """Missing, expired or badly signed token, or unknown tenant: HTTP 401."""


@dataclass(frozen=True)
class Claims:
    tenant_id: str
    sub: str
    roles: frozenset[Role]


def issue_token(secret: str, tenant_id: str, sub: str, roles: list[Role], ttl_seconds: int = 3600) -> str:
    now = int(time.time())
    payload = {"tid": tenant_id, "sub": sub, "roles": [r.value for r in roles], "iat": now, "exp": now + ttl_seconds}
    return jwt.encode(payload, secret, algorithm="HS256")


# Tokens already verified, with their expiry: checking a signature is a pure function of the
# token and the secret, so a replica may remember it (the expiry is checked on every use).
_VERIFIED: OrderedDict[tuple[str, str], tuple[Claims, float]] = OrderedDict()
VERIFIED_TOKENS = 4096


def decode_token(secret: str, authorization: str | None) -> Claims:
    if not authorization:
        raise AuthError("missing Authorization header: send `Authorization: Bearer <token>` (see `licensing token`)")
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthError("the Authorization header must be `Bearer <token>`")
    token = token.strip()
    known = _VERIFIED.get((secret, token))
    if known is not None:
        claims, expires = known
        if time.time() < expires:
            _VERIFIED.move_to_end((secret, token))
            return claims
        del _VERIFIED[(secret, token)]
    claims, expires = _verify(secret, token)
    _VERIFIED[(secret, token)] = (claims, expires)
    if len(_VERIFIED) > VERIFIED_TOKENS:
        _VERIFIED.popitem(last=False)
    return claims


def _verify(secret: str, token: str) -> tuple[Claims, float]:
    try:
        payload = jwt.decode(token, secret, algorithms=["HS256"], options={"require": ["exp", "tid", "sub"]})
    except jwt.ExpiredSignatureError as exc:
        raise AuthError("the token has expired: get a new one") from exc
    except jwt.PyJWTError as exc:
        raise AuthError("the token is not valid (bad signature or malformed)") from exc
    for claim in NUMERIC_DATE_CLAIMS:
        # PyJWT checks int(value), which takes "9999999999" too; RFC 7519 says a JSON number
        if claim in payload and not _is_numeric_date(payload[claim]):
            raise AuthError(f"the token's {claim} claim must be a number of seconds since 1970 (a JSON number, not a string)")
    tid, sub, raw_roles = payload.get("tid"), payload.get("sub"), payload.get("roles", [])
    if not isinstance(tid, str) or not isinstance(sub, str) or not isinstance(raw_roles, list):
        raise AuthError("the token's tid, sub and roles claims are malformed")
    roles = frozenset(CLAIM_ROLES[r] for r in raw_roles if isinstance(r, str) and r in CLAIM_ROLES)
    return Claims(tid, sub, roles), float(payload["exp"])


def _is_numeric_date(value: object) -> bool:
    """RFC 7519 NumericDate: a JSON number (integer or not); not a string, a boolean or null."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
