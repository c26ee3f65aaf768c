"""What only the benchmarks use: flask commands, a gunicorn that yields its URL, memory figures from /proc, wrk,
the fake model server with the app set up against it (the chat and gateway benches), and a file POSTed to the app
streamed from disk (the upload and import benches).

The processes themselves (gunicorn, moto, the production-like environment) come from tests/support/processes.py,
which the fault tests and the cluster use the same way.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from http.client import HTTPConnection
from pathlib import Path

from tests.support.processes import BIN, ROOT, app_environment, free_port, gunicorn_process, wait_until_up

# The benches' user, and the one model of their fake model server.
EMAIL, PASSWORD = "bench@example.com", "bench password 123"
MODEL = "bench-model"
# The block a file is read from disk and sent in.
CHUNK = 1024 * 1024


def flask_cli(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [str(BIN / "flask"), "--app", "wsgi", *args], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    return result.stdout


def bench_user(env: dict[str, str]) -> None:
    """Migrate the app's database and create the benches' user in it."""
    flask_cli(env, "db", "upgrade")
    flask_cli(env, "users", "create", EMAIL, "--name", "Bench", "--password", PASSWORD)


def bench_user_token(env: dict[str, str]) -> str:
    """`bench_user`, and an API token of that user's ("bench"), returned."""
    bench_user(env)
    return flask_cli(env, "tokens", "create", EMAIL, "--name", "bench").strip().split()[-1]


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


def model_server_parser(description: str) -> argparse.ArgumentParser:
    """A bench's command line with the options `model_server_and_app` reads: the fake model's pace and reply
    length, gunicorn's size, the database."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--first-token-delay", type=float, default=0.25, help="model's delay before its first token (s)"
    )
    parser.add_argument("--token-rate", type=float, default=50.0, help="model's tokens per second")
    parser.add_argument("--words", type=int, default=40, help="words in each reply")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=64, help="gunicorn threads per worker (gthread)")
    parser.add_argument("--database-url", default="", help="default: a fresh SQLite file")
    return parser


@contextmanager
def model_server_and_app(
    workdir: Path, args: argparse.Namespace, reply: str
) -> Iterator[tuple[subprocess.Popen[str], dict[str, str]]]:
    """The fake OpenAI-compatible model server (tests/support/servers/openai_server.py, its own process, stopped on
    leaving) answering `reply` at `args.first_token_delay` and `args.token_rate`, and the app's environment pointed
    at it: migrated (on `args.database_url`, or a fresh SQLite file), with the bench user. Prints the setup.

    Yields (the model server's process, the app's environment); the server's URL is the environment's
    OPENAI_BASE_URL.
    """
    model_port = free_port()
    model_server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.support.servers.openai_server",
            "--port",
            str(model_port),
            "--first-token-delay",
            str(args.first_token_delay),
            "--token-rate",
            str(args.token_rate),
            "--reply",
            reply,
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        model_url = model_server.stdout.readline().strip()
        wait_until_up(f"http://127.0.0.1:{model_port}/v1/models")
        extra = dict(
            OPENAI_BASE_URL=model_url,
            OPENAI_API_KEY="bench",
            OPENAI_MODELS=MODEL,
            CHAT_READ_TIMEOUT="30",
            LOG_LEVEL="WARNING",
        )
        if args.database_url:
            extra["DATABASE_URL"] = args.database_url
        env = app_environment(workdir, **extra)
        bench_user(env)
        ideal = args.first_token_delay + (args.words - 1) / args.token_rate
        database = "PostgreSQL" if args.database_url.startswith("postgres") else "SQLite"
        print(
            f"model server: first token after {args.first_token_delay * 1000:.0f} ms, {args.token_rate:g} "
            f"tokens/s, {args.words} tokens a reply (ideal stream {ideal:.2f} s)"
        )
        print(f"gunicorn: {args.workers} workers x {args.threads} threads (gthread), production settings, {database}")
        yield model_server, env
    finally:
        model_server.terminate()
        model_server.wait(timeout=10)


def run_in_app(env: dict[str, str], script: str) -> list[str]:
    """Run `script` in a fresh Python with the app's environment, from the repository's root; the words it
    printed."""
    return subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    ).stdout.split()


def at_once(count: int, call: Callable[[int, threading.Barrier], float]) -> tuple[list[float], list[str], float]:
    """`call(index, start)` on `count` threads: each gets ready, waits on `start` (so that all begin together),
    does its work and returns the seconds it took.

    Returns the durations of the calls that succeeded, the others' failures ("Kind: message"; a bench reports every
    failure instead of stopping at the first), and the wall time from starting the threads to the last one's end.
    """
    durations: list[float] = []
    failures: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(count)

    def one(index: int) -> None:
        try:
            elapsed = call(index, start)
            with lock:
                durations.append(elapsed)
        except Exception as error:
            with lock:
                failures.append(f"{type(error).__name__}: {error}")

    threads = [threading.Thread(target=one, args=(index,)) for index in range(count)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return durations, failures, time.perf_counter() - started


def direct_stream(model_url: str) -> tuple[float, float]:
    """A streamed request straight to the model server: (seconds to its first text chunk, to its end)."""
    parsed = urllib.parse.urlsplit(model_url)
    connection = HTTPConnection(parsed.hostname, parsed.port, timeout=60)
    body = f'{{"model": "{MODEL}", "stream": true, "messages": [{{"role": "user", "content": "hello"}}]}}'
    started = time.perf_counter()
    connection.request(
        "POST",
        parsed.path + "/chat/completions",
        body=body,
        headers={"Content-Type": "application/json", "Authorization": "Bearer x"},
    )
    response = connection.getresponse()
    first = None
    while True:
        line = response.readline()
        if not line:
            break
        if first is None and b'"content": "' in line and b'"content": ""' not in line:
            first = time.perf_counter()
        if line.startswith(b"data: [DONE]"):
            break
    connection.close()
    if first is None:
        raise RuntimeError("the model server sent no text")
    return first - started, time.perf_counter() - started


def direct_concurrent(model_url: str, count: int) -> float:
    """Wall time of `count` streams at once straight from the model server: the baseline of (b)."""
    barrier = threading.Barrier(count)
    failures: list[BaseException] = []

    def one() -> None:
        try:
            barrier.wait(timeout=60)
            direct_stream(model_url)
        except BaseException as error:  # reported below
            failures.append(error)

    threads = [threading.Thread(target=one) for _ in range(count)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise RuntimeError(f"the model server failed {len(failures)} direct streams: {failures[0]}")
    return time.perf_counter() - started


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def multipart_file(path: Path, content_type: str, boundary: str) -> tuple[int, Iterator[bytes]]:
    """A multipart body with `path` as its one field, "file": (its length, its bytes read from disk in CHUNKs)."""
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{path.name}"\r\n'
        f"Content-Type: {content_type}\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()

    def chunks() -> Iterator[bytes]:
        yield head
        with path.open("rb") as source:
            while block := source.read(CHUNK):
                yield block
        yield tail

    return len(head) + path.stat().st_size + len(tail), chunks()


def post_file(
    base: str, token: str, route: str, path: Path, content_type: str, *, status: int, timeout: float
) -> tuple[float, dict]:
    """POST `path` to `route` as a multipart upload (bearer `token`), streamed from disk with its Content-Length.

    Returns (seconds from the first byte sent to the whole answer, the answer's JSON); raises unless the answer
    is `status`.
    """
    boundary = uuid.uuid4().hex
    length, body = multipart_file(path, content_type, boundary)
    host, port = base.removeprefix("http://").split(":")
    connection = HTTPConnection(host, int(port), timeout=timeout, blocksize=CHUNK)
    started = time.perf_counter()
    connection.request(
        "POST",
        route,
        body=body,
        headers={
            "Authorization": f"Bearer {token}",
            "Content-Type": f"multipart/form-data; boundary={boundary}",
            "Content-Length": str(length),
        },
    )
    response = connection.getresponse()
    payload = response.read()
    elapsed = time.perf_counter() - started
    connection.close()
    if response.status != status:
        raise RuntimeError(f"POST {route} answered {response.status}: {payload[:500]!r}")
    return elapsed, json.loads(payload)
