"""Shared pieces of the benchmarks: free ports, gunicorn processes, a production-like app environment."""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def app_environment(workdir: Path, **extra: str) -> dict[str, str]:
    """Production settings on a throwaway SQLite database and upload folder (one server, said out loud)."""
    env = dict(os.environ)
    env.update(
        WORKBENCH_ENV="production",
        SECRET_KEY=secrets.token_hex(32),
        INSTANCE_DIR=str(workdir),
        DATABASE_URL=f"sqlite:///{workdir / 'bench.db'}",
        ALLOW_SQLITE_IN_PRODUCTION="1",
        UPLOAD_DIR=str(workdir / "uploads"),
        # The load generator speaks plain http on loopback; a Secure cookie would never be sent back.
        SESSION_COOKIE_SECURE="0",
        WORKBENCH_DOTENV=str(workdir / "no.env"),
    )
    env.update(extra)
    return env


def flask_cli(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [str(BIN / "flask"), "--app", "wsgi", *args], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    return result.stdout


def wait_until_up(url: str, timeout: float = 30.0, context: ssl.SSLContext | None = None) -> None:
    """Wait until `url` answers at all (any HTTP status); `context` verifies an https server's certificate."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1, context=context)
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up in {timeout} s")


def start_moto(folder: Path, port: int = 0) -> tuple[subprocess.Popen, str]:
    """moto's S3 server in a process (and session) of its own on loopback; returns it and its endpoint URL."""
    port = port or free_port()
    with open(folder / "moto.log", "ab") as log:
        process = subprocess.Popen(
            [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
    endpoint = f"http://127.0.0.1:{port}"
    wait_until_up(endpoint + "/moto-api/")
    return process, endpoint


@contextmanager
def gunicorn_process(
    app_spec: str, env: dict[str, str], workers: int, threads: int, log: Path, cwd: Path = ROOT, health_path: str = "/"
) -> Iterator[tuple[str, subprocess.Popen]]:
    """gunicorn (gthread) on a free loopback port; yields its base URL and the master process."""
    port = free_port()
    if workers > 1 and env.get("RATELIMIT_STORAGE_URI", "memory://").startswith("memory"):
        # Production refuses to count wrong passwords in each worker's memory: the machine's Redis counts them.
        env = {**env, "RATELIMIT_STORAGE_URI": os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")}
    command = [
        str(BIN / "gunicorn"),
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
        "--worker-class",
        "gthread",
        "--threads",
        str(threads),
        "--log-level",
        "warning",
        app_spec,
    ]
    with open(log, "ab") as log_file:
        process = subprocess.Popen(command, cwd=cwd, env=env, stdout=log_file, stderr=log_file, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(url + health_path)
        yield url, process
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


@contextmanager
def gunicorn(
    app_spec: str, env: dict[str, str], workers: int, threads: int, log: Path, cwd: Path = ROOT, health_path: str = "/"
) -> Iterator[str]:
    with gunicorn_process(app_spec, env, workers, threads, log, cwd, health_path) as (url, _process):
        yield url


def child_pids(pid: int) -> list[int]:
    """Direct children of `pid` (gunicorn's workers), from /proc."""
    children: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        children.extend(int(child) for child in text)
    return children


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


# --- PostgreSQL databases of a run's own (benchmarks, the cluster, tests) ---


def database_url(server_url: str, database: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(server_url).set(database=database).render_as_string(hide_password=False)


def create_database(server_url: str, database: str, fresh: bool = False) -> str:
    """Create `database` on the server of `server_url` unless it exists (`fresh`: drop it first); return its URL."""
    from sqlalchemy import create_engine, text

    engine = create_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            if fresh:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
            exists = connection.execute(
                text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": database}
            ).first()
            if not exists:
                connection.execute(text(f'CREATE DATABASE "{database}"'))
    finally:
        engine.dispose()
    return database_url(server_url, database)


def drop_database(server_url: str, database: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
    finally:
        engine.dispose()
