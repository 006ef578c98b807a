"""Webhooks (R28, D26, D29, D30, D33): registration with roles, the 20 cap, URL rules checked
after DNS resolution, and delivery to a real receiver on 127.0.0.1 — signed (checked by an
independent HMAC), in batches of ≤ 100 in cursor order, filtered by kind, retried with the same
webhook-id, disabled after the retry window, resumed from the last delivered cursor."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ipaddress
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest

from gql.auth import Role
from gql.types.events import event_cursor
from services import webhook_delivery, webhook_urls
from services.ids import from_global_id
from services.webhook_delivery import deliver_due
from services.webhook_urls import address_kind, display_url
from tests.gql.test_assign_licenses import assign, product
from tests.gql.webhook_receiver import DROP, Receiver, signature_ok
from tests.support import Api, Tenant

PUBLIC = "93.184.215.14"  # a public address: creation checks it without connecting anywhere
CREATE = """mutation($i: CreateWebhookInput!) { createWebhook(input: $i) {
  webhook { id url description kinds enabled lastDeliveredCursor pendingEventCount } secret errors { code message field } } }"""
UPDATE = """mutation($i: UpdateWebhookInput!) { updateWebhook(input: $i) {
  webhook { id url kinds enabled lastDeliveredCursor pendingEventCount } errors { code message field } } }"""
DELETE = "mutation($i: DeleteWebhookInput!) { deleteWebhook(input: $i) { deletedWebhookId errors { code message } } }"
LIST = """{ webhooks { id url description kinds createdAt enabled lastDeliveredCursor lastSuccessAt lastFailureAt
  lastFailureReason pendingEventCount } }"""
EVENT_FIELDS = """id cursor occurredAt kind userId userPrincipalName product { id skuId skuPartNumber } holdsSeat
  enabledServicePlans { id servicePlanId servicePlanName } paths { groupId state error { code message } } actor
  auditEvent { id }"""


@pytest.fixture(scope="module")
async def private_api(database_url: str, settings: Any, clock: Any) -> AsyncIterator[Api]:
    """An app with LICENSING_WEBHOOK_ALLOW_PRIVATE=true: webhooks may point at 127.0.0.1."""
    from gql.app import create_app

    config = settings.model_copy(update={"webhook_allow_private": True})
    app = create_app(config, database_url, clock=clock, run_lifecycle_job=False)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
            yield Api(client, config, app)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


async def create(tenant: Tenant, url: str, *, token: str | None = None, **extra: Any) -> dict[str, Any]:
    return dict((await tenant.ok(CREATE, {"i": {"url": url, **extra}}, token=token))["createWebhook"])


async def webhooks(tenant: Tenant, token: str | None = None) -> list[dict[str, Any]]:
    return list((await tenant.ok(LIST, token=token))["webhooks"])


async def deliver(tenant: Tenant) -> list[webhook_delivery.Attempt]:
    return await deliver_due(tenant.api.app.state.runtime, tenant_id=tenant.id)


async def licensed_users(tenant: Tenant, names: list[str], sku: str = "SPE_E3") -> list[str]:
    ids = [await tenant.create_user(n) for n in names]
    pid = (await product(tenant, sku))["id"]
    for start in range(0, len(ids), 20):
        assert (await assign(tenant, ids[start:start + 20], [{"productId": pid}]))["errors"] == []
    return ids


async def graphql_events(tenant: Tenant) -> list[dict[str, Any]]:
    query = "query($a: String) { licenseEvents(first: 100, after: $a) { pageInfo { hasNextPage endCursor } edges { node { " + EVENT_FIELDS + " } } } }"
    found: list[dict[str, Any]] = []
    after = None
    while True:
        data = (await tenant.ok(query, {"a": after}))["licenseEvents"]
        found += [e["node"] for e in data["edges"]]
        if not data["pageInfo"]["hasNextPage"]:
            return found
        after = data["pageInfo"]["endCursor"]


# ------------------------------------------------------------------------------ registration


async def test_create_list_update_delete_with_roles_and_the_secret_shown_once(tenant: Tenant) -> None:
    made = await create(tenant, f"https://hook:s3cret@{PUBLIC}/licensing?x=1", description=" CRM sync ", kinds=["ADDED"])
    assert made["errors"] == []
    secret = made["secret"]
    assert secret.startswith("whsec_") and len(base64.b64decode(secret.removeprefix("whsec_"))) >= 24
    hook = made["webhook"]
    assert hook["url"] == f"https://{PUBLIC}/licensing?x=1"  # user-info never shown
    assert (hook["description"], hook["kinds"], hook["enabled"], hook["pendingEventCount"]) == ("CRM sync", ["ADDED"], True, 0)
    reader, license_admin = tenant.token(Role.GLOBAL_READER), tenant.token(Role.LICENSE_ADMINISTRATOR)
    listed = await webhooks(tenant, reader)
    assert [w["id"] for w in listed] == [hook["id"]] and "s3cret" not in str(listed) and secret not in str(listed)
    for query in (LIST, CREATE):
        body = await tenant.gql(query, {"i": {"url": f"https://{PUBLIC}/"}}, token=license_admin)
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    for query, i in ((UPDATE, {"webhookId": hook["id"], "enabled": False}), (DELETE, {"webhookId": hook["id"]})):
        for token in (reader, license_admin):
            body = await tenant.gql(query, {"i": i}, token=token)
            assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    node = "query($id: ID!) { node(id: $id) { ... on Webhook { url kinds } } }"
    assert (await tenant.ok(node, {"id": hook["id"]}, token=reader))["node"]["kinds"] == ["ADDED"]
    assert (await tenant.ok(node, {"id": hook["id"]}, token=license_admin))["node"] is None
    changed = (await tenant.ok(UPDATE, {"i": {"webhookId": hook["id"], "kinds": [], "url": f"https://{PUBLIC}/v2"}}))["updateWebhook"]
    assert changed["errors"] == [] and changed["webhook"]["kinds"] == [] and changed["webhook"]["url"] == f"https://{PUBLIC}/v2"
    deleted = (await tenant.ok(DELETE, {"i": {"webhookId": hook["id"]}}))["deleteWebhook"]
    assert deleted == {"deletedWebhookId": hook["id"], "errors": []}
    assert await webhooks(tenant) == []
    again = (await tenant.ok(DELETE, {"i": {"webhookId": hook["id"]}}))["deleteWebhook"]
    assert again["errors"][0]["code"] == "NOT_FOUND"
    audit = await tenant.ok("{ auditLog(first: 10) { edges { node { action summary } } } }")
    actions = [e["node"]["action"] for e in audit["auditLog"]["edges"]]
    assert actions[:3] == ["WEBHOOK_DELETED", "WEBHOOK_UPDATED", "WEBHOOK_CREATED"]
    assert "s3cret" not in str(audit)


async def test_at_most_20_webhooks_per_tenant(tenant: Tenant) -> None:
    for i in range(20):
        assert (await create(tenant, f"https://{PUBLIC}/{i}"))["errors"] == []
    refused = await create(tenant, f"https://{PUBLIC}/21")
    assert refused["webhook"] is None and refused["secret"] is None
    assert refused["errors"][0]["code"] == "INVALID_INPUT" and "20 webhooks" in refused["errors"][0]["message"]
    assert len(await webhooks(tenant)) == 20


@pytest.mark.parametrize(
    ("url", "words"),
    [
        (f"http://{PUBLIC}/hook", "https://"),
        ("https://127.0.0.1/hook", "loopback"),
        ("https://10.1.2.3/hook", "private"),
        ("https://192.168.0.10/hook", "private"),
        ("https://169.254.169.254/latest/meta-data", "link-local"),
        ("https://[::1]/hook", "loopback"),
        ("https://[::ffff:127.0.0.1]/hook", "loopback"),
        ("https://[::127.0.0.1]/hook", "reserved"),  # IPv4-compatible, deprecated
        ("https://[64:ff9b::a9fe:a9fe]/latest", "reserved"),  # NAT64 of 169.254.169.254
        ("https://[2002:a9fe:a9fe::1]/latest", "link-local"),  # 6to4 of 169.254.169.254
        ("https://localhost/hook", "localhost resolves to"),
        ("https://0.0.0.0/hook", "unspecified"),
        ("ftp://example.com/hook", "https://"),
        ("https:///nohost", "host"),
    ],
)
async def test_urls_refused_without_the_setting(tenant: Tenant, url: str, words: str) -> None:
    refused = await create(tenant, url)
    [error] = refused["errors"]
    assert (error["code"], error["field"]) == ("INVALID_INPUT", "input.url")
    assert words in error["message"], error["message"]
    assert await webhooks(tenant) == []


async def test_with_the_setting_loopback_and_private_are_allowed_but_not_link_local_or_public_http(private_api: Api) -> None:
    tenant = await private_api.new_tenant()
    for url in ("http://127.0.0.1:9/hook", "http://localhost:9/hook", "https://10.0.0.5/hook", f"https://{PUBLIC}/hook"):
        assert (await create(tenant, url))["errors"] == [], url
    for url in ("https://169.254.169.254/", f"http://{PUBLIC}/hook", "http://[fe80::1]/hook"):
        assert (await create(tenant, url))["errors"][0]["field"] == "input.url", url
    hook = (await webhooks(tenant))[0]
    refused = (await tenant.ok(UPDATE, {"i": {"webhookId": hook["id"], "url": "http://169.254.169.254/"}}))["updateWebhook"]
    assert refused["errors"][0]["field"] == "input.url"


def test_address_kinds_and_display_urls() -> None:
    kinds = {a: address_kind(ipaddress.ip_address(a)) for a in ("8.8.8.8", "127.0.0.2", "172.20.1.1", "fd00::1", "224.0.0.1", "240.0.0.1", "2001:db8::1")}
    assert kinds == {"8.8.8.8": None, "127.0.0.2": "loopback", "172.20.1.1": "private", "fd00::1": "private",
                     "224.0.0.1": "multicast", "240.0.0.1": "reserved", "2001:db8::1": "reserved"}
    carried = {a: address_kind(ipaddress.ip_address(a)) for a in ("::1", "::", "::ffff:8.8.8.8", "::ffff:10.0.0.1", "::10.0.0.1",
                                                                  "64:ff9b::808:808", "2002:808:808::1", "2002:a00:1::1")}
    assert carried == {"::1": "loopback", "::": "unspecified", "::ffff:8.8.8.8": None, "::ffff:10.0.0.1": "private",
                       "::10.0.0.1": "reserved", "64:ff9b::808:808": "reserved", "2002:808:808::1": None, "2002:a00:1::1": "private"}
    assert display_url("https://u:p@h.example:8443/x?y") == "https://h.example:8443/x?y"
    assert webhook_delivery.event_cursor(42) == event_cursor(42)


# ------------------------------------------------------------------------------ delivery


async def test_events_after_a_license_change_are_delivered_signed_in_the_graphql_shape(private_api: Api, receiver: Receiver) -> None:
    tenant = await private_api.new_tenant()
    await tenant.buy("SPE_E3", 10)
    await licensed_users(tenant, ["Before"])  # committed before the webhook: never delivered
    made = await create(tenant, receiver.url(host="localhost"))
    assert made["webhook"]["pendingEventCount"] == 0 and made["webhook"]["lastDeliveredCursor"] is not None
    assert await deliver(tenant) == []
    await licensed_users(tenant, ["Ann"])
    assert (await webhooks(tenant))[0]["pendingEventCount"] == 1
    [attempt] = await deliver(tenant)
    assert attempt.ok and attempt.event_count == 1
    [got] = receiver.received
    assert signature_ok(made["secret"], got)
    assert got.headers["host"] == f"localhost:{receiver.port}" and got.path == "/hook"  # connected to the checked 127.0.0.1
    assert got.headers["content-type"] == "application/json"
    expected = (await graphql_events(tenant))[-1]
    expected["auditEventId"] = expected.pop("auditEvent")["id"]
    assert got.events == [expected]
    assert got.events[0]["userPrincipalName"].startswith("ann@")
    [hook] = await webhooks(tenant)
    assert (hook["pendingEventCount"], hook["lastDeliveredCursor"]) == (0, expected["cursor"])
    assert hook["lastSuccessAt"] is not None and hook["lastFailureReason"] is None
    assert await deliver(tenant) == []  # at least once, not again when it succeeded


async def test_batches_hold_at_most_100_events_in_cursor_order(private_api: Api, receiver: Receiver) -> None:
    tenant = await private_api.new_tenant()
    await tenant.buy("SPE_E3", 60)
    await tenant.buy("EMS", 60)
    made = await create(tenant, receiver.url())
    ids = [await tenant.create_user(f"User {i}") for i in range(55)]
    e3, ems = (await product(tenant, "SPE_E3"))["id"], (await product(tenant, "EMS"))["id"]
    for start in range(0, 55, 20):
        assert (await assign(tenant, ids[start:start + 20], [{"productId": e3}, {"productId": ems}]))["errors"] == []
    assert (await webhooks(tenant))[0]["pendingEventCount"] == 110
    attempts = await deliver(tenant)
    assert [a.event_count for a in attempts] == [100, 10] and all(a.ok for a in attempts)
    assert [len(r.events) for r in receiver.received] == [100, 10]
    assert len({r.message_id for r in receiver.received}) == 2
    assert all(signature_ok(made["secret"], r) for r in receiver.received)
    delivered = [e["cursor"] for r in receiver.received for e in r.events]
    assert delivered == [e["cursor"] for e in await graphql_events(tenant)]


async def test_kinds_filter_what_is_delivered_and_counted(private_api: Api, receiver: Receiver) -> None:
    tenant = await private_api.new_tenant()
    await tenant.buy("SPE_E3", 5)
    await create(tenant, receiver.url(), kinds=["REMOVED"])
    [ann, bob] = await licensed_users(tenant, ["Ann", "Bob"])
    e3 = (await product(tenant, "SPE_E3"))["id"]
    assert (await webhooks(tenant))[0]["pendingEventCount"] == 0
    assert await deliver(tenant) == []
    assert (await assign(tenant, [bob], [], removeProductIds=[e3]))["errors"] == []
    assert (await webhooks(tenant))[0]["pendingEventCount"] == 1
    [attempt] = await deliver(tenant)
    assert [(e["kind"], e["userId"]) for e in receiver.received[0].events] == [("REMOVED", bob)]


async def test_a_failed_batch_is_retried_with_the_same_webhook_id_then_newer_events_follow(
    private_api: Api, receiver: Receiver, clock: Any
) -> None:
    tenant = await private_api.new_tenant()
    await tenant.buy("SPE_E3", 5)
    made = await create(tenant, receiver.url())
    await licensed_users(tenant, ["Ann"])
    receiver.plan = [500]
    [failed] = await deliver(tenant)
    assert not failed.ok and failed.status == 500 and failed.retry_at is not None
    assert failed.retry_at - clock.now() <= timedelta(seconds=5)  # the first retry within 5 s
    [hook] = await webhooks(tenant)
    assert "HTTP 500" in hook["lastFailureReason"] and hook["lastFailureAt"] and hook["pendingEventCount"] == 1
    await licensed_users(tenant, ["Bob"])  # newer: a later batch
    assert await deliver(tenant) == []  # not due yet
    clock.advance(timedelta(seconds=2))
    attempts = await deliver(tenant)
    assert [a.ok for a in attempts] == [True, True]
    first, retry, newer = receiver.received
    assert retry.message_id == first.message_id and retry.body == first.body
    assert newer.message_id != first.message_id
    assert [e["userPrincipalName"][:3] for e in newer.events] == ["bob"]
    assert all(signature_ok(made["secret"], r) for r in receiver.received)


async def test_redirects_are_not_followed(private_api: Api, receiver: Receiver) -> None:
    tenant = await private_api.new_tenant()
    await tenant.buy("SPE_E3", 5)
    await create(tenant, receiver.url())
    await licensed_users(tenant, ["Ann"])
    receiver.plan = [302]
    [failed] = await deliver(tenant)
    assert not failed.ok and "redirect" in (failed.reason or "") and len(receiver.received) == 1


async def test_after_the_retry_window_the_webhook_is_disabled_then_resumed_from_the_last_delivered_cursor(
    private_api: Api, receiver: Receiver, clock: Any
) -> None:
    tenant = await private_api.new_tenant()
    await tenant.buy("SPE_E3", 5)
    made = await create(tenant, receiver.url())
    await licensed_users(tenant, ["Ann"])
    [ok] = await deliver(tenant)
    delivered_cursor = (await webhooks(tenant))[0]["lastDeliveredCursor"]
    await licensed_users(tenant, ["Bob"])
    receiver.default = 503
    [failed] = await deliver(tenant)
    assert not failed.ok and not failed.disabled
    clock.advance(timedelta(hours=24, seconds=1))
    [last] = await deliver(tenant)
    assert last.disabled
    [hook] = await webhooks(tenant)
    assert hook["enabled"] is False and "Disabled after 24 h" in hook["lastFailureReason"]
    assert hook["lastDeliveredCursor"] == delivered_cursor and hook["pendingEventCount"] == 1
    audit = await tenant.ok("{ auditLog(first: 1) { edges { node { actor action summary } } } }")
    assert audit["auditLog"]["edges"][0]["node"]["action"] == "WEBHOOK_DISABLED"
    assert audit["auditLog"]["edges"][0]["node"]["actor"] == "system"
    await licensed_users(tenant, ["Cid"])
    assert await deliver(tenant) == []  # disabled: nothing sent
    receiver.default = 204
    resumed = (await tenant.ok(UPDATE, {"i": {"webhookId": made["webhook"]["id"], "enabled": True}}))["updateWebhook"]
    assert resumed["errors"] == [] and resumed["webhook"]["enabled"] is True
    attempts = await deliver(tenant)
    assert all(a.ok for a in attempts)
    sent = receiver.received[3:]  # after: Ann's delivery, Bob's two failures
    assert [e["userPrincipalName"][:3] for r in sent for e in r.events] == ["bob", "cid"]
    assert sent[0].message_id == receiver.received[1].message_id  # the same batch as before
    events = await graphql_events(tenant)
    assert [e["cursor"] for r in sent for e in r.events] == [e["cursor"] for e in events[-2:]]
    [hook] = await webhooks(tenant)
    assert hook["pendingEventCount"] == 0 and hook["lastDeliveredCursor"] == events[-1]["cursor"]


async def test_a_changed_url_applies_to_events_not_yet_delivered(private_api: Api, receiver: Receiver) -> None:
    tenant = await private_api.new_tenant()
    await tenant.buy("SPE_E3", 5)
    made = await create(tenant, "http://127.0.0.1:9/closed")  # nothing listens on port 9
    await licensed_users(tenant, ["Ann"])
    [failed] = await deliver(tenant)
    assert not failed.ok and "connect" in (failed.reason or "").lower()
    moved = (await tenant.ok(UPDATE, {"i": {"webhookId": made["webhook"]["id"], "url": receiver.url()}}))["updateWebhook"]
    assert moved["errors"] == []
    [ok] = await deliver(tenant)  # at once: the new url has no failures to wait out
    assert ok.ok and [e["userPrincipalName"][:3] for e in receiver.received[0].events] == ["ann"]


@contextlib.asynccontextmanager
async def delivering_app(api: Api, database_url: str, clock: Any) -> AsyncIterator[None]:
    """An app process running its delivery loop (polling only every 60 s: what arrives sooner
    was woken by NOTIFY), its listener connected."""
    from gql.app import create_app

    app = create_app(api.settings.model_copy(update={"webhook_poll_seconds": 60}), database_url, clock=clock,
                     run_lifecycle_job=False, run_webhook_delivery=True)
    async with app.router.lifespan_context(app):
        await asyncio.sleep(0.5)  # its listener connects
        yield


async def test_the_app_delivers_a_committed_event_within_5_seconds(
    private_api: Api, receiver: Receiver, database_url: str, clock: Any
) -> None:
    tenant = await private_api.new_tenant()
    await tenant.buy("SPE_E3", 5)
    await create(tenant, receiver.url())
    async with delivering_app(private_api, database_url, clock):
        await licensed_users(tenant, ["Ann"])
        started = asyncio.get_running_loop().time()
        got = await asyncio.to_thread(receiver.got_one.wait, 5)
        assert got, "no delivery within 5 s"
        assert asyncio.get_running_loop().time() - started < 5  # woken by NOTIFY, not the 60 s poll
    assert [e["userPrincipalName"][:3] for e in receiver.received[0].events] == ["ann"]


# ------------------------------------------------------------------------------ kept connections, read-ahead


@pytest.fixture
def keep_alive_receiver() -> Iterator[Receiver]:
    with Receiver(keep_alive=True) as r:
        yield r


class Resolver:
    """services.webhook_urls.resolve replaced: what `localhost` resolves to now, and how often it
    was asked."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, address: str = "127.0.0.1") -> None:
        self.address = address
        self.calls = 0
        monkeypatch.setattr(webhook_urls, "resolve", self.resolve)

    async def resolve(self, host: str, port: int) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
        self.calls += 1
        return [ipaddress.ip_address(self.address)]


async def test_batches_share_a_kept_connection_and_each_is_resolved_and_checked_again(
    private_api: Api, keep_alive_receiver: Receiver, monkeypatch: pytest.MonkeyPatch, clock: Any
) -> None:
    receiver = keep_alive_receiver
    resolver = Resolver(monkeypatch)
    monkeypatch.setattr(webhook_delivery, "MAX_EVENTS_PER_REQUEST", 1)
    tenant = await private_api.new_tenant()
    await tenant.buy("SPE_E3", 10)
    made = await create(tenant, receiver.url(host="localhost"))
    await licensed_users(tenant, ["Ann", "Bob", "Cid"])
    rt = tenant.api.app.state.runtime
    clients = webhook_delivery.Clients()
    try:
        resolver.calls = 0
        attempts = await deliver_due(rt, tenant_id=tenant.id, clients=clients)
        assert [(a.ok, a.event_count) for a in attempts] == [(True, 1)] * 3
        assert (len(receiver.received), receiver.connections) == (3, 1)  # one connection, kept
        assert resolver.calls == 3  # resolved (and checked) before every request
        assert all(r.headers["host"] == f"localhost:{receiver.port}" and signature_ok(made["secret"], r) for r in receiver.received)

        await licensed_users(tenant, ["Dan"])
        resolver.address = "169.254.169.254"  # the name now points where a webhook may never go
        [refused] = await deliver_due(rt, tenant_id=tenant.id, clients=clients)
        assert not refused.ok and "link-local" in (refused.reason or "") and refused.reason.startswith("Not sent")
        assert len(receiver.received) == 3  # the kept connection to 127.0.0.1 was not used

        resolver.address = "127.0.0.2"  # allowed, but not where the kept connection goes
        clock.advance(timedelta(seconds=2))
        [moved] = await deliver_due(rt, tenant_id=tenant.id, clients=clients)
        assert not moved.ok and "connect" in (moved.reason or "").lower()  # it connected to 127.0.0.2: nobody listens
        assert len(receiver.received) == 3

        resolver.address = "127.0.0.1"
        clock.advance(timedelta(seconds=4))
        [back] = await deliver_due(rt, tenant_id=tenant.id, clients=clients)
        assert back.ok and len(receiver.received) == 4
        assert receiver.received[3].message_id == refused.message_id == moved.message_id  # the same batch, retried
        assert [e["userPrincipalName"][:3] for r in receiver.received for e in r.events] == ["ann", "bob", "cid", "dan"]
    finally:
        await clients.aclose()


async def test_read_ahead_batches_stay_in_cursor_order_when_another_replica_delivers_between_them(
    private_api: Api, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(webhook_delivery, "MAX_EVENTS_PER_REQUEST", 2)
    monkeypatch.setattr(webhook_delivery, "READ_AHEAD_EVENTS", 3)
    tenant = await private_api.new_tenant()
    await tenant.buy("SPE_E3", 10)
    made = await create(tenant, receiver.url())
    await licensed_users(tenant, ["U1", "U2", "U3", "U4", "U5"])
    rt = tenant.api.app.state.runtime
    webhook_id = from_global_id(made["webhook"]["id"]).uuid()
    clients = webhook_delivery.Clients()
    try:
        mine = webhook_delivery._Delivery(tenant.id, webhook_id)  # one replica's pass, reading ahead
        first = await webhook_delivery._deliver_next(rt, mine, clients)
        assert first is not None and first.ok and first.event_count == 2
        other = await webhook_delivery.deliver_next(rt, tenant.id, webhook_id, clients)  # another replica's
        assert other is not None and other.ok and other.event_count == 2
        await licensed_users(tenant, ["U6"])  # committed while the first pass is under way
        done = [a for a in [await webhook_delivery._deliver_next(rt, mine, clients) for _ in range(3)] if a]
        assert [(a.ok, a.event_count) for a in done] == [(True, 1), (True, 1)]
        assert await webhook_delivery._deliver_next(rt, mine, clients) is None  # caught up
    finally:
        await clients.aclose()
    batches = [[e["userPrincipalName"][:2] for e in r.events] for r in receiver.received]
    assert batches == [["u1", "u2"], ["u3", "u4"], ["u5"], ["u6"]]
    assert [e["cursor"] for r in receiver.received for e in r.events] == [e["cursor"] for e in await graphql_events(tenant)]
    assert len({r.message_id for r in receiver.received}) == 4
    [hook] = await webhooks(tenant)
    assert (hook["pendingEventCount"], hook["lastDeliveredCursor"]) == (0, receiver.received[-1].events[-1]["cursor"])


async def test_a_body_built_ahead_while_the_previous_request_is_on_its_way_is_the_batchs_own(
    private_api: Api, keep_alive_receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    receiver = keep_alive_receiver
    monkeypatch.setattr(webhook_delivery, "MAX_EVENTS_PER_REQUEST", 2)
    built: list[list[int]] = []
    real = webhook_delivery.batch_body

    def counted(rt: Any, tenant_id: str, events: Any) -> bytes:
        built.append([e.seq for e in events])
        return real(rt, tenant_id, events)

    monkeypatch.setattr(webhook_delivery, "batch_body", counted)
    tenant = await private_api.new_tenant()
    await tenant.buy("SPE_E3", 10)
    made = await create(tenant, receiver.url())
    await licensed_users(tenant, ["U1", "U2", "U3", "U4", "U5", "U6"])
    attempts = await deliver(tenant)
    assert [(a.ok, a.event_count) for a in attempts] == [(True, 2)] * 3
    assert len(built) == 3  # each body built once: the 2nd and 3rd while the request before them was sent
    expected = await graphql_events(tenant)
    for e in expected:
        e["auditEventId"] = e.pop("auditEvent")["id"]
    assert [e for r in receiver.received for e in r.events] == expected[-6:]
    assert [[e["userPrincipalName"][:2] for e in r.events] for r in receiver.received] == [["u1", "u2"], ["u3", "u4"], ["u5", "u6"]]
    assert all(signature_ok(made["secret"], r) for r in receiver.received)


async def test_a_kept_connection_the_receiver_dropped_is_retried_at_once_on_a_new_one(
    private_api: Api, keep_alive_receiver: Receiver
) -> None:
    receiver = keep_alive_receiver
    tenant = await private_api.new_tenant()
    await tenant.buy("SPE_E3", 5)
    made = await create(tenant, receiver.url())
    await licensed_users(tenant, ["Ann"])
    receiver.plan = [DROP]
    [ok] = await deliver(tenant)
    assert ok.ok and ok.status == 204
    dropped, answered = receiver.received
    assert dropped.body == answered.body and dropped.message_id == answered.message_id  # the same request again
    assert receiver.connections == 2 and signature_ok(made["secret"], answered)
    await licensed_users(tenant, ["Bob"])
    receiver.plan = [DROP, DROP]  # twice: a failure, retried later as any other
    [failed] = await deliver(tenant)
    assert not failed.ok and failed.retry_at is not None and "failed" in (failed.reason or "")
    assert len(receiver.received) == 4


async def test_the_app_goes_on_at_once_when_a_pass_stops_at_its_cap(
    private_api: Api, keep_alive_receiver: Receiver, database_url: str, clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    receiver = keep_alive_receiver
    monkeypatch.setattr(webhook_delivery, "MAX_EVENTS_PER_REQUEST", 1)
    monkeypatch.setattr(webhook_delivery, "MAX_BATCHES_PER_PASS", 1)
    tenant = await private_api.new_tenant()
    await tenant.buy("SPE_E3", 5)
    await create(tenant, receiver.url())
    async with delivering_app(private_api, database_url, clock):
        await licensed_users(tenant, ["Ann", "Bob", "Cid"])  # one commit, one NOTIFY, three batches
        for _ in range(50):
            if len(receiver.received) == 3:
                break
            await asyncio.sleep(0.1)
    assert [e["userPrincipalName"][:3] for r in receiver.received for e in r.events] == ["ann", "bob", "cid"]
    assert receiver.connections == 1


# ------------------------------------------------------------------------------ the CLI


async def test_cli_deliver_once_says_what_it_did(private_api: Api, receiver: Receiver, database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from db.config import get_settings
    from tests.gql.test_import_cli import run

    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("LICENSING_WEBHOOK_ALLOW_PRIVATE", "true")
    get_settings.cache_clear()
    cli = CliRunner()
    try:
        tenant = await private_api.new_tenant()
        await tenant.buy("SPE_E3", 5)
        made = await create(tenant, receiver.url())
        nothing = await run(cli, "main", "webhooks", "deliver-once", "--tenant", tenant.id)
        assert nothing.exit_code == 0 and "Nothing to deliver" in nothing.output, nothing.output
        await licensed_users(tenant, ["Ann", "Bob"])
        done = await run(cli, "main", "webhooks", "deliver-once", "--tenant", tenant.id)
        assert done.exit_code == 0, done.output
        assert "2 event(s) delivered in 1 request(s)" in " ".join(done.output.split())
        assert signature_ok(made["secret"], receiver.received[0]) and len(receiver.received[0].events) == 2
        receiver.default = 500
        await licensed_users(tenant, ["Cid"])
        failed = await run(cli, "main", "webhooks", "deliver-once", "--tenant", tenant.id)
        said = " ".join(failed.output.split())
        assert failed.exit_code == 1 and "answered HTTP 500. Next attempt at" in said and "Traceback" not in said, said
        unknown = await run(cli, "main", "webhooks", "deliver-once", "--tenant", "no-such-tenant")
        said = " ".join(unknown.output.split())
        assert unknown.exit_code != 0 and "no tenant 'no-such-tenant'" in said and "Traceback" not in said, said
    finally:
        get_settings.cache_clear()


async def test_cli_deliver_once_goes_on_past_a_pass_cap_until_caught_up(
    private_api: Api, receiver: Receiver, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`deliver-once` delivers everything due, not one pass's cap: here one event per request
    and one request per pass, so three events take three passes."""
    from typer.testing import CliRunner

    from db.config import get_settings
    from services import webhook_delivery
    from tests.gql.test_import_cli import run

    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("LICENSING_WEBHOOK_ALLOW_PRIVATE", "true")
    monkeypatch.setattr(webhook_delivery, "MAX_EVENTS_PER_REQUEST", 1)
    monkeypatch.setattr(webhook_delivery, "MAX_BATCHES_PER_PASS", 1)
    get_settings.cache_clear()
    try:
        tenant = await private_api.new_tenant()
        await tenant.buy("SPE_E3", 5)
        await create(tenant, receiver.url())
        await licensed_users(tenant, ["Ann", "Bob", "Cid"])
        done = await run(CliRunner(), "main", "webhooks", "deliver-once", "--tenant", tenant.id)
        assert done.exit_code == 0, done.output
        assert "3 event(s) delivered in 3 request(s)" in " ".join(done.output.split()), done.output
        assert [e["userPrincipalName"][:3] for r in receiver.received for e in r.events] == ["ann", "bob", "cid"]
    finally:
        get_settings.cache_clear()
