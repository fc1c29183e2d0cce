"""llama.cpp's own HTTP server (xllamacpp) on loopback, configured from the settings.

The server speaks the OpenAI-compatible API (`/v1/chat/completions` with SSE streaming and
`response_format`, `/v1/models`), keeps one prompt cache per parallel slot and batches the slots
continuously. Generation runs in native threads that release the GIL."""

from __future__ import annotations

import json
import os
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import xllamacpp

from chassis.settings import Settings


@dataclass(frozen=True)
class Loaded:
    server: xllamacpp.Server
    address: str  # http://127.0.0.1:<port>
    load_seconds: float


def threads(settings: Settings) -> int:
    return settings.model_server_threads or os.cpu_count() or 1


def params(settings: Settings, name: str, path: Path) -> xllamacpp.CommonParams:
    p = xllamacpp.CommonParams()
    p.model.path = str(path)
    p.model_alias = {name}
    p.hostnames = [settings.host]  # loopback unless HOST says otherwise (a cluster: 0.0.0.0)
    p.port = settings.model_server_port
    if settings.llm_api_key:
        p.api_keys = [settings.llm_api_key]
    p.n_parallel = settings.llm_parallel
    # The context is shared by the slots: each slot gets model_server_context tokens.
    p.n_ctx = settings.model_server_context * settings.llm_parallel
    p.cont_batching = True
    p.cache_prompt = True
    n = threads(settings)
    p.cpuparams.n_threads = n
    p.cpuparams_batch.n_threads = n
    # llama.cpp's threads spin-wait for work by default; with one busy core elsewhere that drops
    # generation from ~33 to ~3 tokens/s on two cores. Sleeping instead costs almost nothing.
    p.cpuparams.poll = 0
    p.cpuparams_batch.poll = 0
    p.verbosity = -1
    p.endpoint_metrics = True
    p.endpoint_slots = True
    return p


def start(settings: Settings, name: str, path: Path) -> Loaded:
    started = time.monotonic()
    server = xllamacpp.Server(params(settings, name, path))
    return Loaded(server, server.listening_address, time.monotonic() - started)


def measure(address: str, api_key: str | None, model: str, tokens: int = 48) -> float:
    """Generation speed in tokens/s, from the server's own timings of a short reply."""
    body = {
        "model": model,
        "messages": [{"role": "user", "content": "Describe a lighthouse at night in a few sentences."}],
        "max_tokens": tokens,
        "temperature": 0,
    }
    request = urllib.request.Request(
        f"{address}/v1/chat/completions",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", **_auth(api_key)},
    )
    with urllib.request.urlopen(request, timeout=120) as response:
        answer = json.load(response)
    return float(answer.get("timings", {}).get("predicted_per_second", 0.0))


def healthy(address: str) -> bool:
    with urllib.request.urlopen(f"{address}/health", timeout=2) as response:
        return bool(response.status == 200)


def _auth(api_key: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_key}"} if api_key else {}
