"""Delivering codes and links: printed to stdout in standalone mode, POSTed to the notify
service otherwise (docs/auth.md describes the request). Neither path logs the secret
through the structured logger; the dev line is a plain print by design.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from typing import Protocol

import httpx
import structlog

from chassis.settings import Settings
from proto.auth import NotifyRequest
from proto.codec import json_encoder

log = structlog.get_logger("auth_svc.notify")

RETRY_BASE = 0.5
RETRY_AFTER_CAP = 30.0
CLOSE_GRACE = 5.0


class Delivery(Protocol):
    async def send(self, message: NotifyRequest) -> None: ...

    async def close(self) -> None: ...


def dev_line(message: NotifyRequest) -> str:
    # Sign-up mails carry a sign-in code too: the same line, read the same way.
    if message.template in ("auth_code", "signup_code", "signup_existing"):
        return f"[DEV] auth code created — use this code to log in code={message.data['code']}"
    if message.template == "magic_link":
        return f"[DEV] magic link created — open this link to log in link={message.data['link']}"
    return (
        "[DEV] password reset code created — use this code to reset your password "
        f"code={message.data['code']}"
    )


class ConsoleDelivery:
    """Standalone mode: the developer reads the code from the service's output."""

    async def send(self, message: NotifyRequest) -> None:
        print(dev_line(message), flush=True)

    async def close(self) -> None:
        return None


class HttpDelivery:
    """POST to NOTIFY_URL in the background (the API answers at once), retried on network
    errors, 408, 429 and 5xx with exponential backoff; one Idempotency-Key per message."""

    def __init__(self, settings: Settings) -> None:
        assert settings.notify_url
        self.url = settings.notify_url
        self.attempts = max(1, settings.notify_attempts)
        self.headers = {"content-type": "application/json"}
        if settings.notify_api_key:
            self.headers["authorization"] = f"Bearer {settings.notify_api_key}"
        if settings.notify_host:
            self.headers["host"] = settings.notify_host
        self.client = httpx.AsyncClient(timeout=settings.notify_timeout)
        self.tasks: set[asyncio.Task[bool]] = set()

    async def send(self, message: NotifyRequest) -> None:
        task = asyncio.create_task(self.deliver(message))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def deliver(self, message: NotifyRequest) -> bool:
        body = json_encoder.encode(message)
        headers = {**self.headers, "idempotency-key": uuid.uuid4().hex}
        for attempt in range(1, self.attempts + 1):
            delay = RETRY_BASE * 2 ** (attempt - 1)
            try:
                response = await self.client.post(self.url, content=body, headers=headers)
            except httpx.HTTPError as exc:
                log.warning(
                    "notify unreachable", template=message.template, attempt=attempt, error=type(exc).__name__
                )
            else:
                if response.status_code < 300:
                    log.info("notification sent", template=message.template, attempt=attempt)
                    return True
                if response.status_code not in (408, 429) and response.status_code < 500:
                    log.error(
                        "notify refused the message", template=message.template, status=response.status_code
                    )
                    return False
                log.warning(
                    "notify failed", template=message.template, attempt=attempt, status=response.status_code
                )
                retry_after = response.headers.get("retry-after", "")
                if retry_after.isdigit():
                    delay = min(float(retry_after), RETRY_AFTER_CAP)
            if attempt < self.attempts:
                await asyncio.sleep(delay)
        log.error("notification not delivered", template=message.template, attempts=self.attempts)
        return False

    async def close(self) -> None:
        if self.tasks:
            _, pending = await asyncio.wait(self.tasks, timeout=CLOSE_GRACE)
            for task in pending:
                task.cancel()
            for task in pending:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await self.client.aclose()


def delivery_for(settings: Settings) -> Delivery:
    """No database: the dev print (even with NOTIFY_URL set). A database: the notify service,
    or the dev print with a warning when NOTIFY_URL is missing."""
    if not settings.database_url:
        if settings.notify_url:
            log.info("standalone mode: codes are printed, NOTIFY_URL is not used without DATABASE_URL")
        return ConsoleDelivery()
    if not settings.notify_url:
        log.warning("DATABASE_URL is set but NOTIFY_URL is not: sign-in codes are printed to stdout")
        return ConsoleDelivery()
    return HttpDelivery(settings)
