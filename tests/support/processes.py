"""Real processes for the fault tests, the cluster and the benchmarks: the app under gunicorn with production
settings, its worker, moto's S3 server, a private PostgreSQL and Redis.

Everything listens on a free 127.0.0.1 port of its own and lives in a temp folder, so a test may kill, stop
and restart it without touching the machine's shared PostgreSQL (5432) and Redis (6379) or another test run.
The benchmarks (bench/) start their gunicorn servers and moto with the same functions.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from tests.support.databases import create_database
from tests.support.waiting import wait_for
from tests.support.web import CSRF_META

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
POSTGRES_VERSIONS = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), reverse=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def closed_port() -> int:
    """A loopback port nothing listens on (it was free a moment ago): connecting to it is refused at once."""
    return free_port()


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


def child_pids(pid: int) -> list[int]:
    """Direct children of `pid` (gunicorn's workers), from /proc."""
    children: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        children.extend(int(child) for child in text)
    return children


def process_environment(workdir: Path, settings: dict[str, Any]) -> dict[str, str]:
    """The environment of a production-like app process: app_environment's defaults, then `settings` as strings."""
    return app_environment(workdir, **{name: str(value) for name, value in settings.items()})


@dataclass
class Gunicorn:
    """The app under gunicorn (gthread, one worker): its URL, master process and log."""

    url: str
    master: subprocess.Popen
    log: Path

    def worker_pid(self) -> int:
        workers = child_pids(self.master.pid)
        assert len(workers) == 1, f"expected one gunicorn worker, found {workers}"
        return workers[0]

    def kill_worker(self) -> int:
        """SIGKILL the worker (no cleanup code of ours runs); return its pid."""
        pid = self.worker_pid()
        os.kill(pid, signal.SIGKILL)
        return pid

    def wait_for_new_worker(self, old_pid: int, timeout: float = 30.0) -> int:
        """Wait until the master has replaced `old_pid` and the new worker answers; return the new pid."""
        new_pid = wait_for(
            lambda: next((pid for pid in child_pids(self.master.pid) if pid != old_pid), None),
            timeout=timeout,
            interval=0.05,
        )
        wait_for(lambda: answers(self.url + "/login"), timeout=timeout, interval=0.1)
        return new_pid

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


def answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).status_code == 200
    except requests.RequestException:
        return False


@contextmanager
def run_gunicorn(workdir: Path, settings: dict[str, Any], threads: int = 8) -> Iterator[Gunicorn]:
    """gunicorn serving wsgi:app with production settings plus `settings`, on a free port."""
    env = process_environment(workdir, settings)
    # A short graceful timeout: the test's end must not wait 30 s for a stream it left open.
    env["GUNICORN_CMD_ARGS"] = "--graceful-timeout 3"
    log = workdir / "gunicorn.log"
    with gunicorn_process("wsgi:app", env, workers=1, threads=threads, log=log, health_path="/login") as (url, master):
        yield Gunicorn(url=url, master=master, log=log)


def flask_command(workdir: Path, settings: dict[str, Any], *args: str) -> subprocess.CompletedProcess:
    """Run `flask --app wsgi ARGS` with the same settings as the served app (for the maintenance commands)."""
    return subprocess.run(
        [str(BIN / "flask"), "--app", "wsgi", *args],
        cwd=ROOT,
        env=process_environment(workdir, settings),
        capture_output=True,
        text=True,
        timeout=60,
    )


@dataclass
class Browser:
    """A signed-in browser session against a served app: its cookies and the CSRF token of its pages."""

    url: str
    session: requests.Session = field(default_factory=requests.Session)
    csrf: str = ""

    def sign_in(self, email: str, password: str) -> Browser:
        token = self.page_token("/login")
        response = self.session.post(
            self.url + "/login", data={"email": email, "password": password, "csrf_token": token}, allow_redirects=False
        )
        assert response.status_code == 302, response.text[:500]
        self.csrf = self.page_token("/")  # the session may have been re-issued at sign-in
        return self

    def page_token(self, path: str) -> str:
        html = self.session.get(self.url + path, timeout=10).text
        match = CSRF_META.search(html)
        assert match, f"no CSRF token on {path}"
        return match.group(1)

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", 10)
        return self.session.get(self.url + path, **kwargs)

    def htmx_post(self, path: str, data: dict[str, Any], **kwargs: Any) -> requests.Response:
        """POST as htmx does: the CSRF token in a header."""
        kwargs.setdefault("timeout", 10)
        headers = {"X-CSRFToken": self.csrf, "HX-Request": "true"}
        return self.session.post(self.url + path, data=data, headers=headers, **kwargs)


# --- a private PostgreSQL ------------------------------------------------------------------------------------


def postgres_bin() -> Path | None:
    """The newest PostgreSQL server binaries installed (Debian's /usr/lib/postgresql/N/bin), or None."""
    return POSTGRES_VERSIONS[0].parent if POSTGRES_VERSIONS else None


class PrivatePostgres:
    """A PostgreSQL cluster of this test's own in a temp folder, on a free port; stopped and removed at the end.

    PostgreSQL refuses to run as root, so as root its commands run as the `postgres` system user.
    """

    def __init__(self, binaries: Path) -> None:
        self.binaries = binaries
        self.port = free_port()
        self.folder = Path(tempfile.mkdtemp(prefix="workbench-pg-"))
        self.data = self.folder / "data"
        self.run_as = "postgres" if os.geteuid() == 0 else None
        if self.run_as:
            account = pwd.getpwnam(self.run_as)
            os.chown(self.folder, account.pw_uid, account.pw_gid)
        self._run(
            "initdb",
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--no-sync",
            "--no-instructions",
        )

    def _run(self, program: str, *args: str) -> None:
        command = [str(self.binaries / program), *args]
        if self.run_as:
            command = ["runuser", "-u", self.run_as, "--", *command]
        result = subprocess.run(command, capture_output=True, text=True, timeout=60)
        if result.returncode != 0:
            raise RuntimeError(f"{program} failed: {result.stdout}{result.stderr}")

    def start(self) -> None:
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.folder / "server.log"), "-w", "start")

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        return create_database(self.url(), name)

    def remove(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self.stop("immediate")
        shutil.rmtree(self.folder, ignore_errors=True)


@contextmanager
def private_postgres(binaries: Path) -> Iterator[PrivatePostgres]:
    server = PrivatePostgres(binaries)
    try:
        server.start()
        yield server
    finally:
        server.remove()


# --- a private Redis -----------------------------------------------------------------------------------------


class PrivateRedis:
    """redis-server on a free port, in memory only (no dump file), that a test may stop and start again."""

    def __init__(self, executable: str) -> None:
        self.executable = executable
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [self.executable, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for(lambda: port_open(self.port), timeout=10, interval=0.05)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None


def port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


@contextmanager
def private_redis(executable: str) -> Iterator[PrivateRedis]:
    server = PrivateRedis(executable)
    try:
        server.start()
        yield server
    finally:
        server.stop()
