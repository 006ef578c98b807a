"""The Starlette application: /graphql (HTTP and WebSocket), /healthz, /readyz."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import logging
import re
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute

from db.clock import Clock, SystemClock
from db.config import Settings
from db.repo import reads
from db.secrets import jwt_secret
from db.session import Database
from gql.auth import UNTRUSTED_ISSUER, VERIFIED_TOKENS, AuthError, Claims, decode_token
from gql.context import Context
from gql.graphiql import graphiql_asset_routes
from gql.http import ConcurrencyLimit, GraphQLHTTP, GraphQLWebSocket, RequestBodyLimit, refusal_response
from gql.oidc import KeyCache, UnverifiedOidcToken, read_credentials, roles_from, verify
from gql.one_statement import OneStatementDocuments
from gql.schema import build_schema
from gql.scim.protocol import limit_refusal
from gql.scim.routes import scim_routes
from services import lifecycle_job, webhook_delivery
from services.context import Actor, Runtime, replace_rules_from_settings
from services.ids import BadId, from_global_id

log = logging.getLogger("licensing")


def caller_id(claims: Claims) -> uuid.UUID | None:
    """The user id a token's `sub` names, when it is a User's Relay id (D5)."""
    return _user_id_in(claims.sub)


@functools.lru_cache(maxsize=4096)
def _user_id_in(sub: str) -> uuid.UUID | None:
    # a pure function of the text (an admin's `sub` fails to decode: an exception on every request)
    with contextlib.suppress(BadId, ValueError):
        gid = from_global_id(sub)
        if gid.type_name == "User":
            return gid.uuid()
    return None


_POOL_FIELDS = re.compile(r"\b(products|subscriptions|totalUnits|consumedUnits|availableUnits|prepaidUnits)\b")


@functools.lru_cache(maxsize=512)
def reads_pool(query: str | None) -> bool:
    """Whether a document may read the tenant's pool (the Licenses page): then it is read with the
    caller, in the same statement of the same snapshot. A guess from the text (a pure function
    of it): a wrong one only reads the pool in vain or later, never differently."""
    return bool(query and _POOL_FIELDS.search(query))


async def open_context(
    runtime: Runtime, claims: Claims | UnverifiedOidcToken, request: Any, keys: KeyCache | None = None,
    query: str | None = None, one_statement: bool = False,
) -> Context:
    """The request's context: its read snapshot is opened by resolving the caller in it (the
    tenant must exist, else 401; `sub` names a user by UPN or id, or an admin principal, D5) —
    one statement, no cache of tenants or users across requests (D36). An OIDC token is
    checked there against the settings of the tenant that trusts its issuer (R31).
    `one_statement`: the document is answered by the caller-and-pool statement alone
    (`gql.one_statement`), which then runs without an explicit transaction."""
    context = Context(runtime=runtime, actor=None, request=request)  # type: ignore[arg-type]
    context.one_statement = one_statement and not isinstance(claims, UnverifiedOidcToken) and reads_pool(query)
    try:
        if isinstance(claims, UnverifiedOidcToken):
            assert keys is not None
            context.actor = await _oidc_actor(context, claims, keys)
            return context
        if reads_pool(query):
            with_pool = await context.read_raw(
                lambda r: reads.caller_and_pool(r, claims.tenant_id, claims.sub, caller_id(claims))
            )
            if with_pool is None:
                raise AuthError("the token's tenant does not exist")
            tenant, user, subs, consumed = with_pool
        else:
            found = await context.read_raw(lambda r: reads.caller(r, claims.tenant_id, claims.sub, caller_id(claims)))
            if found is None:
                raise AuthError("the token's tenant does not exist")
            (tenant, user), subs = found, None
    except BaseException:
        with contextlib.suppress(Exception):  # closing a connection the server dropped fails too
            await context.close()
        raise
    context.actor = Actor(tenant=tenant, sub=claims.sub, roles=claims.roles, user=user)
    if subs is not None:
        context.loaders.prime_pool(subs, consumed)
    return context


async def _oidc_actor(context: Context, token: UnverifiedOidcToken, keys: KeyCache) -> Actor:
    """The tenant whose issuer is the token's `iss` (read now: nothing is fetched for an issuer
    no tenant trusts), the token checked against its settings, and the caller: the user whose
    UPN is preferred_username, upn or email, else an admin principal named by `sub` (D5)."""
    found = await context.read_raw(lambda r: reads.oidc_caller(r, token.issuer, token.upn_candidates()))
    if found is None:
        log.info("OIDC token refused: no tenant trusts the issuer %r", token.issuer)
        raise AuthError(UNTRUSTED_ISSUER)
    tenant, trust, user = found
    payload = await verify(keys, token, trust)
    roles = roles_from(payload, trust.roles_claim)
    return Actor(tenant=tenant, sub=payload["sub"], roles=roles, user=user)


def create_app(
    settings: Settings, database_url: str, *, clock: Clock | None = None, run_lifecycle_job: bool = True,
    run_webhook_delivery: bool | None = None,  # default: as run_lifecycle_job
    tune_gc: bool = False,  # the server process (licensing serve): see tune_garbage_collector
) -> Starlette:
    schema = build_schema(settings)
    pool_answers = OneStatementDocuments(schema._schema)
    state: dict[str, Runtime] = {}
    token_secret: dict[str, str] = {}  # set at start: the setting, or the secret kept in the database
    keys = KeyCache(allow_http_loopback=settings.oidc_allow_http_loopback)  # OIDC issuers' keys (R31)

    def runtime() -> Runtime:
        return state["runtime"]

    hs256_headers: OrderedDict[str, None] = OrderedDict()  # Authorization headers whose token's alg is HS256

    async def authenticate(request: Request) -> Claims | UnverifiedOidcToken:
        authorization = request.headers.get("authorization")
        if authorization is not None and authorization in hs256_headers:
            # routed by its alg before (a pure function of the text): only the check of the token
            return decode_token(token_secret["HS256"], authorization)
        credentials = read_credentials(token_secret["HS256"], authorization)
        if authorization is not None and isinstance(credentials, Claims):
            hs256_headers[authorization] = None
            if len(hs256_headers) > VERIFIED_TOKENS:
                hs256_headers.popitem(last=False)
        return credentials

    async def authenticate_token(authorization: str | None) -> Claims | UnverifiedOidcToken:
        """The WebSocket's connection_init: a bad token or an unknown tenant closes it (4401)."""
        claims = read_credentials(token_secret["HS256"], authorization)
        await (await open_context(runtime(), claims, None, keys)).close()
        return claims

    async def make_context(request: Any, claims: Claims | UnverifiedOidcToken) -> Context:
        query = getattr(getattr(request, "state", None), "graphql_query", None)  # set by GraphQLHTTP
        one = query is not None and pool_answers.answers_from_pool(query, schema.document_checks.known(query))
        return await open_context(runtime(), claims, request, keys, query, one)

    async def close_context(ctx: Context) -> None:
        await ctx.close()

    def close_after_answer(ctx: Context) -> bool:
        """A request that changed nothing has only its read snapshot to end: after the answer."""
        return not ctx.changed

    http = GraphQLHTTP(
        schema, authenticate=authenticate, make_context=make_context, close_context=close_context,
        close_after_answer=close_after_answer, graphiql=settings.graphiql, allow_batching=settings.allow_batching,
    )
    websocket = GraphQLWebSocket(
        schema, authenticate_token=authenticate_token, make_context=make_context, close_context=close_context
    )

    async def healthz(_: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(_: Request) -> Response:
        try:
            await asyncio.wait_for(runtime().db.ping(), timeout=5)
        except Exception as exc:  # noqa: BLE001 - any failure means not ready
            log.warning("readiness check failed: %s", exc)
            return JSONResponse({"status": "unavailable", "database": "unreachable"}, status_code=503)
        return JSONResponse({"status": "ok", "database": "ok"})

    @contextlib.asynccontextmanager
    async def lifespan(started: Starlette) -> AsyncIterator[None]:
        db = Database(database_url, pool_size=settings.pool_size, lock_timeout_ms=settings.lock_timeout_ms)
        try:
            async with db.write() as conn:  # refuses a short or published setting; else generated once
                token_secret["HS256"] = started.state.jwt_secret = await jwt_secret(conn, settings)
        except BaseException:
            await db.dispose()
            raise
        count = await replace_rules_from_settings(db, settings)  # a bad file stops the start, naming its line
        if count is not None:
            log.info("service-plan rules replaced from %s (%d rules)", settings.service_plan_rules, count)
        the_clock = clock or SystemClock()
        state["runtime"] = await Runtime.load(db, the_clock, settings)
        started.state.runtime = state["runtime"]
        job = asyncio.create_task(_lifecycle_loop(state["runtime"])) if run_lifecycle_job else None
        deliver = run_lifecycle_job if run_webhook_delivery is None else run_webhook_delivery
        delivery = asyncio.create_task(webhook_delivery.run_forever(state["runtime"], database_url)) if deliver else None
        if tune_gc:
            tune_garbage_collector()
        try:
            yield
        finally:
            for task in (job, delivery):
                if task:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
            await db.dispose()

    middleware = []
    if settings.cors_origins:
        middleware.append(
            Middleware(
                CORSMiddleware,
                allow_origins=settings.cors_origins,
                allow_methods=["GET", "POST", "OPTIONS"],
                allow_headers=["Authorization", "Content-Type", "Accept"],
                max_age=600,
            )
        )
    # Inside CORS, so a browser can read a refusal. The limits hold for every endpoint; /scim
    # answers with a SCIM error body.

    def limits_refusal(scope: Any, refusal: Any) -> Response:
        if str(scope.get("path", "")).startswith("/scim"):
            return limit_refusal(scope, refusal)
        return refusal_response(scope, refusal)

    middleware += [
        Middleware(
            ConcurrencyLimit, max_requests=settings.max_concurrent_requests, exempt_paths=frozenset({"/healthz"}),
            error_response=limits_refusal,
        ),
        Middleware(
            RequestBodyLimit, max_bytes=settings.max_body_bytes, read_timeout=settings.body_timeout_seconds,
            error_response=limits_refusal,
        ),
    ]
    application = Starlette(
        routes=[
            Route("/graphql", http.handle, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", websocket),
            *graphiql_asset_routes(settings.graphiql),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            *scim_routes(runtime, lambda authorization: read_credentials(token_secret["HS256"], authorization), keys),
        ],
        middleware=middleware,
        lifespan=lifespan,
    )
    application.state.database_url = database_url
    application.state.settings = settings
    return application


# objects allocated (net) between two young collections; CPython's default is 700
YOUNG_COLLECTION_THRESHOLD = 20_000


def tune_garbage_collector() -> None:
    """For a serving process, once started: what exists now (modules, the schema, the catalog,
    the pool) is kept out of every later collection (`gc.freeze`), and young collections run
    every 20,000 net allocations instead of 700, the older ones 50 and 100 times rarer.
    A users page allocates tens of thousands of short-lived objects; with the defaults the cyclic
    collector took about a fifth of such a request's CPU, mostly re-scanning the objects loaded at
    start in full collections. Memory is freed as before (by reference counting; cycles a little
    later)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_COLLECTION_THRESHOLD, 50, 100)


async def _lifecycle_loop(runtime: Runtime) -> None:
    settings = runtime.settings
    while True:
        try:
            changed = await lifecycle_job.run_once(
                runtime.db, runtime.clock, settings.cancellation_window_days, settings.event_retention_days, runtime=runtime
            )
            if changed:
                log.info("subscription lifecycle: %d subscription(s) changed status", changed)
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - the job must survive a bad tick
            log.exception("subscription lifecycle job failed; retrying next interval")
        await asyncio.sleep(settings.lifecycle_interval_seconds)
