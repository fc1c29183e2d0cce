"""Each service's app as its `create_app` builds it, never started (nothing connects), and the
OpenAPI document it serves at `/openapi.json`: what the gateway reads its routes from."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.applications import Starlette
from starlette.testclient import TestClient

from auth_svc.app import create_app as auth_app
from chassis.settings import Settings
from media_svc.app import create_app as media_app
from persona_svc.app import create_app as persona_app

SERVICE_APPS: dict[str, Callable[[Settings], Starlette]] = {
    "auth": auth_app,
    "persona": persona_app,
    "media": media_app,
}


def served_document(app: Starlette) -> dict[str, Any]:
    """The document as a client reads it (the lifespan does not run: no bus, no database)."""
    response = TestClient(app).get("/openapi.json")
    assert response.status_code == 200, response.text
    document: dict[str, Any] = response.json()
    return document


def service_documents(settings: Settings | None = None) -> list[dict[str, Any]]:
    return [served_document(create(settings or Settings())) for create in SERVICE_APPS.values()]
