"""The real server (uvicorn, as `licensing serve` runs it) against slow and greedy clients (D36).

A server runs in a background thread on a free port of 127.0.0.1, with short limits so the
tests are quick: request headers and bodies must arrive within 1 s, and (for the concurrency
tests) at most 3 requests may be in flight, held there by license changes waiting for the
tenant's lock. Clients are raw sockets, to send as slowly as a
test needs. Timings are only checked loosely (closed "after about the timeout"); the figures
under load are the benchmark's (bench/slow_clients.py).
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from websockets.sync.client import connect as ws_connect

from db.config import Settings
from db.session import TENANT_LOCK_NAMESPACE
from db.urls import sync_url
from gql.app import create_app
from gql.http.server import build_server
from tests.support import Tenant, free_port

QUERY = json.dumps({"query": "{ viewer { roles } }"}).encode()


@pytest.fixture(scope="module")
def start_server(database_url: str, settings: Any) -> Iterator[Callable[..., int]]:
    """Starts servers with the given settings in background threads; returns their ports."""
    running: list[tuple[Any, threading.Thread]] = []

    def start(**limits: Any) -> int:
        server_settings = Settings(
            LICENSING_JWT_SECRET=settings.jwt_secret, LICENSING_LIFECYCLE_INTERVAL_SECONDS=3600, **limits
        )
        port = free_port()
        server = build_server(
            create_app(server_settings, database_url, run_lifecycle_job=False), "127.0.0.1", port, server_settings,
            log_level="warning",
        )
        thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
        thread.start()
        deadline = time.monotonic() + 30
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
            time.sleep(0.05)
        running.append((server, thread))
        return port

    yield start
    for server, _ in running:
        server.should_exit = True
    for _, thread in running:
        thread.join(timeout=15)


@pytest.fixture(scope="module")
def quick_timeouts(start_server: Callable[..., int]) -> int:
    return start_server(LICENSING_HEADER_TIMEOUT_SECONDS=1, LICENSING_BODY_TIMEOUT_SECONDS=1)


@pytest.fixture(scope="module")
def three_at_a_time(start_server: Callable[..., int]) -> int:
    return start_server(LICENSING_MAX_CONCURRENT_REQUESTS=3)


def _open(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    return sock


def _post_head(token: str | None, length: int, accept: str = "application/json") -> bytes:
    lines = [
        "POST /graphql HTTP/1.1",
        "Host: 127.0.0.1",
        "Content-Type: application/json",
        f"Accept: {accept}",
        f"Content-Length: {length}",
    ]
    if token:
        lines.append(f"Authorization: Bearer {token}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _read_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """One response (status, headers, body); the body as far as Content-Length says."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"closed without a response: {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode().split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in header_lines)}
    while len(body) < int(headers.get("content-length", 0)):
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return int(status_line.split()[1]), headers, body


def _closed_by_server(sock: socket.socket, trickle: bytes | None, every: float, within: float) -> tuple[float, bytes]:
    """Send ``trickle`` every ``every`` seconds until the server closes; (seconds, what it sent)."""
    start = time.monotonic()
    received = b""
    sock.settimeout(every)
    while time.monotonic() - start < within:
        try:
            if trickle:
                sock.sendall(trickle)
            chunk = sock.recv(65536)
            if not chunk:
                return time.monotonic() - start, received
            received += chunk
        except TimeoutError:
            continue
        except (BrokenPipeError, ConnectionResetError):
            return time.monotonic() - start, received
    pytest.fail(f"the server kept the connection open for {within} s")


def _get(port: int, path: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    with _open(port) as sock:
        extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{extra}\r\n".encode())
        return _read_response(sock)


def _query(port: int, token: str) -> tuple[int, dict[str, str], bytes]:
    with _open(port) as sock:
        sock.sendall(_post_head(token, len(QUERY)) + QUERY)
        return _read_response(sock)


# --- timeouts ---------------------------------------------------------------------------------


def test_a_connection_that_trickles_its_headers_is_closed_after_the_timeout(quick_timeouts: int) -> None:
    with _open(quick_timeouts) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        seconds, received = _closed_by_server(sock, b"X-Slow: 1\r\n", every=0.1, within=6)
    assert 0.8 <= seconds < 4
    assert received.startswith(b"HTTP/1.1 408 ")


def test_a_connection_that_sends_nothing_is_closed_after_the_timeout(quick_timeouts: int) -> None:
    with _open(quick_timeouts) as sock:
        seconds, _ = _closed_by_server(sock, None, every=0.1, within=6)
    assert 0.8 <= seconds < 4


def test_a_request_body_that_trickles_is_cut_off_after_the_timeout(quick_timeouts: int, tenant: Tenant) -> None:
    with _open(quick_timeouts) as sock:
        sock.sendall(_post_head(tenant.admin, 10_000))
        seconds, received = _closed_by_server(sock, b" ", every=0.1, within=6)
    assert 0.8 <= seconds < 4
    head, _, body = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408 ")
    assert json.loads(body)["errors"][0]["extensions"]["code"] == "REQUEST_TIMEOUT"


def test_ordinary_requests_and_websockets_are_not_timed_out(quick_timeouts: int, tenant: Tenant) -> None:
    status, _, body = _query(quick_timeouts, tenant.admin)
    assert status == 200 and json.loads(body) == {"data": {"viewer": {"roles": ["GLOBAL_ADMINISTRATOR"]}}}
    # a WebSocket stays open well past the body timeout and still answers
    with ws_connect(f"ws://127.0.0.1:{quick_timeouts}/graphql", subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
        ws.send(json.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {tenant.admin}"}}))
        assert json.loads(ws.recv(timeout=5)) == {"type": "connection_ack"}
        time.sleep(2.5)
        ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": "{ viewer { roles } }"}}))
        assert json.loads(ws.recv(timeout=5))["payload"] == {"data": {"viewer": {"roles": ["GLOBAL_ADMINISTRATOR"]}}}


def test_an_unauthenticated_large_post_is_answered_401_before_its_body_is_sent(quick_timeouts: int) -> None:
    with _open(quick_timeouts) as sock:
        sock.sendall(_post_head(None, 50 * 1024 * 1024) + b'{"query": "')
        status, headers, body = _read_response(sock)
    assert status == 401
    assert headers["connection"] == "close"
    assert json.loads(body)["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


# --- requests in flight -------------------------------------------------------------------------


@contextlib.contextmanager
def tenant_license_lock(database_url: str, tenant_id: str) -> Iterator[None]:
    """Holds the tenant's license lock (D21), so that license changes wait for it in flight."""
    engine = create_engine(sync_url(database_url))
    try:
        with engine.connect() as conn, conn.begin():
            conn.execute(
                text("SELECT pg_advisory_xact_lock(:ns, hashtext(:tid))"), {"ns": TENANT_LOCK_NAMESPACE, "tid": tenant_id}
            )
            yield
    finally:
        engine.dispose()


def test_a_request_past_the_limit_in_flight_is_503_with_retry_after(
    three_at_a_time: int, tenant: Tenant, database_url: str
) -> None:
    port = three_at_a_time
    change = json.dumps({"query": "mutation { updateTenant(input: {}) { errors { code } } }"}).encode()
    with tenant_license_lock(database_url, tenant.id):
        # three license changes wait for the lock: the three places in flight are taken
        held = [_open(port) for _ in range(3)]
        for sock in held:
            sock.sendall(_post_head(tenant.admin, len(change)) + change)
        deadline = time.monotonic() + 5
        while (response := _query(port, tenant.admin))[0] != 503:
            assert time.monotonic() < deadline, f"never refused: {response}"
            time.sleep(0.05)
        status, headers, body = response
        assert int(headers["retry-after"]) >= 1
        error = json.loads(body)["errors"][0]
        assert error["extensions"]["code"] == "SERVER_BUSY" and "try again" in error["message"]
        # the liveness probe is not counted
        assert _get(port, "/healthz")[0] == 200
    # each waiting change gets its business answer once the lock is free
    for sock in held:
        with sock:
            status, _, body = _read_response(sock)
            assert status == 200 and json.loads(body) == {"data": {"updateTenant": {"errors": []}}}
    assert _query(port, tenant.admin)[0] == 200


def test_clients_slow_to_send_their_body_do_not_hold_places(three_at_a_time: int, tenant: Tenant) -> None:
    slow = [_open(three_at_a_time) for _ in range(5)]
    try:
        for sock in slow:
            sock.sendall(_post_head(tenant.admin, 1000) + b'{"query": ')
        time.sleep(0.3)
        status, _, _ = _query(three_at_a_time, tenant.admin)
        assert status == 200
    finally:
        for sock in slow:
            sock.close()


def test_websockets_are_not_counted(three_at_a_time: int, tenant: Tenant) -> None:
    with contextlib.ExitStack() as open_sockets:
        for _ in range(4):
            ws = open_sockets.enter_context(
                ws_connect(f"ws://127.0.0.1:{three_at_a_time}/graphql", subprotocols=["graphql-transport-ws"])  # type: ignore[list-item]
            )
            ws.send(json.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {tenant.admin}"}}))
            assert json.loads(ws.recv(timeout=5)) == {"type": "connection_ack"}
        assert _query(three_at_a_time, tenant.admin)[0] == 200
