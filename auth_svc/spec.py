"""OpenAPI description of auth_svc's endpoints."""

from __future__ import annotations

from chassis.openapi import OpenAPI


def build_spec() -> OpenAPI:
    spec = OpenAPI("auth_svc", description="Accounts, sign-in, tokens, sessions and API keys.")
    return spec
