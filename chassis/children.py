"""Stopping a child process (the dev launcher's, the tests', the benchmarks'): a signal, a wait,
then SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
from typing import Any


def stop(
    process: subprocess.Popen[Any],
    *,
    sig: signal.Signals = signal.SIGTERM,
    timeout: float = 30.0,
    group: bool = False,
) -> bool:
    """Send `sig` (to its whole process group with `group`), wait up to `timeout` seconds, then
    SIGKILL. False when it had to be killed."""
    if process.poll() is not None:
        return True

    def send(s: signal.Signals) -> None:
        try:
            os.killpg(process.pid, s) if group else process.send_signal(s)
        except ProcessLookupError:
            pass  # it ended between the poll and the signal

    send(sig)
    try:
        process.wait(timeout=timeout)
        return True
    except subprocess.TimeoutExpired:
        send(signal.SIGKILL)
        process.wait()
        return False
