"""End to end in Chromium: chat with a model that streams, come back to it, find it, export it; and when a reply
fails or is stopped, see why in place and try again."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.support.chat import chat_settings, reset
from tests.support.factories import make_conversation
from tests.support.pages import sign_in, sign_in_as_admin
from webapp.chat.service import WINDOW

pytestmark = pytest.mark.e2e

REPLY = (
    "Tides come from **the Moon's** gravity pulling on the oceans, with help from the Sun; "
    "most coasts see two high tides a day."
)


@pytest.fixture
def app_overrides(openai_server):
    reset(openai_server)
    return chat_settings(openai_server, CHAT_READ_TIMEOUT=5.0)


def watch_console(page: Page) -> list[str]:
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    return errors


def test_send_watch_it_stream_reload_find_and_export(page: Page, live_server, openai_server, tmp_path):
    openai_server.reply = REPLY
    openai_server.token_delay = 0.15  # about four seconds of words arriving one by one
    errors = watch_console(page)
    sign_in_as_admin(page, live_server)

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Chat").click()
    box = page.get_by_label("Message")
    box.fill("Why are there tides?")
    box.press("Shift+Enter")
    box.press_sequentially("Keep it short.")
    assert box.input_value() == "Why are there tides?\nKeep it short."
    box.press("Enter")

    question = page.locator(".message-user .message-text").first
    expect(question).to_have_text(re.compile(r"Why are there tides\?\s+Keep it short\."))
    expect(box).to_have_value("")
    # Part of the reply is on screen while the rest is still being written.
    streaming = page.locator(".message-assistant[data-status=pending] .reply-stream")
    expect(streaming).to_contain_text("Tides come from")
    assert "two high tides a day" not in streaming.inner_text()
    expect(page.get_by_role("button", name="Send")).to_be_disabled()
    reply = page.locator(".message-assistant[data-status=complete]")
    expect(reply.locator(".markdown strong")).to_have_text("the Moon's")
    expect(reply).to_contain_text("most coasts see two high tides a day.")
    expect(page.get_by_role("button", name="Send")).to_be_enabled()
    expect(page).to_have_url(re.compile(r"/chat/\d+$"))
    expect(page.get_by_role("heading", name="Why are there tides? Keep it short.")).to_be_visible()

    page.reload()
    expect(page.locator(".message-user")).to_contain_text("Why are there tides?")
    expect(page.locator(".message-assistant[data-status=complete] .markdown strong")).to_have_text("the Moon's")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="History").click()
    page.get_by_label("Search").fill("gravity oceans")
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_text("1 matching conversation")).to_be_visible()
    row = page.get_by_role("row", name=re.compile("Why are there tides"))
    row.get_by_text("More").click()
    with page.expect_download() as download_info:
        row.get_by_role("link", name="Export Markdown").click()
    saved = tmp_path / "export.md"
    download_info.value.save_as(saved)
    exported = saved.read_text()
    assert exported.startswith("# Why are there tides? Keep it short.")
    assert "Why are there tides?\nKeep it short." in exported and REPLY in exported
    row.get_by_text("More").click()  # close the menu again

    page.get_by_label("Search").fill("volcano")
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_text("No conversation matches.")).to_be_visible()
    assert not [error for error in errors if "Content Security Policy" in error], errors


def test_a_failed_reply_shows_why_and_retries_and_stop_keeps_the_partial_text(page: Page, live_server, openai_server):
    errors = watch_console(page)
    sign_in_as_admin(page, live_server)
    openai_server.error_status = 500
    page.goto(f"{live_server.url}/chat")
    page.get_by_label("Message").fill("Are you there?")
    page.get_by_role("button", name="Send").click()

    failed = page.locator(".message-assistant[data-status=error]")
    expect(failed).to_contain_text("The reply failed. The model service is not working right now (500)")
    expect(page.locator(".message-user .message-text")).to_have_text("Are you there?")

    reset(openai_server)
    failed.get_by_role("button", name="Retry").click()
    expect(page.locator(".message-assistant[data-status=complete] .message-text")).to_have_text(
        "You said: Are you there?"
    )
    expect(page.get_by_role("button", name="Retry")).to_have_count(0)

    openai_server.reply = " ".join(f"word{index}" for index in range(300))
    openai_server.token_delay = 0.03
    page.get_by_label("Message").fill("Count slowly")
    page.get_by_label("Message").press("Enter")
    expect(page.locator(".reply-stream")).to_contain_text("word3")
    page.get_by_role("button", name="Stop").click()

    stopped = page.locator(".message-assistant[data-status=interrupted]")
    expect(stopped).to_contain_text("The reply was stopped before the end.")
    expect(stopped).to_contain_text("word0 word1 word2 word3")
    assert "word299" not in stopped.inner_text()
    expect(stopped.get_by_role("button", name="Retry")).to_be_visible()
    assert not [error for error in errors if "Content Security Policy" in error], errors


def test_edit_a_question_regenerate_a_reply_and_step_through_the_versions_by_keyboard(
    page: Page, live_server, openai_server
):
    errors = watch_console(page)
    sign_in_as_admin(page, live_server)
    page.goto(f"{live_server.url}/chat")
    page.get_by_label("Message").fill("Name a colour")
    page.get_by_label("Message").press("Enter")
    replies = page.locator(".message-assistant[data-status=complete] .message-text")
    expect(replies).to_have_text("You said: Name a colour")

    # Edit the question: a new version with its own reply; the first is one step back.
    question = page.locator(".message-user")
    question.locator("summary").click()
    question.get_by_label("Your edit").fill("Name a fruit")
    question.get_by_role("button", name="Save edit").click()
    expect(replies).to_have_text("You said: Name a fruit")
    expect(page.locator(".message-user .message-text")).to_have_text("Name a fruit")
    versions = page.get_by_role("navigation", name="Versions of this question")
    expect(versions).to_contain_text("2/2")

    # ‹ with the keyboard: the first version's branch comes back, the focus stays on the button, and the change is
    # announced in the live region.
    previous = versions.get_by_role("button", name="Previous version of this question")
    previous.focus()
    page.keyboard.press("Enter")
    expect(page.locator(".message-user .message-text")).to_have_text("Name a colour")
    expect(replies).to_have_text("You said: Name a colour")
    expect(page.locator("#branch-status")).to_have_text("Showing version 1 of 2 of this question.")
    expect(page.locator("#versions-first-previous")).to_be_focused()
    expect(page.locator("#versions-first-previous")).to_have_attribute("aria-disabled", "true")
    page.keyboard.press("Tab")
    expect(page.locator("#versions-first-next")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator(".message-user .message-text")).to_have_text("Name a fruit")

    # Regenerate the reply: a second version of it, the first kept behind ‹.
    openai_server.reply = "A banana."
    page.get_by_role("button", name="Regenerate this reply").click()
    expect(replies).to_have_text("A banana.")
    reply_versions = page.get_by_role("navigation", name="Versions of this reply")
    expect(reply_versions).to_contain_text("2/2")
    reply_versions.get_by_role("button", name="Previous version of this reply").click()
    expect(replies).to_have_text("You said: Name a fruit")

    # Sending continues the branch shown; a reload shows the same branch.
    page.get_by_label("Message").fill("And a vegetable?")
    page.get_by_label("Message").press("Enter")
    expect(replies.last).to_have_text("A banana.")
    page.reload()
    expect(page.locator(".message-user .message-text")).to_have_text(["Name a fruit", "And a vegetable?"])
    expect(replies.first).to_have_text("You said: Name a fruit")
    assert not [error for error in errors if "Content Security Policy" in error], errors


def test_a_long_conversation_shows_its_last_messages_and_earlier_ones_on_request(page: Page, live_server):
    errors = watch_console(page)
    long = make_conversation(live_server.app, live_server.admin, 2 * WINDOW + 4, title="A long one")
    ids = [message.id for message in long.messages]
    sign_in_as_admin(page, live_server)
    page.goto(f"{live_server.url}/chat/{long.id}")
    shown = page.locator("#messages > article")
    expect(shown).to_have_count(WINDOW)
    expect(shown.last).to_contain_text(f"Reply {WINDOW + 2}")

    # With the keyboard: the window before comes above, the first of it takes the focus, and it is announced.
    earlier = page.get_by_role("link", name="Show earlier messages")
    expect(page.locator("#earlier-messages")).to_contain_text(f"{WINDOW + 4} earlier messages not shown")
    earlier.focus()
    page.keyboard.press("Enter")
    expect(shown).to_have_count(2 * WINDOW)
    expect(page.locator(f"#message-{ids[4]}")).to_be_focused()
    expect(page.locator("#branch-status")).to_have_text(f"Showing {WINDOW} earlier messages.")
    expect(page).to_have_url(re.compile(rf"/chat/{long.id}$"))  # loaded in place

    earlier.click()
    expect(shown).to_have_count(2 * WINDOW + 4)
    expect(page.locator(f"#message-{ids[0]}")).to_be_focused()
    expect(shown.first).to_contain_text("Question 1")
    expect(page.locator("#branch-status")).to_have_text(
        "Showing 4 earlier messages, from the start of the conversation."
    )
    expect(earlier).to_have_count(0)
    assert [int(found.split("-")[1]) for found in shown.evaluate_all("all => all.map(a => a.id)")] == ids

    # A reply to a new question still comes at the end.
    page.get_by_label("Message").fill("And the next one?")
    page.get_by_label("Message").press("Enter")
    expect(shown.last).to_contain_text("You said: And the next one?")
    expect(shown).to_have_count(2 * WINDOW + 6)
    assert not [error for error in errors if "Content Security Policy" in error], errors


def test_without_javascript_show_earlier_messages_is_a_link_to_the_page_with_them(
    browser, browser_context_args, live_server
):
    long = make_conversation(live_server.app, live_server.admin, WINDOW + 6, title="A long one")
    context = browser.new_context(**browser_context_args, java_script_enabled=False)
    page = context.new_page()
    try:
        sign_in(page, live_server.url, live_server.admin.email, live_server.admin.password)
        expect(page.get_by_role("heading", name=re.compile("Hello"))).to_be_visible()
        page.goto(f"{live_server.url}/chat/{long.id}")
        expect(page.locator("#messages > article")).to_have_count(WINDOW)
        page.get_by_role("link", name="Show earlier messages").click()
        expect(page).to_have_url(re.compile(rf"/chat/{long.id}\?before=\d+#messages$"))
        expect(page.locator("#messages > article")).to_have_count(WINDOW + 6)
        expect(page.locator("#messages > article").first).to_contain_text("Question 1")
        expect(page.get_by_role("link", name="Show earlier messages")).to_have_count(0)
    finally:
        context.close()
