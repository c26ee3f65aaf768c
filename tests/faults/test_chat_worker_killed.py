"""A gunicorn worker killed (SIGKILL) while a reply streams: the question is kept, the reply ends `interrupted`
with the text saved before the kill, and the replacement worker answers the next message normally.

A dead worker cannot mark its own reply: the next reader (the page's EventSource reconnecting, the page, the
API) finds it silent for longer than its timeouts allow and marks it (chat service `expire_if_stale`).
"""

from __future__ import annotations

import time
from pathlib import Path

import requests

from tests.support.apps import inspecting_app, served_settings
from tests.support.chat import STREAM_URL, chat_settings, parse_sse, reset, stored_conversation, stored_message
from tests.support.factories import make_user
from tests.support.processes import Browser, run_gunicorn
from tests.support.servers.openai_server import OpenAIServer

QUESTION = "Tell me a long story"


def read_until_saved(stream: requests.Response, app, reply_id: int) -> str:
    """Read the reply's deltas until the app has saved part of it (its 5-second checkpoint); return the text."""
    received = []
    event = ""
    for line in stream.iter_lines(decode_unicode=True):
        if line.startswith("event: "):
            event = line.removeprefix("event: ")
        elif line.startswith("data: ") and event == "delta":
            received.append(line.removeprefix("data: "))
            if stored_message(app, reply_id).content:
                return "".join(received)
    raise AssertionError("the stream ended before any text was saved")


def test_worker_killed_mid_reply_keeps_the_question_and_marks_the_reply_interrupted(
    tmp_path: Path, openai_server: OpenAIServer
):
    reset(openai_server)
    openai_server.reply = " ".join(f"word{index}" for index in range(400))
    openai_server.token_delay = 0.05  # 20 tokens a second: the whole reply would take 20 s
    # Timeouts of 1 + 2 s and one second of grace: a reply silent for 8 s (5 s checkpoint + 2 s + 1 s) is dead.
    chat = chat_settings(openai_server, CHAT_READ_TIMEOUT=2, CHAT_STALE_GRACE_SECONDS=1)
    settings = served_settings(tmp_path, f"sqlite:///{tmp_path / 'app.db'}", **chat)
    app = inspecting_app(tmp_path, settings)
    account = make_user(app)

    with run_gunicorn(tmp_path, settings) as server:
        browser = Browser(server.url).sign_in(account.email, account.password)
        sent = browser.htmx_post("/chat", {"message": QUESTION})
        assert sent.status_code == 201, sent.text
        conversation_id = int(sent.headers["HX-Push-Url"].rsplit("/", 1)[1])
        reply_id = int(STREAM_URL.search(sent.text).group(1))

        with browser.get(f"/chat/messages/{reply_id}/stream", stream=True, timeout=30) as stream:
            received = read_until_saved(stream, app, reply_id)
            old_worker = server.kill_worker()
        server.wait_for_new_worker(old_worker)

        # The page's EventSource reconnects; the new worker follows the reply until it is found dead.
        started = time.monotonic()
        reopened = browser.get(f"/chat/messages/{reply_id}/stream", timeout=30)
        events = parse_sse(reopened.text)
        assert time.monotonic() - started < 20  # about 8 s: the silence it takes to be found dead
        assert events[-1].name == "done" and 'data-status="interrupted"' in events[-1].data
        assert "went away" in events[-1].data and "Retry" in events[-1].data

        conversation = stored_conversation(app, conversation_id)
        question, reply = conversation.messages
        assert (question.role, question.content, question.status) == ("user", QUESTION, "complete")
        assert reply.status == "interrupted" and reply.content and received.startswith(reply.content)
        assert len(reply.content) < len(openai_server.reply)

        page = browser.get(f"/chat/{conversation_id}")
        assert page.status_code == 200 and QUESTION in page.text and 'data-status="interrupted"' in page.text

        # The replacement worker serves the next message normally.
        reset(openai_server)
        openai_server.reply = "All good again."
        again = browser.htmx_post(f"/chat/{conversation_id}/messages", {"message": "Are you back?"})
        assert again.status_code == 201, again.text
        next_reply = int(STREAM_URL.findall(again.text)[-1])
        done = parse_sse(browser.get(f"/chat/messages/{next_reply}/stream", timeout=30).text)[-1]
        assert done.name == "done" and 'data-status="complete"' in done.data
        stored = stored_message(app, next_reply)
        assert (stored.status, stored.content) == ("complete", "All good again.")
