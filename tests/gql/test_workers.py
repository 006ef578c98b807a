"""`licensing serve --workers N`: N processes serve one port, share nothing but the database
(a token minted for one is good at every other; a change made through one is seen by all), and
all stop when the parent is told to."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import psutil

from gql.auth import Role, issue_token
from tests.support import free_port

SECRET = "workers-test-secret-0123456789-0123456789-0123456789"


def _wait_ready(server: subprocess.Popen[bytes], port: int, log: Path, seconds: float) -> None:
    """Until the server answers /readyz; its log when it exits or takes longer."""
    deadline = time.monotonic() + seconds
    while True:
        assert server.poll() is None, log.read_text()
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.2)


def test_two_workers_serve_one_port_and_stop_together(database_url: str, tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "DATABASE_URL": database_url, "LICENSING_JWT_SECRET": SECRET,
           "LICENSING_LIFECYCLE_INTERVAL_SECONDS": "3600"}
    licensing = str(Path(sys.executable).with_name("licensing"))
    tid = f"w{os.getpid()}{port}"
    subprocess.run([licensing, "tenants", "create", tid, "--name", "Workers"], env=env, check=True, capture_output=True)
    log = (tmp_path / "serve.log").open("wb")
    parent = subprocess.Popen([licensing, "serve", "--port", str(port), "--workers", "2"], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_ready(parent, port, tmp_path / "serve.log", 60)
        workers = psutil.Process(parent.pid).children()
        assert len(workers) == 2
        token = issue_token(SECRET, tid, "admin@w.example", [Role.GLOBAL_ADMINISTRATOR], ttl_seconds=600)
        headers = {"Authorization": f"Bearer {token}"}
        create = {"query": 'mutation { createGroup(input: {displayName: "Made by one"}) { group { id } errors { code } } }'}
        count = {"query": "{ groups { totalCount } }"}
        with httpx.Client(base_url=base, headers=headers, timeout=10) as client:
            assert client.post("/graphql", json=create).json()["data"]["createGroup"]["errors"] == []
        # many connections at once, so the kernel hands them to both workers; each connection
        # stays open after its answer, so the worker holding its server end is the one that
        # answered: both must have answered, and every answer agrees
        answered_by: set[int] = set()
        answers: list[Any] = []
        for _round in range(5):
            clients = [httpx.Client(base_url=base, headers=headers, timeout=10) for _ in range(16)]
            try:
                with ThreadPoolExecutor(len(clients)) as pool:
                    answers += pool.map(lambda c: c.post("/graphql", json=count).json()["data"]["groups"]["totalCount"], clients)
                ours = {c.laddr.port for c in psutil.Process().net_connections("tcp") if c.raddr and c.raddr.port == port}
                for worker in workers:
                    theirs = {c.raddr.port for c in worker.net_connections("tcp") if c.raddr and c.status == psutil.CONN_ESTABLISHED}
                    if theirs & ours:
                        answered_by.add(worker.pid)
            finally:
                for c in clients:
                    c.close()
            if len(answered_by) == 2:
                break
        assert answered_by == {w.pid for w in workers}
        assert set(answers) == {1}
        parent.send_signal(signal.SIGTERM)
        parent.wait(timeout=30)
        for worker in workers:
            assert not worker.is_running() or worker.status() == psutil.STATUS_ZOMBIE
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
        log.close()


def test_sigterm_stops_serve_and_its_embedded_postgresql(tmp_path: Path) -> None:
    """SIGTERM (docker stop, systemd, kill) ends `licensing serve` as Ctrl-C does: gracefully,
    exit 0, and the embedded PostgreSQL it started is stopped with it."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "TEST_DATABASE_URL")}
    env.update({"LICENSING_DATA_DIR": str(tmp_path / "data"), "LICENSING_JWT_SECRET": SECRET,
                "LICENSING_LIFECYCLE_INTERVAL_SECONDS": "3600"})
    licensing = str(Path(sys.executable).with_name("licensing"))
    log = (tmp_path / "serve.log").open("wb")
    server = subprocess.Popen([licensing, "serve", "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path)
    try:
        _wait_ready(server, port, tmp_path / "serve.log", 180)
        assert _postgres_under(tmp_path / "data"), "the embedded PostgreSQL is running"
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=60) == 0, (tmp_path / "serve.log").read_text()
        deadline = time.monotonic() + 30
        while _postgres_under(tmp_path / "data"):
            assert time.monotonic() < deadline, "the embedded PostgreSQL was left running"
            time.sleep(0.2)
        assert "stopping the embedded PostgreSQL" in (tmp_path / "serve.log").read_text()
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
        for pid in _postgres_under(tmp_path / "data"):  # a failed run leaves no server behind
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGQUIT)
        log.close()


def _postgres_under(folder: Path) -> list[int]:
    found = []
    for proc in psutil.process_iter(["name", "cmdline"]):
        try:
            if (proc.info["name"] or "").startswith("postgres") and str(folder) in " ".join(proc.info["cmdline"] or []):
                found.append(proc.pid)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
    return found
