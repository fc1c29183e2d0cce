"""OpenAPI description of auth_svc's endpoints."""

from __future__ import annotations

from chassis.openapi import OpenAPI
from proto.auth import (
    JWKS_PATH,
    ApiKey,
    ApiKeyCreate,
    ApiKeyCreated,
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
    TokenPair,
    User,
    UsersLookup,
)

TAGS = ("auth",)


def build_spec() -> OpenAPI:
    spec = OpenAPI("auth_svc", description="Accounts, sign-in, tokens, sessions and API keys.")
    add = spec.add
    add(
        "post",
        "/auth/register",
        "Start a sign-up with a password: a code is emailed",
        body=RegisterRequest,
        response=SignupStarted,
        status=202,
        errors=(409, 429),
        tags=TAGS,
        description="Passwords are 8 to 72 bytes of UTF-8 (422 naming `password` otherwise; never cut)."
        " The answer is the same whether the address has an account or not; the mail tells its owner."
        " A new address gets a code: `POST /auth/code/verify {email, code, password}` creates the"
        " account with the password (when the same one comes back) and display name given here."
        " An address with an account gets a"
        " sign-in code for it (the password is not changed). 429 (`Retry-After`) over"
        " `SIGNUP_RATE_PER_CLIENT` or `SIGNUP_RATE_PER_DOMAIN` per window. With"
        " `SIGNUP_CONFIRMATION=none` the account is created at once instead: 201 with a token pair,"
        " 409 `email_taken` when the address has an account.",
    )
    add(
        "post",
        "/auth/login",
        "Sign in with email and password",
        body=LoginRequest,
        response=TokenPair,
        errors=(401, 429),
        tags=TAGS,
        description="A wrong password and an unknown email give the same 401. Limited per client address;"
        " wrong passwords slow down one (email, client address) pair: from the 3rd, a wait doubling"
        " each time (429 with Retry-After), locked for the window from the 10th. Other clients and"
        " emailed codes are not affected.",
    )
    add(
        "post",
        "/auth/code",
        "Send a 6-digit sign-in code (valid 10 minutes, single use)",
        body=EmailRequest,
        response=Notice,
        status=202,
        tags=TAGS,
        description="Always 202. Only the newest code is valid; 5 wrong tries lock it.",
    )
    add(
        "post",
        "/auth/code/verify",
        "Sign in with a code (creates the account on first use)",
        body=CodeVerifyRequest,
        response=TokenPair,
        errors=(401, 429),
        tags=TAGS,
        description="A code from `POST /auth/register` creates the account with the password and name"
        " given at sign-up (when the address has none yet); otherwise it signs in.",
    )
    add(
        "post",
        "/auth/magic-link",
        "Send a single-use sign-in link",
        body=EmailRequest,
        response=Notice,
        status=202,
        tags=TAGS,
    )
    add(
        "get",
        "/auth/magic-link/verify",
        "Sign in with the token of a magic link (creates the account on first use)",
        query=MagicLinkQuery,
        response=TokenPair,
        errors=(401, 422, 429),
        tags=TAGS,
    )
    add(
        "post",
        "/auth/password/forgot",
        "Send a password reset code",
        body=EmailRequest,
        response=Notice,
        status=202,
        tags=TAGS,
        description="Always 202, whether or not the address has an account.",
    )
    add(
        "post",
        "/auth/password/reset",
        "Set a new password with a reset code; revokes every session and API key, and signs in",
        body=ResetRequest,
        response=TokenPair,
        errors=(401, 429),
        tags=TAGS,
    )
    add(
        "post",
        "/auth/password/change",
        "Change the password (revokes the other sessions), or set the first one",
        description=(
            "`current_password` is required when the account has a password (422 without it, 403"
            " `wrong_password` when wrong; the other sessions are revoked). An account created by a"
            " code or a magic link (`has_password: false`) sets its first password without it, and"
            " keeps its other sessions. API keys keep working unless `revoke_api_keys` is true (then"
            " every key of the account is revoked at once; GET /auth/api-keys lists those that"
            " remain). Not with an API key (403)."
        ),
        body=PasswordChange,
        status=204,
        auth=True,
        errors=(403, 422),
        tags=TAGS,
    )
    add(
        "post",
        "/auth/refresh",
        "Rotate a refresh token: new access and refresh tokens, the old one is dead",
        body=RefreshRequest,
        response=TokenPair,
        errors=(401, 403),
        tags=TAGS,
        description=(
            'Send `{"refresh_token": …}`. Presenting an already-used refresh token revokes its whole'
            " session. Browsers send `X-Token-Transport: cookie` here and on every sign-in: the refresh"
            " token then travels only in the HttpOnly cookie `auth_refresh` (Path=/auth/refresh), the"
            " body's `refresh_token` is null and this call may leave it out; a refresh from the cookie"
            " without that header, or from another site, is 403 (`csrf_header_missing`,"
            " `cross_site_refresh`). A dead cookie is cleared with the 401. Token answers are"
            " `Cache-Control: no-store`."
        ),
    )
    add(
        "post",
        "/auth/logout",
        "Revoke the current session (and clear a browser's refresh cookie)",
        status=204,
        auth=True,
        errors=(400,),
        tags=TAGS,
    )
    add(
        "get",
        "/auth/sessions",
        "Active sessions (`current` marks the caller's)",
        response=list[Session],
        auth=True,
        tags=TAGS,
    )
    add(
        "delete",
        "/auth/sessions",
        "Sign out everywhere: revoke every session of my account, this one too",
        description=(
            "Every device is signed out within a second: its tokens are refused, its refresh token is"
            " dead and its open event streams end with a `session_revoked` event. API keys keep"
            " working (revoke them with DELETE /auth/api-keys/{key_id}). Not with an API key (403)."
        ),
        status=204,
        auth=True,
        errors=(403,),
        tags=TAGS,
    )
    add(
        "delete",
        "/auth/sessions/{session_id}",
        "Revoke one of my sessions",
        status=204,
        auth=True,
        errors=(404,),
        tags=TAGS,
    )
    add("get", "/auth/me", "My account", response=User, auth=True, tags=TAGS)
    add(
        "patch",
        "/auth/me",
        "Update my profile (omitted fields stay; null clears bio and avatar)",
        body=ProfilePatch,
        response=User,
        auth=True,
        tags=TAGS,
    )
    add(
        "post",
        "/auth/api-keys",
        "Create an API key (shown once; send it as X-API-Key)",
        body=ApiKeyCreate,
        response=ApiKeyCreated,
        status=201,
        auth=True,
        errors=(403, 409),
        tags=TAGS,
    )
    add(
        "get",
        "/auth/api-keys",
        "My API keys (never the key itself)",
        response=list[ApiKey],
        auth=True,
        tags=TAGS,
    )
    add(
        "delete",
        "/auth/api-keys/{key_id}",
        "Revoke an API key",
        status=204,
        auth=True,
        errors=(404,),
        tags=TAGS,
    )
    add(
        "get",
        JWKS_PATH,
        "Public signing keys (RFC 7517; also under `data`)",
        response=Jwks,
        tags=TAGS,
    )
    add(
        "get",
        "/auth/users/{user_id}",
        "Public profile of an account",
        response=PublicUser,
        errors=(404,),
        tags=("users",),
    )
    add(
        "post",
        "/auth/users/lookup",
        "Public profiles of up to 100 accounts (unknown ids are left out)",
        body=UsersLookup,
        response=list[PublicUser],
        tags=("users",),
    )
    return spec
