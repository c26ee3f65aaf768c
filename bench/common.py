"""What only the benchmarks use: flask commands, a gunicorn that yields its URL, memory figures from /proc, wrk.

The processes themselves (gunicorn, moto, the production-like environment) come from tests/support/processes.py,
which the fault tests and the cluster use the same way.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
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
