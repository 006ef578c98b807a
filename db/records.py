"""Plain immutable records returned by repositories (no ORM instances leave db/)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from engine.subscription_lifecycle import SubscriptionTerms


@dataclass(frozen=True, slots=True)
class TenantRecord:
    id: str
    display_name: str
    domain: str
    default_usage_location: str | None


@dataclass(frozen=True, slots=True)
class OidcTrust:
    """The OpenID Connect issuer a tenant trusts (R31): its tokens' `iss`, `aud` and where
    their roles are (a dotted path)."""

    issuer: str
    audience: str
    roles_claim: str = "roles"


@dataclass(frozen=True, slots=True)
class UserRecord:
    id: uuid.UUID
    user_principal_name: str
    display_name: str
    mail: str | None
    user_type: str
    usage_location: str | None
    account_enabled: bool
    department: str | None
    job_title: str | None
    created_at: datetime
    created_seq: int
    given_name: str | None  # D31
    surname: str | None
    employee_id: str | None
    external_id: str | None  # set by SCIM provisioning (R29); read-only over GraphQL

    @classmethod
    def from_row(cls, row: Any) -> UserRecord:
        return cls(
            row.id, row.user_principal_name, row.display_name, row.mail, row.user_type, row.usage_location,
            row.account_enabled, row.department, row.job_title, row.created_at, row.created_seq,
            row.given_name, row.surname, row.employee_id, row.external_id,
        )


@dataclass(frozen=True, slots=True)
class GroupRecord:
    id: uuid.UUID
    display_name: str
    description: str | None
    security_enabled: bool
    created_at: datetime
    membership_rule: str | None = None  # a dynamic group's rule (R22); None: assigned

    @property
    def dynamic(self) -> bool:
        return self.membership_rule is not None

    @classmethod
    def from_row(cls, row: Any) -> GroupRecord:
        return cls(row.id, row.display_name, row.description, row.security_enabled, row.created_at, row.membership_rule)


@dataclass(frozen=True, slots=True)
class SubscriptionRecord:
    id: uuid.UUID
    product_id: uuid.UUID
    quantity: int
    is_trial: bool
    is_self_service: bool
    purchased_by: uuid.UUID | None
    starts_at: datetime
    term_starts_at: datetime
    term_ends_at: datetime
    recurring_billing: bool
    cancelled_at: datetime | None

    @classmethod
    def from_row(cls, row: Any) -> SubscriptionRecord:
        return cls(
            row.id, row.product_id, row.quantity, row.is_trial, row.is_self_service, row.purchased_by,
            row.starts_at, row.term_starts_at, row.term_ends_at, row.recurring_billing, row.cancelled_at,
        )

    @property
    def terms(self) -> SubscriptionTerms:
        """What the engine's lifecycle rules (R15, D7) decide the status from."""
        return SubscriptionTerms(self.term_starts_at, self.term_ends_at, self.is_trial, self.recurring_billing, self.cancelled_at)


@dataclass(frozen=True, slots=True)
class AuditRecord:
    id: int
    occurred_at: datetime
    actor: str
    action: str
    target_id: str | None
    summary: str
