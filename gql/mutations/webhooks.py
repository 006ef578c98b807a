"""createWebhook, updateWebhook, deleteWebhook (R28, D26, D33): Global Administrator only."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from gql.errors import UserError
from gql.mutations.common import Field, run
from gql.permissions import CanManageWebhooks
from gql.types.events import LicenseEventKind
from gql.types.webhooks import Webhook
from services import webhooks
from services.webhooks import KEEP


@strawberry.input
class CreateWebhookInput:
    url: str
    description: str | None = strawberry.UNSET
    kinds: list[LicenseEventKind] | None = strawberry.field(default_factory=list)  # empty: all


@strawberry.type
class CreateWebhookPayload:
    webhook: Webhook | None
    secret: str | None  # "whsec_…", shown once (Standard Webhooks)
    errors: list[UserError]


@strawberry.input
class UpdateWebhookInput:
    webhook_id: strawberry.ID
    url: str | None = strawberry.UNSET
    description: str | None = strawberry.UNSET
    kinds: list[LicenseEventKind] | None = strawberry.UNSET
    enabled: bool | None = strawberry.UNSET


@strawberry.type
class WebhookPayload:
    webhook: Webhook | None
    errors: list[UserError]


@strawberry.input
class DeleteWebhookInput:
    webhook_id: strawberry.ID


@strawberry.type
class DeleteWebhookPayload:
    deleted_webhook_id: strawberry.ID | None
    errors: list[UserError]


def _kinds(kinds: list[LicenseEventKind] | None) -> tuple[str, ...]:
    return tuple(k.value for k in kinds or [])


def _given(value: object) -> bool:
    """Given and not null (url, kinds, enabled: null leaves them as they are)."""
    return value is not strawberry.UNSET and value is not None


async def create_webhook(info: Info, input: CreateWebhookInput) -> CreateWebhookPayload:
    description = None if input.description is strawberry.UNSET else input.description
    request = webhooks.CreateWebhook(input.url, description, _kinds(input.kinds))
    done, errors = await run(info, webhooks.create_webhook, request)
    if done is None:
        return CreateWebhookPayload(webhook=None, secret=None, errors=errors)
    return CreateWebhookPayload(webhook=Webhook.of(done.webhook), secret=done.secret, errors=[])


async def update_webhook(info: Info, input: UpdateWebhookInput) -> WebhookPayload:
    request = webhooks.UpdateWebhook(
        str(input.webhook_id),
        url=input.url if _given(input.url) else KEEP,  # type: ignore[arg-type]
        description=KEEP if input.description is strawberry.UNSET else input.description,
        kinds=_kinds(input.kinds) if _given(input.kinds) else KEEP,  # type: ignore[arg-type]
        enabled=bool(input.enabled) if _given(input.enabled) else KEEP,
    )
    done, errors = await run(info, webhooks.update_webhook, request)
    return WebhookPayload(webhook=Webhook.of(done) if done else None, errors=errors)


async def delete_webhook(info: Info, input: DeleteWebhookInput) -> DeleteWebhookPayload:
    done, errors = await run(info, webhooks.delete_webhook, webhooks.DeleteWebhook(str(input.webhook_id)))
    gid = strawberry.ID(webhooks.webhook_global_id(done)) if done else None
    return DeleteWebhookPayload(deleted_webhook_id=gid, errors=errors)


FIELDS: dict[str, Field] = {
    "create_webhook": (create_webhook, CreateWebhookPayload, [CanManageWebhooks]),
    "update_webhook": (update_webhook, WebhookPayload, [CanManageWebhooks]),
    "delete_webhook": (delete_webhook, DeleteWebhookPayload, [CanManageWebhooks]),
}
