"""How a token pair travels. API clients get the refresh token in the JSON body and send it
back in the body. A browser asks for the cookie transport with `X-Token-Transport: cookie`:
the refresh token then lives in an HttpOnly cookie scoped to `/auth/refresh`, out of script's
reach, and is never in the body. docs/auth.md, "Browsers: the refresh cookie"."""

from __future__ import annotations

from urllib.parse import urlsplit

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from chassis.errors import Forbidden
from chassis.responses import ok
from proto.auth import REFRESH_COOKIE, REFRESH_COOKIE_PATH, TOKEN_TRANSPORT_HEADER, TokenPair

# A token answer must not be kept by a browser cache or a proxy (RFC 6749 §5.1).
NO_STORE = {"cache-control": "no-store"}


def wants_cookie(request: Request) -> bool:
    return request.headers.get(TOKEN_TRANSPORT_HEADER, "").strip().lower() == "cookie"


def tokens(request: Request, pair: TokenPair, *, max_age: int, status: int = 200) -> Response:
    """The answer of every call that issues a pair (register, login, code, link, reset, refresh)."""
    if not wants_cookie(request) or pair.refresh_token is None:
        return ok(pair, status=status, headers=NO_STORE)
    response = ok(msgspec.structs.replace(pair, refresh_token=None), status=status, headers=NO_STORE)
    response.set_cookie(
        REFRESH_COOKIE,
        pair.refresh_token,
        max_age=max_age,
        path=REFRESH_COOKIE_PATH,
        secure=True,
        httponly=True,
        samesite="strict",
    )
    return response


def clear_cookie(response: Response) -> Response:
    """Logout, sign out everywhere, a dead refresh token: the browser drops its cookie."""
    response.delete_cookie(
        REFRESH_COOKIE, path=REFRESH_COOKIE_PATH, secure=True, httponly=True, samesite="strict"
    )
    return response


def cleared_cookie_header() -> dict[str, str]:
    """`clear_cookie` as headers, for an error answer (HTTPError.headers)."""
    return {"set-cookie": clear_cookie(Response()).headers["set-cookie"]}


def cookie_token(request: Request) -> str | None:
    """The refresh token from the cookie, once the request proves it comes from our own page.

    SameSite=Strict already keeps the cookie off cross-site requests; as OWASP advises, a check
    a cross-site page cannot forge comes on top: the custom header (a cross-origin page cannot
    send it without a CORS preflight, which the gateway never grants), then the browser's own
    Sec-Fetch-Site and Origin when it sends them.
    """
    token = request.cookies.get(REFRESH_COOKIE)
    if not token:
        return None
    if not wants_cookie(request):
        raise Forbidden(
            f"a refresh from the cookie needs the header `{TOKEN_TRANSPORT_HEADER}: cookie`",
            code="csrf_header_missing",
        )
    site = request.headers.get("sec-fetch-site")
    origin = request.headers.get("origin")
    if (site is not None and site != "same-origin") or (
        origin is not None and urlsplit(origin).netloc != request.headers.get("host")
    ):
        raise Forbidden(
            "a refresh from the cookie must come from this site's own pages",
            code="cross_site_refresh",
            details={"origin": origin or "", "sec_fetch_site": site or ""},
        )
    return token
