from __future__ import annotations

import os
import socket


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def free_range(count: int) -> int:
    """The first of `count` consecutive free ports (the dev launcher's `HEALTH_PORT_BASE`); the
    search starts at a place of this process's own, so parallel test runs rarely meet."""
    start = 20000 + (os.getpid() % 97) * 211
    for base in range(start, 60000, 53):
        if all(_free(base + i) for i in range(count)):
            return base
    raise RuntimeError("no free port range")


def _free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("0.0.0.0", port))
        except OSError:
            return False
    return True
