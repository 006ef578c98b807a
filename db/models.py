"""SQLAlchemy 2 models: the shape of the data. Alembic migrations are the schema's only author.

Every tenant table carries `tenant_id`, and it leads every index that serves a tenant query.
Relationships are not mapped at all: reads go through repositories and DataLoaders, so an
accidental lazy load cannot happen.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Integer,
    LargeBinary,
    Sequence,
    Text,
    literal_column,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# One sequence orders everything that has a place in line (D2): user creation, membership,
# group-license assignment, direct assignment. now() is equal for every row of a transaction.
order_seq = Sequence("order_seq")

DIRECT = uuid.UUID(int=0)
"""`license_paths.group_id` of a direct assignment (a sentinel, so the primary key stays simple)."""

ERROR_STATE = literal_column("'ERROR'")
"""`license_paths.state = 'ERROR'` written into the SQL, not bound: the indexes of the paths in
error are partial (WHERE state = 'ERROR'), and only a plan that sees the value may use them — a
prepared statement's generic plan does not see a bound one."""


class Base(DeclarativeBase):
    pass


# ------------------------------------------------------------------------------- catalog (global)


class Product(Base):
    __tablename__ = "products"
    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)  # skuId
    sku_part_number: Mapped[str] = mapped_column(Text, unique=True)
    display_name: Mapped[str] = mapped_column(Text)


class ServicePlan(Base):
    __tablename__ = "service_plans"
    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)  # servicePlanId
    name: Mapped[str] = mapped_column(Text)
    display_name: Mapped[str] = mapped_column(Text)


class ProductServicePlan(Base):
    __tablename__ = "product_service_plans"
    product_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("products.id"), primary_key=True)
    service_plan_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("service_plans.id"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer)


class ServicePlanRule(Base):
    __tablename__ = "service_plan_rules"
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    rule: Mapped[str] = mapped_column(Text)
    subject: Mapped[str] = mapped_column(Text)  # plan name, or SKU part number for prohibited_location
    others: Mapped[list[str]] = mapped_column(ARRAY(Text))
    note: Mapped[str] = mapped_column(Text, server_default="")


# ------------------------------------------------------------------------------- tenants


class Tenant(Base):
    __tablename__ = "tenants"
    id: Mapped[str] = mapped_column(Text, primary_key=True)  # the `tid` claim
    display_name: Mapped[str] = mapped_column(Text)
    domain: Mapped[str] = mapped_column(Text)
    default_usage_location: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=text("now()"))
    audit_seq: Mapped[int] = mapped_column(BigInteger, server_default="0")  # the number of its last audit event
    # the OpenID Connect issuer it trusts (R31): unique where set, with the audience its tokens carry
    oidc_issuer: Mapped[str | None] = mapped_column(Text)
    oidc_audience: Mapped[str | None] = mapped_column(Text)
    oidc_roles_claim: Mapped[str] = mapped_column(Text, server_default="roles")


class Subscription(Base):
    __tablename__ = "subscriptions"
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    product_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("products.id"))
    quantity: Mapped[int] = mapped_column(Integer)
    is_trial: Mapped[bool] = mapped_column(Boolean)  # as purchased; a converted trial reads false
    is_self_service: Mapped[bool] = mapped_column(Boolean)
    purchased_by: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    starts_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    term_starts_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    term_ends_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    recurring_billing: Mapped[bool] = mapped_column(Boolean)
    cancelled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    stored_status: Mapped[str] = mapped_column(Text, server_default="ACTIVE")  # written by the lifecycle job
    created_seq: Mapped[int] = mapped_column(BigInteger, order_seq, server_default=order_seq.next_value())


# ------------------------------------------------------------------------------- directory


class User(Base):
    __tablename__ = "users"
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    user_principal_name: Mapped[str] = mapped_column(Text)
    display_name: Mapped[str] = mapped_column(Text)
    mail: Mapped[str | None] = mapped_column(Text)
    user_type: Mapped[str] = mapped_column(Text, server_default="MEMBER")
    usage_location: Mapped[str | None] = mapped_column(Text)
    account_enabled: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    department: Mapped[str | None] = mapped_column(Text)
    job_title: Mapped[str | None] = mapped_column(Text)
    given_name: Mapped[str | None] = mapped_column(Text)
    surname: Mapped[str | None] = mapped_column(Text)
    employee_id: Mapped[str | None] = mapped_column(Text)
    external_id: Mapped[str | None] = mapped_column(Text)  # SCIM (R29); unique per tenant where set
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=text("now()"))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=text("now()"))  # SCIM lastModified
    created_seq: Mapped[int] = mapped_column(BigInteger, order_seq, server_default=order_seq.next_value())


class Group(Base):
    __tablename__ = "groups"
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    display_name: Mapped[str] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    security_enabled: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    membership_rule: Mapped[str | None] = mapped_column(Text)  # dynamic group (R22); null: assigned
    external_id: Mapped[str | None] = mapped_column(Text)  # SCIM (R29); unique per tenant where set (0009)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=text("now()"))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=text("now()"))  # SCIM lastModified


class GroupUserMember(Base):
    __tablename__ = "group_user_members"
    tenant_id: Mapped[str] = mapped_column(Text, primary_key=True)
    group_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    added_seq: Mapped[int] = mapped_column(BigInteger, order_seq, server_default=order_seq.next_value())


class GroupGroupMember(Base):
    __tablename__ = "group_group_members"
    tenant_id: Mapped[str] = mapped_column(Text, primary_key=True)
    group_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    member_group_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    added_seq: Mapped[int] = mapped_column(BigInteger, order_seq, server_default=order_seq.next_value())


# ------------------------------------------------------------------------------- licensing


class GroupLicense(Base):
    __tablename__ = "group_licenses"
    tenant_id: Mapped[str] = mapped_column(Text, primary_key=True)
    group_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    product_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    disabled_plan_ids: Mapped[list[uuid.UUID]] = mapped_column(ARRAY(UUID(as_uuid=True)))
    assigned_seq: Mapped[int] = mapped_column(BigInteger)
    assigned_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=text("now()"))
    active_count: Mapped[int] = mapped_column(Integer, server_default="0")
    error_count: Mapped[int] = mapped_column(Integer, server_default="0")


class LicensePath(Base):
    """One reason a user may hold a product: direct (group_id = DIRECT) or a group license."""

    __tablename__ = "license_paths"
    tenant_id: Mapped[str] = mapped_column(Text, primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    product_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    group_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    disabled_plan_ids: Mapped[list[uuid.UUID]] = mapped_column(ARRAY(UUID(as_uuid=True)))
    queue_seq: Mapped[int] = mapped_column(BigInteger)
    state: Mapped[str] = mapped_column(Text)  # ACTIVE | ERROR
    error_code: Mapped[str | None] = mapped_column(Text)
    error_message: Mapped[str | None] = mapped_column(Text)
    subscription_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))  # self-service source
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=text("now()"))


class UserLicense(Base):
    """The effective license per (user, product): exists iff the user has at least one path."""

    __tablename__ = "user_licenses"
    tenant_id: Mapped[str] = mapped_column(Text, primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    product_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    holds_seat: Mapped[bool] = mapped_column(Boolean)
    subscription_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))  # self-service seat
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=text("now()"))


class ProductPool(Base):
    """Seat counter per (tenant, product): users holding a pool seat. Locked FOR UPDATE (D21)."""

    __tablename__ = "product_pools"
    tenant_id: Mapped[str] = mapped_column(Text, primary_key=True)
    product_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    consumed: Mapped[int] = mapped_column(Integer, server_default="0")


class AuditEvent(Base):
    """`id` numbers a tenant's events 1, 2, 3, … (tenants.audit_seq, migration 0004): no shared sequence."""

    __tablename__ = "audit_events"
    tenant_id: Mapped[str] = mapped_column(Text, primary_key=True)
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    actor: Mapped[str] = mapped_column(Text)
    action: Mapped[str] = mapped_column(Text)
    target_id: Mapped[str | None] = mapped_column(Text)
    summary: Mapped[str] = mapped_column(Text)
    details: Mapped[dict[str, object]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))




class ScimToken(Base):
    """A SCIM client's bearer token (D34): only the SHA-256 of its secret is stored (0009)."""

    __tablename__ = "scim_tokens"
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    token_hash: Mapped[bytes] = mapped_column(LargeBinary, unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=text("now()"))
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


# ------------------------------------------------------------------------------- the deployment


class ServiceSecret(Base):
    """A secret the service generated for itself (the token secret when none is configured)."""

    __tablename__ = "service_secrets"
    name: Mapped[str] = mapped_column(Text, primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=text("now()"))
