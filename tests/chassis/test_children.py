"""Stopping a child: a cooperative one ends on the signal; one that ignores it is killed."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from chassis.children import stop

SLEEPS = "import time; print('up', flush=True); time.sleep(60)"
IGNORES_SIGTERM = "import signal; signal.signal(signal.SIGTERM, signal.SIG_IGN); " + SLEEPS


@contextmanager
def child(code: str) -> Iterator[subprocess.Popen[str]]:
    with subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True) as process:
        assert process.stdout is not None and process.stdout.readline() == "up\n"
        try:
            yield process
        finally:
            if process.poll() is None:
                process.kill()


def test_a_cooperative_child_ends_on_the_signal() -> None:
    with child(SLEEPS) as process:
        assert stop(process, timeout=10) is True
        assert process.returncode == -signal.SIGTERM


def test_a_child_that_ignores_the_signal_is_killed_after_the_wait() -> None:
    with child(IGNORES_SIGTERM) as process:
        assert stop(process, timeout=0.5) is False
        assert process.returncode == -signal.SIGKILL


def test_a_child_that_already_ended_is_left_alone() -> None:
    with child("print('up', flush=True)") as process:
        process.wait()
        assert stop(process) is True
        assert process.returncode == 0
