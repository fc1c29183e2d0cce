"""auth_svc's logic: accounts, sign-in, refresh rotation, sessions, codes, API keys."""

from __future__ import annotations

import math
import re
import secrets
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import msgspec
import structlog

from auth_svc import passwords
from auth_svc.codes import CodeHasher, new_code
from auth_svc.keys import SigningKeys
from auth_svc.notify import Delivery
from auth_svc.ratelimit import RateLimiter, open_backoff
from auth_svc.revocation import Revocations
from auth_svc.store import (
    ApiKeyRecord,
    AuthStore,
    CodePurpose,
    CodeRecord,
    EmailTaken,
    RefreshRecord,
    SessionRecord,
    UserRecord,
)
from auth_svc.tokens import API_KEY_PREFIX, API_KEY_SHOWN, REFRESH_PREFIX, AccessTokens, digest, new_secret
from chassis.clock import utcnow
from chassis.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    NotFound,
    TooManyRequests,
    Unauthorized,
    UnprocessableEntity,
)
from chassis.ids import new_id
from chassis.settings import Settings
from proto.auth import (
    SYSTEM_EMAIL_DOMAIN,
    ApiKey,
    ApiKeyCreated,
    ApiKeyIdentity,
    CodeVerifyRequest,
    LoginRequest,
    NotifyRequest,
    NotifyTemplate,
    PasswordChange,
    ProfilePatch,
    PublicUser,
    RegisterRequest,
    ResetRequest,
    Session,
    SignupStarted,
    SystemUserEnsure,
    TokenPair,
    User,
)
from proto.identity import Identity

log = structlog.get_logger("auth_svc")

MAX_API_KEYS = 50
# Stable id of the dev account, so tokens and other services' rows survive a restart of
# the in-memory store.
DEV_USER_NAMESPACE = uuid.UUID("6f1c3f0e-2b7a-4c55-9a51-0d4b3c2a1e77")
# Stable ids of system accounts (one per handle), for the same reason.
SYSTEM_USER_NAMESPACE = uuid.UUID("0b7e3a52-5d0c-4f4e-8f3a-6c1d2e9b4a10")
SYSTEM_HANDLE = re.compile(r"^[a-z0-9][a-z0-9-]{0,31}$")

WRONG_CREDENTIALS = "wrong email or password"
# Accounts created without a name are shown as `reader-<4 digits>` (see generated_handle).
HANDLE_PREFIX = "reader"
CONTROL = re.compile(r"[\x00-\x1f\x7f]")
LOOKS_LIKE_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
# The web UI's magic-link landing page (web/js/views/auth.js `magic`), relative to PUBLIC_URL.
MAGIC_LINK_PAGE = "#/magic"
BAD_CODE = "the code is wrong or has expired; request a new one"
LOCKED_CODE = "too many wrong tries: this code is locked, request a new one"


class RequestInfo(msgspec.Struct, frozen=True):
    client: str = ""
    user_agent: str = ""


def normalize_email(email: str) -> str:
    return email.strip().lower()


def is_system_email(email: str) -> bool:
    """A system account's address: nobody registers it, receives its mail or signs in with it."""
    return email.rpartition("@")[2] == SYSTEM_EMAIL_DOMAIN


def parse_emails(value: str) -> frozenset[str]:
    return frozenset(normalize_email(e) for e in value.split(",") if e.strip())


def to_user(user: UserRecord) -> User:
    found = msgspec.convert(user, User, from_attributes=True)
    return msgspec.structs.replace(found, has_password=user.password_hash is not None)


def to_public(user: UserRecord) -> PublicUser:
    return msgspec.convert(user, PublicUser, from_attributes=True)


def to_api_key(key: ApiKeyRecord) -> ApiKey:
    return msgspec.convert(key, ApiKey, from_attributes=True)


class AuthService:
    def __init__(
        self,
        settings: Settings,
        store: AuthStore,
        keys: SigningKeys,
        limiter: RateLimiter,
        revocations: Revocations,
        delivery: Delivery,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.settings = settings
        self.store = store
        self.keys = keys
        self.tokens = AccessTokens(settings, keys)
        self.codes = CodeHasher(keys.peppers())
        self.limiter = limiter
        self.backoff = open_backoff(settings, limiter)
        self.revocations = revocations
        self.delivery = delivery
        self.clock = clock
        self.admins = parse_emails(settings.admin_emails)
        self.refresh_ttl = timedelta(seconds=settings.refresh_token_ttl)
        self.refresh_grace = timedelta(seconds=settings.refresh_reuse_grace)
        self.code_ttl = timedelta(seconds=settings.code_ttl)

    # Sign-up and sign-in

    async def register(self, body: RegisterRequest, info: RequestInfo) -> TokenPair | SignupStarted:
        """With email confirmation (the default) the same answer and the same work for a new and
        a taken address; the mail differs (docs/auth.md, "Sign-up")."""
        email = normalize_email(body.email)
        if is_system_email(email):
            raise UnprocessableEntity("this address is reserved", field="email")
        name = optional_display_name(body.display_name)
        await self._limit_signup(email, info)
        password_hash = await passwords.hash_password(body.password, self.settings.password_hash_cost)
        if self.settings.signup_confirmation == "email":
            await self._start_signup(email, password_hash, name, info)
            return SignupStarted()
        user = self._new_user(email, password_hash, name)
        try:
            await self.store.create_user(user)
        except EmailTaken:
            raise Conflict(
                "an account with this email exists; sign in instead",
                code="email_taken",
                details={"field": "email"},
            ) from None
        log.info("account created", user_id=user.id, via="password")
        return await self._sign_in(user, info)

    async def login(self, body: LoginRequest, info: RequestInfo) -> TokenPair:
        email = normalize_email(body.email)
        await self._limit(("login_client", info.client, self.settings.login_rate_per_client))
        # Failures slow down one (email, client) pair, so an attacker elsewhere never locks the
        # owner out; checked before bcrypt, so a waiting pair costs no CPU.
        pair = f"{email}\0{info.client}"
        wait = await self.backoff.wait("login_fail", pair)
        if wait is not None:
            raise self._login_paused(wait, "login_failures", "too many wrong passwords from here")
        wait = await self.limiter.over("login_fail_email", email, self.settings.login_failures_per_email)
        if wait is not None:
            raise self._login_paused(wait, "login_failures_per_email", "too many wrong passwords")
        user = await self.store.get_user_by_email(email)
        # Same bcrypt time and the same answer for an unknown email and a wrong password.
        ok = await passwords.verify_password(
            body.password, user.password_hash if user else None, self.settings.password_hash_cost
        )
        if not ok or user is None:
            failures = await self.backoff.failed("login_fail", pair)
            await self.limiter.hit("login_fail_email", email, self.settings.login_failures_per_email)
            details: dict[str, Any] = {}
            if delay := self.backoff.delay(failures):
                details["retry_after"] = math.ceil(delay)
            raise Unauthorized(WRONG_CREDENTIALS, code="invalid_credentials", details=details)
        await self.backoff.clear("login_fail", pair)
        return await self._sign_in(user, info)

    async def request_code(self, email: str, info: RequestInfo) -> None:
        email = normalize_email(email)
        if not await self._may_send(email, info):
            return
        code = new_code()
        await self._put_code(email, "login", self.codes.hash(email, "login", code))
        await self._send(email, "auth_code", "Your sign-in code", f"Your sign-in code is {code}", code=code)

    async def verify_code(self, body: CodeVerifyRequest, info: RequestInfo) -> TokenPair:
        email = normalize_email(body.email)
        # Checked before the code is spent, so a refused name does not cost the code.
        name = optional_display_name(body.display_name)
        await self._limit(("verify_client", info.client, self.settings.login_rate_per_client))
        record = await self._redeem(email, "login", body.code)
        # A sign-up's code creates the account with what was given at sign-up, its password only
        # when the same password comes back with the code: a stranger who signed up with this
        # address (their mail is the one the owner reads) never gets their password on the
        # account. An existing account is signed in as it is (its password never changes here).
        password_hash = record.signup_password_hash
        if password_hash is not None and not (
            body.password is not None
            and await passwords.verify_password(
                body.password, password_hash, self.settings.password_hash_cost
            )
        ):
            log.info("sign-up code used without its password: the account starts without one")
            password_hash = None
        user = await self._user_for(email, name or record.signup_display_name, password_hash)
        return await self._sign_in(user, info)

    async def request_magic_link(self, email: str, info: RequestInfo) -> None:
        email = normalize_email(email)
        if not await self._may_send(email, info):
            return
        token = new_secret()
        await self._put_code(email, "magic", digest(token))
        # By default the web UI's landing page, which calls GET /auth/magic-link/verify itself.
        base = self.settings.magic_link_url or f"{self.settings.public_url.rstrip('/')}/{MAGIC_LINK_PAGE}"
        link = f"{base}{'&' if '?' in base else '?'}token={token}"
        await self._send(
            email, "magic_link", "Your sign-in link", f"Sign in with this link: {link}", link=link
        )

    async def verify_magic_link(self, token: str, info: RequestInfo) -> TokenPair:
        await self._limit(("verify_client", info.client, self.settings.login_rate_per_client))
        record = await self.store.find_code(digest(token), "magic")
        now = self.clock()
        if record is None or record.consumed_at is not None or record.expires_at <= now:
            raise Unauthorized("this sign-in link is used or expired; request a new one", code="invalid_link")
        if not await self.store.consume_code(record.id, now, self.settings.code_max_attempts):
            raise Unauthorized("this sign-in link is used or expired; request a new one", code="invalid_link")
        return await self._sign_in(await self._user_for(record.email), info)

    # Passwords

    async def forgot_password(self, email: str, info: RequestInfo) -> None:
        email = normalize_email(email)
        if not await self._may_send(email, info):
            return
        user = await self.store.get_user_by_email(email)
        if user is None:
            return
        code = new_code()
        await self._put_code(email, "reset", self.codes.hash(email, "reset", code))
        await self._send(
            email, "password_reset", "Reset your password", f"Your password reset code is {code}", code=code
        )

    async def reset_password(self, body: ResetRequest, info: RequestInfo) -> TokenPair:
        email = normalize_email(body.email)
        passwords.check_length(body.password)
        await self._limit(("verify_client", info.client, self.settings.login_rate_per_client))
        await self._redeem(email, "reset", body.code)
        user = await self.store.get_user_by_email(email)
        if user is None:
            raise Unauthorized(BAD_CODE, code="invalid_code")
        changed = await self.store.update_user(
            user.id,
            {"password_hash": await passwords.hash_password(body.password, self.settings.password_hash_cost)},
            self.clock(),
        )
        assert changed is not None
        revoked = await self._revoke_all(user.id)
        # Whoever asked for the reset may be recovering a compromised account: no key survives.
        keys = await self._revoke_api_keys(user.id)
        log.info("password reset", user_id=user.id, sessions_revoked=len(revoked), api_keys_revoked=len(keys))
        return await self._sign_in(changed, info)

    async def change_password(self, identity: Identity, body: PasswordChange) -> None:
        if identity.via != "token":
            raise Forbidden("sign in with a password or code to change the password (not an API key)")
        user = await self._current(identity)
        passwords.check_length(body.password)
        if user.password_hash is None:
            # An account made by a code or a link: its first password needs no current one. The
            # other sessions stay (nothing they knew changed).
            hashed = await passwords.hash_password(body.password, self.settings.password_hash_cost)
            if await self.store.set_first_password(user.id, hashed, self.clock()):
                keys = await self._revoke_api_keys(user.id) if body.revoke_api_keys else []
                log.info("first password set", user_id=user.id, api_keys_revoked=len(keys))
                return
            user = await self._current(identity)  # one was set meanwhile: now it must be known
        if body.current_password is None:
            raise UnprocessableEntity(
                "current_password is required: this account has a password", field="current_password"
            )
        if not await passwords.verify_password(
            body.current_password, user.password_hash, self.settings.password_hash_cost
        ):
            raise Forbidden(
                "the current password is wrong", code="wrong_password", details={"field": "current_password"}
            )
        await self.store.update_user(
            user.id,
            {"password_hash": await passwords.hash_password(body.password, self.settings.password_hash_cost)},
            self.clock(),
        )
        revoked = await self._revoke_all(user.id, keep=identity.session_id)
        keys = await self._revoke_api_keys(user.id) if body.revoke_api_keys else []
        log.info(
            "password changed", user_id=user.id, sessions_revoked=len(revoked), api_keys_revoked=len(keys)
        )

    # Tokens and sessions

    async def refresh(self, token: str, info: RequestInfo) -> TokenPair:
        now = self.clock()
        fresh = new_secret(REFRESH_PREFIX)
        rotation = await self.store.rotate_refresh(
            digest(token), digest(fresh), now, now + self.refresh_ttl, grace=self.refresh_grace
        )
        if rotation.status == "reused":
            assert rotation.session_id is not None
            await self.store.revoke_session(rotation.session_id, now)
            await self.revocations.session(rotation.session_id)
            log.warning("refresh token reused: session revoked", session_id=rotation.session_id)
            raise Unauthorized(
                "this refresh token was already used: the session is revoked, sign in again",
                code="refresh_token_reused",
            )
        if rotation.status != "ok" or rotation.user_id is None or rotation.session_id is None:
            raise Unauthorized("the refresh token is not valid; sign in again", code="invalid_refresh_token")
        user = await self.store.get_user(rotation.user_id)
        if user is None:
            raise Unauthorized("the refresh token is not valid; sign in again", code="invalid_refresh_token")
        user = await self._with_admin(user)
        if rotation.replayed:
            # Two tabs refreshing at once: the later one gets its own pair of the same session.
            log.info("refresh token presented again within the grace window", session_id=rotation.session_id)
        return self._pair(user, rotation.session_id, fresh, now)

    async def logout(self, identity: Identity) -> None:
        if identity.session_id is None:
            raise BadRequest("API keys have no session; revoke the key with DELETE /auth/api-keys/{key_id}")
        session = await self.store.get_session(identity.session_id)
        if session is None or session.user_id != identity.user_id:
            raise NotFound("no such session")
        await self._revoke(session.id)

    async def sessions(self, identity: Identity) -> list[Session]:
        found = await self.store.list_sessions(identity.user_id, self.clock())
        return [
            Session(
                id=s.id,
                created_at=s.created_at,
                last_used_at=s.last_used_at,
                expires_at=s.expires_at,
                user_agent=s.user_agent,
                client=s.client,
                current=s.id == identity.session_id,
            )
            for s in found
        ]

    async def sign_out_everywhere(self, identity: Identity) -> None:
        """Every session of the account ends, the caller's too; API keys are left alone."""
        if identity.via != "token":
            raise Forbidden("sessions are signed out by a signed-in user, not by an API key")
        revoked = await self._revoke_all(identity.user_id)
        log.info("signed out everywhere", user_id=identity.user_id, sessions_revoked=len(revoked))

    async def delete_session(self, identity: Identity, session_id: str) -> None:
        session = await self.store.get_session(session_id)
        if session is None or session.user_id != identity.user_id:
            raise NotFound("no such session")
        await self._revoke(session.id)

    # Profile

    async def me(self, identity: Identity) -> User:
        return to_user(await self._current(identity))

    async def update_me(self, identity: Identity, patch: ProfilePatch) -> User:
        changes: dict[str, Any] = {}
        if patch.display_name is not msgspec.UNSET:
            changes["display_name"] = display_name(patch.display_name)
        if patch.bio is not msgspec.UNSET:
            changes["bio"] = patch.bio or ""
        if patch.avatar_media_id is not msgspec.UNSET:
            changes["avatar_media_id"] = patch.avatar_media_id
        user = await self.store.update_user(identity.user_id, changes, self.clock())
        if user is None:
            raise Unauthorized("this account no longer exists")
        return to_user(user)

    async def public_user(self, user_id: str) -> PublicUser:
        user = await self.store.get_user(user_id)
        if user is None:
            raise NotFound("no such user")
        return to_public(user)

    async def lookup(self, user_ids: list[str]) -> list[PublicUser]:
        return [to_public(u) for u in await self.store.get_users(user_ids)]

    # API keys

    async def create_api_key(self, identity: Identity, name: str) -> ApiKeyCreated:
        if identity.via != "token":
            raise Forbidden("API keys are created by a signed-in user, not by another API key")
        if len(await self.store.list_api_keys(identity.user_id)) >= MAX_API_KEYS:
            raise Conflict(f"at most {MAX_API_KEYS} API keys; revoke one first", code="too_many_api_keys")
        key = new_secret(API_KEY_PREFIX)
        record = ApiKeyRecord(
            id=new_id(),
            user_id=identity.user_id,
            name=name.strip() or "API key",
            prefix=key[:API_KEY_SHOWN],
            key_hash=digest(key),
            created_at=self.clock(),
        )
        await self.store.create_api_key(record)
        log.info("api key created", user_id=identity.user_id, key_id=record.id)
        shown = to_api_key(record)
        return ApiKeyCreated(**msgspec.structs.asdict(shown), key=key)

    async def api_keys(self, identity: Identity) -> list[ApiKey]:
        return [to_api_key(k) for k in await self.store.list_api_keys(identity.user_id)]

    async def delete_api_key(self, identity: Identity, key_id: str) -> None:
        if not await self.store.revoke_api_key(identity.user_id, key_id, self.clock()):
            raise NotFound("no such API key")
        await self.revocations.api_key(key_id)
        log.info("api key revoked", user_id=identity.user_id, key_id=key_id)

    async def verify_api_key(self, key_hash: str) -> ApiKeyIdentity:
        key = await self.store.find_api_key(key_hash)
        user = await self.store.get_user(key.user_id) if key else None
        if key is None or user is None:
            raise NotFound("no such API key")
        await self.store.touch_api_key(key.id, self.clock())
        return ApiKeyIdentity(
            user_id=user.id, key_id=key.id, is_admin=user.is_admin or user.email in self.admins
        )

    def jwks(self) -> dict[str, Any]:
        return {"keys": self.keys.jwks()}

    # Start-up

    async def seed_dev_user(self) -> None:
        """DEV_USER_EMAIL/DEV_USER_PASSWORD: create the account when missing (every start, so an
        in-memory store gets it back after a restart, with the same id)."""
        if not self.settings.dev_user_email:
            return
        email = normalize_email(self.settings.dev_user_email)
        if await self.store.get_user_by_email(email) is not None:
            return
        password = self.settings.dev_user_password
        if password:
            passwords.check_length(password, field="DEV_USER_PASSWORD")
        hashed = (
            await passwords.hash_password(password, self.settings.password_hash_cost) if password else None
        )
        # A name-based id: the same account after every restart of an in-memory store.
        user = self._new_user(email, hashed, user_id=str(uuid.uuid5(DEV_USER_NAMESPACE, email)))
        try:
            await self.store.create_user(user)
        except EmailTaken:
            return  # Another replica seeded it just now.
        log.info("dev user seeded", email=email, user_id=user.id, with_password=password is not None)

    async def ensure_system_user(self, handle: str, body: SystemUserEnsure) -> PublicUser:
        """A service's own account (`<handle>@system.invalid`, no password), created when missing
        under a name-based id, so every replica and every restart finds the same account."""
        if not SYSTEM_HANDLE.match(handle):
            raise UnprocessableEntity("handle must be 1-32 of a-z, 0-9 and '-'", field="handle")
        email = f"{handle}@{SYSTEM_EMAIL_DOMAIN}"
        user = await self.store.get_user_by_email(email)
        if user is None:
            user = self._new_user(
                email, None, body.display_name.strip(), user_id=str(uuid.uuid5(SYSTEM_USER_NAMESPACE, handle))
            )
            user.bio = body.bio
            try:
                await self.store.create_user(user)
                log.info("system account created", handle=handle, user_id=user.id)
            except EmailTaken:
                user = await self.store.get_user_by_email(email)  # another replica, just now
                assert user is not None
        return to_public(user)

    async def promote_admins(self) -> None:
        for email in self.admins:
            user = await self.store.get_user_by_email(email)
            if user is not None:
                await self._with_admin(user)

    # Helpers

    async def _current(self, identity: Identity) -> UserRecord:
        user = await self.store.get_user(identity.user_id)
        if user is None:
            raise Unauthorized("this account no longer exists")
        return user

    async def _with_admin(self, user: UserRecord) -> UserRecord:
        if user.is_admin or user.email not in self.admins:
            return user
        promoted = await self.store.update_user(user.id, {"is_admin": True}, self.clock())
        log.info("account promoted to administrator", user_id=user.id)
        return promoted or user

    async def _user_for(self, email: str, name: str = "", password_hash: str | None = None) -> UserRecord:
        """The account of a proven email address, created on first sign-in (named `name`)."""
        user = await self.store.get_user_by_email(email)
        if user is not None:
            return user
        user = self._new_user(email, password_hash, name)
        try:
            await self.store.create_user(user)
        except EmailTaken:
            existing = await self.store.get_user_by_email(email)
            assert existing is not None
            return existing
        log.info("account created", user_id=user.id, via="signup" if password_hash else "code")
        return user

    def _new_user(
        self, email: str, password_hash: str | None, display_name: str = "", user_id: str | None = None
    ) -> UserRecord:
        now = self.clock()
        return UserRecord(
            id=user_id or new_id(),
            email=email,
            password_hash=password_hash,
            display_name=display_name or generated_handle(),
            is_admin=email in self.admins,
            created_at=now,
            updated_at=now,
        )

    async def _sign_in(self, user: UserRecord, info: RequestInfo) -> TokenPair:
        if is_system_email(user.email):
            raise Unauthorized(WRONG_CREDENTIALS, code="invalid_credentials")
        user = await self._with_admin(user)
        now = self.clock()
        session_id = new_id()
        refresh = new_secret(REFRESH_PREFIX)
        await self.store.create_session(
            SessionRecord(
                id=session_id,
                user_id=user.id,
                created_at=now,
                last_used_at=now,
                expires_at=now + self.refresh_ttl,
                user_agent=info.user_agent[:256],
                client=info.client[:64],
            ),
            RefreshRecord(
                token_hash=digest(refresh),
                session_id=session_id,
                created_at=now,
                expires_at=now + self.refresh_ttl,
            ),
        )
        return self._pair(user, session_id, refresh, now)

    def _pair(self, user: UserRecord, session_id: str, refresh: str, now: datetime) -> TokenPair:
        return TokenPair(
            user=to_user(user),
            access_token=self.tokens.issue(user.id, session_id, user.is_admin, now),
            refresh_token=refresh,
            expires_in=self.tokens.ttl,
        )

    async def _revoke(self, session_id: str) -> None:
        # Store first (no refresh from now on), then the bucket (gateways refuse its tokens).
        await self.store.revoke_session(session_id, self.clock())
        await self.revocations.session(session_id)

    async def _revoke_all(self, user_id: str, keep: str | None = None) -> list[str]:
        revoked = await self.store.revoke_user_sessions(user_id, self.clock(), keep=keep)
        for session_id in revoked:
            await self.revocations.session(session_id)
        return revoked

    async def _revoke_api_keys(self, user_id: str) -> list[str]:
        revoked = await self.store.revoke_user_api_keys(user_id, self.clock())
        for key_id in revoked:
            await self.revocations.api_key(key_id)
        return revoked

    async def _limit(self, *counters: tuple[str, str, int]) -> None:
        waits = [await self.limiter.hit(scope, subject, limit) for scope, subject, limit in counters]
        over = [w for w in waits if w is not None]
        if over:
            wait = max(over)
            raise TooManyRequests(f"too many attempts; retry in {int(wait) + 1} s", retry_after=wait)

    async def _may_send(self, email: str, info: RequestInfo) -> bool:
        """Mail-bombing guard: over the limit nothing is sent, and the answer is still 202. Nothing
        is ever sent for a system account either: no code or link can sign it in."""
        if is_system_email(email):
            return False
        waits = [
            await self.limiter.hit("send_email", email, self.settings.code_send_per_email),
            await self.limiter.hit("send_client", info.client, self.settings.login_rate_per_client),
        ]
        if any(w is not None for w in waits):
            log.warning("sign-in mail not sent: rate limited")
            return False
        return True

    async def _put_code(
        self,
        email: str,
        purpose: CodePurpose,
        code_hash: str,
        signup_password_hash: str | None = None,
        signup_display_name: str = "",
    ) -> None:
        now = self.clock()
        await self.store.put_code(
            CodeRecord(
                id=new_id(),
                email=email,
                purpose=purpose,
                code_hash=code_hash,
                created_at=now,
                expires_at=now + self.code_ttl,
                signup_password_hash=signup_password_hash,
                signup_display_name=signup_display_name,
            )
        )

    async def _redeem(self, email: str, purpose: CodePurpose, code: str) -> CodeRecord:
        record = await self.store.latest_code(email, purpose)
        now = self.clock()
        limit = self.settings.code_max_attempts
        if record is None or record.consumed_at is not None or record.expires_at <= now:
            raise Unauthorized(BAD_CODE, code="invalid_code")
        if record.attempts >= limit:
            raise Unauthorized(LOCKED_CODE, code="code_locked")
        if not self.codes.matches(record.code_hash, email, purpose, code):
            attempts = await self.store.add_code_failure(record.id)
            left = max(0, limit - attempts)
            raise Unauthorized(
                f"{BAD_CODE} ({left} tries left)", code="invalid_code", details={"tries_left": left}
            )
        if not await self.store.consume_code(record.id, now, limit):
            raise Unauthorized(BAD_CODE, code="invalid_code")
        return record

    async def _limit_signup(self, email: str, info: RequestInfo) -> None:
        """Sign-ups per client address, then per email domain (a client over its limit does not
        use up its domain's); 429 naming the limit."""
        domain = email.rpartition("@")[2]
        settings = self.settings
        limits = (
            ("signup_per_client", info.client, settings.signup_rate_per_client, "from this network"),
            ("signup_per_domain", domain, settings.signup_rate_per_domain, f"with addresses at {domain}"),
        )
        for scope, subject, limit, where in limits:
            wait = await self.limiter.hit(scope, subject, limit)
            if wait is not None:
                seconds = math.ceil(wait)
                raise TooManyRequests(
                    f"too many sign-ups {where}: {limit} per {int(self.settings.login_rate_window)} s; "
                    f"retry in {seconds} s",
                    retry_after=wait,
                    details={"limit": scope, "max": limit, "retry_after": seconds},
                )

    async def _start_signup(self, email: str, password_hash: str, name: str, info: RequestInfo) -> None:
        """Mail a code that completes the sign-up, or, when the address has an account, tells its
        owner and offers a sign-in code. Same work either way: one read, one code, one mail."""
        if not await self._may_send(email, info):
            return
        user = await self.store.get_user_by_email(email)
        code = new_code()
        code_hash = self.codes.hash(email, "login", code)
        if user is None:
            await self._put_code(email, "login", code_hash, password_hash, name)
            await self._send(
                email,
                "signup_code",
                "Finish signing up",
                f"Your sign-up code is {code}. Enter it to create your account.",
                code=code,
            )
            return
        await self._put_code(email, "login", code_hash)
        await self._send(
            email,
            "signup_existing",
            "Someone tried to sign up with your address",
            "Someone, perhaps you, tried to create an account with this address, which already has "
            f"one. Nothing was changed. To sign in, use the code {code}.",
            code=code,
        )

    def _login_paused(self, wait: float, limit: str, what: str) -> TooManyRequests:
        seconds = math.ceil(wait)
        return TooManyRequests(
            f"{what}: retry in {seconds} s, or sign in with an emailed code",
            retry_after=wait,
            details={"limit": limit, "retry_after": seconds},
        )

    async def _send(self, email: str, template: NotifyTemplate, subject: str, text: str, **data: str) -> None:
        message = NotifyRequest(
            to=email,
            sender=self.settings.notify_from,
            template=template,
            subject=subject,
            text=f"{text}\n\nIt expires in {int(self.settings.code_ttl // 60)} minutes. "
            "If you did not ask for it, ignore this message.",
            data={**data, "expires_in": int(self.settings.code_ttl)},
        )
        await self.delivery.send(message)


def display_name(value: str) -> str:
    """What others see, trimmed; 422 naming `display_name` when blank, holding control
    characters, or an email address (a name is shown to everyone; an address never is)."""
    name = value.strip()
    if not name:
        raise UnprocessableEntity("a display name cannot be blank", field="display_name")
    if CONTROL.search(name):
        raise UnprocessableEntity("a display name cannot contain control characters", field="display_name")
    if LOOKS_LIKE_EMAIL.search(name):
        raise UnprocessableEntity(
            "a display name cannot be an email address: everyone sees it", field="display_name"
        )
    return name


def optional_display_name(value: str | None) -> str:
    """A name offered at sign-up: "" (a handle is generated) when left out or blank."""
    return display_name(value) if value and value.strip() else ""


def generated_handle() -> str:
    """The public name of an account whose owner gave none: `reader-4821`. Never derived from
    the email address, whose local part often is the person's real name."""
    return f"{HANDLE_PREFIX}-{1000 + secrets.randbelow(9000)}"
