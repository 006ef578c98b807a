"""The /scim/v2 routes: authentication (a SCIM token, or an admin's JWT with the Global or User
Administrator role, D30), dispatch by method, and SCIM errors for everything that goes wrong
(401, 403, 404 for unknown paths, 405 for writes to discovery endpoints)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route

from db.availability import is_database_unavailable
from db.records import TenantRecord
from db.repo import reads, tenants
from gql.auth import UNTRUSTED_ISSUER, AuthError, Claims
from gql.errors import DATABASE_RETRY_AFTER_SECONDS, DATABASE_UNAVAILABLE_MESSAGE
from gql.oidc import KeyCache, UnverifiedOidcToken, roles_from, verify
from gql.scim import discovery, groups, users
from gql.scim.protocol import ScimError, error_response, json_body, refused, scim_response
from gql.scim.resources import Call, search_parameters
from services.context import Actor, Runtime
from services.errors import Refused
from services.roles import MANAGE_DIRECTORY, Role
from services.scim_tokens import PREFIX, ScimAuthError, authenticate

log = logging.getLogger("licensing.scim")
Handler = Callable[..., Awaitable[Response]]
BEARER = {"WWW-Authenticate": 'Bearer realm="scim"'}


def scim_routes(
    runtime: Callable[[], Runtime], decode_jwt: Callable[[str | None], Claims | UnverifiedOidcToken],
    keys: KeyCache | None = None,
) -> list[BaseRoute]:
    """The routes of /scim/v2; `decode_jwt` reads an admin's GraphQL token as /graphql does
    (gql.oidc.read_credentials: HS256 against the service's secret, RS/PS/ES256 routed to the
    tenant that trusts their `iss`, checked here against its keys `keys`, D30, D35)."""

    async def oidc_actor(rt: Runtime, token: UnverifiedOidcToken) -> tuple[TenantRecord, str, frozenset[Role]]:
        """As /graphql: the tenant that trusts the token's `iss` (nothing fetched otherwise),
        the token verified against its settings, and the caller, audited by the token's `sub` (D11)."""
        async with rt.db.read() as conn:
            raw = await conn.get_raw_connection()
            reader = reads.Reader(raw.driver_connection, rt.db.count_statement)
            found = await reads.oidc_caller(reader, token.issuer, token.upn_candidates())
        if found is None or keys is None:
            log.info("OIDC token refused on SCIM: no tenant trusts the issuer %r", token.issuer)
            raise AuthError(UNTRUSTED_ISSUER)
        tenant, trust, user = found
        payload = await verify(keys, token, trust)
        return tenant, payload["sub"], roles_from(payload, trust.roles_claim)

    async def actor_of(request: Request) -> Actor:
        authorization = request.headers.get("authorization")
        rt = runtime()
        token = (authorization or "").partition(" ")[2].strip()
        if not token.startswith(PREFIX) and token.count(".") == 2:
            try:
                claims = decode_jwt(authorization)
                tenant: TenantRecord | None
                if isinstance(claims, UnverifiedOidcToken):
                    tenant, sub, roles = await oidc_actor(rt, claims)
                else:
                    async with rt.db.read() as conn:
                        tenant = await tenants.get_tenant(conn, claims.tenant_id)
                    sub, roles = claims.sub, claims.roles
            except AuthError as exc:
                raise ScimError(401, None, str(exc), BEARER) from exc
            if tenant is None:
                raise ScimError(401, None, "The token's tenant does not exist.", BEARER)
            if not roles & MANAGE_DIRECTORY:
                raise ScimError(403, None, "SCIM needs the Global Administrator or User Administrator role (or a SCIM token).")
            return Actor(tenant, f"scim:{sub}", frozenset(roles))
        try:
            return await authenticate(rt.db, rt.clock, authorization)
        except ScimAuthError as exc:
            raise ScimError(401, None, str(exc), BEARER) from exc

    def endpoint(methods: dict[str, Handler], *, discovery_endpoint: bool = False) -> Callable[[Request], Awaitable[Response]]:
        async def handle(request: Request) -> Response:
            try:
                actor = await actor_of(request)
                handler = methods.get(request.method)
                if handler is None:
                    allowed = ", ".join(sorted(methods))
                    what = "is read-only" if discovery_endpoint else f"takes {allowed}"
                    raise ScimError(405, None, f"{request.url.path} {what}.", {"Allow": allowed})
                call = Call(request, runtime(), actor)
                return await handler(call, **request.path_params)
            except ScimError as exc:
                return error_response(exc)
            except Refused as exc:
                return error_response(refused(exc))
            except ClientDisconnect:
                # Gone, or refused by a limit (RequestBodyLimit) that has answered already.
                return Response(status_code=400)
            except Exception as exc:
                if not is_database_unavailable(exc):
                    raise
                log.warning("database unavailable for SCIM %s %s: %s", request.method, request.url.path, exc)
                return error_response(ScimError(503, None, DATABASE_UNAVAILABLE_MESSAGE, {"Retry-After": str(DATABASE_RETRY_AFTER_SECONDS)}))

        return handle

    def static(body: Callable[[str], Any]) -> Handler:
        async def handler(call: Call, **_: Any) -> Response:
            return scim_response(body(call.base))

        return handler

    def one_of(items: Callable[[str], list[dict[str, Any]]], kind: str) -> Handler:
        async def handler(call: Call, key: str) -> Response:
            found = next((i for i in items(call.base) if i["id"] == key), None)
            if found is None:
                raise ScimError(404, None, f"No {kind} {key!r}.")
            return scim_response(found)

        return handler

    def searching(listing: Handler) -> Handler:
        """POST …/.search: the SearchRequest body as a GET's parameters."""

        async def handler(call: Call, **_: Any) -> Response:
            body = await json_body(call.request)
            return await listing(Call(call.request, call.runtime, call.actor, search_parameters(body)))

        return handler

    async def all_types(call: Call, **_: Any) -> Response:
        raise ScimError(501, None, "Searching several resource types at once is not supported: POST /Users/.search or /Groups/.search.")

    async def unknown(request: Request) -> Response:
        return error_response(ScimError(404, None, f"{request.url.path} is not a SCIM endpoint of this service."))

    everything = ["GET", "POST", "PUT", "PATCH", "DELETE"]
    return [
        Mount("/scim/v2", routes=[
            Route("/Users", endpoint({"GET": users.list_users, "POST": users.create_user}), methods=everything),
            Route("/Users/.search", endpoint({"POST": searching(users.list_users)}), methods=everything),
            Route("/Groups/.search", endpoint({"POST": searching(groups.list_groups)}), methods=everything),
            Route("/.search", endpoint({"POST": all_types}), methods=everything),
            Route("/Users/{raw_id}", endpoint({
                "GET": users.get_user, "PUT": users.replace_user, "PATCH": users.patch_user, "DELETE": users.delete_user,
            }), methods=everything),
            Route("/Groups", endpoint({"GET": groups.list_groups, "POST": groups.create_group}), methods=everything),
            Route("/Groups/{raw_id}", endpoint({
                "GET": groups.get_group, "PUT": groups.replace_group, "PATCH": groups.patch_group, "DELETE": groups.delete_group,
            }), methods=everything),
            Route("/ServiceProviderConfig", endpoint(
                {"GET": static(discovery.service_provider_config)}, discovery_endpoint=True), methods=everything),
            Route("/ResourceTypes", endpoint(
                {"GET": static(lambda base: discovery.listed(discovery.resource_types(base)))}, discovery_endpoint=True),
                methods=everything),
            Route("/ResourceTypes/{key}", endpoint(
                {"GET": one_of(discovery.resource_types, "resource type")}, discovery_endpoint=True), methods=everything),
            Route("/Schemas", endpoint(
                {"GET": static(lambda base: discovery.listed(discovery.schemas(base)))}, discovery_endpoint=True),
                methods=everything),
            Route("/Schemas/{key:path}", endpoint(
                {"GET": one_of(discovery.schemas, "schema")}, discovery_endpoint=True), methods=everything),
            Route("/{rest:path}", unknown, methods=everything),
        ]),
        Route("/scim/v2", unknown, methods=everything),
    ]
