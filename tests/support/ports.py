"""Free ports for the processes a test starts (the dev launcher's own helpers)."""

from __future__ import annotations

from chassis.devstack import free_port, free_range

__all__ = ["free_port", "free_range"]
