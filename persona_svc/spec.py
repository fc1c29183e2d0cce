"""OpenAPI description of persona_svc's endpoints."""

from __future__ import annotations

from chassis.openapi import OpenAPI


def build_spec() -> OpenAPI:
    spec = OpenAPI("persona_svc", description="Personas, community, conversations and character cards.")
    return spec
