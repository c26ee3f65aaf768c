"""What only the benchmarks use: flask commands, a gunicorn that yields its URL, memory figures from /proc, wrk.

The processes themselves (gunicorn, moto, the production-like environment) come from tests/support/processes.py,
which the fault tests and the cluster use the same way.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from tests.support.processes import BIN, ROOT, gunicorn_process


def flask_cli(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [str(BIN / "flask"), "--app", "wsgi", *args], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    return result.stdout


@contextmanager
def gunicorn(
    app_spec: str, env: dict[str, str], workers: int, threads: int, log: Path, cwd: Path = ROOT, health_path: str = "/"
) -> Iterator[str]:
    with gunicorn_process(app_spec, env, workers, threads, log, cwd, health_path) as (url, _process):
        yield url


def rss_kib(pid: int, field: str = "VmRSS") -> int:
    """Resident memory of a process in KiB from /proc/PID/status (VmRSS now, VmHWM: the peak)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not found for process {pid}")


def reset_peak_rss(pid: int) -> bool:
    """Reset VmHWM to the current RSS (Linux clear_refs 5); False where the kernel does not allow it."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def have_wrk() -> bool:
    return shutil.which("wrk") is not None


class PeakSampler:
    """Samples a process's VmRSS every 10 ms while in use: a cross-check of VmHWM, and the figure where HWM cannot
    be reset. With `abort_kib`, kills the process group `abort_group` once the peak passes it (a safety valve)."""

    def __init__(self, pid: int, abort_kib: int | None = None, abort_group: int | None = None) -> None:
        self.pid, self.abort_kib, self.abort_group = pid, abort_kib, abort_group
        self.peak = 0
        self.aborted = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.peak = max(self.peak, rss_kib(self.pid))
            except (OSError, RuntimeError):
                return  # the process is gone
            if self.abort_kib is not None and self.peak > self.abort_kib and not self.aborted:
                self.aborted = True
                os.killpg(self.abort_group or self.pid, signal.SIGKILL)
            time.sleep(0.01)

    def __enter__(self) -> PeakSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()
        if not self.aborted:
            with suppress(OSError, RuntimeError):
                self.peak = max(self.peak, rss_kib(self.pid))
