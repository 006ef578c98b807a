"""The Starlette application: /graphql (HTTP and WebSocket), /healthz, /readyz."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy import func, or_, select
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute

from db import lifecycle_job
from db.clock import Clock, SystemClock
from db.config import Settings
from db.models import User as UserModel
from db.records import UserRecord
from db.repo.catalog import load_catalog, replace_rules
from db.repo.directory import USER_COLUMNS
from db.repo.tenants import get_tenant
from db.session import Database
from gql.auth import AuthError, Claims, decode_token
from gql.context import AppServices, Context, Principal
from gql.http import ConcurrencyLimit, GraphQLHTTP, GraphQLWebSocket, RequestBodyLimit, refusal_response
from gql.ids import BadId, from_global_id
from gql.schema import build_schema

log = logging.getLogger("licensing")


async def resolve_principal(services: AppServices, claims: Claims) -> Principal:
    """The tenant must exist (else 401); `sub` names a user by UPN or Relay id, or an admin principal (D5)."""
    async with services.db.engine.connect() as conn:
        tenant = await get_tenant(conn, claims.tenant_id)
        if tenant is None:
            raise AuthError("the token's tenant does not exist")
        U = UserModel.__table__
        conditions = [func.lower(U.c.user_principal_name).collate("C") == claims.sub.lower()]
        with contextlib.suppress(BadId, ValueError):
            gid = from_global_id(claims.sub)
            if gid.type_name == "User":
                conditions.append(U.c.id == gid.uuid())
        row = (await conn.execute(select(*USER_COLUMNS).where(U.c.tenant_id == tenant.id, or_(*conditions)).limit(1))).first()
    return Principal(tenant=tenant, sub=claims.sub, roles=claims.roles, user=UserRecord.from_row(row) if row else None)


def create_app(settings: Settings, database_url: str, *, clock: Clock | None = None, run_lifecycle_job: bool = True) -> Starlette:
    schema = build_schema(settings)
    state: dict[str, AppServices] = {}

    def services() -> AppServices:
        return state["services"]

    async def authenticate(request: Request) -> Principal:
        claims = decode_token(settings.effective_jwt_secret, request.headers.get("authorization"))
        return await resolve_principal(services(), claims)

    async def authenticate_token(authorization: str | None) -> Principal:
        claims = decode_token(settings.effective_jwt_secret, authorization)
        return await resolve_principal(services(), claims)

    async def make_context(request: Any, principal: Principal) -> Context:
        return Context(services=services(), principal=principal, request=request)

    async def close_context(ctx: Context) -> None:
        await ctx.close()

    http = GraphQLHTTP(
        schema, authenticate=authenticate, make_context=make_context, close_context=close_context,
        graphiql=settings.graphiql, allow_batching=settings.allow_batching,
    )
    websocket = GraphQLWebSocket(
        schema, authenticate_token=authenticate_token, make_context=make_context, close_context=close_context
    )

    async def healthz(_: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(_: Request) -> Response:
        try:
            await asyncio.wait_for(services().db.ping(), timeout=5)
        except Exception as exc:  # noqa: BLE001 - any failure means not ready
            log.warning("readiness check failed: %s", exc)
            return JSONResponse({"status": "unavailable", "database": "unreachable"}, status_code=503)
        return JSONResponse({"status": "ok", "database": "ok"})

    @contextlib.asynccontextmanager
    async def lifespan(started: Starlette) -> AsyncIterator[None]:
        if not settings.jwt_secret:
            log.warning("LICENSING_JWT_SECRET is not set: using the development secret. Set it in production.")
        db = Database(database_url, pool_size=settings.pool_size, lock_timeout_ms=settings.lock_timeout_ms)
        if settings.service_plan_rules:
            async with db.write() as conn:
                count = await replace_rules(conn, settings.service_plan_rules)
            log.info("service-plan rules replaced from %s (%d rules)", settings.service_plan_rules, count)
        async with db.engine.connect() as conn:
            catalog = await load_catalog(conn)
        the_clock = clock or SystemClock()
        state["services"] = AppServices(settings=settings, db=db, catalog=catalog, clock=the_clock)
        started.state.services = state["services"]
        job = asyncio.create_task(_lifecycle_loop(db, the_clock, settings)) if run_lifecycle_job else None
        try:
            yield
        finally:
            if job:
                job.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await job
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
    # Inside CORS, so a browser can read a refusal. The limits hold for every endpoint; a /scim
    # endpoint would choose its own error body in the hook.
    middleware += [
        Middleware(
            ConcurrencyLimit, max_requests=settings.max_concurrent_requests, exempt_paths=frozenset({"/healthz"}),
            error_response=refusal_response,
        ),
        Middleware(
            RequestBodyLimit, max_bytes=settings.max_body_bytes, read_timeout=settings.body_timeout_seconds,
            error_response=refusal_response,
        ),
    ]
    application = Starlette(
        routes=[
            Route("/graphql", http.handle, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", websocket),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
        ],
        middleware=middleware,
        lifespan=lifespan,
    )
    application.state.database_url = database_url
    application.state.settings = settings
    return application


async def _lifecycle_loop(db: Database, clock: Clock, settings: Settings) -> None:
    while True:
        try:
            changed = await lifecycle_job.run_once(db, clock, settings.cancellation_window_days)
            if changed:
                log.info("subscription lifecycle: %d subscription(s) changed status", changed)
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - the job must survive a bad tick
            log.exception("subscription lifecycle job failed; retrying next interval")
        await asyncio.sleep(settings.lifecycle_interval_seconds)
