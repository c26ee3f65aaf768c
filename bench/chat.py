"""Chat streaming under gunicorn: how much we add to the model's first token, and 100 conversations at once.

A fake OpenAI-compatible server (tests/support/servers/openai_server.py, its own process) answers with a fixed
first-token delay and token rate. The app runs under gunicorn (gthread, production settings, its own database).

(a) Time to first token, sequentially: from our request to the first streamed byte of reply text, against the
    same measured straight from the model server in the same run (the baseline). Our overhead is the difference
    of the medians (aim: under 10 ms). Measured for the stream request alone (GET .../stream, what the page
    opens once the message is saved) and for the whole send (POST the message, then the stream).
(b) 100 conversations streaming at once: every one must complete, none fail, and every reply be stored whole.
    The wall time is compared with one stream's ideal duration (first-token delay + tokens / rate).
"""

from __future__ import annotations

import os
import re
import resource
import statistics
import sys
import tempfile
import threading
import time
import urllib.parse
from dataclasses import dataclass
from http.client import HTTPConnection, HTTPResponse
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import (
    EMAIL,
    MODEL,
    PASSWORD,
    at_once,
    direct_concurrent,
    direct_stream,
    gunicorn,
    model_server_and_app,
    model_server_parser,
    percentile,
    run_in_app,
)

REPLY_ID = re.compile(r'sse-connect="/chat/messages/(\d+)/stream"')


@dataclass
class Session:
    """A signed-in browser session: its cookie and the CSRF token of its pages."""

    host: str
    port: int
    cookie: str
    csrf: str

    def connection(self) -> HTTPConnection:
        return HTTPConnection(self.host, self.port, timeout=60)

    def send_message(self, connection: HTTPConnection, text: str) -> int:
        """POST a message as htmx does; return the pending reply's id."""
        body = urllib.parse.urlencode({"message": text, "model": f"openai:{MODEL}"})
        connection.request(
            "POST",
            "/chat",
            body=body,
            headers={
                "Cookie": self.cookie,
                "X-CSRFToken": self.csrf,
                "HX-Request": "true",
                "Content-Type": "application/x-www-form-urlencoded",
            },
        )
        response = connection.getresponse()
        html = response.read().decode()
        if response.status != 201:
            raise RuntimeError(f"POST /chat answered {response.status}: {html[:200]}")
        return int(REPLY_ID.search(html).group(1))

    def open_stream(self, connection: HTTPConnection, reply_id: int) -> HTTPResponse:
        connection.request(
            "GET", f"/chat/messages/{reply_id}/stream", headers={"Cookie": self.cookie, "Accept": "text/event-stream"}
        )
        response = connection.getresponse()
        if response.status != 200:
            raise RuntimeError(f"stream answered {response.status}")
        return response


def own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def gunicorn_group(base: str) -> int:
    """The process group of the gunicorn serving `base` (tests.support.processes starts it in a session of its own)."""
    port = urllib.parse.urlsplit(base).port
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if f"127.0.0.1:{port}".encode() in cmdline.read_bytes():
                return os.getpgid(int(cmdline.parent.name))
        except OSError:
            continue
    raise RuntimeError("gunicorn's process was not found")


def sign_in(base: str) -> Session:
    parsed = urllib.parse.urlsplit(base)
    connection = HTTPConnection(parsed.hostname, parsed.port, timeout=30)
    connection.request("GET", "/login")
    response = connection.getresponse()
    html = response.read().decode()
    cookie = response.getheader("Set-Cookie").split(";")[0]
    token = re.search(r'name="csrf-token" content="([^"]+)"', html).group(1)
    body = urllib.parse.urlencode({"email": EMAIL, "password": PASSWORD, "csrf_token": token})
    connection.request(
        "POST", "/login", body=body, headers={"Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded"}
    )
    response = connection.getresponse()
    response.read()
    if response.status != 302:
        raise RuntimeError(f"sign-in failed ({response.status})")
    cookie = response.getheader("Set-Cookie").split(";")[0]
    connection.request("GET", "/chat", headers={"Cookie": cookie})
    response = connection.getresponse()
    html = response.read().decode()
    # The page's CSRF token lives in the session, which this answer may have re-issued.
    cookie = (response.getheader("Set-Cookie") or cookie).split(";")[0]
    csrf = re.search(r'name="csrf-token" content="([^"]+)"', html).group(1)
    connection.close()
    return Session(parsed.hostname, parsed.port, cookie, csrf)


def first_delta_then_rest(response: HTTPResponse) -> tuple[float, str]:
    """Read an SSE reply: the moment the first text delta arrived, and the `done` event's data."""
    first = None
    event, done = "", []
    while True:
        line = response.readline()
        if not line:
            break
        line = line.decode().rstrip("\n")
        if line.startswith("event: "):
            event = line[7:]
        elif line.startswith("data: "):
            if event == "delta" and first is None:
                first = time.perf_counter()
            if event == "done":
                done.append(line[6:])
        elif line == "" and event == "done":
            break
    response.read()  # the end of the body, so the connection can carry the next request
    if first is None:
        raise RuntimeError("the stream ended without any text")
    return first, "\n".join(done)


def measure_first_token(session: Session, samples: int) -> tuple[list[float], list[float]]:
    """Per sample: (stream request -> first text) and (message POST -> first text), in seconds."""
    stream_only, whole_send = [], []
    connection = session.connection()
    for index in range(samples):
        posted = time.perf_counter()
        reply_id = session.send_message(connection, f"Latency sample {index}")
        requested = time.perf_counter()
        first, done = first_delta_then_rest(session.open_stream(connection, reply_id))
        if 'data-status="complete"' not in done:
            raise RuntimeError(f"reply {reply_id} did not complete")
        stream_only.append(first - requested)
        whole_send.append(first - posted)
    connection.close()
    return stream_only, whole_send


def run_concurrent(session: Session, count: int) -> tuple[list[float], list[str], float]:
    """`count` conversations at once, each on its own connection; (durations, failures, wall time)."""

    def one(index: int, start: threading.Barrier) -> float:
        connection = session.connection()
        start.wait(timeout=60)
        started = time.perf_counter()
        reply_id = session.send_message(connection, f"Concurrent conversation {index}")
        _, done = first_delta_then_rest(session.open_stream(connection, reply_id))
        elapsed = time.perf_counter() - started
        connection.close()
        if 'data-status="complete"' not in done:
            status = re.search(r'data-status="(\w+)"', done)
            raise RuntimeError(f"reply {reply_id} ended as {status.group(1) if status else 'unknown'}")
        return elapsed

    return at_once(count, one)


def stored_replies(env: dict[str, str], reply: str) -> tuple[int, int]:
    """(replies stored complete with the whole text and usage, replies in any other state), read by the app."""
    script = f"""
from sqlalchemy import select
from webapp.chat.models import Message
from webapp.extensions import db
from wsgi import app
with app.app_context():
    replies = db.session.scalars(select(Message).where(Message.role == "assistant")).all()
    good = sum(1 for m in replies if m.status == "complete" and m.content == {reply!r} and m.completion_tokens)
    print(good, len(replies) - good)
"""
    good, other = run_in_app(env, script)
    return int(good), int(other)


def cpu_seconds(process_group: int) -> float:
    """User + system CPU seconds used so far by the live processes of a process group (Linux /proc)."""
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        total += process_cpu(stat, process_group)
    return total


def process_cpu(stat: Path, process_group: int | None = None) -> float:
    """CPU seconds of the process whose /proc stat file is `stat` (0 when gone, or not in `process_group`)."""
    try:
        fields = stat.read_text().rsplit(")", 1)[1].split()  # after the name: state, ppid, pgrp, ...
    except OSError:
        return 0.0
    if process_group is not None and int(fields[2]) != process_group:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = model_server_parser(__doc__)
    parser.add_argument("--samples", type=int, default=30, help="sequential first-token samples")
    parser.add_argument("--concurrent", type=int, default=100, help="conversations streaming at once")
    args = parser.parse_args()
    reply = " ".join(f"token{index}" for index in range(args.words))
    ideal = args.first_token_delay + (args.words - 1) / args.token_rate

    with tempfile.TemporaryDirectory(prefix="wb-bench-chat-") as folder:
        workdir = Path(folder)
        with model_server_and_app(workdir, args, reply) as (model_server, env):
            model_url = env["OPENAI_BASE_URL"]
            with gunicorn(
                "wsgi:app", env, args.workers, args.threads, workdir / "gunicorn.log", health_path="/api/health"
            ) as base:
                app_group = gunicorn_group(base)
                session = sign_in(base)
                measure_first_token(session, 3)  # warm-up: imports, connection pools, first queries
                direct = [direct_stream(model_url)[0] for _ in range(args.samples)]
                stream_only, whole_send = measure_first_token(session, args.samples)
                direct_wall = direct_concurrent(model_url, args.concurrent)
                cpu_before = (cpu_seconds(app_group), process_cpu(Path(f"/proc/{model_server.pid}/stat")), own_cpu())
                durations, failures, wall = run_concurrent(session, args.concurrent)
                cpu_used = [
                    after - before
                    for before, after in zip(
                        cpu_before,
                        (cpu_seconds(app_group), process_cpu(Path(f"/proc/{model_server.pid}/stat")), own_cpu()),
                        strict=True,
                    )
                ]
            good, other = stored_replies(env, reply)

    base_ms = statistics.median(direct) * 1000
    stream_ms = statistics.median(stream_only) * 1000
    send_ms = statistics.median(whole_send) * 1000
    print()
    print(f"(a) first token, median of {args.samples} (baseline: straight from the model server)")
    print(f"    model server alone:            {base_ms:8.1f} ms")
    print(
        f"    through us, stream request:    {stream_ms:8.1f} ms   overhead {stream_ms - base_ms:6.1f} ms "
        f"(p90 {percentile(stream_only, 0.9) * 1000 - base_ms:.1f} ms), ratio {stream_ms / base_ms:.3f}"
        "   (aim: overhead < 10 ms)"
    )
    print(
        f"    through us, send + stream:     {send_ms:8.1f} ms   overhead {send_ms - base_ms:6.1f} ms, "
        f"ratio {send_ms / base_ms:.3f}"
    )
    print(
        f"    minus the nominal {args.first_token_delay * 1000:.0f} ms delay: stream request "
        f"{stream_ms - args.first_token_delay * 1000:.1f} ms, "
        f"send + stream {send_ms - args.first_token_delay * 1000:.1f} ms"
    )
    print(
        f"(b) {args.concurrent} conversations at once: {len(durations)} completed, {len(failures)} failed, "
        f"{good} replies stored whole, {other} not"
    )
    print(
        f"    baseline, {args.concurrent} streams at once straight from the model server: "
        f"all done in {direct_wall:.2f} s"
    )
    if durations:
        print(
            f"    through us (message + stream each): median {statistics.median(durations):.2f} s, "
            f"p95 {percentile(durations, 0.95):.2f} s, max {max(durations):.2f} s; all done in {wall:.2f} s"
        )
        print(
            f"    ratio ours / baseline {wall / direct_wall:.2f}; "
            f"ours / one ideal stream ({ideal:.2f} s) {wall / ideal:.2f}"
        )
    print(
        f"    CPU seconds during (b): app (gunicorn) {cpu_used[0]:.2f}, model server {cpu_used[1]:.2f}, "
        f"this client {cpu_used[2]:.2f}; the machine has {os.cpu_count()} cores"
    )
    for failure in failures[:10]:
        print(f"    failure: {failure}")
    if failures or good != args.concurrent + args.samples + 3 or other:
        sys.exit(1)


if __name__ == "__main__":
    main()
