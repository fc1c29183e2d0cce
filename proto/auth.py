"""auth_svc's API bodies, the notify request, and the names auth_svc and the gateway share."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec

# JetStream key-value buckets owned by auth_svc (the revocation bucket is `subjects.KV_REVOKED`).
KV_SIGNING_KEYS = "auth_keys"
KV_RATE = "auth_rate"
SIGNING_KEYS_ENTRY = "signing"

# The one signature algorithm tokens are issued and accepted with (ECDSA P-256, SHA-256).
ALGORITHM = "ES256"
# Custom access-token claim: the account is an administrator.
ADMIN_CLAIM = "admin"

JWKS_PATH = "/auth/.well-known/jwks.json"
API_KEY_VERIFY_PATH = "/auth/internal/api-keys/verify"
# Internal: services create the accounts they own things as (the starter personas' owner).
SYSTEM_USER_PATH = "/auth/internal/system-users/{handle}"
# System accounts' addresses are `<handle>@system.invalid`: a reserved domain (RFC 2606) that no
# one can register, receive mail at, or sign in with.
SYSTEM_EMAIL_DOMAIN = "system.invalid"
API_KEY_HEADER = "x-api-key"
# A browser asks for its refresh token in an HttpOnly cookie (never in the JSON body) by sending
# this header with the value `cookie`; a cookie refresh without it is refused (CSRF). docs/auth.md.
TOKEN_TRANSPORT_HEADER = "x-token-transport"
# `auth_`: the gateway forwards a service only the cookies named after it (chassis.bridge).
REFRESH_COOKIE = "auth_refresh"
REFRESH_COOKIE_PATH = "/auth/refresh"
# Identity the gateway presents on internal calls (never produced from a client credential).
INTERNAL_CALLER = "gateway"


def revoked_session_key(session_id: str) -> str:
    return f"sid.{session_id}"


def revoked_api_key_key(key_id: str) -> str:
    return f"key.{key_id}"


EMAIL_PATTERN = r"^[^@\s]{1,64}@[^@\s.]+(\.[^@\s.]+)+$"
Email = Annotated[str, msgspec.Meta(max_length=254, pattern=EMAIL_PATTERN)]
# Byte limits (8 to 72 bytes of UTF-8) are checked by auth_svc; this cap only bounds the body.
Password = Annotated[str, msgspec.Meta(max_length=1024)]
DisplayName = Annotated[str, msgspec.Meta(min_length=1, max_length=80)]
Bio = Annotated[str, msgspec.Meta(max_length=1000)]
MediaId = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
Code = Annotated[str, msgspec.Meta(min_length=1, max_length=16)]
Secret = Annotated[str, msgspec.Meta(min_length=1, max_length=512)]


# Requests


class RegisterRequest(msgspec.Struct):
    email: Email
    password: Password
    display_name: DisplayName | None = None


class LoginRequest(msgspec.Struct):
    email: Email
    password: Password


class EmailRequest(msgspec.Struct):
    """`POST /auth/code`, `/auth/magic-link`, `/auth/password/forgot`."""

    email: Email


class CodeVerifyRequest(msgspec.Struct):
    """`display_name` names the account when this code creates it (ignored otherwise).
    `password` finishes a sign-up: the account gets the password given at sign-up only when
    the same password comes back with the code (see docs/auth.md, "Sign-up")."""

    email: Email
    code: Code
    display_name: DisplayName | None = None
    password: Password | None = None


class MagicLinkQuery(msgspec.Struct):
    token: Secret


class ResetRequest(msgspec.Struct):
    email: Email
    code: Code
    password: Password


class RefreshRequest(msgspec.Struct):
    # Required unless a browser refreshes from its cookie (TOKEN_TRANSPORT_HEADER).
    refresh_token: Secret | None = None


class ProfilePatch(msgspec.Struct, forbid_unknown_fields=True):
    """Omitted fields stay; `null` clears `bio` and `avatar_media_id`."""

    display_name: DisplayName | msgspec.UnsetType = msgspec.UNSET
    bio: Bio | None | msgspec.UnsetType = msgspec.UNSET
    avatar_media_id: MediaId | None | msgspec.UnsetType = msgspec.UNSET


class PasswordChange(msgspec.Struct, kw_only=True):
    """`current_password` is required once the account has a password; an account made by a
    code or a link sets its first one without it. API keys survive the change unless
    `revoke_api_keys` is true."""

    password: Password
    current_password: Password | None = None
    revoke_api_keys: bool = False


class ApiKeyCreate(msgspec.Struct):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=80)]


class ApiKeyVerify(msgspec.Struct):
    """Internal: the gateway sends the SHA-256 of a presented key, never the key itself."""

    key_hash: Annotated[str, msgspec.Meta(min_length=64, max_length=64)]


class SystemUserEnsure(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Internal `PUT /auth/internal/system-users/{handle}`: the account is created when missing
    (nothing changes when it exists) and can never sign in."""

    display_name: DisplayName
    bio: Bio = ""


class UsersLookup(msgspec.Struct):
    ids: Annotated[list[Annotated[str, msgspec.Meta(max_length=64)]], msgspec.Meta(max_length=100)]


# Responses


class User(msgspec.Struct, kw_only=True):
    """The caller's own account."""

    id: str
    email: str
    display_name: str
    bio: str = ""
    avatar_media_id: str | None = None
    is_admin: bool = False
    has_password: bool = False
    created_at: datetime


class PublicUser(msgspec.Struct, kw_only=True):
    """What anyone may read about an account (persona_svc shows it beside personas)."""

    id: str
    display_name: str
    bio: str = ""
    avatar_media_id: str | None = None
    created_at: datetime


class TokenPair(msgspec.Struct, kw_only=True):
    user: User
    access_token: str
    # null when the refresh token went into the cookie (TOKEN_TRANSPORT_HEADER).
    refresh_token: str | None
    token_type: Literal["Bearer"] = "Bearer"
    expires_in: int = 900


class Notice(msgspec.Struct):
    """Body of the 202 answers, identical whether or not the address has an account."""

    message: str


class Session(msgspec.Struct, kw_only=True):
    id: str
    created_at: datetime
    last_used_at: datetime
    expires_at: datetime
    user_agent: str = ""
    client: str = ""
    current: bool = False


class ApiKey(msgspec.Struct, kw_only=True):
    id: str
    name: str
    # The first characters of the key, enough to recognise it in a list.
    prefix: str
    created_at: datetime
    last_used_at: datetime | None = None


class ApiKeyCreated(ApiKey, kw_only=True):
    # Shown once: only its hash is stored.
    key: str


class ApiKeyIdentity(msgspec.Struct, kw_only=True):
    user_id: str
    key_id: str
    is_admin: bool = False


class Jwks(msgspec.Struct):
    """RFC 7517 key set: public keys only."""

    keys: list[dict[str, Any]]


# The notify service contract (docs/auth.md): one POST per message.

# signup_code: a new address's code that completes its sign-up; signup_existing: someone signed
# up with an address that has an account, whose owner gets a sign-in code instead.
NotifyTemplate = Literal["auth_code", "magic_link", "password_reset", "signup_code", "signup_existing"]


class NotifyRequest(msgspec.Struct, kw_only=True, rename={"sender": "from"}):
    to: str
    sender: str
    template: NotifyTemplate
    subject: str
    text: str
    # Template variables: `code` or `link`, and `expires_in` (seconds).
    data: dict[str, str | int] = {}


class SignupStarted(msgspec.Struct):
    """`POST /auth/register`'s answer, the same whether the address has an account or not: the
    emailed code, given to `POST /auth/code/verify`, completes the sign-up (or signs the owner in)."""

    status: Literal["check_email"] = "check_email"
