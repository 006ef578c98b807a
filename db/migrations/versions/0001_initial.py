"""Initial schema: catalog, tenants, directory, subscriptions, licensing, audit; loads the catalog.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

from alembic import op
from sqlalchemy import column, table, Text, Integer
from sqlalchemy.dialects.postgresql import ARRAY, UUID

from db.catalog_files import RULES_CSV, parse_rules_file, read_catalog, rule_rows

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

DDL = """
CREATE SEQUENCE order_seq;

CREATE TABLE products (
    id uuid PRIMARY KEY,
    sku_part_number text NOT NULL UNIQUE,
    display_name text NOT NULL
);
CREATE TABLE service_plans (
    id uuid PRIMARY KEY,
    name text NOT NULL,
    display_name text NOT NULL
);
CREATE INDEX service_plans_name ON service_plans (name);
CREATE TABLE product_service_plans (
    product_id uuid NOT NULL REFERENCES products(id),
    service_plan_id uuid NOT NULL REFERENCES service_plans(id),
    position integer NOT NULL,
    PRIMARY KEY (product_id, service_plan_id)
);
CREATE TABLE service_plan_rules (
    position integer PRIMARY KEY,
    rule text NOT NULL CHECK (rule IN ('mutually_exclusive', 'requires_any', 'prohibited_location')),
    subject text NOT NULL,
    others text[] NOT NULL,
    note text NOT NULL DEFAULT ''
);

CREATE TABLE tenants (
    id text PRIMARY KEY,
    display_name text NOT NULL,
    domain text NOT NULL,
    default_usage_location text,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE subscriptions (
    tenant_id text NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    id uuid NOT NULL,
    product_id uuid NOT NULL REFERENCES products(id),
    quantity integer NOT NULL CHECK (quantity >= 0),
    is_trial boolean NOT NULL,
    is_self_service boolean NOT NULL,
    purchased_by uuid,
    starts_at timestamptz NOT NULL,
    term_starts_at timestamptz NOT NULL,
    term_ends_at timestamptz NOT NULL,
    recurring_billing boolean NOT NULL,
    cancelled_at timestamptz,
    stored_status text NOT NULL DEFAULT 'ACTIVE',
    created_seq bigint NOT NULL DEFAULT nextval('order_seq'),
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX subscriptions_product ON subscriptions (tenant_id, product_id);

CREATE TABLE users (
    tenant_id text NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    id uuid NOT NULL,
    user_principal_name text NOT NULL,
    display_name text NOT NULL,
    mail text,
    user_type text NOT NULL DEFAULT 'MEMBER' CHECK (user_type IN ('MEMBER', 'GUEST')),
    usage_location text,
    account_enabled boolean NOT NULL DEFAULT true,
    department text,
    job_title text,
    created_at timestamptz NOT NULL DEFAULT now(),
    created_seq bigint NOT NULL DEFAULT nextval('order_seq'),
    PRIMARY KEY (tenant_id, id)
);
CREATE UNIQUE INDEX users_upn ON users (tenant_id, lower(user_principal_name) COLLATE "C");
CREATE INDEX users_by_name ON users (tenant_id, lower(display_name) COLLATE "C", id);
CREATE INDEX users_guests_by_name ON users (tenant_id, lower(display_name) COLLATE "C", id)
    WHERE user_type = 'GUEST';
CREATE INDEX users_mail ON users (tenant_id, lower(mail) COLLATE "C");

CREATE TABLE groups (
    tenant_id text NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    id uuid NOT NULL,
    display_name text NOT NULL,
    description text,
    security_enabled boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX groups_by_name ON groups (tenant_id, lower(display_name) COLLATE "C", id);

CREATE TABLE group_user_members (
    tenant_id text NOT NULL,
    group_id uuid NOT NULL,
    user_id uuid NOT NULL,
    added_seq bigint NOT NULL DEFAULT nextval('order_seq'),
    PRIMARY KEY (tenant_id, group_id, user_id),
    FOREIGN KEY (tenant_id, group_id) REFERENCES groups(tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, user_id) REFERENCES users(tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX group_user_members_user ON group_user_members (tenant_id, user_id);

CREATE TABLE group_group_members (
    tenant_id text NOT NULL,
    group_id uuid NOT NULL,
    member_group_id uuid NOT NULL,
    added_seq bigint NOT NULL DEFAULT nextval('order_seq'),
    PRIMARY KEY (tenant_id, group_id, member_group_id),
    FOREIGN KEY (tenant_id, group_id) REFERENCES groups(tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, member_group_id) REFERENCES groups(tenant_id, id) ON DELETE CASCADE,
    CHECK (group_id <> member_group_id)
);
CREATE INDEX group_group_members_member ON group_group_members (tenant_id, member_group_id);

CREATE TABLE group_licenses (
    tenant_id text NOT NULL,
    group_id uuid NOT NULL,
    product_id uuid NOT NULL REFERENCES products(id),
    disabled_plan_ids uuid[] NOT NULL DEFAULT '{}',
    assigned_seq bigint NOT NULL DEFAULT nextval('order_seq'),
    assigned_at timestamptz NOT NULL DEFAULT now(),
    active_count integer NOT NULL DEFAULT 0,
    error_count integer NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, group_id, product_id),
    FOREIGN KEY (tenant_id, group_id) REFERENCES groups(tenant_id, id)
);
CREATE INDEX group_licenses_product ON group_licenses (tenant_id, product_id);

-- One row per (user, product, path). group_id = '00000000-0000-0000-0000-000000000000' is direct.
CREATE TABLE license_paths (
    tenant_id text NOT NULL,
    user_id uuid NOT NULL,
    product_id uuid NOT NULL REFERENCES products(id),
    group_id uuid NOT NULL,
    disabled_plan_ids uuid[] NOT NULL DEFAULT '{}',
    queue_seq bigint NOT NULL,
    state text NOT NULL CHECK (state IN ('ACTIVE', 'ERROR')),
    error_code text,
    error_message text,
    subscription_id uuid,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, user_id, product_id, group_id),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users(tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX license_paths_group ON license_paths (tenant_id, group_id, product_id);
CREATE INDEX license_paths_errors ON license_paths (tenant_id, user_id) WHERE state = 'ERROR';
CREATE INDEX license_paths_seat_queue ON license_paths (tenant_id, product_id, queue_seq)
    WHERE state = 'ERROR' AND error_code = 'COUNT_VIOLATION';

-- The effective license per (user, product); holds_seat iff some path is ACTIVE (R1).
CREATE TABLE user_licenses (
    tenant_id text NOT NULL,
    user_id uuid NOT NULL,
    product_id uuid NOT NULL REFERENCES products(id),
    holds_seat boolean NOT NULL,
    subscription_id uuid,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, user_id, product_id),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users(tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX user_licenses_product ON user_licenses (tenant_id, product_id, user_id);

-- Seats consumed from the organisation pool, per product: the Licenses page reads this row,
-- never a COUNT over assignments. Locked FOR UPDATE in product-id order by license changes.
CREATE TABLE product_pools (
    tenant_id text NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    product_id uuid NOT NULL REFERENCES products(id),
    consumed integer NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, product_id)
);

CREATE TABLE audit_events (
    tenant_id text NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    id bigint GENERATED ALWAYS AS IDENTITY,
    occurred_at timestamptz NOT NULL,
    actor text NOT NULL,
    action text NOT NULL,
    target_id text,
    summary text NOT NULL,
    details jsonb NOT NULL DEFAULT '{}'::jsonb,
    PRIMARY KEY (tenant_id, id)
);
"""


def upgrade() -> None:
    for statement in DDL.split(";\n"):
        if statement.strip():
            op.execute(statement)
    rows = read_catalog()
    products = table("products", column("id", UUID), column("sku_part_number", Text), column("display_name", Text))
    plans = table("service_plans", column("id", UUID), column("name", Text), column("display_name", Text))
    links = table(
        "product_service_plans", column("product_id", UUID), column("service_plan_id", UUID), column("position", Integer)
    )
    op.bulk_insert(products, rows.products)
    op.bulk_insert(plans, rows.plans)
    op.bulk_insert(links, rows.product_plans)
    rules = table(
        "service_plan_rules",
        column("position", Integer),
        column("rule", Text),
        column("subject", Text),
        column("others", ARRAY(Text)),
        column("note", Text),
    )
    op.bulk_insert(rules, rule_rows(parse_rules_file(RULES_CSV)))


def downgrade() -> None:
    for name in (
        "audit_events", "product_pools", "user_licenses", "license_paths", "group_licenses",
        "group_group_members", "group_user_members", "groups", "users", "subscriptions", "tenants",
        "service_plan_rules", "product_service_plans", "service_plans", "products",
    ):
        op.execute(f"DROP TABLE IF EXISTS {name} CASCADE")
    op.execute("DROP SEQUENCE IF EXISTS order_seq")
