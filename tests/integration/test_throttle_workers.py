"""The sign-in throttle under gunicorn: with memory:// each worker counts apart, so production refuses more than
one worker and development says so when it starts. gunicorn.conf.py tells the app how many workers run."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.support.processes import BIN, ROOT, free_port, process_environment, wait_until_up
from tests.support.waiting import wait_for

PER_WORKER_NOTE = "the sign-in throttle counts in each worker's memory"


@dataclass(frozen=True)
class Started:
    process: subprocess.Popen
    url: str
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@contextmanager
def gunicorn(workdir: Path, settings: dict[str, str], workers: int) -> Iterator[Started]:
    """gunicorn as `make run` starts it (reading gunicorn.conf.py), the worker count on its command line only."""
    env = process_environment(workdir, {"RATELIMIT_STORAGE_URI": "memory://", **settings})
    env.pop("WEB_CONCURRENCY", None)
    port = free_port()
    log = workdir / "gunicorn.log"
    command = [str(BIN / "gunicorn"), "--bind", f"127.0.0.1:{port}", "--workers", str(workers)]
    command += ["--worker-class", "gthread", "--threads", "2", "wsgi:app"]
    with log.open("ab") as output:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=output, stderr=output, start_new_session=True)
    try:
        yield Started(process, f"http://127.0.0.1:{port}", log)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=30)


def test_production_with_two_workers_and_memory_storage_stops_with_one_line(tmp_path):
    with gunicorn(tmp_path, {}, workers=2) as started:
        started.process.wait(timeout=90)
    text = started.output()
    assert started.process.returncode != 0, text
    assert "RATELIMIT_STORAGE_URI is memory:// with WEB_CONCURRENCY=2 gunicorn workers" in text, text
    assert text.count("production refuses to start") <= 2, "gunicorn must stop, not boot worker after worker"


def test_development_with_two_workers_says_the_throttle_counts_per_worker(tmp_path):
    with gunicorn(tmp_path, {"WORKBENCH_ENV": "development"}, workers=2) as started:
        wait_for(lambda: PER_WORKER_NOTE in started.output(), timeout=90)
    note = next(line for line in started.output().splitlines() if PER_WORKER_NOTE in line)
    assert "2 workers" in note and "10 per minute" in note and "redis://" in note, note


def test_one_worker_says_nothing_about_it(tmp_path):
    with gunicorn(tmp_path, {"WORKBENCH_ENV": "development"}, workers=1) as started:
        wait_until_up(started.url + "/login", timeout=90)
    assert PER_WORKER_NOTE not in started.output()
