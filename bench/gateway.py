"""The /v1 gateway under gunicorn: what it adds to the model's first byte, and 100 streams at once.

A fake OpenAI-compatible server (tests/support/servers/openai_server.py, its own process) answers with a fixed
first-token delay and token rate. The app runs under gunicorn (gthread, production settings, its own database),
and is called the way the official clients call it: POST /v1/chat/completions, stream=true, a Workbench token.

(a) Time to first byte of reply text, sequentially: from our request to the first streamed text chunk, against the
    same request sent straight to the model server in the same run (the baseline); the gateway's added latency
    is the difference of the medians (aim: under 10 ms). Measured with a token that keeps history (the call is
    stored before the model is asked) and one that does not (only counted).
(b) 100 streams at once through the gateway: every one must end with [DONE] and the whole reply, none fail, and
    every call be stored complete and counted in the usage ledger.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import threading
import time
import urllib.parse
from http.client import HTTPConnection
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import (
    EMAIL,
    MODEL,
    at_once,
    direct_concurrent,
    direct_stream,
    flask_cli,
    gunicorn,
    model_server_and_app,
    model_server_parser,
    percentile,
    run_in_app,
)


def gateway_stream(base: str, token: str, text: str) -> tuple[float, str]:
    """One streamed call through /v1: (seconds to the first text chunk, the whole text); raises unless it ended
    with [DONE]."""
    parsed = urllib.parse.urlsplit(base)
    connection = HTTPConnection(parsed.hostname, parsed.port, timeout=120)
    body = json.dumps({"model": MODEL, "stream": True, "messages": [{"role": "user", "content": text}]})
    started = time.perf_counter()
    connection.request(
        "POST",
        "/v1/chat/completions",
        body=body,
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
    )
    response = connection.getresponse()
    if response.status != 200:
        raise RuntimeError(f"the gateway answered {response.status}: {response.read()[:200]!r}")
    first, parts, done = None, [], False
    while True:
        line = response.readline()
        if not line:
            break
        if line.startswith(b"data: [DONE]"):
            done = True
            break
        if line.startswith(b"data: "):
            event = json.loads(line[6:])
            if "error" in event:
                raise RuntimeError(f"the stream failed: {event['error']['message']}")
            for choice in event.get("choices", []):
                content = choice["delta"].get("content")
                if content:
                    if first is None:
                        first = time.perf_counter()
                    parts.append(content)
    connection.close()
    if not done or first is None:
        raise RuntimeError("the stream ended without [DONE] or without text")
    return first - started, "".join(parts)


def measure(base: str, token: str, model_url: str, samples: int) -> tuple[list[float], list[float]]:
    """Interleaved samples: straight from the model server, then through the gateway; seconds to first text."""
    direct, through = [], []
    for index in range(samples):
        direct.append(direct_stream(model_url)[0])
        through.append(gateway_stream(base, token, f"Latency sample {index}")[0])
    return direct, through


def run_concurrent(base: str, token: str, count: int, reply: str) -> tuple[list[float], list[str], float]:
    def one(index: int, start: threading.Barrier) -> float:
        start.wait(timeout=60)
        started = time.perf_counter()
        _, text = gateway_stream(base, token, f"Concurrent call {index}")
        if text != reply:
            raise RuntimeError(f"the reply arrived as {len(text)} characters, not {len(reply)}")
        return time.perf_counter() - started

    return at_once(count, one)


def stored_calls(env: dict[str, str], reply: str) -> tuple[int, int, int]:
    """(gateway replies stored complete with the whole text, stored in another state, usage rows of the gateway)."""
    script = f"""
from sqlalchemy import func, select
from webapp.chat.models import Conversation, Message
from webapp.extensions import db
from webapp.usage.models import UsageEvent
from wsgi import app
with app.app_context():
    replies = db.session.scalars(
        select(Message).join(Conversation).where(Message.role == "assistant", Conversation.origin == "gateway")
    ).all()
    good = sum(1 for m in replies if m.status == "complete" and m.content == {reply!r} and m.completion_tokens)
    counted = db.session.scalar(select(func.count(UsageEvent.id)).where(UsageEvent.source == "gateway"))
    print(good, len(replies) - good, counted)
"""
    good, other, counted = run_in_app(env, script)
    return int(good), int(other), int(counted)


def main() -> None:
    parser = model_server_parser(__doc__)
    parser.add_argument("--samples", type=int, default=30, help="sequential first-byte samples per token kind")
    parser.add_argument("--concurrent", type=int, default=100, help="streams at once")
    args = parser.parse_args()
    reply = " ".join(f"token{index}" for index in range(args.words))

    with tempfile.TemporaryDirectory(prefix="wb-bench-gateway-") as folder:
        workdir = Path(folder)
        with model_server_and_app(workdir, args, reply) as (_model_server, env):
            model_url = env["OPENAI_BASE_URL"]
            kept = flask_cli(env, "tokens", "create", EMAIL, "--name", "kept", "--scope", "chat").strip()
            counted = flask_cli(env, "tokens", "create", EMAIL, "--name", "counted", "--scope", "chat", "--no-history")
            counted = counted.strip()
            with gunicorn(
                "wsgi:app", env, args.workers, args.threads, workdir / "gunicorn.log", health_path="/api/health"
            ) as base:
                measure(base, kept, model_url, 3)  # warm-up: imports, connection pools, first queries
                measure(base, counted, model_url, 3)
                direct_kept, through_kept = measure(base, kept, model_url, args.samples)
                direct_counted, through_counted = measure(base, counted, model_url, args.samples)
                direct_wall = direct_concurrent(model_url, args.concurrent)
                durations, failures, wall = run_concurrent(base, kept, args.concurrent, reply)
            good, other, counted_rows = stored_calls(env, reply)

    print()
    print(f"(a) first byte of reply text, median of {args.samples} interleaved samples each")
    for label, direct, through in (
        ("history kept", direct_kept, through_kept),
        ("only counted", direct_counted, through_counted),
    ):
        base_ms, ours_ms = statistics.median(direct) * 1000, statistics.median(through) * 1000
        p90_added = (percentile(through, 0.9) - percentile(direct, 0.9)) * 1000
        print(
            f"    {label}: model server alone {base_ms:7.1f} ms, through /v1 {ours_ms:7.1f} ms, "
            f"added {ours_ms - base_ms:5.1f} ms (p90 added {p90_added:.1f} ms)   (aim: added < 10 ms)"
        )
    print(
        f"(b) {args.concurrent} streams at once through /v1: {len(durations)} completed whole, {len(failures)} failed; "
        f"{good} stored complete, {other} not; {counted_rows} gateway usage rows in all"
    )
    print(f"    baseline, {args.concurrent} streams at once straight from the model server: {direct_wall:.2f} s")
    if durations:
        print(
            f"    through /v1: median {statistics.median(durations):.2f} s, p95 {percentile(durations, 0.95):.2f} s, "
            f"max {max(durations):.2f} s; all done in {wall:.2f} s (ratio to the baseline {wall / direct_wall:.2f})"
        )
    for failure in failures[:5]:
        print(f"    failure: {failure}")


if __name__ == "__main__":
    main()
