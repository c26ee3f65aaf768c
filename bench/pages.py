"""Requests per second of the signed-in dashboard against a bare Flask "hello", same gunicorn, same run.

Both apps run under gunicorn with the same worker class, workers and threads, production settings for ours.
The load comes from wrk on 127.0.0.1 (installed by `make bench`), or a Python client when wrk is absent.
Prints both figures and the ratio (aim: at least 0.5).
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from http.client import HTTPConnection
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import flask_cli, gunicorn, have_wrk
from tests.support.processes import ROOT, app_environment

EMAIL, PASSWORD = "bench@example.com", "bench password 123"


def sign_in(base: str) -> str:
    """Sign in through the real form; return the session cookie header value."""
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())
    html = opener.open(base + "/login").read().decode()
    token = re.search(r'name="csrf-token" content="([^"]+)"', html).group(1)
    data = urllib.parse.urlencode({"email": EMAIL, "password": PASSWORD, "csrf_token": token}).encode()
    page = opener.open(base + "/login", data=data).read().decode()
    assert "Hello," in page, "sign-in failed: the dashboard did not load"
    jar = opener.handlers[[type(h).__name__ for h in opener.handlers].index("HTTPCookieProcessor")].cookiejar
    return "; ".join(f"{cookie.name}={cookie.value}" for cookie in jar)


def check_dashboard(base: str, cookie: str) -> None:
    request = urllib.request.Request(base + "/", headers={"Cookie": cookie})
    with urllib.request.urlopen(request) as response:
        assert response.status == 200 and "Hello," in response.read().decode()


def load_with_wrk(url: str, cookie: str | None, seconds: int, connections: int) -> float:
    command = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", url]
    if cookie:
        command[1:1] = ["-H", f"Cookie: {cookie}"]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    if non_2xx:
        raise RuntimeError(f"{non_2xx.group(1)} failed responses from {url}")
    return float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))


def load_with_python(url: str, cookie: str | None, seconds: int, connections: int) -> float:
    parsed = urllib.parse.urlsplit(url)
    headers = {"Cookie": cookie} if cookie else {}
    counts = [0] * connections
    deadline = time.monotonic() + seconds

    def worker(index: int) -> None:
        connection = HTTPConnection(parsed.hostname, parsed.port, timeout=10)
        while time.monotonic() < deadline:
            connection.request("GET", parsed.path or "/", headers=headers)
            response = connection.getresponse()
            response.read()
            if response.status != 200:
                raise RuntimeError(f"{url} answered {response.status}")
            if response.getheader("Connection", "").lower() == "close":
                connection.close()
                connection = HTTPConnection(parsed.hostname, parsed.port, timeout=10)
            counts[index] += 1

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(counts) / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args()
    load = load_with_wrk if have_wrk() else load_with_python
    print(f"load generator: {'wrk' if have_wrk() else 'python threads (install wrk for a lighter client)'}")
    print(
        f"gunicorn: {args.workers} workers x {args.threads} threads (gthread); {args.connections} connections, "
        f"{args.seconds} s each"
    )

    with tempfile.TemporaryDirectory(prefix="wb-bench-") as folder:
        workdir = Path(folder)
        env = app_environment(workdir)
        flask_cli(env, "db", "upgrade")
        flask_cli(env, "users", "create", EMAIL, "--name", "Bench", "--password", PASSWORD)
        log = workdir / "gunicorn.log"

        with gunicorn("hello_app:app", env, args.workers, args.threads, log, cwd=ROOT / "bench") as base:
            load(base + "/", None, 2, args.connections)  # warm-up
            baseline = load(base + "/", None, args.seconds, args.connections)

        with gunicorn("wsgi:app", env, args.workers, args.threads, log, health_path="/api/health") as base:
            cookie = sign_in(base)
            check_dashboard(base, cookie)
            load(base + "/", cookie, 2, args.connections)  # warm-up
            ours = load(base + "/", cookie, args.seconds, args.connections)
            check_dashboard(base, cookie)

    print(f"bare Flask hello:        {baseline:8.0f} requests/s")
    print(f"signed-in dashboard:     {ours:8.0f} requests/s")
    print(f"ratio dashboard/hello:   {ours / baseline:8.2f}   (aim: at least 0.50)")


if __name__ == "__main__":
    main()
