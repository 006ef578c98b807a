"""The embedded PostgreSQL used when DATABASE_URL is unset (SPEC §7: one command on a fresh machine).

The server is the PostgreSQL 16 that the `pgserver` wheel bundles. We use its binaries and keep
its conventions — the cluster lives in ``<data_dir>/pgdata``, the server log in
``<data_dir>/pgdata/log``, the unix socket in the cluster directory, and
``pgdata/.handle_pids.json`` lists the pids of the processes using the server — but drive
``initdb``/``pg_ctl`` ourselves, because ``pgserver.get_server`` 0.1.4 does not survive crashes:

* a process killed with SIGKILL leaves its pid in the handle file, and pgserver stops the server
  only when the handle file lists nothing but the caller, so after one crash nobody ever stops
  it. We drop pids that are no longer alive whenever we read the file, and start each freshly
  launched server with an empty list (a handle belongs to a server that is gone);
* it waits for ``pg_ctl -w start`` at most 10 s (a hard ``subprocess`` timeout that then leaves a
  half-registered instance behind). Crash recovery can take longer, so we pass our own timeout to
  ``pg_ctl -t`` and keep waiting, while the server is still starting, until ``start_timeout``;
* ``postmaster.pid`` naming a pid that now belongs to another process (pids are reused, above
  all in containers) makes PostgreSQL refuse to start, and pgserver even mistakes that process
  for a running server. We only trust a live ``postgres`` process whose working directory (or
  command line) is this cluster, and remove a stale ``postmaster.pid`` before starting.

A running, healthy server (ours or one left over by a killed process) is reused. ``stop()``
shuts the server down only when no other live process still uses it. Starting and stopping are
serialized across processes by an advisory lock on ``<data_dir>/.embedded-postgres.lock``.

PostgreSQL refuses to run as root. As root (e.g. in a container), the server runs as the
unprivileged system user ``pgserver`` (pgserver's choice; created with ``useradd`` if missing),
which must be able to reach the cluster: see ``_grant_traversal``. Unix only.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import importlib.util
import json
import logging
import math
import os
import shlex
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import quote

import psutil
import psycopg2
from psycopg2 import errors as pg_errors
from psycopg2 import sql

from db.config import Settings

log = logging.getLogger(__name__)

# located without importing pgserver, whose import warns when XDG_RUNTIME_DIR is unset
_PGSERVER_SPEC = importlib.util.find_spec("pgserver")
if _PGSERVER_SPEC is None or _PGSERVER_SPEC.origin is None:
    raise ImportError("the embedded PostgreSQL needs the pgserver package (pip install pgserver==0.1.4)")
PG_BIN = Path(_PGSERVER_SPEC.origin).parent / "pginstall" / "bin"
PG_INSTALL = PG_BIN.parent
SYSTEM_USER = "pgserver"  # the name pgserver uses, so clusters created by either are compatible
SUPERUSER = "postgres"
PORT = 5432  # for a server we start; it only names the socket file (.s.PGSQL.5432): no TCP
HANDLE_FILE = ".handle_pids.json"
STOP_TIMEOUT = 60.0
_SOCKET_PATH_MAX = 107 if sys.platform.startswith("linux") else 103  # sizeof(sun_path) - 1


class EmbeddedPostgresError(RuntimeError):
    """The embedded PostgreSQL could not be set up, started or stopped (message for the admin)."""


@dataclass(frozen=True)
class _Postmaster:
    """What ``postmaster.pid`` says, plus whether that pid is really this cluster's server."""

    pid: int
    socket_dir: Path | None
    port: int
    status: str  # "starting", "ready", "stopping", "standby" or "" (not written yet)
    alive: bool


class EmbeddedPostgres:
    """A PostgreSQL server in ``data_dir/pgdata`` with a database ``database``, reached by socket.

    ``start()`` initializes the cluster if needed, starts (or reuses) the server and returns a
    ``postgresql://`` URI; ``stop()`` releases it. As a context manager it starts on enter
    (returning itself; the URI is ``.uri``) and stops on exit, also on exceptions.
    """

    _local_users: dict[Path, int] = {}  # started instances per cluster in this process
    _local_lock = threading.Lock()
    _install_checked = False

    def __init__(self, data_dir: Path, start_timeout: float = 120.0, database: str = "licensing"):
        self.data_dir = Path(data_dir).expanduser().resolve()
        self.pgdata = self.data_dir / "pgdata"
        self.log_path = self.pgdata / "log"
        self.start_timeout = start_timeout
        self.database = database
        self._uri: str | None = None
        self._owner_pid: int | None = None
        self._run_as: tuple[int, int] | None = None  # (uid, gid) of SYSTEM_USER when we are root

    # -- public API ------------------------------------------------------------------------

    @property
    def uri(self) -> str:
        if self._uri is None:
            raise EmbeddedPostgresError("the embedded PostgreSQL has not been started")
        return self._uri

    def start(self) -> str:
        if self._uri is not None:
            return self._uri
        deadline = time.monotonic() + self.start_timeout
        try:
            self._prepare_directories()
            with self._locked(deadline, "start"):
                self._ensure_cluster(deadline)
                postmaster = self._ensure_running(deadline)
                try:
                    self._ensure_database(postmaster)
                except BaseException:
                    if not self._live_handles() - {os.getpid()}:
                        self._shutdown()
                    raise
                self._write_handles(self._live_handles() | {os.getpid()})
        except (OSError, psycopg2.Error) as err:
            raise EmbeddedPostgresError(
                f"could not start the embedded PostgreSQL in {self.data_dir}: {err}. "
                "Fix that, or set DATABASE_URL to use another PostgreSQL"
            ) from err
        assert postmaster.socket_dir is not None
        self._uri = (
            f"postgresql://{SUPERUSER}@/{quote(self.database)}"
            f"?host={quote(str(postmaster.socket_dir), safe='/')}&port={postmaster.port}"
        )
        self._owner_pid = os.getpid()
        with self._local_lock:
            self._local_users[self.pgdata] = self._local_users.get(self.pgdata, 0) + 1
        atexit.register(self._stop_at_exit)
        log.info("embedded PostgreSQL ready in %s (pid %s)", self.pgdata, postmaster.pid)
        return self._uri

    def stop(self) -> None:
        """Release the server; shut it down unless another live process still uses it."""
        if self._uri is None:
            return
        self._uri = None
        atexit.unregister(self._stop_at_exit)
        if self._owner_pid != os.getpid():  # a forked child: the parent owns the handle
            return
        with self._local_lock:
            remaining = self._local_users.get(self.pgdata, 1) - 1
            if remaining > 0:
                self._local_users[self.pgdata] = remaining
                return
            self._local_users.pop(self.pgdata, None)
        try:
            with self._locked(time.monotonic() + STOP_TIMEOUT, "stop"):
                others = self._live_handles() - {os.getpid()}
                self._write_handles(others)
                if others:
                    log.info("embedded PostgreSQL left running for processes %s", sorted(others))
                    return
                self._shutdown()
        except OSError as err:
            raise EmbeddedPostgresError(
                f"could not stop the embedded PostgreSQL in {self.data_dir}: {err}"
            ) from err

    def __enter__(self) -> EmbeddedPostgres:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc is None:
            self.stop()
            return
        try:  # don't let a failed stop hide the error that ended the block
            self.stop()
        except Exception:
            log.exception("could not stop the embedded PostgreSQL in %s", self.data_dir)

    # -- directories and permissions ---------------------------------------------------------

    def _prepare_directories(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if os.geteuid() != 0:
            return
        self._run_as = _system_user()
        self._grant_traversal(self.data_dir)
        if not EmbeddedPostgres._install_checked:
            self._grant_traversal(PG_INSTALL)
            _grant_read(PG_INSTALL)
            EmbeddedPostgres._install_checked = True

    def _grant_traversal(self, path: Path) -> None:
        """As root, let SYSTEM_USER reach ``path``: add the search (x) bit where it lacks it.

        PostgreSQL may not run as root, so the server runs as SYSTEM_USER and needs to traverse
        every directory from ``/`` down to the cluster (and to the bundled binaries). For each of
        ``path`` and its parents that SYSTEM_USER could not enter, we add only the x bit of the
        class that applies to it (others, or group if the directory's group is SYSTEM_USER's):
        it can then pass through, but not list (no r bit) or write anything it could not before.
        Nothing is chmod-ed when the bit is already there.
        """
        assert self._run_as is not None
        uid, gid = self._run_as
        for directory in (path, *path.parents):
            st = directory.stat()
            if st.st_uid == uid:
                needed = stat.S_IXUSR
            elif st.st_gid == gid:
                needed = stat.S_IXGRP
            else:
                needed = stat.S_IXOTH
            if st.st_mode & needed:
                continue
            try:
                directory.chmod(stat.S_IMODE(st.st_mode) | needed)
            except OSError as err:
                raise EmbeddedPostgresError(
                    f"running as root, the embedded PostgreSQL runs as the system user {SYSTEM_USER!r}, "
                    f"which cannot enter {directory} (could not add its x bit: {err})"
                ) from err
            log.info("added the x bit to %s so that %s can reach %s", directory, SYSTEM_USER, path)

    # -- cluster -----------------------------------------------------------------------------

    def _ensure_cluster(self, deadline: float) -> None:
        """``initdb`` into a scratch directory and rename it, so pgdata is never half-made."""
        if (self.pgdata / "PG_VERSION").exists():
            return
        if self.pgdata.exists():
            leftovers = {p.name for p in self.pgdata.iterdir()} - {HANDLE_FILE, "log"}
            if leftovers:
                raise EmbeddedPostgresError(
                    f"{self.pgdata} exists but is not a PostgreSQL data directory (no PG_VERSION); "
                    "move it away to let a new one be created"
                )
            shutil.rmtree(self.pgdata)
        scratch = self.data_dir / "pgdata.initdb"
        shutil.rmtree(scratch, ignore_errors=True)  # left by an initdb that was killed; we hold the lock
        scratch.mkdir(mode=0o700)
        if self._run_as is not None:
            os.chown(scratch, *self._run_as)
        log.info("creating the embedded PostgreSQL cluster in %s", self.pgdata)
        base = ["--auth=trust", "--encoding=UTF8", f"--username={SUPERUSER}", "-D", str(scratch)]
        # C.UTF-8: Unicode-aware lower()/upper(), code-point order that does not change with glibc
        result = self._run("initdb", [*base, "--locale=C.UTF-8"], deadline)
        if result.returncode != 0 and "locale" in result.stderr:
            shutil.rmtree(scratch)
            scratch.mkdir(mode=0o700)
            if self._run_as is not None:
                os.chown(scratch, *self._run_as)
            result = self._run("initdb", [*base, "--no-locale"], deadline)
        if result.returncode != 0:
            shutil.rmtree(scratch, ignore_errors=True)
            raise EmbeddedPostgresError(f"initdb failed for {self.pgdata}:\n{result.stderr.strip()}")
        scratch.rename(self.pgdata)

    # -- server ------------------------------------------------------------------------------

    def _ensure_running(self, deadline: float) -> _Postmaster:
        """Reuse the live server or start one; wait until it accepts connections."""
        attempts: list[str] = []  # why each launch failed
        launched = False
        try:
            while True:
                postmaster = self._postmaster()
                alive = postmaster is not None and postmaster.alive
                if postmaster is not None and alive and postmaster.status == "ready":
                    if _accepts_connections(postmaster):
                        return postmaster
                if not alive and len(attempts) >= 3:
                    raise EmbeddedPostgresError(
                        f"the embedded PostgreSQL in {self.data_dir} failed to start:\n{attempts[-1]}\n"
                        f"see {self.log_path}, or set DATABASE_URL to use another PostgreSQL"
                    )
                if time.monotonic() >= deadline:
                    raise EmbeddedPostgresError(
                        f"could not start the embedded PostgreSQL in {self.data_dir} within "
                        f"{self.start_timeout:g} s ({_describe(postmaster)}); see {self.log_path}, "
                        "or set DATABASE_URL to use another PostgreSQL"
                    )
                if alive:  # starting (crash recovery), stopping, or not answering yet: wait
                    time.sleep(0.2)
                else:
                    self._launch(postmaster, deadline, attempts)
                    launched = True
        except BaseException:
            if launched and not (self._live_handles() - {os.getpid()}):
                self._shutdown()  # don't leave a half-started server behind
            raise

    def _launch(self, stale: _Postmaster | None, deadline: float, attempts: list[str]) -> None:
        if attempts:
            time.sleep(1.0)  # e.g. children of a killed server still hold its shared memory
        if stale is not None:
            # postmaster.pid of a dead server, or naming a pid that now belongs to another
            # process (which PostgreSQL would take for a running server and refuse to start)
            pid_file = self.pgdata / "postmaster.pid"
            log.info("removing stale %s (pid %s is not its server)", pid_file, stale.pid)
            pid_file.unlink(missing_ok=True)
        self._write_handles(set())  # handles of an earlier server instance mean nothing now
        socket_dir = self._socket_dir()
        options = shlex.join(["-c", "listen_addresses=", "-k", str(socket_dir), "-p", str(PORT)])
        wait = max(1, math.ceil(deadline - time.monotonic()))
        log.info("starting the embedded PostgreSQL in %s", self.pgdata)
        args = ["-D", str(self.pgdata), "-l", str(self.log_path), "-o", options, "-w", "-t", str(wait)]
        result = self._run("pg_ctl", [*args, "start"], deadline + 5)
        if result.returncode != 0:
            postmaster = self._postmaster()
            if postmaster is None or not postmaster.alive:
                attempts.append((result.stderr.strip() + "\n" + self._log_tail()).strip())

    def _shutdown(self) -> None:
        postmaster = self._postmaster()
        if postmaster is None or not postmaster.alive:
            return
        try:
            self._stop_postmaster(postmaster)
        finally:
            if postmaster.socket_dir is not None and postmaster.socket_dir != self.pgdata:
                with contextlib.suppress(OSError):  # our directory in /tmp, empty once stopped
                    postmaster.socket_dir.rmdir()

    def _stop_postmaster(self, postmaster: _Postmaster) -> None:
        log.info("stopping the embedded PostgreSQL in %s", self.pgdata)
        deadline = time.monotonic() + STOP_TIMEOUT
        args = ["-D", str(self.pgdata), "-m", "fast", "-w", "-t", str(int(STOP_TIMEOUT)), "stop"]
        result = self._run("pg_ctl", args, deadline + 5)
        if result.returncode == 0 and _wait_gone(postmaster.pid, 10):
            return
        log.warning("pg_ctl stop failed (%s); sending SIGQUIT to %s", result.stderr.strip(), postmaster.pid)
        for sig in (signal.SIGQUIT, signal.SIGKILL):  # immediate shutdown, then the hard way
            try:
                os.kill(postmaster.pid, sig)
            except ProcessLookupError:
                return
            if _wait_gone(postmaster.pid, 10):
                return
        raise EmbeddedPostgresError(
            f"could not stop the embedded PostgreSQL (pid {postmaster.pid}) in {self.data_dir}"
        )

    def _ensure_database(self, postmaster: _Postmaster) -> None:
        with _connect(postmaster, "postgres") as conn:
            with conn.cursor() as cur:
                cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (self.database,))
                if cur.fetchone() is not None:
                    return
                try:
                    cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self.database)))
                except pg_errors.DuplicateDatabase:
                    pass

    def _postmaster(self) -> _Postmaster | None:
        try:
            lines = (self.pgdata / "postmaster.pid").read_text().splitlines()
        except FileNotFoundError:
            return None
        # pid, data dir, start time, port, socket dir, listen address, shared memory, status
        field = [line.strip() for line in lines] + [""] * 8
        if not field[0].isdigit():
            return _Postmaster(pid=0, socket_dir=None, port=PORT, status="", alive=False)
        pid = int(field[0])
        return _Postmaster(
            pid=pid,
            socket_dir=Path(field[4]) if field[4] else None,
            port=int(field[3]) if field[3].isdigit() else PORT,
            status=field[7],
            alive=self._is_our_server(pid),
        )

    def _is_our_server(self, pid: int) -> bool:
        try:
            proc = psutil.Process(pid)
            if proc.status() == psutil.STATUS_ZOMBIE or not proc.name().startswith("postgres"):
                return False
            try:
                return Path(proc.cwd()) == self.pgdata  # the postmaster chdirs into its cluster
            except psutil.AccessDenied:
                return str(self.pgdata) in proc.cmdline()
        except psutil.NoSuchProcess:
            return False
        except psutil.AccessDenied:
            return True  # can't tell: never take a possibly live server's postmaster.pid for stale

    def _socket_dir(self) -> Path:
        """The cluster directory, unless the socket path would be too long for AF_UNIX."""
        if len(str(self.pgdata / f".s.PGSQL.{PORT}").encode()) <= _SOCKET_PATH_MAX:
            return self.pgdata
        digest = hashlib.sha256(str(self.pgdata).encode()).hexdigest()[:12]
        directory = Path(tempfile.gettempdir()) / f"licensing-pg-{digest}"
        directory.mkdir(mode=0o700, exist_ok=True)
        owner = self._run_as[0] if self._run_as else os.geteuid()
        if self._run_as is not None and directory.stat().st_uid == 0:
            os.chown(directory, *self._run_as)
        if directory.stat().st_uid != owner or directory.is_symlink():
            raise EmbeddedPostgresError(
                f"{directory} (socket directory for {self.pgdata}) belongs to another user"
            )
        return directory

    # -- handles (pids using the server; same file and format as pgserver) --------------------

    def _live_handles(self) -> set[int]:
        try:
            pids = json.loads((self.pgdata / HANDLE_FILE).read_text())
        except FileNotFoundError:
            return set()
        except ValueError:
            log.warning("ignoring unreadable %s", self.pgdata / HANDLE_FILE)
            return set()
        return {pid for pid in pids if isinstance(pid, int) and _process_alive(pid)}

    def _write_handles(self, pids: set[int]) -> None:
        tmp = self.pgdata / f"{HANDLE_FILE}.tmp"
        tmp.write_text(json.dumps(sorted(pids)))
        os.replace(tmp, self.pgdata / HANDLE_FILE)

    # -- helpers -----------------------------------------------------------------------------

    @contextmanager
    def _locked(self, deadline: float, action: str) -> Iterator[None]:
        import fcntl  # Unix only; imported here so that this module imports everywhere

        path = self.data_dir / ".embedded-postgres.lock"
        with open(path, "a") as lock_file:
            while True:
                try:
                    fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise EmbeddedPostgresError(
                            f"could not {action} the embedded PostgreSQL in {self.data_dir}: another "
                            f"process holds {path}"
                        ) from None
                    time.sleep(0.1)
            try:
                yield
            finally:
                fcntl.flock(lock_file, fcntl.LOCK_UN)

    def _run(self, program: str, args: list[str], deadline: float) -> subprocess.CompletedProcess[str]:
        """Run a bundled program (as SYSTEM_USER when root) with output in files, not pipes:
        the server that pg_ctl starts inherits them, and pipes would make us wait for it."""
        kwargs: dict[str, Any] = {}
        if self._run_as is not None:
            kwargs = {"user": self._run_as[0], "group": self._run_as[1], "extra_groups": []}
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
            try:
                proc = subprocess.run(
                    [str(PG_BIN / program), *args],
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=err,
                    text=True,
                    cwd="/",
                    env=env,
                    start_new_session=True,  # keep Ctrl-C away from it
                    timeout=max(1.0, deadline - time.monotonic()),
                    **kwargs,
                )
                returncode = proc.returncode
            except subprocess.TimeoutExpired:
                returncode = -1
            out.seek(0)
            err.seek(0)
            return subprocess.CompletedProcess([program, *args], returncode, out.read(), err.read())

    def _log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def _stop_at_exit(self) -> None:
        try:
            self.stop()
        except Exception:
            log.exception("could not stop the embedded PostgreSQL in %s", self.data_dir)


def _system_user() -> tuple[int, int]:
    import pwd

    try:
        entry = pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        cmd = ["useradd", "--system", "--user-group", "--no-create-home", "--shell", "/usr/sbin/nologin"]
        try:
            subprocess.run([*cmd, SYSTEM_USER], check=True, capture_output=True, text=True)
        except (OSError, subprocess.CalledProcessError) as err:
            detail = getattr(err, "stderr", None) or err
            raise EmbeddedPostgresError(
                f"running as root, the embedded PostgreSQL needs the system user {SYSTEM_USER!r} "
                f"(PostgreSQL refuses to run as root), and `useradd` failed: {detail}; "
                "create that user, run as a regular user, or set DATABASE_URL"
            ) from err
        entry = pwd.getpwnam(SYSTEM_USER)
    return entry.pw_uid, entry.pw_gid


def _grant_read(root: Path) -> None:
    """Let everyone read the bundled PostgreSQL (bits only added; usually already so)."""
    for dirpath, _dirs, files in os.walk(root):
        _add_mode(Path(dirpath), stat.S_IROTH | stat.S_IXOTH)
        for name in files:
            path = Path(dirpath) / name
            if not path.is_symlink():
                mode = path.stat().st_mode
                _add_mode(path, stat.S_IROTH | (stat.S_IXOTH if mode & stat.S_IXUSR else 0))


def _add_mode(path: Path, bits: int) -> None:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode | bits != mode:
        path.chmod(mode | bits)


def _describe(postmaster: _Postmaster | None) -> str:
    if postmaster is None or not postmaster.alive:
        return "no server running"
    if postmaster.status != "ready":
        return f"server pid {postmaster.pid} is {postmaster.status or 'starting'}"
    return f"server pid {postmaster.pid} does not accept connections on {postmaster.socket_dir}"


def _process_alive(pid: int) -> bool:
    try:
        return bool(psutil.Process(pid).status() != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return True


def _wait_gone(pid: int, timeout: float) -> bool:
    try:
        psutil.Process(pid).wait(timeout)
    except psutil.NoSuchProcess:
        pass
    except psutil.TimeoutExpired:
        return not _process_alive(pid)
    return True


def _connect(postmaster: _Postmaster, database: str) -> Any:
    conn = psycopg2.connect(
        host=str(postmaster.socket_dir),
        port=postmaster.port,
        user=SUPERUSER,
        dbname=database,
        connect_timeout=5,
    )
    conn.autocommit = True
    return _closing(conn)


@contextmanager
def _closing(conn: Any) -> Iterator[Any]:
    try:
        yield conn
    finally:
        conn.close()


def _accepts_connections(postmaster: _Postmaster) -> bool:
    if postmaster.socket_dir is None:
        return False
    try:
        with _connect(postmaster, "postgres") as conn, conn.cursor() as cur:
            cur.execute("SELECT 1")
        return True
    except psycopg2.OperationalError:
        return False


def cluster_exists(data_dir: Path) -> bool:
    """Whether an embedded PostgreSQL cluster has been created in ``data_dir`` (looks only: creates
    and starts nothing)."""
    return (Path(data_dir).expanduser().resolve() / "pgdata" / "PG_VERSION").is_file()


@contextmanager
def database_url(settings: Settings) -> Iterator[str]:
    """``settings.database_url`` if set; else an embedded PostgreSQL in ``settings.data_dir``.

    The embedded server is started on enter and released on exit (also on exceptions and
    KeyboardInterrupt); it is shut down unless another live process still uses it.
    """
    if settings.database_url:
        yield settings.database_url
        return
    with EmbeddedPostgres(Path(settings.data_dir).expanduser().resolve()) as server:
        yield server.uri
