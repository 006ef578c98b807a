"""The demo tenant of `licensing serve --demo`: subscriptions, members, guests, nested groups."""

from __future__ import annotations

from datetime import timedelta

from db.models import DIRECT
from db.records import TenantRecord
from db.repo import directory, subscriptions, tenants
from engine.subscription_lifecycle import first_term
from services.change import Change, begin
from services.context import Actor, Runtime
from services.directory import guest_upn
from services.ids import to_global_id
from services.license_changes import NewPath, Proposal, decide, write

DEMO_TENANT = "contoso"
DEMO_ADMIN_UPN = "admin@contoso.example"

# (skuPartNumber, seats): two Business Premium subscriptions pool to 13 seats (R2).
DEMO_SUBSCRIPTIONS = [("SPE_E3", 25), ("SPB", 5), ("SPB", 8), ("EMS", 10), ("POWER_BI_PRO", 5)]

DEMO_PEOPLE = [
    # upn local part, display name, department, job title, usage location
    ("admin", "Ada Admin", "IT", "IT Administrator", "US"),
    ("alex.wilber", "Alex Wilber", "Sales", "Account Manager", "US"),
    ("megan.bowen", "Megan Bowen", "Marketing", "Marketing Manager", "US"),
    ("lee.gu", "Lee Gu", "Engineering", "Director of Engineering", "US"),
    ("grady.archie", "Grady Archie", "Engineering", "Platform Engineer", "NO"),
    ("isaiah.langer", "Isaiah Langer", "Sales", "Sales Representative", "GB"),
    ("johanna.lorenz", "Johanna Lorenz", "Engineering", "Software Engineer", "DE"),
    ("lidia.holloway", "Lidia Holloway", "Engineering", "Product Manager", "US"),
    ("lynne.robbins", "Lynne Robbins", "Finance", "Accountant", "US"),
    ("miriam.graham", "Miriam Graham", "Marketing", "Designer", None),
    ("nestor.wilke", "Nestor Wilke", "Operations", "Operations Lead", "NO"),
    ("patti.fernandez", "Patti Fernandez", "Executive", "President", "US"),
]
DEMO_GUESTS = [("ada@partner.example", "Ada Lovelace (Partner)", "GB"), ("bob@vendor.example", "Bob Vendor", None)]


async def seed_demo(rt: Runtime) -> bool:
    """Creates the demo tenant unless it exists. Returns True when it was created."""
    tenant = TenantRecord(DEMO_TENANT, "Contoso Ltd", "contoso.example", "US")
    async with begin(rt, Actor.cli(tenant), license_lock=True) as change:  # one transaction: all or nothing
        if await tenants.get_tenant(change.conn, DEMO_TENANT) is not None:
            return False
        await tenants.create_tenant(change.conn, tenant.id, tenant.display_name, tenant.domain, tenant.default_usage_location)
        await _fill(change)
        # R21, D33: the CLI's change has its audit event, which its license events point at
        await change.audit(
            "DEMO_CREATED",
            f"Created the demo tenant {tenant.display_name}: {len(DEMO_PEOPLE)} people, {len(DEMO_GUESTS)} guests, "
            f"{len(DEMO_SUBSCRIPTIONS)} subscriptions and their licenses",
            target_id=to_global_id("Tenant", tenant.id),
        )
    return True


async def _fill(change: Change) -> None:
    conn, catalog, now, tenant = change.conn, change.catalog, change.now, change.actor.tenant
    for sku, seats in DEMO_SUBSCRIPTIONS:
        product = catalog.product_by_sku(sku)
        assert product is not None, sku
        starts = now - timedelta(days=40)
        term_start, term_end = first_term(starts, False)
        await subscriptions.insert_subscription(
            conn, tenant.id,
            {
                "product_id": product.id, "quantity": seats, "is_trial": False, "is_self_service": False,
                "purchased_by": None, "starts_at": starts, "term_starts_at": term_start, "term_ends_at": term_end,
                "recurring_billing": True,
            },
        )
    users = {}
    for local, name, dept, title, location in DEMO_PEOPLE:
        upn = f"{local}@{tenant.domain}"
        users[local] = await directory.insert_user(
            conn, tenant.id,
            {
                "user_principal_name": upn, "display_name": name, "mail": upn, "department": dept, "job_title": title,
                "usage_location": location, "user_type": "MEMBER",
            },
        )
    for email, name, location in DEMO_GUESTS:
        await directory.insert_user(
            conn, tenant.id,
            {
                "user_principal_name": guest_upn(email, tenant.domain), "display_name": name,
                "mail": email, "usage_location": location, "user_type": "GUEST",
            },
        )
    groups = {}
    for name, description in [
        ("All Staff", "Everyone at Contoso (nests the department groups)"),
        ("Engineering", "The engineering department"),
        ("Platform Team", "Nested in Engineering"),
        ("Sales", "The sales department"),
        ("Marketing", "The marketing department"),
    ]:
        groups[name] = await directory.insert_group(conn, tenant.id, {"display_name": name, "description": description})
    by_dept = {"Engineering": "Engineering", "Sales": "Sales", "Marketing": "Marketing"}
    for local, _name, dept, _title, _loc in DEMO_PEOPLE:
        if dept in by_dept:
            await directory.add_members(conn, tenant.id, groups[by_dept[dept]].id, [users[local].id], [])
    await directory.add_members(conn, tenant.id, groups["Platform Team"].id, [users["grady.archie"].id], [])
    await directory.add_members(conn, tenant.id, groups["Engineering"].id, [], [groups["Platform Team"].id])
    others = [u.id for k, u in users.items() if DEMO_PEOPLE[[p[0] for p in DEMO_PEOPLE].index(k)][2] not in by_dept]
    await directory.add_members(
        conn, tenant.id, groups["All Staff"].id, others,
        [groups["Engineering"].id, groups["Sales"].id, groups["Marketing"].id],
    )
    await _license_demo_users(change, users)


async def _license_demo_users(change: Change, users: dict) -> None:  # type: ignore[type-arg]
    """Direct licenses through the same decision code as assignLicenses: E3 for most, EMS and
    Power BI for a few (Miriam Graham has no usage location, so she stays unlicensed)."""
    catalog = change.catalog
    grants = {"SPE_E3": [k for k, *_rest, loc in DEMO_PEOPLE if loc], "EMS": ["admin", "lee.gu", "grady.archie"],
              "POWER_BI_PRO": ["lynne.robbins", "megan.bowen"]}
    proposal = Proposal(user_ids={u.id for u in users.values()})
    for sku, people in grants.items():
        product = catalog.product_by_sku(sku)
        assert product is not None
        for local in people:
            proposal.upserts[(users[local].id, product.id, DIRECT)] = NewPath(frozenset())
    decision = await decide(change, proposal, direct=True)
    assert not decision.refusals, decision.refusals
    await write(change, decision)
