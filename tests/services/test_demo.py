"""`licensing serve --demo` (README's first command): the demo tenant in one transaction, once;
its licenses decided as assignLicenses decides them, their events pointing at the change's
audit event (R21, D33: the CLI with actor `cli`)."""

from __future__ import annotations

from typing import Any

from services.demo import DEMO_PEOPLE, DEMO_TENANT, seed_demo
from tests.support import Tenant

EVENTS = "{ licenseEvents(filter: {}, first: 100) { totalCount edges { node { actor auditEvent { action actor } } } } }"


async def test_the_demo_tenant_is_made_once_with_its_audit_event(api: Any, app: Any) -> None:
    runtime = app.state.runtime
    assert await seed_demo(runtime) is True
    assert await seed_demo(runtime) is False  # already there: nothing added
    demo = Tenant(api, DEMO_TENANT)
    users = await demo.ok("{ users { totalCount } }")
    assert users["users"]["totalCount"] == len(DEMO_PEOPLE) + 2  # and the two guests
    audit = (await demo.ok("{ auditLog(first: 10) { edges { node { action actor summary } } } }"))["auditLog"]["edges"]
    assert [(e["node"]["action"], e["node"]["actor"]) for e in audit] == [("DEMO_CREATED", "cli")]
    events = (await demo.ok(EVENTS))["licenseEvents"]
    assert events["totalCount"] > 0
    assert {(e["node"]["actor"], e["node"]["auditEvent"]["action"]) for e in events["edges"]} == {("cli", "DEMO_CREATED")}
