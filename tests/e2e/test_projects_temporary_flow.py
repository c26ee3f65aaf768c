"""End to end in Chromium: make a project, chat in it (its instructions reach the model), find the chat on the
project page and in the history, move it out; and a temporary chat that streams, remembers its earlier turns while
the page is open, can be stopped, and is stored nowhere."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.support.chat import chat_settings, reset, stored_counts
from tests.support.pages import sign_in_as_admin

pytestmark = pytest.mark.e2e


@pytest.fixture
def app_overrides(openai_server):
    reset(openai_server)
    return chat_settings(openai_server, CHAT_READ_TIMEOUT=5.0)


def watch_console(page: Page) -> list[str]:
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    return errors


def test_a_project_with_instructions_holds_its_chats_until_one_is_moved_out(page: Page, live_server, openai_server):
    errors = watch_console(page)
    sign_in_as_admin(page, live_server)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Projects").click()
    page.get_by_label("Name").fill("Grant proposal")
    page.get_by_label("Instructions (optional)").fill("Answer in British English.")
    page.get_by_label("Default model").select_option("openai:gpt-4o")
    page.get_by_role("button", name="Create project").click()
    expect(page.get_by_role("heading", name="Grant proposal", level=1)).to_be_visible()
    expect(page.get_by_text("No conversations in this project yet.")).to_be_visible()

    page.get_by_role("button", name="New chat in this project").click()
    expect(page.get_by_text("In the project Grant proposal")).to_be_visible()
    expect(page.locator("#model")).to_have_value("openai:gpt-4o")
    page.get_by_label("Message").fill("Summarise the aims")
    page.get_by_label("Message").press("Enter")
    expect(page.locator(".message-assistant[data-status=complete]")).to_contain_text("You said: Summarise the aims")
    sent = openai_server.last_request.body
    assert sent["model"] == "gpt-4o"
    assert sent["messages"][0] == {"role": "system", "content": "Answer in British English."}

    page.locator("#chat-header").get_by_role("link", name="Grant proposal").click()
    expect(page.get_by_role("row", name=re.compile("Summarise the aims"))).to_be_visible()

    page.get_by_role("navigation", name="Main").get_by_role("link", name="History").click()
    row = page.get_by_role("row", name=re.compile("Summarise the aims"))
    expect(row.get_by_role("link", name="Grant proposal")).to_be_visible()
    row.get_by_text("More").click()
    row.get_by_label("Project").select_option(label="No project")
    row.get_by_role("button", name="Move").click()
    expect(page.get_by_text("Moved “Summarise the aims” out of its project.")).to_be_visible()
    expect(
        page.get_by_role("row", name=re.compile("Summarise the aims")).get_by_role("link", name="Grant proposal")
    ).to_have_count(0)

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Projects").click()
    page.get_by_role("link", name="Grant proposal").click()
    expect(page.get_by_text("No conversations in this project yet.")).to_be_visible()
    assert not [error for error in errors if "Content Security Policy" in error], errors


def test_a_temporary_chat_streams_remembers_its_turns_stops_and_is_stored_nowhere(
    page: Page, live_server, openai_server
):
    errors = watch_console(page)
    sign_in_as_admin(page, live_server)
    page.goto(f"{live_server.url}/chat")
    page.get_by_label("Temporary chat").check()
    expect(page.get_by_role("heading", name="Temporary chat")).to_be_visible()
    expect(page.get_by_text("nothing of it is saved, not even a title")).to_be_visible()

    openai_server.reply = "The **first** answer, written slowly word by word for the page to show as it comes."
    openai_server.token_delay = 0.1
    box = page.get_by_label("Message")
    box.fill("Remember the word kestrel")
    box.press("Enter")
    expect(page.locator(".message-user .message-text")).to_have_text("Remember the word kestrel")
    streaming = page.locator(".message-assistant[data-status=pending] .reply-stream")
    expect(streaming).to_contain_text("The **first**")
    expect(page.locator(".message-assistant[data-status=complete] .markdown strong")).to_have_text("first")
    expect(box).to_have_value("")
    expect(page.get_by_label("Temporary chat")).to_be_disabled()

    reset(openai_server)
    box.fill("Which word?")
    box.press("Enter")
    expect(page.locator(".message-assistant[data-status=complete]").nth(1)).to_contain_text("You said: Which word?")
    turns = [(m["role"], m["content"]) for m in openai_server.last_request.body["messages"]]
    assert turns[0] == ("user", "Remember the word kestrel") and turns[-1] == ("user", "Which word?")
    assert turns[1][0] == "assistant" and "word by word" in turns[1][1]

    openai_server.reply = " ".join(f"word{index}" for index in range(300))
    openai_server.token_delay = 0.03
    box.fill("Count slowly")
    box.press("Enter")
    expect(page.locator(".reply-stream")).to_contain_text("word3")
    page.get_by_role("button", name="Stop").click()
    stopped = page.locator(".message-assistant[data-status=interrupted]")
    expect(stopped).to_contain_text("The reply was stopped before the end.")
    assert "word299" not in stopped.inner_text()
    expect(page.get_by_role("button", name="Send")).to_be_enabled()

    assert stored_counts(live_server.app) == (0, 0)
    expect(page.locator(".chat-sidebar .recent-list a")).to_have_count(0)
    page.reload()
    expect(page.locator(".message")).to_have_count(0)
    expect(page.get_by_label("Temporary chat")).not_to_be_checked()
    assert not [error for error in errors if "Content Security Policy" in error], errors
