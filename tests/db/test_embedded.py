"""The embedded PostgreSQL default (db/embedded.py), against the real bundled server.

Self-contained (no conftest fixtures). Slow-ish (each start is a real server): deselect with
``-m "not embedded"``. Run as root, this also covers the ``pgserver`` system user and the
x bits added to the data directory's parents (pytest's tmp dirs are 0700).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import psutil
import psycopg2
import pytest
from sqlalchemy import create_engine, text

from db.config import Settings
from db.embedded import EmbeddedPostgres, EmbeddedPostgresError, database_url
from db.urls import sync_url

pytestmark = pytest.mark.embedded

ROOT = Path(__file__).resolve().parents[2]

# Starts the server in another process, prints the URI, and holds it until stdin closes.
HOLDER = """
import sys
from pathlib import Path
from db.embedded import EmbeddedPostgres
with EmbeddedPostgres(Path(sys.argv[1])) as pg:
    print(pg.uri, flush=True)
    sys.stdin.read()
"""


@pytest.fixture(scope="module")
def base_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    base = tmp_path_factory.mktemp("embedded")
    yield base
    for proc in _postgres_processes(base):  # never leave a server behind, even when a test failed
        proc.kill()


def _postgres_processes(under: Path) -> list[psutil.Process]:
    """Server processes (postmaster and backends: their cwd is the cluster) under ``under``."""
    found = []
    for proc in psutil.process_iter(["name"]):
        try:
            if (proc.info["name"] or "").startswith("postgres") and Path(proc.cwd()).is_relative_to(under):
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
    return found


def _wait_no_postgres(under: Path, timeout: float = 15.0) -> list[psutil.Process]:
    deadline = time.monotonic() + timeout
    while (procs := _postgres_processes(under)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return procs


def _select_1_psycopg2(uri: str) -> int:
    conn = psycopg2.connect(uri)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 1")
            return int(cur.fetchone()[0])
    finally:
        conn.close()


def _select_1_asyncpg(uri: str) -> int:
    async def run() -> int:
        conn = await asyncpg.connect(uri)
        try:
            return int(await conn.fetchval("SELECT 1"))
        finally:
            await conn.close()

    return asyncio.run(run())


def _handles(data_dir: Path) -> list[int]:
    pids: list[int] = json.loads((data_dir / "pgdata" / ".handle_pids.json").read_text())
    return pids


def _spawn_holder(data_dir: Path) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(data_dir)],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    uri = proc.stdout.readline().strip()
    assert uri.startswith("postgresql://"), "the holder process did not start the server"
    return proc, uri


def test_start_gives_a_uri_for_psycopg2_asyncpg_and_sqlalchemy(base_dir: Path) -> None:
    data_dir = base_dir / "basic" / ".licensing"
    with EmbeddedPostgres(data_dir) as pg:
        assert pg.uri.startswith("postgresql://")
        assert _select_1_psycopg2(pg.uri) == 1
        assert _select_1_asyncpg(pg.uri) == 1
        engine = create_engine(sync_url(pg.uri))
        with engine.connect() as conn:
            assert conn.execute(text("SELECT current_database()")).scalar() == "licensing"
        engine.dispose()
        assert _handles(data_dir) == [os.getpid()]
    assert _wait_no_postgres(data_dir) == []


def test_stop_leaves_no_postgres_process(base_dir: Path) -> None:
    data_dir = base_dir / "stop" / ".licensing"
    pg = EmbeddedPostgres(data_dir)
    pg.start()
    assert _postgres_processes(data_dir)
    pg.stop()
    assert _wait_no_postgres(data_dir) == []
    assert not (data_dir / "pgdata" / "postmaster.pid").exists()
    assert _handles(data_dir) == []
    pg.stop()  # idempotent


def test_restart_after_the_owning_process_was_sigkilled(base_dir: Path) -> None:
    data_dir = base_dir / "sigkill" / ".licensing"
    holder, _ = _spawn_holder(data_dir)
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    assert _postgres_processes(data_dir), "the server outlives its killed owner"
    assert _handles(data_dir) == [holder.pid], "the killed owner's pid stays in the handle file"

    pg = EmbeddedPostgres(data_dir)
    uri = pg.start()  # reuses the running server
    assert _select_1_psycopg2(uri) == 1
    assert _select_1_asyncpg(uri) == 1
    assert _handles(data_dir) == [os.getpid()], "dead pids are pruned"
    pg.stop()  # and so the last live user does stop it
    assert _wait_no_postgres(data_dir) == []


def test_server_in_use_by_another_live_process_is_not_stopped(base_dir: Path) -> None:
    data_dir = base_dir / "shared" / ".licensing"
    holder, holder_uri = _spawn_holder(data_dir)
    try:
        with EmbeddedPostgres(data_dir) as pg:
            assert pg.uri == holder_uri
            assert sorted(_handles(data_dir)) == sorted([holder.pid, os.getpid()])
            assert _select_1_psycopg2(pg.uri) == 1
        assert _handles(data_dir) == [holder.pid]
        assert _select_1_asyncpg(holder_uri) == 1, "still running for the holder"
    finally:
        assert holder.stdin is not None
        holder.stdin.close()  # the holder leaves its `with` block: last user, stops the server
        assert holder.wait(timeout=60) == 0
    assert _wait_no_postgres(data_dir) == []


def test_starts_after_the_server_itself_was_killed(base_dir: Path) -> None:
    data_dir = base_dir / "crash" / ".licensing"
    pg = EmbeddedPostgres(data_dir)
    pg.start()
    postmaster = psutil.Process(int((data_dir / "pgdata" / "postmaster.pid").read_text().split()[0]))
    postmaster.kill()  # power cut: stale postmaster.pid, crash recovery on the next start
    assert _wait_no_postgres(data_dir) == []
    assert (data_dir / "pgdata" / "postmaster.pid").exists()
    pg.stop()  # nothing to stop; must not fail

    with EmbeddedPostgres(data_dir) as again:
        assert _select_1_psycopg2(again.uri) == 1
    assert _wait_no_postgres(data_dir) == []


def test_starts_when_postmaster_pid_names_an_unrelated_live_process(base_dir: Path) -> None:
    data_dir = base_dir / "pidreuse" / ".licensing"
    with EmbeddedPostgres(data_dir):
        pass
    pid_file = data_dir / "pgdata" / "postmaster.pid"
    sleeper = subprocess.Popen(["sleep", "60"])
    try:  # as after a reboot or container restart, when the old pid now belongs to someone else
        pid_file.write_text(f"{sleeper.pid}\n{data_dir / 'pgdata'}\n0\n5432\n\n\n0 0\nready\n")
        with EmbeddedPostgres(data_dir) as pg:
            assert _select_1_asyncpg(pg.uri) == 1
    finally:
        sleeper.kill()
        sleeper.wait()
    assert _wait_no_postgres(data_dir) == []


def test_long_data_dir_puts_the_socket_elsewhere(base_dir: Path) -> None:
    data_dir = base_dir / ("x" * 60) / ("y" * 60) / ".licensing"
    with EmbeddedPostgres(data_dir) as pg:
        assert str(data_dir) not in pg.uri
        assert _select_1_psycopg2(pg.uri) == 1
        socket_dir = Path(pg.uri.split("host=")[1].split("&")[0])
        assert socket_dir.is_dir()
    assert _wait_no_postgres(data_dir) == []
    assert not socket_dir.exists()


def test_database_url_prefers_the_setting_and_otherwise_starts_and_stops(base_dir: Path) -> None:
    given = "postgresql://someone:secret@db.example:5432/licensing"
    with database_url(Settings(DATABASE_URL=given, LICENSING_DATA_DIR=base_dir / "unused")) as url:
        assert url == given
    assert not (base_dir / "unused").exists()

    data_dir = base_dir / "settings" / ".licensing"
    with pytest.raises(KeyboardInterrupt):
        with database_url(Settings(DATABASE_URL=None, LICENSING_DATA_DIR=data_dir)) as url:
            assert _select_1_psycopg2(url) == 1
            raise KeyboardInterrupt
    assert _wait_no_postgres(data_dir) == []


def test_errors_speak_to_the_admin(base_dir: Path) -> None:
    data_dir = base_dir / "errors" / ".licensing"
    with EmbeddedPostgres(data_dir):
        pass
    with pytest.raises(EmbeddedPostgresError) as timeout:
        EmbeddedPostgres(data_dir, start_timeout=0).start()
    message = str(timeout.value)
    assert f"could not start the embedded PostgreSQL in {data_dir} within 0 s" in message
    assert str(data_dir / "pgdata" / "log") in message and "DATABASE_URL" in message

    junk = base_dir / "junk" / ".licensing"
    (junk / "pgdata").mkdir(parents=True)
    (junk / "pgdata" / "notes.txt").write_text("not a cluster")
    with pytest.raises(EmbeddedPostgresError, match="not a PostgreSQL data directory"):
        EmbeddedPostgres(junk).start()
    assert _postgres_processes(base_dir) == []
