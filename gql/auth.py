"""Bearer tokens (SPEC §5): HS256 JWTs with tid, sub, roles, exp, signed with the service's
secret; and what every refusal says (R31, D35: the category and what to do; details go to the
log). OpenID Connect tokens are checked in gql/oidc.py."""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from dataclasses import dataclass

import jwt

from services.roles import CLAIM_ROLES, Role

__all__ = ["CLAIM_ROLES", "AuthError", "Claims", "Role", "decode_token", "issue_token"]
NUMERIC_DATE_CLAIMS = ("exp", "nbf", "iat")
OIDC_ALGORITHMS = frozenset({"RS256", "PS256", "ES256"})

# The 401 bodies (D35): the category, and what to do.
EXPIRED = "the token has expired: get a new one (sign in again, or `licensing token` for scripts)"
NOT_YET_VALID = "the token is not valid yet (nbf or iat in the future): check the clocks of the identity provider and of this service"
BAD_SIGNATURE = (
    "the token has a bad signature (or names a signing key the identity provider does not publish): "
    "get a new token; if the provider has just rotated its keys, try again in a minute"
)
UNTRUSTED_ISSUER = (
    "the token's issuer (iss) is not trusted by any tenant: an operator sets it with "
    "`licensing tenants update ID --oidc-issuer URL --oidc-audience AUD`"
)
WRONG_AUDIENCE = (
    "the token was issued for another audience (aud): request a token for this API "
    "(in Microsoft Entra, a scope of the API's application id)"
)
ALGORITHM_REFUSED = (
    "the token's algorithm is not accepted: use HS256 tokens from `licensing token`, or RS256, PS256 or "
    "ES256 tokens from the tenant's identity provider"
)
MALFORMED = "the token is not valid (malformed, or a required claim is missing): get a new one"


class AuthError(Exception):
    """Missing, expired or badly signed token, or unknown tenant: HTTP 401."""


@dataclass(frozen=True)
class Claims:
    tenant_id: str
    sub: str
    roles: frozenset[Role]
    expires_at: float = math.inf  # after this (time.time()) the token is refused


def issue_token(secret: str, tenant_id: str, sub: str, roles: list[Role], ttl_seconds: int = 3600) -> str:
    now = int(time.time())
    payload = {"tid": tenant_id, "sub": sub, "roles": [r.value for r in roles], "iat": now, "exp": now + ttl_seconds}
    return jwt.encode(payload, secret, algorithm="HS256")


# Tokens already verified, with their expiry: checking a signature is a pure function of the
# token and the secret, so a replica may remember it (the expiry is checked on every use).
_VERIFIED: OrderedDict[tuple[str, str], tuple[Claims, float]] = OrderedDict()
VERIFIED_TOKENS = 4096


def bearer_token(authorization: str | None) -> str:
    if not authorization:
        raise AuthError("missing Authorization header: send `Authorization: Bearer <token>` (see `licensing token`)")
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthError("the Authorization header must be `Bearer <token>`")
    return token.strip()


def decode_token(secret: str, authorization: str | None) -> Claims:
    """An HS256 token checked against the service's secret (any `iss`, D35)."""
    token = bearer_token(authorization)
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


EMPTY_SUB = "the token's sub claim is empty: it must name the caller (a user's id or UPN, or an admin principal name)"


def _verify(secret: str, token: str) -> tuple[Claims, float]:
    try:
        payload = jwt.decode(token, secret, algorithms=["HS256"], options={"require": ["exp", "tid", "sub"], "verify_aud": False})
    except jwt.ExpiredSignatureError as exc:
        raise AuthError(EXPIRED) from exc
    except jwt.ImmatureSignatureError as exc:
        raise AuthError(NOT_YET_VALID) from exc
    except jwt.PyJWTError as exc:
        raise AuthError("the token is not valid (bad signature or malformed): get a new one") from exc
    for claim in NUMERIC_DATE_CLAIMS:
        # PyJWT checks int(value), which takes "9999999999" too; RFC 7519 says a JSON number
        if claim in payload and not is_numeric_date(payload[claim]):
            raise AuthError(f"the token's {claim} claim must be a number of seconds since 1970 (a JSON number, not a string)")
    tid, sub, raw_roles = payload.get("tid"), payload.get("sub"), payload.get("roles", [])
    if not isinstance(tid, str) or not isinstance(sub, str) or not isinstance(raw_roles, list):
        raise AuthError("the token's tid, sub and roles claims are malformed")
    if not sub.strip():
        raise AuthError(EMPTY_SUB)
    roles = frozenset(CLAIM_ROLES[r] for r in raw_roles if isinstance(r, str) and r in CLAIM_ROLES)
    expires = float(payload["exp"])
    return Claims(tid, sub, roles, expires), expires


def is_numeric_date(value: object) -> bool:
    """RFC 7519 NumericDate: a JSON number (integer or not); not a string, a boolean or null."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
