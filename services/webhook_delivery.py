"""Webhook delivery (R28, D29, D33): batches of license events POSTed to each webhook.

At least once and in cursor order per webhook. A batch (at most 100 events) is first fixed and
committed — its `webhook-id` and last cursor stored on the webhook — so a retry re-sends the
same events with the same id, even after a crash; newer events go in later batches. Then it is
sent while the webhook's row is locked (`FOR UPDATE SKIP LOCKED`): any replica may deliver,
one at a time per webhook. The URL is resolved and checked again before every request and
the request goes to the checked address (Host header and TLS SNI name the host), never
following redirects, with a 10 s limit. A failure is retried with exponential backoff (the
first retry after 1 s); after LICENSING_WEBHOOK_RETRY_HOURS (24 h) of failures the webhook is
disabled, audited as WEBHOOK_DISABLED by `system`.

Times of the schedule come from the runtime's clock; the signature's `webhook-timestamp` is
the wall clock, which receivers compare with their own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote

import httpx
import orjson
from standardwebhooks.webhooks import Webhook as StandardWebhook

import engine
from db.notify_listener import listen_forever
from db.repo import audit
from db.repo import webhooks as rows
from db.repo.events import EVENTS_CHANNEL, EventRecord
from db.repo.paging import encode_cursor
from db.repo.webhooks import WebhookRecord
from services.context import SYSTEM_ACTOR, Runtime
from services.ids import numbered_id, to_global_id
from services.webhook_urls import Target, UrlRefused, checked_target, display_url

log = logging.getLogger("licensing.webhooks")

MAX_EVENTS_PER_REQUEST = 100
REQUEST_TIMEOUT_SECONDS = 10.0
FIRST_RETRY_SECONDS = 1.0
MAX_RETRY_SECONDS = 15 * 60.0
MAX_BATCHES_PER_PASS = 50  # a webhook far behind yields to the others between passes
CONCURRENT_WEBHOOKS = 4
USER_AGENT = "licensing-webhooks/1"


def event_cursor(seq: int) -> str:
    """The event's cursor, as GraphQL gives it (gql.types.events.event_cursor)."""
    return encode_cursor(["ev", seq])


def retry_delay(attempts: int) -> timedelta:
    """After the n-th failed attempt in a row: 1 s, 2 s, 4 s, … up to 15 minutes."""
    return timedelta(seconds=min(FIRST_RETRY_SECONDS * 2 ** max(attempts - 1, 0), MAX_RETRY_SECONDS))


def event_json(rt: Runtime, tenant_id: str, e: EventRecord) -> dict[str, Any]:
    """One event in the shape of `LicenseEvent`, ids as GraphQL gives them (D33)."""
    product = rt.catalog.products[e.product_id]
    active = [frozenset(p.disabled_plan_ids) for p in e.paths if p.state == "ACTIVE"]
    enabled = engine.enabled_for_user(product.plan_ids, active)
    return {
        "id": numbered_id("LicenseEvent", tenant_id, e.seq),
        "cursor": event_cursor(e.seq),
        "occurredAt": e.occurred_at.isoformat(),
        "kind": e.kind,
        "userId": to_global_id("User", e.user_id),
        "userPrincipalName": e.user_principal_name,
        "product": {"id": to_global_id("Product", product.id), "skuId": str(product.id), "skuPartNumber": product.sku_part_number},
        "holdsSeat": e.holds_seat,
        "enabledServicePlans": [
            {"id": to_global_id("ServicePlan", plan.id), "servicePlanId": str(plan.id), "servicePlanName": plan.name}
            for plan in product.plans if plan.id in enabled
        ],
        "paths": [
            {
                "groupId": to_global_id("Group", p.group_id) if p.group_id else None,
                "state": p.state,
                "error": {"code": p.error_code, "message": p.error_message or ""} if p.error_code else None,
            }
            for p in e.paths
        ],
        "actor": e.actor,
        "auditEventId": numbered_id("AuditEvent", tenant_id, e.audit_id) if e.audit_id is not None else None,
    }


def batch_body(rt: Runtime, tenant_id: str, events: Sequence[EventRecord]) -> bytes:
    return orjson.dumps({"events": [event_json(rt, tenant_id, e) for e in events]})


@dataclass(frozen=True)
class Attempt:
    """One request to a webhook, for the log and the CLI."""

    tenant_id: str
    webhook_id: uuid.UUID
    url: str  # without user-info
    message_id: str
    event_count: int
    last_cursor: str
    ok: bool
    status: int | None = None
    reason: str | None = None
    retry_at: datetime | None = None
    disabled: bool = False


def _is_due(webhook: WebhookRecord, now: datetime) -> bool:
    return webhook.enabled and (webhook.next_attempt_at is None or webhook.next_attempt_at <= now)


async def _send(webhook: WebhookRecord, target: Target, message_id: str, body: bytes, client: httpx.AsyncClient) -> int:
    """POST the signed batch to the checked address; the HTTP status."""
    timestamp = datetime.now(UTC)
    signature = StandardWebhook(webhook.secret).sign(message_id, timestamp, body.decode())
    headers = {
        "host": target.host_header,
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "webhook-id": message_id,
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": signature,
    }
    auth: Any = httpx.USE_CLIENT_DEFAULT
    if target.username:  # user-info in the URL: HTTP Basic authentication, as a browser would
        auth = httpx.BasicAuth(unquote(target.username), unquote(target.password or ""))
    extensions: dict[str, Any] = {}
    if target.scheme == "https" and target.host != str(target.address):  # a name, not an IP literal
        extensions["sni_hostname"] = target.host  # the certificate is checked against the name, too
    async with asyncio.timeout(REQUEST_TIMEOUT_SECONDS):
        for n, address in enumerate(target.addresses):  # e.g. localhost: ::1, then 127.0.0.1
            try:
                response = await client.post(
                    target.connect_url(address), content=body, headers=headers, auth=auth, extensions=extensions,
                    follow_redirects=False,
                )
            except httpx.ConnectError:
                if n == len(target.addresses) - 1:
                    raise
                continue
            return response.status_code
    raise AssertionError("a checked target has at least one address")


async def _attempt(
    webhook: WebhookRecord, target: Target | UrlRefused, message_id: str, body: bytes, client: httpx.AsyncClient
) -> tuple[int | None, str | None]:
    """(status, None) on a 2xx answer, else (status or None, why it failed, for an admin)."""
    if isinstance(target, UrlRefused):
        return None, f"Not sent: {target}"
    try:
        status = await _send(webhook, target, message_id, body, client)
    except (TimeoutError, httpx.TimeoutException):
        return None, f"No answer within {REQUEST_TIMEOUT_SECONDS:.0f} s."
    except httpx.ConnectError as exc:
        return None, f"Could not connect to {target.host_header} ({' '.join(str(exc).split()) or 'connection failed'})."
    except httpx.HTTPError as exc:
        return None, f"The request failed: {' '.join(str(exc).split()) or type(exc).__name__}."
    if 200 <= status < 300:
        return status, None
    if 300 <= status < 400:
        return status, f"The receiver answered HTTP {status} (a redirect; redirects are not followed)."
    return status, f"The receiver answered HTTP {status}."


async def _fix_batch(rt: Runtime, tenant_id: str, webhook_id: uuid.UUID) -> str | None:
    """Make sure the webhook has a batch in flight (committed, so its id survives a crash); its
    URL. None when there is nothing to send now (or another replica is at it)."""
    async with rt.db.write() as conn:
        webhook = await rows.lock_for_delivery(conn, tenant_id, webhook_id)
        if webhook is None or not _is_due(webhook, rt.clock.now()):
            return None
        if webhook.pending_message_id is not None:
            return webhook.url
        events = await rows.batch(conn, webhook, limit=MAX_EVENTS_PER_REQUEST)
        if not events:
            return None
        await rows.update(
            conn, tenant_id, webhook_id, pending_message_id=f"msg_{uuid.uuid4().hex}", pending_through_seq=events[-1].seq
        )
        return webhook.url


async def _target(rt: Runtime, url: str) -> Target | UrlRefused:
    try:
        return await checked_target(url, allow_private=rt.settings.webhook_allow_private)
    except UrlRefused as exc:
        return exc


async def deliver_next(rt: Runtime, tenant_id: str, webhook_id: uuid.UUID, client: httpx.AsyncClient) -> Attempt | None:
    """Send the webhook's batch in flight (fixing the next one first when none is); None when
    nothing was due."""
    url = await _fix_batch(rt, tenant_id, webhook_id)
    if url is None:
        return None
    target = await _target(rt, url)  # resolved and checked before the row is locked: updates need not wait for DNS
    async with rt.db.write() as conn:  # holds the row lock while the request runs
        webhook = await rows.lock_for_delivery(conn, tenant_id, webhook_id)
        now = rt.clock.now()
        if webhook is None or webhook.pending_message_id is None or not _is_due(webhook, now) or webhook.url != url:
            return None  # delivered, disabled or changed meanwhile: the next pass sees it
        through = webhook.pending_through_seq or webhook.last_delivered_seq
        events = await rows.batch(conn, webhook, through=through, limit=MAX_EVENTS_PER_REQUEST)
        message_id = webhook.pending_message_id
        shown = display_url(webhook.url)
        if not events:  # the batch's events are past retention: nothing left to send
            await rows.update(conn, tenant_id, webhook_id, last_delivered_seq=through, pending_message_id=None,
                              pending_through_seq=None)
            return None
        status, reason = await _attempt(webhook, target, message_id, batch_body(rt, tenant_id, events), client)
        now = rt.clock.now()
        done = Attempt(tenant_id, webhook_id, shown, message_id, len(events), event_cursor(through), reason is None, status, reason)
        if reason is None:
            await rows.update(
                conn, tenant_id, webhook_id, last_delivered_seq=through, pending_message_id=None, pending_through_seq=None,
                attempts=0, failing_since=None, next_attempt_at=None, last_success_at=now,
            )
            return done
        failing_since = webhook.failing_since or now
        attempts = webhook.attempts + 1
        window = timedelta(hours=rt.settings.webhook_retry_hours)
        if now - failing_since >= window:
            hours = f"{rt.settings.webhook_retry_hours:g}"
            why = f"{reason} Disabled after {hours} h of failed deliveries."
            await rows.update(conn, tenant_id, webhook_id, enabled=False, attempts=attempts, failing_since=failing_since,
                              next_attempt_at=None, last_failure_at=now, last_failure_reason=why)
            await audit.append(
                conn, tenant_id, actor=SYSTEM_ACTOR, action="WEBHOOK_DISABLED", target_id=to_global_id("Webhook", webhook_id),
                summary=f"Webhook {shown} disabled after {hours} h of failed deliveries: {reason}",
                details={"reason": reason, "lastDeliveredCursor": event_cursor(webhook.last_delivered_seq)}, occurred_at=now,
            )
            return Attempt(tenant_id, webhook_id, shown, message_id, len(events), event_cursor(through), False, status, why,
                           disabled=True)
        retry_at = now + retry_delay(attempts)
        await rows.update(conn, tenant_id, webhook_id, attempts=attempts, failing_since=failing_since,
                          next_attempt_at=retry_at, last_failure_at=now, last_failure_reason=reason)
        return Attempt(tenant_id, webhook_id, shown, message_id, len(events), event_cursor(through), False, status, reason,
                       retry_at=retry_at)


def new_client() -> httpx.AsyncClient:
    # trust_env=False: no proxy from the environment (a proxy would resolve the name again)
    return httpx.AsyncClient(timeout=httpx.Timeout(REQUEST_TIMEOUT_SECONDS), follow_redirects=False, trust_env=False)


async def deliver_webhook(rt: Runtime, tenant_id: str, webhook_id: uuid.UUID, client: httpx.AsyncClient) -> list[Attempt]:
    """Batch after batch until the webhook is caught up or a request fails."""
    done: list[Attempt] = []
    for _ in range(MAX_BATCHES_PER_PASS):
        attempt = await deliver_next(rt, tenant_id, webhook_id, client)
        if attempt is None:
            break
        done.append(attempt)
        if not attempt.ok:
            break
    return done


async def deliver_due(rt: Runtime, *, tenant_id: str | None = None, client: httpx.AsyncClient | None = None) -> list[Attempt]:
    """One pass: every webhook with something due (of one tenant, or all), a few at a time."""
    async with rt.db.read() as conn:
        due = await rows.due(conn, rt.clock.now(), tenant_id)
    if not due:
        return []
    gate = asyncio.Semaphore(CONCURRENT_WEBHOOKS)
    owned = client is None
    http = client or new_client()

    async def one(tid: str, wid: uuid.UUID) -> list[Attempt]:
        async with gate:
            return await deliver_webhook(rt, tid, wid, http)

    try:
        results = await asyncio.gather(*(one(tid, wid) for tid, wid in due))
    finally:
        if owned:
            await http.aclose()
    attempts = [a for batch in results for a in batch]
    for a in attempts:
        if a.ok:
            log.info("webhook %s (%s): delivered %d event(s) through %s", a.webhook_id, a.url, a.event_count, a.last_cursor)
        else:
            log.warning("webhook %s (%s): %s", a.webhook_id, a.url, a.reason)
    return attempts


async def run_forever(rt: Runtime, database_url: str) -> None:
    """The delivery loop of an app process: a pass whenever events commit (LISTEN
    license_events) and every LICENSING_WEBHOOK_POLL_SECONDS (retries fall due by time)."""
    wake = asyncio.Event()
    listener = asyncio.create_task(listen_forever(database_url, EVENTS_CHANNEL, wake.set))
    try:
        async with new_client() as client:
            while True:
                try:
                    await deliver_due(rt, client=client)
                except asyncio.CancelledError:
                    raise
                except Exception:  # noqa: BLE001 - the loop must survive a bad pass (e.g. the database restarting)
                    log.exception("webhook delivery pass failed; retrying")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), timeout=rt.settings.webhook_poll_seconds)
                wake.clear()
    finally:
        listener.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await listener
