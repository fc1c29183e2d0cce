"""OpenAPI description of media_svc's endpoints."""

from __future__ import annotations

from chassis.openapi import OpenAPI


def build_spec() -> OpenAPI:
    spec = OpenAPI("media_svc", description="Uploads, variants, image and video generation.")
    return spec
