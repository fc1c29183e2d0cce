"""A real S3-protocol server for tests: moto in server mode, a subprocess on a free loopback port."""

from __future__ import annotations

import subprocess
import sys
import uuid
from typing import Any

from chassis.settings import Settings
from chassis.storage import open_storage
from tests.support.natsd import wait_port
from tests.support.ports import free_port


class MotoServer:
    """moto in server mode (`python -m moto.server`), a subprocess on a free loopback port."""

    def __init__(self) -> None:
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> MotoServer:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_port(self.port, timeout=30.0)
        return self

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=15)
            self.process = None


def s3_settings(moto: MotoServer, bucket: str | None = None) -> dict[str, Any]:
    return {
        "storage": "s3",
        "s3_endpoint_url": moto.url,
        "s3_bucket": bucket or f"media-{uuid.uuid4().hex[:12]}",
        "s3_access_key_id": "testing",
        "s3_secret_access_key": "testing",
        "s3_part_size": 5 * 1024 * 1024,
    }


async def create_bucket(settings: Settings) -> None:
    async with open_storage(settings) as storage:
        client_: Any = getattr(storage, "client")  # noqa: B009 - the S3 storage's aiobotocore client
        await client_.create_bucket(Bucket=settings.s3_bucket)
