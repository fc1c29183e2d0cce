"""auth_svc: routes, served over the bus as `http.auth` (and `rpc.auth` for services)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import cast

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from auth_svc import passwords, transport
from auth_svc.keys import load_signing_keys
from auth_svc.notify import delivery_for
from auth_svc.ratelimit import open_limiter
from auth_svc.revocation import Revocations
from auth_svc.service import AuthService, RequestInfo
from auth_svc.spec import build_spec
from auth_svc.store import AuthStore
from auth_svc.store_memory import MemoryStore
from auth_svc.store_pg import PgStore
from chassis.app import ServiceContext, create_service_app
from chassis.auth import current_identity, require_user
from chassis.binding import bind, bind_query
from chassis.context import request_id_var
from chassis.errors import Forbidden, Unauthorized, UnprocessableEntity
from chassis.responses import JSONResponse, accepted, created, no_content
from chassis.routing import route
from chassis.settings import Settings
from proto.auth import (
    API_KEY_VERIFY_PATH,
    JWKS_PATH,
    SYSTEM_USER_PATH,
    ApiKeyCreate,
    ApiKeyVerify,
    CodeVerifyRequest,
    EmailRequest,
    LoginRequest,
    MagicLinkQuery,
    Notice,
    PasswordChange,
    ProfilePatch,
    RefreshRequest,
    RegisterRequest,
    ResetRequest,
    SystemUserEnsure,
    TokenPair,
    UsersLookup,
)
from proto.subjects import KV_REVOKED

SERVICE = "auth"
MIGRATIONS = Path(__file__).parent / "migrations"

CODE_SENT = Notice("if this address can receive mail, a code is on its way")
LINK_SENT = Notice("if this address can receive mail, a sign-in link is on its way")
RESET_SENT = Notice("if an account uses this address, a reset code is on its way")


def auth(request: Request) -> AuthService:
    return cast(AuthService, request.state.auth)


def info(request: Request) -> RequestInfo:
    return RequestInfo(
        client=request.client.host if request.client else "",
        user_agent=request.headers.get("user-agent", ""),
    )


def tokens(request: Request, pair: TokenPair, status: int = 200) -> Response:
    return transport.tokens(
        request, pair, max_age=int(auth(request).refresh_ttl.total_seconds()), status=status
    )


async def register(request: Request) -> Response:
    body = await bind(request, RegisterRequest)
    return tokens(request, await auth(request).register(body, info(request)), status=201)


async def login(request: Request) -> Response:
    return tokens(request, await auth(request).login(await bind(request, LoginRequest), info(request)))


async def request_code(request: Request) -> Response:
    body = await bind(request, EmailRequest)
    await auth(request).request_code(body.email, info(request))
    return accepted(CODE_SENT)


async def verify_code(request: Request) -> Response:
    return tokens(
        request, await auth(request).verify_code(await bind(request, CodeVerifyRequest), info(request))
    )


async def request_magic_link(request: Request) -> Response:
    body = await bind(request, EmailRequest)
    await auth(request).request_magic_link(body.email, info(request))
    return accepted(LINK_SENT)


async def verify_magic_link(request: Request) -> Response:
    query = bind_query(request, MagicLinkQuery)
    return tokens(request, await auth(request).verify_magic_link(query.token, info(request)))


async def forgot_password(request: Request) -> Response:
    body = await bind(request, EmailRequest)
    await auth(request).forgot_password(body.email, info(request))
    return accepted(RESET_SENT)


async def reset_password(request: Request) -> Response:
    return tokens(
        request, await auth(request).reset_password(await bind(request, ResetRequest), info(request))
    )


async def change_password(request: Request) -> Response:
    body = await bind(request, PasswordChange)
    await auth(request).change_password(require_user(request), body)
    return no_content()


async def refresh(request: Request) -> Response:
    body = await bind(request, RefreshRequest)
    from_cookie = body.refresh_token is None
    token = transport.cookie_token(request) if from_cookie else body.refresh_token
    if token is None:
        if transport.wants_cookie(request):
            raise Unauthorized("no refresh cookie: sign in again", code="invalid_refresh_token")
        raise UnprocessableEntity("Object missing required field `refresh_token`", field="refresh_token")
    try:
        pair = await auth(request).refresh(token, info(request))
    except Unauthorized as exc:
        if from_cookie:
            # A dead cookie is dropped, so the page stops presenting it.
            exc.headers.update(transport.cleared_cookie_header())
        raise
    return tokens(request, pair)


async def logout(request: Request) -> Response:
    await auth(request).logout(require_user(request))
    return transport.clear_cookie(no_content())


async def list_sessions(request: Request) -> object:
    return await auth(request).sessions(require_user(request))


async def sign_out_everywhere(request: Request) -> Response:
    await auth(request).sign_out_everywhere(require_user(request))
    return transport.clear_cookie(no_content())


async def delete_session(request: Request) -> Response:
    identity = require_user(request)
    session_id = request.path_params["session_id"]
    await auth(request).delete_session(identity, session_id)
    # Revoking this very session is a logout.
    return transport.clear_cookie(no_content()) if session_id == identity.session_id else no_content()


async def me(request: Request) -> object:
    return await auth(request).me(require_user(request))


async def update_me(request: Request) -> object:
    body = await bind(request, ProfilePatch)
    return await auth(request).update_me(require_user(request), body)


async def create_api_key(request: Request) -> Response:
    body = await bind(request, ApiKeyCreate)
    return created(await auth(request).create_api_key(require_user(request), body.name))


async def list_api_keys(request: Request) -> object:
    return await auth(request).api_keys(require_user(request))


async def delete_api_key(request: Request) -> Response:
    await auth(request).delete_api_key(require_user(request), request.path_params["key_id"])
    return no_content()


async def verify_api_key(request: Request) -> object:
    identity = current_identity(request)
    if identity is None or identity.via != "internal":
        raise Forbidden("internal endpoint: only the gateway verifies API keys")
    body = await bind(request, ApiKeyVerify)
    return await auth(request).verify_api_key(body.key_hash)


async def ensure_system_user(request: Request) -> object:
    identity = current_identity(request)
    if identity is None or identity.via != "internal":
        raise Forbidden("internal endpoint: only services create system accounts")
    body = await bind(request, SystemUserEnsure)
    return await auth(request).ensure_system_user(request.path_params["handle"], body)


async def jwks(request: Request) -> Response:
    keys = auth(request).jwks()
    # RFC 7517 readers find `keys` at the top; envelope readers find `data`.
    body = {**keys, "data": keys, "meta": {"request_id": request_id_var.get()}}
    return JSONResponse(body, headers={"cache-control": "public, max-age=60"})


async def public_user(request: Request) -> object:
    return await auth(request).public_user(request.path_params["user_id"])


async def lookup_users(request: Request) -> object:
    body = await bind(request, UsersLookup)
    return await auth(request).lookup(body.ids)


def routes() -> list[BaseRoute]:
    return [
        route("/auth/register", register, methods=["POST"]),
        route("/auth/login", login, methods=["POST"]),
        route("/auth/code", request_code, methods=["POST"]),
        route("/auth/code/verify", verify_code, methods=["POST"]),
        route("/auth/magic-link", request_magic_link, methods=["POST"]),
        route("/auth/magic-link/verify", verify_magic_link, methods=["GET"]),
        route("/auth/password/forgot", forgot_password, methods=["POST"]),
        route("/auth/password/reset", reset_password, methods=["POST"]),
        route("/auth/password/change", change_password, methods=["POST"], auth=True),
        route("/auth/refresh", refresh, methods=["POST"]),
        route("/auth/logout", logout, methods=["POST"], auth=True),
        route("/auth/sessions", list_sessions, methods=["GET"], auth=True),
        route("/auth/sessions", sign_out_everywhere, methods=["DELETE"], auth=True),
        route("/auth/sessions/{session_id}", delete_session, methods=["DELETE"], auth=True),
        route("/auth/me", me, methods=["GET"], auth=True),
        route("/auth/me", update_me, methods=["PATCH"], auth=True, name="update_me"),
        route("/auth/api-keys", create_api_key, methods=["POST"], auth=True),
        route("/auth/api-keys", list_api_keys, methods=["GET"], auth=True),
        route("/auth/api-keys/{key_id}", delete_api_key, methods=["DELETE"], auth=True),
        route(API_KEY_VERIFY_PATH, verify_api_key, methods=["POST"]),
        route(SYSTEM_USER_PATH, ensure_system_user, methods=["PUT"]),
        route(JWKS_PATH, jwks, methods=["GET"]),
        route("/auth/users/lookup", lookup_users, methods=["POST"]),
        route("/auth/users/{user_id}", public_user, methods=["GET"]),
    ]


@contextlib.asynccontextmanager
async def setup(ctx: ServiceContext) -> AsyncIterator[None]:
    settings = ctx.settings
    store: AuthStore = PgStore(ctx.pool) if ctx.pool is not None else MemoryStore()
    keys = await load_signing_keys(settings, ctx.js)
    limiter = await open_limiter(settings, ctx.js)
    revocations = Revocations(await ctx.js.key_value(KV_REVOKED))
    delivery = delivery_for(settings)
    try:
        service = AuthService(settings, store, keys, limiter, revocations, delivery)
        await passwords.warm_up(ctx.settings.password_hash_cost)
        await service.seed_dev_user()
        await service.promote_admins()
        ctx.state["auth"] = service
        yield
    finally:
        await delivery.close()


def create_app(settings: Settings) -> Starlette:
    return create_service_app(
        SERVICE, settings, routes(), spec=build_spec(), setup=setup, migrations=MIGRATIONS
    )
