"""Staff at work, for locust (run by bench/load.py, `make load`, in .venv-load; it imports nothing of the app).

Each simulated person signs in with an account of their own (created beforehand), then, with a pause of a few
seconds between actions: opens the dashboard, searches the history, opens the library, chats (the reply read
to the end of its stream), uploads a photo, now and then signs out and in again, and rarely compares two faces
(queued for the worker; polled until done). Every request goes to either app server at random, as a load
balancer without sticky sessions would send it.

Settings come from the environment bench/load.py sets: LOAD_SERVERS (comma-separated URLs), LOAD_CERTIFICATE,
LOAD_EMAIL (a pattern with {n}), LOAD_PASSWORD, LOAD_PHOTOS (a folder with obama.jpg, obama2.jpg, biden.jpg),
LOAD_MODEL, LOAD_STATUS_FILE (where the count of answers per status class is written at the end).
"""

from __future__ import annotations

import itertools
import json
import os
import random
import re
import time
from collections import Counter
from pathlib import Path

from locust import HttpUser, between, events, task

SERVERS = os.environ["LOAD_SERVERS"].split(",")
CERTIFICATE = os.environ["LOAD_CERTIFICATE"]
EMAIL = os.environ["LOAD_EMAIL"]
PASSWORD = os.environ["LOAD_PASSWORD"]
PHOTOS = Path(os.environ["LOAD_PHOTOS"])
MODEL = os.environ["LOAD_MODEL"]
STATUS_FILE = os.environ["LOAD_STATUS_FILE"]
FACE_JOB_SECONDS = 120  # a compare not done by then counts as a failure

CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)"')
REPLY_ID = re.compile(r'sse-connect="/chat/messages/(\d+)/stream"')
COMPARISON_ID = re.compile(r'id="comparison-(\d+)"')
HTMX = {"HX-Request": "true"}
SEARCH_WORDS = ("quarterly", "report", "hello", "invoice", "summary", "photo")
PHOTO_BYTES = {name: (PHOTOS / name).read_bytes() for name in ("obama.jpg", "obama2.jpg", "biden.jpg")}

accounts = itertools.count(1)
statuses: Counter[str] = Counter()


@events.request.add_listener
def count_status(request_type: str = "", response=None, **_: object) -> None:
    """Answers by status class (2xx, 3xx, 4xx, 5xx), and requests that got no answer at all."""
    if request_type == "JOB":
        return
    status = getattr(response, "status_code", 0) or 0
    statuses[f"{status // 100}xx" if status else "no answer"] += 1


@events.spawning_complete.add_listener
def count_afresh(**_: object) -> None:
    """locust's figures start over once every user is at work (--reset-stats): so do these counts."""
    statuses.clear()


@events.quitting.add_listener
def write_statuses(**_: object) -> None:
    Path(STATUS_FILE).write_text(json.dumps(dict(statuses), indent=2))


class Staff(HttpUser):
    host = SERVERS[0]
    wait_time = between(5, 15)  # a person reads a page before the next click

    def on_start(self) -> None:
        self.email = EMAIL.format(n=next(accounts))
        self.csrf = ""
        self.sign_in()

    def server(self) -> str:
        return random.choice(SERVERS)

    def get(self, path: str, name: str, **kwargs):
        # verify with each request: requests lets REQUESTS_CA_BUNDLE override a session's own `verify`.
        return self.client.get(self.server() + path, name=name, verify=CERTIFICATE, **kwargs)

    def post(self, path: str, name: str, page: str, **kwargs):
        """POST as the page at `page` would (the Referer is checked on HTTPS), to either server."""
        server = self.server()
        headers = {"X-CSRFToken": self.csrf, "Referer": server + page, **kwargs.pop("headers", {})}
        return self.client.post(
            server + path, name=name, headers=headers, verify=CERTIFICATE, allow_redirects=False, **kwargs
        )

    def sign_in(self) -> None:
        self.csrf = self.token_from(self.get("/login", "/login"))
        with self.post(
            "/login", "POST /login", "/login", data={"email": self.email, "password": PASSWORD}, catch_response=True
        ) as response:
            if response.status_code != 302:
                response.failure(f"sign-in answered {response.status_code}")
                return
        self.csrf = self.token_from(self.get("/", "/ (dashboard)"))

    @staticmethod
    def token_from(response) -> str:
        match = CSRF_META.search(response.text or "")
        return match.group(1) if match else ""

    @task(100)
    def dashboard(self) -> None:
        self.get("/", "/ (dashboard)")

    @task(50)
    def search_history(self) -> None:
        self.get(f"/history?q={random.choice(SEARCH_WORDS)}", "/history?q=")

    @task(30)
    def library(self) -> None:
        self.get("/files", "/files")

    @task(40)
    def chat(self) -> None:
        words = " ".join(random.choices(SEARCH_WORDS, k=8))
        with self.post(
            "/chat",
            "POST /chat",
            "/chat",
            headers=HTMX,
            data={"message": f"Please write the {words}", "model": f"openai:{MODEL}"},
            catch_response=True,
        ) as sent:
            match = REPLY_ID.search(sent.text or "")
            if sent.status_code != 201 or not match:
                sent.failure(f"message answered {sent.status_code}")
                return
        # Read to the end of the stream: the time recorded is the whole reply, as the person waits for it.
        with self.get(
            f"/chat/messages/{match.group(1)}/stream",
            "/chat/messages/[id]/stream (whole reply)",
            headers={"Accept": "text/event-stream"},
            catch_response=True,
        ) as stream:
            if stream.status_code == 200 and "event: done" not in stream.text:
                stream.failure("the stream ended without its done event")

    @task(30)
    def upload(self) -> None:
        name = random.choice(list(PHOTO_BYTES))
        with self.post(
            "/files/upload",
            "POST /files/upload",
            "/files/upload",
            headers=HTMX,
            files={"file": (name, PHOTO_BYTES[name], "image/jpeg")},
            catch_response=True,
        ) as response:
            if response.status_code != 201:
                response.failure(f"upload answered {response.status_code}")

    @task(1)
    def sign_out_and_in(self) -> None:
        self.post("/logout", "POST /logout", "/", data={"csrf_token": self.csrf})
        self.sign_in()

    @task(1)
    def compare_faces(self) -> None:
        first, second = random.sample(list(PHOTO_BYTES), 2)
        started = time.perf_counter()
        with self.post(
            "/faces/compare",
            "POST /faces/compare",
            "/faces/compare",
            headers=HTMX,
            files={
                "photo_a": (first, PHOTO_BYTES[first], "image/jpeg"),
                "photo_b": (second, PHOTO_BYTES[second], "image/jpeg"),
            },
            catch_response=True,
        ) as queued:
            match = COMPARISON_ID.search(queued.text or "")
            if queued.status_code not in (200, 202) or not match:
                queued.failure(f"compare answered {queued.status_code}")
                return
        status = queued.status_code
        while status == 202 and time.perf_counter() - started < FACE_JOB_SECONDS:
            time.sleep(2)  # what the page does
            status = self.get(
                f"/faces/comparisons/{match.group(1)}/result", "/faces/comparisons/[id]/result", headers=HTMX
            ).status_code
        events.request.fire(
            request_type="JOB",
            name="face compare, queued to done",
            response_time=(time.perf_counter() - started) * 1000,
            response_length=0,
            exception=None if status == 200 else RuntimeError(f"job ended with {status}"),
            context={},
        )
