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
from auth_svc.store import AuthStore
from auth_svc.store_memory import MemoryStore
from auth_svc.store_pg import PgStore
from chassis.app import ServiceContext, create_service_app
from chassis.auth import current_identity, require_user
from chassis.binding import bind, bind_query
from chassis.context import request_id_var
from chassis.errors import Forbidden, Unauthorized, UnprocessableEntity
from chassis.openapi import Doc, OpenAPI
from chassis.responses import JSONResponse, accepted, created, no_content
from chassis.routing import route
from chassis.settings import Settings
from proto.auth import (
    API_KEY_VERIFY_PATH,
    JWKS_PATH,
    SYSTEM_USER_PATH,
    ApiKey,
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyVerify,
    CodeVerifyRequest,
    EmailRequest,
    Jwks,
    LoginRequest,
    MagicLinkQuery,
    Notice,
    PasswordChange,
    ProfilePatch,
    PublicUser,
    RefreshRequest,
    RegisterRequest,
    ResetRequest,
    Session,
    SignupStarted,
    SystemUserEnsure,
    TokenPair,
    User,
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


@Doc(
    "Start a sign-up with a password: a code is emailed",
    body=RegisterRequest,
    response=SignupStarted,
    status=202,
    errors=(409, 429),
)
async def register(request: Request) -> Response:
    """Passwords are 8 to 72 bytes of UTF-8 (422 naming `password` otherwise; never cut). The answer is
    the same whether the address has an account or not; the mail tells its owner. A new address
    gets a code: `POST /auth/code/verify {email, code, password}` creates the account with the
    password (when the same one comes back) and display name given here. An address with an
    account gets a sign-in code for it (the password is not changed). 429 (`Retry-After`) over
    `SIGNUP_RATE_PER_CLIENT` or `SIGNUP_RATE_PER_DOMAIN` per window. With
    `SIGNUP_CONFIRMATION=none` the account is created at once instead: 201 with a token pair,
    409 `email_taken` when the address has an account."""
    body = await bind(request, RegisterRequest)
    result = await auth(request).register(body, info(request))
    # 202 until the emailed code is verified (SIGNUP_CONFIRMATION=email); 201 with tokens otherwise.
    return tokens(request, result, status=201) if isinstance(result, TokenPair) else accepted(result)


@Doc("Sign in with email and password", body=LoginRequest, response=TokenPair, errors=(401, 429))
async def login(request: Request) -> Response:
    """A wrong password and an unknown email give the same 401. Limited per client address; wrong
    passwords slow down one (email, client address) pair: from the 3rd, a wait doubling each
    time (429 with Retry-After), locked for the window from the 10th. Other clients and emailed
    codes are not affected."""
    return tokens(request, await auth(request).login(await bind(request, LoginRequest), info(request)))


@Doc(
    "Send a 6-digit sign-in code (valid 10 minutes, single use)",
    body=EmailRequest,
    response=Notice,
    status=202,
)
async def request_code(request: Request) -> Response:
    """Always 202. Only the newest code is valid; 5 wrong tries lock it."""
    body = await bind(request, EmailRequest)
    await auth(request).request_code(body.email, info(request))
    return accepted(CODE_SENT)


@Doc(
    "Sign in with a code (creates the account on first use)",
    body=CodeVerifyRequest,
    response=TokenPair,
    errors=(401, 429),
)
async def verify_code(request: Request) -> Response:
    """A code from `POST /auth/register` creates the account with the password and name given at
    sign-up (when the address has none yet); otherwise it signs in."""
    return tokens(
        request, await auth(request).verify_code(await bind(request, CodeVerifyRequest), info(request))
    )


@Doc("Send a single-use sign-in link", body=EmailRequest, response=Notice, status=202)
async def request_magic_link(request: Request) -> Response:
    body = await bind(request, EmailRequest)
    await auth(request).request_magic_link(body.email, info(request))
    return accepted(LINK_SENT)


@Doc(
    "Sign in with the token of a magic link (creates the account on first use)",
    query=MagicLinkQuery,
    response=TokenPair,
    errors=(401, 422, 429),
)
async def verify_magic_link(request: Request) -> Response:
    query = bind_query(request, MagicLinkQuery)
    return tokens(request, await auth(request).verify_magic_link(query.token, info(request)))


@Doc("Send a password reset code", body=EmailRequest, response=Notice, status=202)
async def forgot_password(request: Request) -> Response:
    """Always 202, whether or not the address has an account."""
    body = await bind(request, EmailRequest)
    await auth(request).forgot_password(body.email, info(request))
    return accepted(RESET_SENT)


@Doc(
    "Set a new password with a reset code; revokes every session and API key, and signs in",
    body=ResetRequest,
    response=TokenPair,
    errors=(401, 429),
)
async def reset_password(request: Request) -> Response:
    return tokens(
        request, await auth(request).reset_password(await bind(request, ResetRequest), info(request))
    )


@Doc(
    "Change the password (revokes the other sessions), or set the first one",
    body=PasswordChange,
    status=204,
    errors=(403, 422),
)
async def change_password(request: Request) -> Response:
    """`current_password` is required when the account has a password (422 without it, 403
    `wrong_password` when wrong; the other sessions are revoked). An account created by a code
    or a magic link (`has_password: false`) sets its first password without it, and keeps its
    other sessions. API keys keep working unless `revoke_api_keys` is true (then every key of
    the account is revoked at once; GET /auth/api-keys lists those that remain). Not with an API
    key (403)."""
    body = await bind(request, PasswordChange)
    await auth(request).change_password(require_user(request), body)
    return no_content()


@Doc(
    "Rotate a refresh token: new access and refresh tokens, the old one is dead",
    body=RefreshRequest,
    response=TokenPair,
    errors=(401, 403),
)
async def refresh(request: Request) -> Response:
    """Send `{"refresh_token": …}`. Presenting an already-used refresh token revokes its whole session.
    Browsers send `X-Token-Transport: cookie` here and on every sign-in: the refresh token then
    travels only in the HttpOnly cookie `auth_refresh` (Path=/auth/refresh), the body's
    `refresh_token` is null and this call may leave it out; a refresh from the cookie without
    that header, or from another site, is 403 (`csrf_header_missing`, `cross_site_refresh`). A
    dead cookie is cleared with the 401. Token answers are `Cache-Control: no-store`."""
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


@Doc("Revoke the current session (and clear a browser's refresh cookie)", status=204, errors=(400,))
async def logout(request: Request) -> Response:
    await auth(request).logout(require_user(request))
    return transport.clear_cookie(no_content())


@Doc("Active sessions (`current` marks the caller's)", response=list[Session])
async def list_sessions(request: Request) -> object:
    return await auth(request).sessions(require_user(request))


@Doc("Sign out everywhere: revoke every session of my account, this one too", status=204, errors=(403,))
async def sign_out_everywhere(request: Request) -> Response:
    """Every device is signed out within a second: its tokens are refused, its refresh token is dead
    and its open event streams end with a `session_revoked` event. API keys keep working (revoke
    them with DELETE /auth/api-keys/{key_id}). Not with an API key (403)."""
    await auth(request).sign_out_everywhere(require_user(request))
    return transport.clear_cookie(no_content())


@Doc("Revoke one of my sessions", status=204, errors=(404,))
async def delete_session(request: Request) -> Response:
    identity = require_user(request)
    session_id = request.path_params["session_id"]
    await auth(request).delete_session(identity, session_id)
    # Revoking this very session is a logout.
    return transport.clear_cookie(no_content()) if session_id == identity.session_id else no_content()


@Doc("My account", response=User)
async def me(request: Request) -> object:
    return await auth(request).me(require_user(request))


@Doc("Update my profile (omitted fields stay; null clears bio and avatar)", body=ProfilePatch, response=User)
async def update_me(request: Request) -> object:
    body = await bind(request, ProfilePatch)
    return await auth(request).update_me(require_user(request), body)


@Doc(
    "Create an API key (shown once; send it as X-API-Key)",
    body=ApiKeyCreate,
    response=ApiKeyCreated,
    status=201,
    errors=(403, 409),
)
async def create_api_key(request: Request) -> Response:
    body = await bind(request, ApiKeyCreate)
    return created(await auth(request).create_api_key(require_user(request), body.name))


@Doc("My API keys (never the key itself)", response=list[ApiKey])
async def list_api_keys(request: Request) -> object:
    return await auth(request).api_keys(require_user(request))


@Doc("Revoke an API key", status=204, errors=(404,))
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


@Doc("Public signing keys (RFC 7517; also under `data`)", response=Jwks)
async def jwks(request: Request) -> Response:
    keys = auth(request).jwks()
    # RFC 7517 readers find `keys` at the top; envelope readers find `data`.
    body = {**keys, "data": keys, "meta": {"request_id": request_id_var.get()}}
    return JSONResponse(body, headers={"cache-control": "public, max-age=60"})


@Doc("Public profile of an account", response=PublicUser, errors=(404,), tags=("users",))
async def public_user(request: Request) -> object:
    return await auth(request).public_user(request.path_params["user_id"])


@Doc(
    "Public profiles of up to 100 accounts (unknown ids are left out)",
    body=UsersLookup,
    response=list[PublicUser],
    tags=("users",),
)
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
        # Services call these over the bus; the gateway routes none of them.
        route(API_KEY_VERIFY_PATH, verify_api_key, methods=["POST"], include_in_schema=False),
        route(SYSTEM_USER_PATH, ensure_system_user, methods=["PUT"], include_in_schema=False),
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
    spec = OpenAPI(
        "auth_svc", description="Accounts, sign-in, tokens, sessions and API keys.", tags=("auth",)
    )
    return create_service_app(SERVICE, settings, routes(), spec=spec, setup=setup, migrations=MIGRATIONS)
