"""A PostgreSQL this test owns (pgserver's embedded binaries in a temporary folder), which it can
stop and start with its own `pg_ctl`, never touching a shared server."""

from __future__ import annotations

import subprocess
import warnings
from pathlib import Path
from typing import Any


class OwnPostgres:
    def __init__(self, folder: Path) -> None:
        with warnings.catch_warnings():
            # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI).
            warnings.simplefilter("ignore")
            import pgserver
            from pgserver import _commands

        self.folder = folder
        self._pg_ctl: Any = _commands.pg_ctl  # type: ignore[attr-defined]
        # initdb and the first start as pgserver does them (as a non-root user when run as root).
        self._server: Any = pgserver.get_server(folder, cleanup_mode="stop")  # type: ignore[attr-defined]
        info = self._server.get_postmaster_info()
        self.socket_dir = Path(info.socket_dir)
        self.url: str = str(self._server.get_uri())
        self.running = True

    def _ctl(self, *args: str) -> None:
        self._pg_ctl(list(args), pgdata=self.folder, user=self._server.system_user, timeout=60)

    def stop(self, mode: str = "immediate") -> None:
        """Stop the server. `immediate` is a crash as the services see it: every session is cut
        without a goodbye and new connections are refused; the next start recovers from the WAL."""
        self._ctl("-w", "-m", mode, "stop")
        self.running = False

    def start(self) -> None:
        # The same options pgserver starts it with: no TCP listener, the socket in the same folder.
        self._ctl("-w", "-o", '-h ""', "-o", f"-k {self.socket_dir}", "-l", str(self.folder / "log"), "start")
        self.running = True

    def close(self) -> None:
        pid_file = self.folder / "postmaster.pid"
        if self.running and pid_file.exists():
            try:
                self.stop("fast")
            except subprocess.CalledProcessError:
                # A fast stop waits for sessions to end, which can outlast pg_ctl's wait on a
                # loaded machine (seen in CI); an immediate stop still ends the server.
                if pid_file.exists():
                    self.stop("immediate")
        # pgserver's own handle: it finds the server stopped and only forgets it.
        self._server.cleanup()
