"""Media types and status codes of GraphQL over HTTP (SPEC D9).

* ``negotiate_media_type``: which of ``application/graphql-response+json`` and
  ``application/json`` answers a request (``None``: 406).
* ``check_content_type``: a POST body must be UTF-8 ``application/json`` (415 otherwise).
* ``ExecutionStartedMarker`` and ``is_request_error``: did the operation fail before any field
  was resolved? Only such a *request error* is HTTP 400 under
  ``application/graphql-response+json``; under ``application/json`` every GraphQL error is 200.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

import strawberry
from strawberry.extensions import SchemaExtension
from strawberry.http.parse_content_type import parse_content_type
from strawberry.types.execution import ExecutionResult

GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"
APPLICATION_JSON = "application/json"
# What a client sees of a failure it cannot act on (the details go to the log).
UNEXPECTED_ERROR = "Unexpected error."


class RequestProblem(Exception):
    """The HTTP request is not a well-formed GraphQL-over-HTTP request: answered with ``status``."""

    def __init__(self, status: int, message: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = dict(headers or {})


# --------------------------------------------------------------------------------------------
# Accept and Content-Type
# --------------------------------------------------------------------------------------------


def _parse_media_ranges(accept: str) -> list[tuple[str, float]]:
    ranges: list[tuple[str, float]] = []
    for part in accept.split(","):
        media, *params = (piece.strip() for piece in part.split(";"))
        if not media:
            continue
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value.strip())
                except ValueError:
                    q = 0.0
        ranges.append((media.lower(), max(0.0, min(q, 1.0))))
    return ranges


def _quality(candidate: str, ranges: list[tuple[str, float]]) -> tuple[float, int]:
    """(q, specificity) of the most specific range matching ``candidate``; (0, 0) if none."""
    type_, _, _subtype = candidate.partition("/")
    best: tuple[float, int] = (0.0, 0)
    for media, q in ranges:
        if media == candidate:
            specificity = 3
        elif media == f"{type_}/*":
            specificity = 2
        elif media == "*/*":
            specificity = 1
        else:
            continue
        if specificity > best[1]:
            best = (q, specificity)
    return best


def negotiate_media_type(accept: str | None) -> str | None:
    """Pick the response media type for an ``Accept`` header; ``None`` means 406.

    No (or an empty) ``Accept`` means ``application/json``. The highest q-value wins, a
    type named explicitly beats one reached through a wildcard, and on a tie
    ``application/graphql-response+json`` wins when both are named explicitly while
    ``application/json`` wins when both come from a wildcard (``*/*``, ``application/*``).
    """
    if accept is None or not accept.strip():
        return APPLICATION_JSON
    ranges = _parse_media_ranges(accept)
    scored = []
    for candidate in (GRAPHQL_RESPONSE_JSON, APPLICATION_JSON):
        q, specificity = _quality(candidate, ranges)
        if q <= 0:
            continue
        preferred = (candidate == GRAPHQL_RESPONSE_JSON) == (specificity == 3)
        scored.append(((q, specificity, preferred), candidate))
    if not scored:
        return None
    return max(scored)[1]


def accepts_html(accept: str | None) -> bool:
    """A browser asking for a page (``text/html`` with q > 0), not an API client."""
    if not accept:
        return False
    return any(media == "text/html" and q > 0 for media, q in _parse_media_ranges(accept))


def check_content_type(raw: str | None) -> None:
    """A POST body must be ``application/json`` in UTF-8; anything else is 415."""
    if not raw:
        raise RequestProblem(
            415,
            "the POST request has no Content-Type: "
            "send the body as JSON with `Content-Type: application/json`.",
        )
    media, params = parse_content_type(raw)
    if media.strip().lower() != APPLICATION_JSON:
        raise RequestProblem(
            415,
            f"unsupported Content-Type {media.strip()!r}: "
            "send the body as JSON with `Content-Type: application/json`.",
        )
    charset = next((value for name, value in params.items() if name.lower() == "charset"), None)
    if charset is not None and charset.strip().lower() not in ("utf-8", "utf8"):
        raise RequestProblem(415, f"unsupported charset {charset.strip()!r}: the body must be UTF-8 JSON.")


# --------------------------------------------------------------------------------------------
# Did execution start?
# --------------------------------------------------------------------------------------------


@dataclass
class _ExecutionState:
    started: bool = False


_EXECUTION_STATE: ContextVar[_ExecutionState | None] = ContextVar("gql_http_execution_state", default=None)


class ExecutionStartedMarker(SchemaExtension):
    """Records, for the HTTP request being served, that the execution phase was entered.

    Add the class (not an instance) to the schema's extensions:
    ``strawberry.Schema(query=..., mutation=..., extensions=[..., ExecutionStartedMarker])``.
    Its position among the extensions does not matter. It reads and writes only a context
    variable that ``GraphQLHTTP`` sets around each ``schema.execute`` call, so it does nothing
    for WebSocket operations, tests calling ``schema.execute`` directly, or other callers.

    Strawberry enters ``on_execute`` only after parsing (including token limits, which are a
    parse option) and validation (including depth/alias limits and any custom rule) have
    passed, so a parse or validation failure never marks the request. graphql-core may still
    refuse the request inside the execute phase before any resolver runs (variable coercion,
    unknown operation name); ``is_request_error`` recognises those results as having no
    ``data`` and only errors without a ``path``.
    """

    def on_execute(self) -> Iterator[None]:
        state = _EXECUTION_STATE.get()
        if state is not None:
            state.started = True
        yield


def has_marker(schema: strawberry.Schema) -> bool:
    return any(
        ext is ExecutionStartedMarker
        or isinstance(ext, ExecutionStartedMarker)
        or (isinstance(ext, type) and issubclass(ext, ExecutionStartedMarker))
        for ext in getattr(schema, "extensions", ())
    )


@contextmanager
def watch_execution() -> Iterator[_ExecutionState]:
    """Around one ``schema.execute``: the state ``ExecutionStartedMarker`` marks."""
    state = _ExecutionState()
    token = _EXECUTION_STATE.set(state)
    try:
        yield state
    finally:
        _EXECUTION_STATE.reset(token)


def is_request_error(result: ExecutionResult, state: _ExecutionState) -> bool:
    """True when the operation failed before any field was resolved (no ``data`` entry)."""
    if not state.started:
        return True
    if result.data is None and result.errors:
        # Field errors always carry a path (even when masked: MaskErrors keeps it); errors
        # raised by graphql-core before resolving (variable coercion, operation selection) or
        # by a pre-execution check in an extension do not.
        return all(getattr(error, "path", None) is None for error in result.errors)
    return False
