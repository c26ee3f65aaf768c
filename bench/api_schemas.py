"""Per-request cost of the /api views: this tree against a baseline commit, and the schema libraries side by side.

Two measurements, both in-process through Flask's test client (no sockets, no server: what is left is the app's
own work per request, which is where validation and serialisation add theirs):

1. The app (default). GET /api/me, GET /api/conversations (20 conversations on the page), GET
   /api/conversations/<id> (with its messages), POST /api/chat (to the local OpenAI protocol server,
   tests/support/servers/openai_server.py, in its own process) and a POST /api/chat the schema refuses (a 400). Each is
   measured for this tree and for `--baseline` (a commit, checked out in a temporary git worktree; default: the
   last commit with the hand-written views and api/operations.py), each in a fresh interpreter, rounds
   alternating so that a busy machine slows both alike. Prints median and p95 per request, in milliseconds of
   the app process's CPU time (`--clock wall` for elapsed time; on a shared machine that mostly measures the
   other jobs).
2. `--candidates`: one small app declared three ways — hand-written checks, spectree, flask-openapi3 — with the
   same pydantic models, timing a GET that serialises a model and a POST that validates a body. flask-openapi3
   is not a dependency: point `--candidates-path` at a folder it was installed into with
   `pip install --no-deps --target DIR flask-openapi3==4.3.2`.

    .venv/bin/python bench/api_schemas.py [--requests 300] [--chats 60] [--rounds 2] [--baseline COMMIT]
    .venv/bin/python bench/api_schemas.py --candidates [--candidates-path DIR]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from pydantic import BaseModel, Field

ROOT = Path(__file__).resolve().parents[1]
# The last commit whose /api views checked types by hand and whose document came from api/operations.py.
BASELINE = "c4789ac"
CONVERSATIONS = 20


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


# "cpu": the process's own CPU time per request (what the app spends; what other jobs on a busy machine do
# between our instructions is not counted), "wall": elapsed time. The model server is another process either way.
CLOCKS = {"cpu": time.process_time, "wall": time.perf_counter}
clock = CLOCKS["cpu"]


def timed(call: Callable[[], object], count: int) -> list[float]:
    samples = []
    for _ in range(count):
        started = clock()
        call()
        samples.append((clock() - started) * 1000)
    return samples


# --- 1. the app, in a child interpreter whose sys.path starts at the tree being measured ----------------------


def server_module(tree: Path) -> str:
    """The OpenAI protocol server of `tree` (it moved to tests/support/ after the baseline commit)."""
    moved = tree / "tests" / "support" / "servers" / "openai_server.py"
    return "tests.support.servers.openai_server" if moved.exists() else "tests.servers.openai_server"


def measure_app(tree: Path, requests: int, chats: int) -> dict[str, list[float]]:
    """Run in the child: build the app of `tree`, seed it, and time each request kind."""
    sys.path.insert(0, str(tree))
    import socket

    from webapp import create_app
    from webapp.auth import service as accounts
    from webapp.extensions import db

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    model_server = subprocess.Popen(
        [sys.executable, "-m", server_module(tree), "--port", str(port), "--reply", "A short reply."],
        cwd=tree,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        model_url = model_server.stdout.readline().strip()
        with tempfile.TemporaryDirectory(prefix="wb-bench-api-") as folder:
            app = create_app(
                "testing",
                {
                    "SQLALCHEMY_DATABASE_URI": f"sqlite:///{folder}/bench.db",
                    "UPLOAD_DIR": Path(folder) / "uploads",
                    "UPLOAD_TEMP_DIR": Path(folder) / "upload-tmp",
                    "OPENAI_API_KEY": "bench",
                    "OPENAI_BASE_URL": model_url,
                    "OPENAI_MODELS": "gpt-4o-mini",
                    "CHAT_MAX_RETRIES": 0,
                },
            )
            with app.app_context():
                db.create_all()
                user = accounts.create_user("bench@example.com", "Bench", "bench password 123")
                _, token = accounts.create_token(user, "bench")
            client = app.test_client()
            headers = {"Authorization": f"Bearer {token}"}

            def chat(body: dict, status: int) -> None:
                response = client.post("/api/chat", json=body, headers=headers)
                assert response.status_code == status, response.get_data(as_text=True)

            def get(url: str) -> Callable[[], None]:
                def call() -> None:
                    response = client.get(url, headers=headers)
                    assert response.status_code == 200, response.get_data(as_text=True)

                return call

            for index in range(CONVERSATIONS):
                chat({"message": f"Question {index}"}, 200)
            kinds: dict[str, Callable[[], None]] = {
                "GET /api/me": get("/api/me"),
                f"GET /api/conversations ({CONVERSATIONS})": get("/api/conversations"),
                "GET /api/conversations/<id>": get("/api/conversations/1"),
                "POST /api/chat": lambda: chat({"message": "Hello", "conversation_id": 1}, 200),
                "POST /api/chat refused (400)": lambda: chat({"message": "Hello", "conversation_id": "one"}, 400),
            }
            results = {}
            for name, call in kinds.items():
                count = chats if name == "POST /api/chat" else requests
                timed(call, max(5, count // 10))  # warm-up: first-request costs are not per-request costs
                results[name] = timed(call, count)
            return results
    finally:
        model_server.terminate()
        model_server.wait()


def run_child(tree: Path, requests: int, chats: int) -> dict[str, list[float]]:
    output = subprocess.run(
        [sys.executable, __file__, "--child", str(tree), "--requests", str(requests), "--chats", str(chats)]
        + ["--clock", "wall" if clock is CLOCKS["wall"] else "cpu"],
        cwd=tree,
        capture_output=True,
        text=True,
    )
    if output.returncode != 0:
        raise RuntimeError(f"measuring {tree} failed:\n{output.stderr[-3000:]}")
    return json.loads(output.stdout.strip().splitlines()[-1])


def compare_with_baseline(baseline: str | None, requests: int, chats: int, rounds: int) -> None:
    trees: dict[str, Path] = {"this tree": ROOT}
    with tempfile.TemporaryDirectory(prefix="wb-bench-api-baseline-") as folder:
        if baseline:
            checkout = Path(folder) / "tree"
            subprocess.run(
                ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(checkout), baseline],
                check=True,
                capture_output=True,
            )
            trees = {f"baseline {baseline}": checkout, **trees}
        try:
            samples: dict[str, dict[str, list[float]]] = {name: {} for name in trees}
            for round_number in range(rounds):
                for name, tree in trees.items():
                    print(f"round {round_number + 1}/{rounds}: {name} …", file=sys.stderr, flush=True)
                    for kind, values in run_child(tree, requests, chats).items():
                        samples[name].setdefault(kind, []).extend(values)
        finally:
            if baseline:
                subprocess.run(
                    ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(checkout)], capture_output=True
                )
    names = list(trees)
    unit = "CPU ms" if clock is CLOCKS["cpu"] else "ms"
    header = f"{'request':34}" + "".join(f"{name + f' median / p95 {unit}':>40}" for name in names)
    print(header)
    for kind in samples[names[-1]]:
        row = f"{kind:34}"
        for name in names:
            values = samples[name].get(kind, [])
            row += f"{statistics.median(values):>28.2f} / {percentile(values, 0.95):>8.2f}" if values else " " * 40
        print(row)
    if baseline:
        print("\nDifference (this tree − baseline), median ms per request:")
        for kind in samples[names[-1]]:
            before, after = samples[names[0]].get(kind), samples[names[-1]][kind]
            if before:
                difference = statistics.median(after) - statistics.median(before)
                print(f"  {kind:34} {difference:+.2f}")


# --- 2. the candidates, one small app each ---------------------------------------------------------------------


# The candidates' models (at module level: both libraries read the views' annotations by name).


class Person(BaseModel):
    id: int = Field(ge=1, le=2**31 - 1)
    email: str
    name: str
    role: str


class ChatRequest(BaseModel):
    message: str
    conversation_id: int | None = Field(default=None, ge=1, le=2**31 - 1)
    model: str | None = None
    system: str | None = None


class Accepted(BaseModel):
    length: int
    conversation_id: int | None


def compare_candidates(requests: int, candidates_path: str | None) -> None:
    if candidates_path:
        sys.path.insert(0, candidates_path)
    from flask import Flask, abort, jsonify, request

    person = {"id": 7, "email": "sam@example.com", "name": "Sam", "role": "staff"}
    body = {"message": "Hello there", "conversation_id": 12, "model": "openai:gpt-4o-mini"}

    def hand_written() -> Flask:
        app = Flask("hand")

        @app.get("/me")
        def me():
            return jsonify(dict(person))

        @app.post("/chat")
        def chat():
            data = request.get_json(silent=True)
            if not isinstance(data, dict) or not isinstance(data.get("message"), str):
                abort(400)
            conversation_id = data.get("conversation_id")
            if conversation_id is not None and not (
                isinstance(conversation_id, int) and 1 <= conversation_id <= 2**31 - 1
            ):
                abort(400)
            for name in ("model", "system"):
                if data.get(name) is not None and not isinstance(data[name], str):
                    abort(400)
            return jsonify({"length": len(data["message"]), "conversation_id": conversation_id})

        return app

    def with_spectree() -> Flask:
        from spectree import Response, SpecTree

        app = Flask("spectree")
        spec = SpecTree("flask", mode="strict", page_templates={}, path="spec")

        @app.get("/me")
        @spec.validate(resp=Response(HTTP_200=Person))
        def me():
            return Person(**person)

        @app.post("/chat")
        @spec.validate(json=ChatRequest, resp=Response(HTTP_200=Accepted))
        def chat(json: ChatRequest):
            return Accepted(length=len(json.message), conversation_id=json.conversation_id)

        spec.register(app)
        with app.app_context():
            assert spec.spec["paths"]
        return app

    def with_flask_openapi3() -> Flask:
        from flask_openapi3 import OpenAPI

        app = OpenAPI("openapi3", doc_ui=False)

        @app.get("/me", responses={200: Person})
        def me():
            return Person(**person).model_dump()

        @app.post("/chat", responses={200: Accepted})
        def chat(body: ChatRequest):
            return Accepted(length=len(body.message), conversation_id=body.conversation_id).model_dump()

        assert app.api_doc["paths"]
        return app

    builders = {"hand-written": hand_written, "spectree": with_spectree, "flask-openapi3": with_flask_openapi3}
    unit = "CPU µs" if clock is CLOCKS["cpu"] else "µs"
    print(f"{'app':16}{f'GET /me median / p95 {unit}':>32}{f'POST /chat median / p95 {unit}':>34}")
    for name, build in builders.items():
        try:
            app = build()
        except ImportError as error:
            print(f"{name:16}  not installed ({error.name}); see --candidates-path")
            continue
        client = app.test_client()
        figures = []
        calls = (lambda client=client: client.get("/me"), lambda client=client: client.post("/chat", json=body))
        for call in calls:
            response = call()
            assert response.status_code == 200, (name, response.get_data(as_text=True))
            timed(call, requests // 10)
            values = [value * 1000 for value in timed(call, requests)]
            figures.append(f"{statistics.median(values):>18.0f} / {percentile(values, 0.95):>7.0f}")
        print(f"{name:16}{figures[0]:>32}{figures[1]:>34}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=300, help="timed requests of each GET kind, per round")
    parser.add_argument("--chats", type=int, default=60, help="timed POST /api/chat, per round")
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds of baseline and this tree")
    parser.add_argument("--baseline", default=BASELINE, help="commit to compare with ('' for none)")
    parser.add_argument("--candidates", action="store_true", help="compare the schema libraries instead")
    parser.add_argument("--candidates-path", help="a folder with flask-openapi3 installed (pip --target)")
    parser.add_argument("--clock", choices=CLOCKS, default="cpu", help="CPU time of the app's process, or elapsed")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    global clock
    clock = CLOCKS[args.clock]
    if args.child:
        print(json.dumps(measure_app(Path(args.child), args.requests, args.chats)))
    elif args.candidates:
        compare_candidates(args.requests * 10, args.candidates_path)
    else:
        compare_with_baseline(args.baseline or None, args.requests, args.chats, args.rounds)


if __name__ == "__main__":
    main()
