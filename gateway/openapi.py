"""The merged `/openapi.json` (each service's spec fetched over the bus) and `/docs`, Scalar's
API reference (vendored under web/vendor/scalar/) pointed at it."""

from __future__ import annotations

import asyncio
import time
from importlib import resources
from typing import Any

import structlog

from chassis.bridge import BusClient
from chassis.openapi import OpenAPI, error_response, merge
from gateway.auth import CREDENTIAL_OPTIONAL
from gateway.route_source import service_document

log = structlog.get_logger("gateway.openapi")
CACHE_SECONDS = 10.0
# What a reader of /docs needs before the first request; the endpoints follow.
API_DESCRIPTION = """\
Every endpoint of Persona Community, merged by the gateway from the description each service
publishes. Requests go to this gateway; "Test Request" in this reference sends them here too.

## Authenticate

Send one of two credentials with every request that needs an account:

- **Bearer token**: `Authorization: Bearer <access_token>`. Get one from `POST /auth/login`
  (`{"email", "password"}`), `POST /auth/register` or `POST /auth/code/verify`: the answer's
  `data.access_token` is valid for 15 minutes; `POST /auth/refresh` with
  `{"refresh_token": data.refresh_token}` gives a new pair. (The web app sends
  `X-Token-Transport: cookie` instead, and keeps its refresh token in an HttpOnly cookie.)
- **API key**: `X-API-Key: pck_…`, for scripts and integrations. Create one on the web app's
  Account page (or `POST /auth/api-keys` with a bearer token): the key is shown once, so keep
  it. It acts as you until revoked, has no session, and cannot create keys or change the
  password.

In this reference: in the **Authentication** box (at the top, and in every "Test Request"
window), choose *bearer* or *apiKey*, paste the token or key, and send the request.

## Answers

Every answer is an envelope: `{"data": …, "meta": {"request_id": …}}`, with
`meta.next_cursor` on lists that continue (pass it back as `?cursor=`). Errors are
`{"error": {"code", "message", "details"}, "meta": {"request_id"}}`; on 422,
`details.field` names the field at fault. 401 means no credential or one that is no longer
valid (`error.code` says which: `token_expired`, `session_revoked`, `invalid_api_key`, …).

## Live events

`GET /events` is a Server-Sent Events stream (not browsable here): get a single-use ticket
with `POST /events/tickets`, then open `/events?ticket=…`, or send the `Authorization`
header from a client that can.
"""


def credentials_checked(doc: dict[str, Any]) -> dict[str, Any]:
    """A service's document as the gateway serves its routes: a credential sent to an operation
    that needs none is still verified (401 when it is invalid, expired or revoked), except on the
    sign-in endpoints (`CREDENTIAL_OPTIONAL`); with a valid one the answer is the caller's."""
    for path, ops in doc.get("paths", {}).items():
        if path in CREDENTIAL_OPTIONAL:
            continue
        for op in ops.values():
            if "security" not in op:
                op["security"] = [{}, {"bearer": []}, {"apiKey": []}]
                op["responses"].setdefault("401", error_response(401))
    return doc


def docs_page() -> bytes:
    return resources.files("gateway").joinpath("docs.html").read_bytes()


class MergedSpec:
    def __init__(self, bus: BusClient, services: list[str], own: OpenAPI) -> None:
        self.bus = bus
        self.services = services
        self.own = own
        self._cached: tuple[float, dict[str, Any]] | None = None

    async def document(self) -> dict[str, Any]:
        if self._cached and time.monotonic() - self._cached[0] < CACHE_SECONDS:
            return self._cached[1]
        docs = await asyncio.gather(*(service_document(self.bus, s) for s in self.services))
        found = [credentials_checked(d) for d in docs if d is not None]
        merged = merge([self.own.document(), *found], title="Persona Community API", version=self.own.version)
        merged["info"]["description"] = API_DESCRIPTION
        # Relative: "try it" and generated clients talk to whichever gateway served the document.
        merged["servers"] = [{"url": "/", "description": "this gateway"}]
        missing = [s for s, d in zip(self.services, docs, strict=True) if d is None]
        if missing:
            merged["info"]["x-unavailable-services"] = missing
        else:
            self._cached = (time.monotonic(), merged)
        return merged
