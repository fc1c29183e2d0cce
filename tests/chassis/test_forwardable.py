"""Which request headers cross the bridge: credentials stay at the gateway, and of the cookies
only a service's own (`<service>_…`) reach it (every site on localhost shares the cookie jar)."""

from __future__ import annotations

from chassis.bridge import forwardable

BROWSER = [
    ("host", "localhost:8000"),
    ("authorization", "Bearer secret"),
    ("x-api-key", "pck_secret"),
    ("connection", "keep-alive"),
    ("cookie", "other_app=1; auth_refresh=rt_abc; session=xyz"),
    # HTTP/2 may split cookies into several fields.
    ("cookie", "auth_theme=dark"),
    ("accept", "application/json"),
]


def test_a_service_gets_only_its_own_cookies() -> None:
    assert forwardable(BROWSER, "auth") == [
        ("host", "localhost:8000"),
        ("accept", "application/json"),
        ("cookie", "auth_refresh=rt_abc; auth_theme=dark"),
    ]
    # Another service never sees auth_svc's refresh cookie, nor any other.
    assert forwardable(BROWSER, "persona") == [("host", "localhost:8000"), ("accept", "application/json")]
    assert forwardable(BROWSER) == [("host", "localhost:8000"), ("accept", "application/json")]
