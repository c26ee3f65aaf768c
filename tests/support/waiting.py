"""Waiting for something another thread or process does: a background job, a restarted worker, a port."""

from __future__ import annotations

import time


def wait_for(check, timeout: float = 60.0, interval: float = 0.25):
    """Call `check` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s")
