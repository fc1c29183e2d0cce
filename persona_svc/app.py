"""persona_svc: routes, served over the bus as `http.persona`."""

from __future__ import annotations

from pathlib import Path

from starlette.applications import Starlette
from starlette.routing import BaseRoute

from chassis.app import create_service_app
from chassis.settings import Settings
from persona_svc.spec import build_spec

SERVICE = "persona"
MIGRATIONS = Path(__file__).parent / "migrations"


def routes() -> list[BaseRoute]:
    return []


def create_app(settings: Settings) -> Starlette:
    return create_service_app(SERVICE, settings, routes(), spec=build_spec(), migrations=MIGRATIONS)
