"""A real language model for tests: `python -m model_server` (llama.cpp) with SmolLM2-135M, the
small packaged model that `make test` installs. The plumbing is tested, not the prose."""

from __future__ import annotations

import contextlib
import re
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx

from tests.support.ports import free_port
from tests.support.procs import Proc

SMALL_MODEL = "smollm2-135m-instruct"


class ModelServer:
    """The model server as a process; `port` its OpenAI-compatible API, `proc.url` its health port."""

    # The context per slot `make dev` gives (a draft's corrective second ask holds the first answer).
    def __init__(self, folder: Path, slots: int = 2, model: str = SMALL_MODEL, context: int = 4096) -> None:
        self.port = free_port()
        self.key = secrets.token_urlsafe(16)
        self.model = model
        self.slots = slots
        env = {
            "MODEL_SERVER_MODEL": model,
            "MODEL_SERVER_PORT": str(self.port),
            "MODEL_SERVER_CONTEXT": str(context),
            "LLM_API_KEY": self.key,
            "LLM_PARALLEL": str(slots),
            "DATA_DIR": str(folder / "data"),
        }
        self.proc = Proc("model_server", "model_server", env, folder / "model_server.log")

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def worker_settings(self) -> dict[str, Any]:
        """What points a worker at this server (its Settings fields)."""
        return {
            "text_provider": "openai",
            "llm_base_url": self.base_url,
            "llm_api_key": self.key,
            "llm_model": self.model,
            "llm_parallel": self.slots,
        }

    def worker_env(self) -> dict[str, str]:
        """The same, as the environment of a worker process."""
        return {k.upper(): str(v) for k, v in self.worker_settings().items()}

    async def start(self) -> ModelServer:
        self.proc.start()
        await self.proc.wait_ready(timeout=300)  # the default model's first start joins 1.1 GB
        return self

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait()

    async def prompt_tokens(self) -> int:
        """Prompt tokens the server has read since it started (cached ones are not read again)."""
        async with httpx.AsyncClient(timeout=5) as http:
            r = await http.get(
                f"http://127.0.0.1:{self.port}/metrics", headers={"Authorization": f"Bearer {self.key}"}
            )
        r.raise_for_status()
        found = re.search(r"^llamacpp:prompt_tokens_total (\S+)$", r.text, re.M)
        assert found is not None, r.text[:500]
        return int(float(found.group(1)))

    async def busy_slots(self) -> int:
        """Slots generating right now, from llama.cpp's own `/slots`."""
        async with httpx.AsyncClient(timeout=5) as http:
            r = await http.get(
                f"http://127.0.0.1:{self.port}/slots", headers={"Authorization": f"Bearer {self.key}"}
            )
        r.raise_for_status()
        return sum(1 for slot in r.json() if slot.get("is_processing"))


@contextlib.asynccontextmanager
async def model_server(folder: Path, slots: int = 2) -> AsyncIterator[ModelServer]:
    server = ModelServer(folder, slots)
    try:
        yield await server.start()
    finally:
        server.stop()
