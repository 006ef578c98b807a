"""Is a failure "PostgreSQL cannot be reached right now"? (a restart, a failover, a full server)

Such a failure is not a bug and not the caller's fault: the request can be tried again, and
the pool recovers by itself once the server is back (SQLAlchemy invalidates the connections
of a lost server and opens new ones). Callers answer "unavailable, try again" instead of
"unexpected error".
"""

from __future__ import annotations

from collections.abc import Iterator

from sqlalchemy import exc as sa_exc

# SQLSTATEs of a server that is going away or not taking connections: class 08 (connection
# exception) and these. Not 57014 (query_canceled: a statement timeout is the query's problem).
_UNAVAILABLE_SQLSTATES = frozenset(
    {
        "57P01",  # admin_shutdown: fast shutdown or restart, pg_terminate_backend
        "57P02",  # crash_shutdown
        "57P03",  # cannot_connect_now: starting up, shutting down, recovering
        "53300",  # too_many_connections
    }
)
# OSErrors that are about files, not about reaching a server.
_NOT_NETWORK = (FileNotFoundError, FileExistsError, IsADirectoryError, NotADirectoryError, PermissionError)


def _chain(error: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    todo: list[BaseException | None] = [error]
    while todo:
        current = todo.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        todo.extend((current.__cause__, current.__context__, getattr(current, "orig", None)))


def is_database_unavailable(error: BaseException | None) -> bool:
    """True when ``error`` (or what caused it) says the database cannot be reached right now."""
    if error is None:
        return False
    for cause in _chain(error):
        if isinstance(cause, sa_exc.DBAPIError) and cause.connection_invalidated:
            return True  # the dialect saw the connection drop
        if isinstance(cause, sa_exc.TimeoutError):
            return True  # no connection free in the pool in time: the server is swamped
        sqlstate = getattr(cause, "sqlstate", None) or getattr(cause, "pgcode", None)
        if isinstance(sqlstate, str) and (sqlstate.startswith("08") or sqlstate in _UNAVAILABLE_SQLSTATES):
            return True
        if isinstance(cause, OSError) and not isinstance(cause, _NOT_NETWORK):
            return True  # refused, reset, unreachable, timed out while connecting
        if isinstance(cause, FileNotFoundError) and cause.filename is None:
            return True  # connecting to a Unix socket that is gone (a stopped local server); open() names its file
        if type(cause).__name__ == "InterfaceError" and "connection is closed" in str(cause):
            return True  # asyncpg, on a connection the server closed
    return False
