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

The steady state of a webhook far behind is one transaction per batch: lock the row, send the
batch in flight, then store its acknowledgement and fix the next batch in one UPDATE, commit.
Events are read ahead (ten batches per query, dropped when the row shows that another replica
moved the webhook on or its kinds changed), the next body is built while the request before it
is on its way, and requests share a kept-alive connection (Clients). A pass stops at
MAX_BATCHES_PER_PASS batches per webhook so the others get their turn, and the loop goes on
at once while batches are left.

Times of the schedule come from the runtime's clock; the signature's `webhook-timestamp` is
the wall clock, which receivers compare with their own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote

import httpx
import orjson
from sqlalchemy.ext.asyncio import AsyncConnection
from standardwebhooks.webhooks import Webhook as StandardWebhook

import engine
from db.notify_listener import listen_forever
from db.repo import audit
from db.repo import webhooks as rows
from db.repo.events import EVENTS_CHANNEL, EventRecord, event_cursor
from db.repo.webhooks import WebhookRecord
from services.context import SYSTEM_ACTOR, Runtime
from services.ids import numbered_id, to_global_id
from services.webhook_urls import IpAddress, Target, UrlRefused, checked_target, display_url

log = logging.getLogger("licensing.webhooks")

MAX_EVENTS_PER_REQUEST = 100
REQUEST_TIMEOUT_SECONDS = 10.0
FIRST_RETRY_SECONDS = 1.0
MAX_RETRY_SECONDS = 15 * 60.0
MAX_BATCHES_PER_PASS = 50  # a webhook far behind yields to the others between passes
CONCURRENT_WEBHOOKS = 4
READ_AHEAD_EVENTS = 1000  # events read per query: ten batches
USER_AGENT = "licensing-webhooks/1"


def retry_delay(attempts: int) -> timedelta:
    """After the n-th failed attempt in a row: 1 s, 2 s, 4 s, … up to 15 minutes."""
    return timedelta(seconds=min(FIRST_RETRY_SECONDS * 2 ** max(attempts - 1, 0), MAX_RETRY_SECONDS))


class _Shapes:
    """The parts of events that repeat within a batch — a product, its enabled plans for a set of
    ACTIVE paths, a group's id — built once per batch rather than once per event."""

    def __init__(self, rt: Runtime) -> None:
        self.catalog = rt.catalog
        self.products: dict[uuid.UUID, dict[str, Any]] = {}
        self.plans: dict[tuple[uuid.UUID, frozenset[frozenset[uuid.UUID]]], list[dict[str, Any]]] = {}
        self.groups: dict[uuid.UUID, str] = {}

    def product(self, product_id: uuid.UUID) -> dict[str, Any]:
        found = self.products.get(product_id)
        if found is None:
            product = self.catalog.products[product_id]
            found = self.products[product_id] = {
                "id": to_global_id("Product", product.id), "skuId": str(product.id), "skuPartNumber": product.sku_part_number,
            }
        return found

    def enabled_plans(self, e: EventRecord) -> list[dict[str, Any]]:
        active = frozenset(frozenset(p.disabled_plan_ids) for p in e.paths if p.state == "ACTIVE")
        key = (e.product_id, active)
        found = self.plans.get(key)
        if found is None:
            product = self.catalog.products[e.product_id]
            enabled = engine.enabled_for_user(product.plan_ids, active)
            found = self.plans[key] = [
                {"id": to_global_id("ServicePlan", plan.id), "servicePlanId": str(plan.id), "servicePlanName": plan.name}
                for plan in product.plans if plan.id in enabled
            ]
        return found

    def group(self, group_id: uuid.UUID) -> str:
        found = self.groups.get(group_id)
        if found is None:
            found = self.groups[group_id] = to_global_id("Group", group_id)
        return found


def event_json(rt: Runtime, tenant_id: str, e: EventRecord, shapes: _Shapes | None = None) -> dict[str, Any]:
    """One event in the shape of `LicenseEvent`, ids as GraphQL gives them (D33)."""
    parts = shapes or _Shapes(rt)
    return {
        "id": numbered_id("LicenseEvent", tenant_id, e.seq),
        "cursor": event_cursor(e.seq),
        "occurredAt": e.occurred_at.isoformat(),
        "kind": e.kind,
        "userId": to_global_id("User", e.user_id),
        "userPrincipalName": e.user_principal_name,
        "product": parts.product(e.product_id),
        "holdsSeat": e.holds_seat,
        "enabledServicePlans": parts.enabled_plans(e),
        "paths": [
            {
                "groupId": parts.group(p.group_id) if p.group_id else None,
                "state": p.state,
                "error": {"code": p.error_code, "message": p.error_message or ""} if p.error_code else None,
            }
            for p in e.paths
        ],
        "actor": e.actor,
        "auditEventId": numbered_id("AuditEvent", tenant_id, e.audit_id) if e.audit_id is not None else None,
    }


def batch_body(rt: Runtime, tenant_id: str, events: Sequence[EventRecord]) -> bytes:
    shapes = _Shapes(rt)
    return orjson.dumps({"events": [event_json(rt, tenant_id, e, shapes) for e in events]})


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


def new_client() -> httpx.AsyncClient:
    # trust_env=False: no proxy from the environment (a proxy would resolve the name again)
    return httpx.AsyncClient(timeout=httpx.Timeout(REQUEST_TIMEOUT_SECONDS), follow_redirects=False, trust_env=False)


class Clients:
    """HTTP clients kept between deliveries, so a webhook's batches share a kept-alive
    connection instead of a new TCP (and TLS) handshake each.

    One client per (scheme, host name, port): a connection whose certificate was checked for one
    name is never reused for another name on the same address. Requests name the checked
    address (Target.connect_url), and a client pools its connections by that address, so a kept
    connection is only ever reused for a request to the address just checked again; when the
    name resolves elsewhere, the request opens a connection to the new (checked) address. Which
    of a name's checked addresses answered last is remembered and tried first."""

    IDLE_SECONDS = 60.0

    def __init__(self) -> None:
        self._clients: dict[tuple[str, str, int], tuple[httpx.AsyncClient, float]] = {}
        self._answered: dict[tuple[str, str, int], IpAddress] = {}

    def client(self, target: Target) -> httpx.AsyncClient:
        key = (target.scheme, target.host, target.port)
        found = self._clients.get(key)
        client = found[0] if found else new_client()
        self._clients[key] = (client, time.monotonic())
        return client

    def addresses(self, target: Target) -> tuple[IpAddress, ...]:
        """The checked addresses in the order to try: the one that answered last first."""
        last = self._answered.get((target.scheme, target.host, target.port))
        if last is None or last not in target.addresses or last == target.addresses[0]:
            return target.addresses
        return (last, *(a for a in target.addresses if a != last))

    def answered(self, target: Target, address: IpAddress) -> None:
        self._answered[(target.scheme, target.host, target.port)] = address

    async def close_idle(self) -> None:
        """Close the clients unused for a minute (between passes: none is in use)."""
        cutoff = time.monotonic() - self.IDLE_SECONDS
        for key, (client, used) in list(self._clients.items()):
            if used < cutoff:
                del self._clients[key]
                self._answered.pop(key, None)
                await client.aclose()

    async def aclose(self) -> None:
        clients = [c for c, _ in self._clients.values()]
        self._clients.clear()
        self._answered.clear()
        for client in clients:
            await client.aclose()


# a kept-alive connection the receiver closed meanwhile (or dropped without an answer)
_DROPPED = (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)


async def _post(
    client: httpx.AsyncClient, url: str, body: bytes, headers: dict[str, str], auth: Any, extensions: dict[str, Any]
) -> httpx.Response:
    """POST; once more, on a new connection, when the connection dropped without an answer — a
    kept-alive connection the receiver had just closed. The same request (webhook-id and all):
    at least once."""
    for n in (1, 2):
        try:
            return await client.post(url, content=body, headers=headers, auth=auth, extensions=extensions,
                                     follow_redirects=False)
        except _DROPPED:
            if n == 2:
                raise
    raise AssertionError("unreachable")


async def _send(
    webhook: WebhookRecord, target: Target, message_id: str, body: bytes, clients: Clients,
    while_waiting: Callable[[], None] | None = None,
) -> int:
    """POST the signed batch to the checked address; the HTTP status. `while_waiting` runs once
    the request is sent, while the receiver reads it (httpcore's `trace` extension)."""
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
    if while_waiting is not None:
        pending = [while_waiting]

        async def trace(event: str, _info: dict[str, Any]) -> None:
            if event == "http11.send_request_body.complete" and pending:
                pending.pop()()

        extensions["trace"] = trace
    client = clients.client(target)
    addresses = clients.addresses(target)
    async with asyncio.timeout(REQUEST_TIMEOUT_SECONDS):
        for n, address in enumerate(addresses):  # e.g. localhost: ::1, then 127.0.0.1
            try:
                response = await _post(client, target.connect_url(address), body, headers, auth, extensions)
            except httpx.ConnectError:
                if n == len(addresses) - 1:
                    raise
                continue
            clients.answered(target, address)
            return response.status_code
    raise AssertionError("a checked target has at least one address")


async def _attempt(
    webhook: WebhookRecord, target: Target | UrlRefused, message_id: str, body: bytes, clients: Clients,
    while_waiting: Callable[[], None] | None = None,
) -> tuple[int | None, str | None]:
    """(status, None) on a 2xx answer, else (status or None, why it failed, for an admin)."""
    if isinstance(target, UrlRefused):
        return None, f"Not sent: {target}"
    try:
        status = await _send(webhook, target, message_id, body, clients, while_waiting)
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


@dataclass
class _ReadAhead:
    """A webhook's events read ahead of its batches: every event of `kinds` after `after` up to
    the last one held, in cursor order, as read (a few batches per query)."""

    after: int
    kinds: tuple[str, ...]
    events: list[EventRecord] = field(default_factory=list)
    built: tuple[int, int, bytes] | None = None  # (first seq, last seq, body) of a batch built ahead

    def holds(self, webhook: WebhookRecord) -> bool:
        return self.after == webhook.last_delivered_seq and self.kinds == webhook.kinds

    def batch(self, webhook: WebhookRecord, through: int) -> list[EventRecord] | None:
        """The batch in flight, (last delivered, through], when held; None: read it again."""
        if not self.holds(webhook) or not self.events or self.events[-1].seq < through:
            return None
        return [e for e in self.events[:MAX_EVENTS_PER_REQUEST] if e.seq <= through]

    async def next_batch(self, conn: AsyncConnection, tenant_id: str) -> list[EventRecord]:
        """The events of the batch after `after`, reading ahead when fewer than a batch are held."""
        if len(self.events) < MAX_EVENTS_PER_REQUEST:
            last = self.events[-1].seq if self.events else self.after
            self.events += await rows.events_after(conn, tenant_id, last, self.kinds, limit=READ_AHEAD_EVENTS)
        return self.events[:MAX_EVENTS_PER_REQUEST]

    def body(self, rt: Runtime, tenant_id: str, events: list[EventRecord]) -> bytes:
        """The body of `events` (a batch of these events): built ahead, or now."""
        built, self.built = self.built, None
        if built is not None and (built[0], built[1]) == (events[0].seq, events[-1].seq):
            return built[2]
        return batch_body(rt, tenant_id, events)

    def build_next(self, rt: Runtime, tenant_id: str, through: int) -> None:
        """Build the body of the batch after `through` when its events are all held — the batch
        `next_batch` fixes after `through` is delivered — while the request of `through` is on
        its way; a body not used is dropped."""
        upcoming = [e for e in self.events[: 2 * MAX_EVENTS_PER_REQUEST] if e.seq > through][:MAX_EVENTS_PER_REQUEST]
        if len(upcoming) == MAX_EVENTS_PER_REQUEST:
            try:
                self.built = (upcoming[0].seq, upcoming[-1].seq, batch_body(rt, tenant_id, upcoming))
            except Exception:  # noqa: BLE001 - built again (and failing there) when its turn comes
                self.built = None

    def delivered(self, through: int) -> None:
        n = 0
        while n < len(self.events) and self.events[n].seq <= through:
            n += 1
        del self.events[:n]
        self.after = through


@dataclass
class _Delivery:
    """One webhook during a pass: the URL of its batch in flight as last seen under its row lock
    (None: look again), and its events read ahead."""

    tenant_id: str
    webhook_id: uuid.UUID
    url: str | None = None
    ahead: _ReadAhead | None = None
    more: bool = False  # stopped with batches left (the pass's cap): go on without waiting


async def _next_batch(conn: AsyncConnection, d: _Delivery, webhook: WebhookRecord) -> list[EventRecord]:
    """The events of the webhook's next batch after its last delivered one (read ahead when
    needed; [] when there are none)."""
    if d.ahead is None or not d.ahead.holds(webhook):
        d.ahead = _ReadAhead(webhook.last_delivered_seq, webhook.kinds)
    return await d.ahead.next_batch(conn, webhook.tenant_id)


def _in_flight(events: list[EventRecord]) -> dict[str, Any]:
    """The columns that fix `events` as the batch in flight (none when empty)."""
    if not events:
        return {"pending_message_id": None, "pending_through_seq": None}
    return {"pending_message_id": f"msg_{uuid.uuid4().hex}", "pending_through_seq": events[-1].seq}


async def _fix_batch(rt: Runtime, d: _Delivery) -> str | None:
    """Make sure the webhook has a batch in flight (committed, so its id survives a crash); its
    URL. None when there is nothing to send now (or another replica is at it)."""
    async with rt.db.write() as conn:
        webhook = await rows.lock_for_delivery(conn, d.tenant_id, d.webhook_id)
        if webhook is None or not _is_due(webhook, rt.clock.now()):
            return None
        if webhook.pending_message_id is not None:
            return webhook.url
        events = await _next_batch(conn, d, webhook)
        if not events:
            return None
        await rows.update(conn, d.tenant_id, d.webhook_id, **_in_flight(events))
        return webhook.url


async def _target(rt: Runtime, url: str) -> Target | UrlRefused:
    try:
        return await checked_target(url, allow_private=rt.settings.webhook_allow_private)
    except UrlRefused as exc:
        return exc


async def _deliver_next(rt: Runtime, d: _Delivery, clients: Clients) -> Attempt | None:
    """Send the webhook's batch in flight (fixing one first when none is); None when nothing was
    sent. After a success the next batch is fixed in the same transaction, so the steady state
    is one transaction per batch: lock, send, acknowledge and fix the next, commit."""
    url = d.url or await _fix_batch(rt, d)
    d.url = None
    if url is None:
        return None
    target = await _target(rt, url)  # resolved and checked before the row is locked: updates need not wait for DNS
    async with rt.db.write() as conn:  # holds the row lock while the request runs
        webhook = await rows.lock_for_delivery(conn, d.tenant_id, d.webhook_id)
        now = rt.clock.now()
        if webhook is None or webhook.pending_message_id is None or not _is_due(webhook, now):
            return None  # delivered, disabled or retrying meanwhile: the next pass sees it
        if webhook.url != url:
            d.more = True  # changed meanwhile: check the new URL
            return None
        through = webhook.pending_through_seq or webhook.last_delivered_seq
        events = d.ahead.batch(webhook, through) if d.ahead else None
        if events is None:  # not read ahead (a batch fixed by an earlier pass or another replica)
            d.ahead = None
            events = await rows.batch(conn, webhook, through=through, limit=MAX_EVENTS_PER_REQUEST)
        message_id = webhook.pending_message_id
        shown = display_url(webhook.url)
        if not events:  # the batch's events are past retention: nothing left to send
            await rows.update(conn, d.tenant_id, d.webhook_id, last_delivered_seq=through, pending_message_id=None,
                              pending_through_seq=None)
            d.more = True
            return None
        ahead = d.ahead
        body = ahead.body(rt, d.tenant_id, events) if ahead else batch_body(rt, d.tenant_id, events)
        build_next = (lambda: ahead.build_next(rt, d.tenant_id, through)) if ahead else None
        status, reason = await _attempt(webhook, target, message_id, body, clients, build_next)
        now = rt.clock.now()
        done = Attempt(d.tenant_id, d.webhook_id, shown, message_id, len(events), event_cursor(through), reason is None,
                       status, reason)
        if reason is None:
            delivered = replace(webhook, last_delivered_seq=through, pending_message_id=None, pending_through_seq=None)
            if d.ahead is not None and d.ahead.holds(webhook):
                d.ahead.delivered(through)
            else:
                d.ahead = None
            nxt = await _next_batch(conn, d, delivered)  # fixed in the same statement as the acknowledgement
            await rows.update(
                conn, d.tenant_id, d.webhook_id, last_delivered_seq=through, attempts=0, failing_since=None,
                next_attempt_at=None, last_success_at=now, **_in_flight(nxt),
            )
            d.url = webhook.url if nxt else None
            return done
        d.ahead = None
        failing_since = webhook.failing_since or now
        attempts = webhook.attempts + 1
        window = timedelta(hours=rt.settings.webhook_retry_hours)
        if now - failing_since >= window:
            hours = f"{rt.settings.webhook_retry_hours:g}"
            why = f"{reason} Disabled after {hours} h of failed deliveries."
            await rows.update(conn, d.tenant_id, d.webhook_id, enabled=False, attempts=attempts, failing_since=failing_since,
                              next_attempt_at=None, last_failure_at=now, last_failure_reason=why)
            await audit.append(
                conn, d.tenant_id, actor=SYSTEM_ACTOR, action="WEBHOOK_DISABLED",
                target_id=to_global_id("Webhook", d.webhook_id),
                summary=f"Webhook {shown} disabled after {hours} h of failed deliveries: {reason}",
                details={"reason": reason, "lastDeliveredCursor": event_cursor(webhook.last_delivered_seq)}, occurred_at=now,
            )
            return Attempt(d.tenant_id, d.webhook_id, shown, message_id, len(events), event_cursor(through), False, status,
                           why, disabled=True)
        retry_at = now + retry_delay(attempts)
        await rows.update(conn, d.tenant_id, d.webhook_id, attempts=attempts, failing_since=failing_since,
                          next_attempt_at=retry_at, last_failure_at=now, last_failure_reason=reason)
        return Attempt(d.tenant_id, d.webhook_id, shown, message_id, len(events), event_cursor(through), False, status,
                       reason, retry_at=retry_at)


async def deliver_next(rt: Runtime, tenant_id: str, webhook_id: uuid.UUID, clients: Clients) -> Attempt | None:
    """Send the webhook's batch in flight (fixing the next one first when none is); None when
    nothing was due."""
    return await _deliver_next(rt, _Delivery(tenant_id, webhook_id), clients)


async def _deliver_webhook(rt: Runtime, d: _Delivery, clients: Clients) -> list[Attempt]:
    """Batch after batch until the webhook is caught up, a request fails or the pass's cap."""
    done: list[Attempt] = []
    for _ in range(MAX_BATCHES_PER_PASS):
        d.more = False
        attempt = await _deliver_next(rt, d, clients)
        if attempt is None:
            if d.more:
                continue
            return done
        done.append(attempt)
        if not attempt.ok:
            return done
    d.more = True  # the cap: the others' turn, then on without waiting
    return done


async def deliver_webhook(rt: Runtime, tenant_id: str, webhook_id: uuid.UUID, clients: Clients) -> list[Attempt]:
    """Batch after batch until the webhook is caught up or a request fails (at most
    MAX_BATCHES_PER_PASS)."""
    return await _deliver_webhook(rt, _Delivery(tenant_id, webhook_id), clients)


async def _deliver_pass(rt: Runtime, tenant_id: str | None, clients: Clients) -> tuple[list[Attempt], bool]:
    """One pass; its attempts, and whether a webhook stopped at the pass's cap with more due."""
    async with rt.db.read() as conn:
        due = await rows.due(conn, rt.clock.now(), tenant_id)
    if not due:
        return [], False
    gate = asyncio.Semaphore(CONCURRENT_WEBHOOKS)
    deliveries = [_Delivery(tid, wid) for tid, wid in due]

    async def one(d: _Delivery) -> list[Attempt]:
        async with gate:
            return await _deliver_webhook(rt, d, clients)

    results = await asyncio.gather(*(one(d) for d in deliveries))
    attempts = [a for batch in results for a in batch]
    for a in attempts:
        if a.ok:
            log.info("webhook %s (%s): delivered %d event(s) through %s", a.webhook_id, a.url, a.event_count, a.last_cursor)
        else:
            log.warning("webhook %s (%s): %s", a.webhook_id, a.url, a.reason)
    return attempts, any(d.more for d in deliveries)


async def deliver_due(
    rt: Runtime, *, tenant_id: str | None = None, clients: Clients | None = None, until_caught_up: bool = False,
) -> list[Attempt]:
    """One pass: every webhook with something due (of one tenant, or all), a few at a time, each
    up to MAX_BATCHES_PER_PASS batches. `until_caught_up`: passes again while a webhook stopped
    at the cap with more due (`licensing webhooks deliver-once`); a failed request ends its
    webhook's turn, so this ends."""
    owned = clients is None
    http = clients or Clients()
    try:
        attempts, more = await _deliver_pass(rt, tenant_id, http)
        while more and until_caught_up:
            again, more = await _deliver_pass(rt, tenant_id, http)
            attempts += again
    finally:
        if owned:
            await http.aclose()
    return attempts


async def run_forever(rt: Runtime, database_url: str) -> None:
    """The delivery loop of an app process: a pass whenever events commit (LISTEN
    license_events) and every LICENSING_WEBHOOK_POLL_SECONDS (retries fall due by time), and at
    once again while a webhook has batches left after a pass's cap."""
    wake = asyncio.Event()
    listener = asyncio.create_task(listen_forever(database_url, EVENTS_CHANNEL, wake.set))
    clients = Clients()
    try:
        while True:
            wake.clear()
            more = False
            try:
                _attempts, more = await _deliver_pass(rt, None, clients)
                await clients.close_idle()
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - the loop must survive a bad pass (e.g. the database restarting)
                log.exception("webhook delivery pass failed; retrying")
            if not more:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), timeout=rt.settings.webhook_poll_seconds)
    finally:
        listener.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await listener
        await clients.aclose()
