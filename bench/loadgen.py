"""A small HTTP/1.1 keep-alive load client: the same client drives every target in a run."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field


@dataclass
class Result:
    requests: int = 0
    errors: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def percentile(self, p: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


async def _connection(host: str, port: int, request: bytes, stop: float, result: Result) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while time.perf_counter() < stop:
            started = time.perf_counter()
            writer.write(request)
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError:
                # The server closed a keep-alive connection (a request cap); reconnect like a browser.
                writer.close()
                reader, writer = await asyncio.open_connection(host, port)
                continue
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            await reader.readexactly(length)
            result.latencies.append(time.perf_counter() - started)
            if head.startswith(b"HTTP/1.1 200"):
                result.requests += 1
            else:
                result.errors += 1
    finally:
        writer.close()


async def run(
    host: str,
    port: int,
    path: str,
    *,
    connections: int,
    seconds: float,
    headers: dict[str, str] | None = None,
) -> Result:
    extra = "".join(f"{name}: {value}\r\n" for name, value in (headers or {}).items())
    request = f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n{extra}\r\n".encode()
    result = Result()
    started = time.perf_counter()
    stop = started + seconds
    await asyncio.gather(*(_connection(host, port, request, stop, result) for _ in range(connections)))
    result.seconds = time.perf_counter() - started
    return result
