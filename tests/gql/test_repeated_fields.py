"""A document repeating one field many times (SPEC §6, D9).

Identical selections merge per the GraphQL spec, so a field repeated 1,000 (or 5,000) times is
answered like the field once. Repeats that are not identical are still checked for conflicts;
when that check runs past graphql-core's budget the error names the limit, not a bare
"Validation aborted."."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support import Tenant

GR = "application/graphql-response+json"


@pytest.mark.parametrize("times", [1_000, 5_000])
async def test_a_field_repeated_many_times_is_answered_once(tenant: Tenant, times: int) -> None:
    query = "{ viewer { tenant { " + " ".join(["tenantId"] * times) + " } } }"
    data = await tenant.ok(query)
    assert data == {"viewer": {"tenant": {"tenantId": tenant.id}}}


async def test_typename_repeated_a_thousand_times_is_answered_once(tenant: Tenant) -> None:
    data = await tenant.ok("{ " + " ".join(["__typename"] * 1_000) + " }")
    assert data == {"__typename": "Query"}


async def test_identical_subtrees_repeated_are_answered_once(tenant: Tenant) -> None:
    query = "{ " + " ".join(["viewer { roles tenant { tenantId tenantId } }"] * 700) + " }"
    data = await tenant.ok(query)
    assert data == {"viewer": {"roles": ["GLOBAL_ADMINISTRATOR"], "tenant": {"tenantId": tenant.id}}}


async def test_conflicting_repeats_are_still_refused(tenant: Tenant) -> None:
    body = await tenant.gql("{ viewer { roles } viewer: node(id: \"x\") { id } }")
    assert "conflict" in body["errors"][0]["message"]


async def test_distinct_repeats_past_the_validation_budget_name_the_limit(tenant: Tenant, api: Any) -> None:
    # 800 different selections of `viewer` (each spreads its own fragment): not identical, so
    # every pair is compared, and graphql-core's budget of 500,000 comparisons runs out
    spreads = " ".join(f"viewer {{ ...F{i} }}" for i in range(800))
    fragments = " ".join(f"fragment F{i} on Viewer {{ roles }}" for i in range(800))
    response = await api.client.post(
        "/graphql",
        json={"query": f"{{ {spreads} }} {fragments}"},
        headers={"Authorization": f"Bearer {tenant.admin}", "Accept": GR},
    )
    assert response.status_code == 400
    message = response.json()["errors"][0]["message"]
    assert message != "Validation aborted."
    assert "500,000 comparisons" in message and "Select each field once" in message
