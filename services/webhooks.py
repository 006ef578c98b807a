"""Webhooks (R28, D26, D30, D33): createWebhook, updateWebhook, deleteWebhook.

Only a Global Administrator may call these (the entry points check the role). A webhook's URL
is checked when it is given (services.webhook_urls: after DNS resolution, before the
transaction opens) and again at every delivery. A new webhook starts after the tenant's last
event: it receives what commits after its creation, no backlog. Its secret (`whsec_…`, the
Standard Webhooks key) is returned once, by createWebhook. To rotate it, create a new webhook
and delete the old one.
"""

from __future__ import annotations

import base64
import secrets
import uuid
from dataclasses import dataclass
from enum import Enum

from standardwebhooks.webhooks import Webhook as StandardWebhook

from db.repo import webhooks as rows
from db.repo.webhooks import WebhookRecord
from services.change import Change, begin
from services.context import Actor, Runtime
from services.errors import ErrorCode, invalid, not_found, refuse
from services.ids import to_global_id, uuid_arg
from services.webhook_urls import UrlRefused, checked_target, display_url

MAX_WEBHOOKS_PER_TENANT = 20  # D26
MAX_DESCRIPTION_LENGTH = 1024
SECRET_BYTES = 32  # Standard Webhooks: 24 to 64 random bytes, base64 after "whsec_"
KINDS = ("ADDED", "REMOVED", "CHANGED")


class Keep(Enum):
    """An input left out of updateWebhook: the value stays as it is."""

    KEEP = "KEEP"


KEEP = Keep.KEEP


@dataclass(frozen=True)
class CreateWebhook:
    url: str
    description: str | None = None
    kinds: tuple[str, ...] = ()  # empty: all


@dataclass(frozen=True)
class UpdateWebhook:
    webhook_id: str
    url: str | Keep = KEEP
    description: str | None | Keep = KEEP
    kinds: tuple[str, ...] | Keep = KEEP
    enabled: bool | Keep = KEEP


@dataclass(frozen=True)
class DeleteWebhook:
    webhook_id: str


@dataclass(frozen=True)
class CreatedWebhook:
    webhook: WebhookRecord
    secret: str  # shown once


def new_secret() -> str:
    secret = "whsec_" + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()
    StandardWebhook(secret)  # the library reads it back as the key it signs with
    return secret


def webhook_global_id(webhook_id: uuid.UUID) -> str:
    return to_global_id("Webhook", webhook_id)


async def _checked_url(rt: Runtime, url: str) -> str:
    try:
        await checked_target(url, allow_private=rt.settings.webhook_allow_private)
    except UrlRefused as exc:
        raise invalid("input.url", f"`input.url` cannot be used: {exc}") from exc
    return url


def _kinds(kinds: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    wanted = set(kinds)
    unknown = sorted(wanted - set(KINDS))
    if unknown:
        raise invalid("input.kinds", f"`input.kinds` has unknown kinds {', '.join(unknown)}; use ADDED, REMOVED or CHANGED.")
    return tuple(k for k in KINDS if k in wanted)


def _description(value: str | None) -> str | None:
    text = (value or "").strip()
    if len(text) > MAX_DESCRIPTION_LENGTH:
        raise invalid("input.description", f"`input.description` is longer than {MAX_DESCRIPTION_LENGTH} characters.")
    if "\x00" in text:
        raise invalid("input.description", "`input.description` contains a NUL character.")
    return text or None


def _kinds_label(kinds: tuple[str, ...]) -> str:
    return ", ".join(kinds) if kinds else "all kinds"


async def create_webhook(rt: Runtime, actor: Actor, request: CreateWebhook) -> CreatedWebhook:
    kinds = _kinds(request.kinds)
    description = _description(request.description)
    url = await _checked_url(rt, request.url.strip())
    async with begin(rt, actor) as change:
        await rows.lock_tenant_webhooks(change.conn, change.tenant_id)
        if await rows.count(change.conn, change.tenant_id) >= MAX_WEBHOOKS_PER_TENANT:
            raise refuse(
                ErrorCode.INVALID_INPUT,
                f"This organisation already has {MAX_WEBHOOKS_PER_TENANT} webhooks, the most it may have; "
                "delete one it no longer needs first.",
            )
        secret = new_secret()
        created = await rows.insert(
            change.conn, change.tenant_id, uuid.uuid4(), url=url, description=description, kinds=kinds, secret=secret,
            created_at=change.now, last_delivered_seq=await rows.current_seq(change.conn, change.tenant_id),
        )
        await change.audit(
            "WEBHOOK_CREATED", f"Webhook {display_url(url)} created ({_kinds_label(kinds)})",
            target_id=webhook_global_id(created.id), url=display_url(url), kinds=list(kinds),
        )
    return CreatedWebhook(created, secret)


async def _load(change: Change, raw: str) -> WebhookRecord:
    webhook_id = uuid_arg(raw, "Webhook", "input.webhookId")
    found = await rows.get(change.conn, change.tenant_id, webhook_id, for_update=True) if webhook_id else None
    if found is None:
        raise not_found("input.webhookId", "webhook")
    return found


async def update_webhook(rt: Runtime, actor: Actor, request: UpdateWebhook) -> WebhookRecord:
    """A changed url or kinds applies to the events not yet delivered (a batch in flight is
    formed again); `enabled: true` resumes from the last delivered cursor, at once (D33)."""
    kinds = _kinds(request.kinds) if not isinstance(request.kinds, Keep) else KEEP
    description = _description(request.description) if not isinstance(request.description, Keep) else KEEP
    url = await _checked_url(rt, request.url.strip()) if not isinstance(request.url, Keep) else KEEP
    async with begin(rt, actor) as change:
        webhook = await _load(change, request.webhook_id)
        values: dict[str, object] = {}
        changed: list[str] = []
        if not isinstance(url, Keep) and url != webhook.url:
            values["url"] = url
            changed.append(f"url {display_url(url)}")
        if not isinstance(kinds, Keep) and kinds != webhook.kinds:
            values["kinds"] = kinds
            changed.append(f"kinds {_kinds_label(kinds)}")
        if values:  # the batch in flight was formed for the old url or kinds
            values.update(pending_message_id=None, pending_through_seq=None, attempts=0, failing_since=None,
                          next_attempt_at=None)
        if not isinstance(description, Keep) and description != webhook.description:
            values["description"] = description
            changed.append("description")
        if not isinstance(request.enabled, Keep) and request.enabled != webhook.enabled:
            values["enabled"] = request.enabled
            changed.append("enabled" if request.enabled else "disabled")
            if request.enabled:  # resume now, from the last delivered cursor
                values.update(attempts=0, failing_since=None, next_attempt_at=None)
        if not values:
            return webhook
        updated = await rows.update(change.conn, change.tenant_id, webhook.id, **values)
        assert updated is not None  # the row is locked
        await change.audit(
            "WEBHOOK_UPDATED", f"Webhook {display_url(updated.url)} updated: {', '.join(changed)}",
            target_id=webhook_global_id(webhook.id), changed=changed,
        )
    return updated


async def delete_webhook(rt: Runtime, actor: Actor, request: DeleteWebhook) -> uuid.UUID:
    async with begin(rt, actor) as change:
        webhook = await _load(change, request.webhook_id)
        await rows.delete(change.conn, change.tenant_id, webhook.id)
        await change.audit(
            "WEBHOOK_DELETED", f"Webhook {display_url(webhook.url)} deleted", target_id=webhook_global_id(webhook.id),
        )
    return webhook.id
