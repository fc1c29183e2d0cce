"""`make bench`: run every benchmark (or those named) and update bench/REPORT.md."""

from __future__ import annotations

import importlib
import sys

BENCHMARKS = ["bridge", "sse", "streaming", "media", "llm", "persona_eval", "lighthouse", "rooms", "edge"]


def main() -> None:
    names = sys.argv[1:] or BENCHMARKS
    for name in names:
        print(f"== bench {name}", flush=True)
        importlib.import_module(f"bench.{name}").main()


if __name__ == "__main__":
    main()
