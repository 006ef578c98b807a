"""Bearer token claims over HTTP (SPEC §5): `exp`, `nbf` and `iat` are NumericDates (RFC 7519 §2:
a JSON number of seconds), so a token that spells them as strings is refused with 401."""

from __future__ import annotations

import time
from typing import Any

import jwt
import pytest

from tests.support import Api, Tenant

QUERY = "{ viewer { tenant { tenantId } } }"


def signed(api: Api, tenant: Tenant, **claims: Any) -> str:
    now = int(time.time())
    payload = {"tid": tenant.id, "sub": f"admin@{tenant.domain}", "roles": ["GlobalAdministrator"], "exp": now + 600}
    payload.update(claims)
    return jwt.encode({k: v for k, v in payload.items() if v is not None}, api.jwt_secret, algorithm="HS256")


async def status(api: Api, token: str) -> tuple[int, str]:
    response = await api.post(QUERY, token=token)
    return response.status_code, response.text


NOW = int(time.time())
CASES = [  # (claim, as a string, as the JSON number it spells)
    ("exp", "9999999999", 9999999999),
    ("exp", str(NOW + 600), NOW + 600.5),  # a NumericDate may have a fraction
    ("exp", " 9999999999 ", 9999999999),
    ("nbf", "0", 0),
    ("nbf", str(NOW - 60), NOW - 60),
    ("iat", "0", 0),
    ("iat", str(NOW), float(NOW)),
]
IDS = ["exp", "exp-now", "exp-padded", "nbf-zero", "nbf-now", "iat-zero", "iat-now"]


@pytest.mark.parametrize(("claim", "as_string", "as_number"), CASES, ids=IDS)
async def test_s5_a_numeric_date_spelled_as_a_string_is_401(
    api: Api, tenant: Tenant, claim: str, as_string: str, as_number: float
) -> None:
    code, body = await status(api, signed(api, tenant, **{claim: as_string}))
    assert code == 401, body
    assert '"data"' not in body
    assert "UNAUTHENTICATED" in body
    # the same moment as a JSON number is a valid claim
    code, body = await status(api, signed(api, tenant, **{claim: as_number}))
    assert code == 200, body
    assert tenant.id in body


@pytest.mark.parametrize("sub", ["", "   "], ids=["empty", "blank"])
async def test_s5_a_token_whose_sub_names_nobody_is_401_and_changes_nothing(api: Api, tenant: Tenant, sub: str) -> None:
    """§5: `sub` is the caller, and D11 audits every change by it: a token naming nobody is refused."""
    code, body = await status(api, signed(api, tenant, sub=sub))
    assert code == 401, body
    assert '"data"' not in body
    assert "sub claim is empty" in body
    rename = 'mutation { updateTenant(input: {displayName: "Renamed"}) { tenant { displayName } } }'
    response = await api.post(rename, token=signed(api, tenant, sub=sub))
    assert response.status_code == 401, response.text
    named = await api.post("{ viewer { tenant { displayName } } }", token=signed(api, tenant))
    assert named.status_code == 200, named.text
    assert named.json()["data"]["viewer"]["tenant"]["displayName"] != "Renamed"
