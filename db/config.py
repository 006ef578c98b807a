"""Settings from the environment (pydantic-settings). Every knob is documented in README.md."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", extra="ignore", populate_by_name=True)

    database_url: str | None = Field(default=None, alias="DATABASE_URL")
    jwt_secret: str | None = Field(default=None, alias="LICENSING_JWT_SECRET")
    max_bulk_users: int = Field(default=20, alias="LICENSING_MAX_BULK_USERS", ge=1)
    max_members_per_call: int = Field(default=10_000, alias="LICENSING_MAX_MEMBERS_PER_CALL", ge=1)
    cancellation_window_days: int = Field(default=7, alias="LICENSING_CANCELLATION_WINDOW_DAYS", ge=0)
    service_plan_rules: Path | None = Field(default=None, alias="LICENSING_SERVICE_PLAN_RULES")
    data_dir: Path = Field(default=Path(".licensing"), alias="LICENSING_DATA_DIR")
    graphiql: bool = Field(default=True, alias="LICENSING_GRAPHIQL")
    introspection: bool = Field(default=True, alias="LICENSING_INTROSPECTION")
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list, alias="LICENSING_CORS_ORIGINS")
    max_depth: int = Field(default=12, alias="LICENSING_MAX_DEPTH")
    max_aliases: int = Field(default=50, alias="LICENSING_MAX_ALIASES")
    max_tokens: int = Field(default=10_000, alias="LICENSING_MAX_TOKENS")
    allow_batching: bool = Field(default=False, alias="LICENSING_ALLOW_BATCHING")
    lock_timeout_ms: int = Field(default=10_000, alias="LICENSING_LOCK_TIMEOUT_MS")
    # Dynamic groups (R22, D32): at most this many per tenant; a rule's evaluation in SQL runs
    # under this statement timeout (its regular expressions are bounded, the tenant may not be)
    max_dynamic_groups: int = Field(default=1_000, alias="LICENSING_MAX_DYNAMIC_GROUPS", ge=0)
    rule_timeout_ms: int = Field(default=20_000, alias="LICENSING_RULE_TIMEOUT_MS", ge=100)
    # License events (R26): kept this many days, then deleted by the periodic job
    event_retention_days: int = Field(default=400, alias="LICENSING_EVENT_RETENTION_DAYS", ge=1)
    lifecycle_interval_seconds: float = Field(default=300.0, alias="LICENSING_LIFECYCLE_INTERVAL_SECONDS")
    pool_size: int = Field(default=10, alias="LICENSING_DB_POOL_SIZE")
    # Limits on the HTTP surface (D36)
    max_body_bytes: int = Field(default=4 * 1024 * 1024, alias="LICENSING_MAX_BODY_BYTES", ge=1)
    header_timeout_seconds: float = Field(default=10.0, alias="LICENSING_HEADER_TIMEOUT_SECONDS", gt=0)
    body_timeout_seconds: float = Field(default=10.0, alias="LICENSING_BODY_TIMEOUT_SECONDS", gt=0)
    # OpenID Connect issuers (R31): https only, unless this allows http:// to a loopback address (tests)
    oidc_allow_http_loopback: bool = Field(default=False, alias="LICENSING_OIDC_ALLOW_HTTP_LOOPBACK")
    max_concurrent_requests: int = Field(default=128, alias="LICENSING_MAX_CONCURRENT_REQUESTS", ge=1)
    # Webhooks (R28, D29, D33): http:// and https:// to loopback and private addresses only when
    # true (a receiver on the same network); failures retried this long, then the webhook is disabled
    webhook_allow_private: bool = Field(default=False, alias="LICENSING_WEBHOOK_ALLOW_PRIVATE")
    webhook_retry_hours: float = Field(default=24.0, alias="LICENSING_WEBHOOK_RETRY_HOURS", gt=0)
    webhook_poll_seconds: float = Field(default=2.0, alias="LICENSING_WEBHOOK_POLL_SECONDS", gt=0)

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [o.strip() for o in value.split(",") if o.strip()]
        return value

    @field_validator("jwt_secret", mode="before")
    @classmethod
    def _empty_secret_is_unset(cls, value: object) -> object:
        # `LICENSING_JWT_SECRET=` (e.g. docker-compose.yml's `${LICENSING_JWT_SECRET:-}`) means
        # "not set": the secret is then generated and kept in the database (db/secrets.py)
        if isinstance(value, str) and not value.strip():
            return None
        return value


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
