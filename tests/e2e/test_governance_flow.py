"""End to end in Chromium: an admin makes a group on the pages, puts a staff member in it, limits its models and
its monthly messages; the staff member then sees only the allowed model, the 80% warning, the refusal at the
limit (what they typed kept in the conversation, once, not left in the box to be sent twice), Retry answering it
once the limit is raised, and their usage."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.support.chat import chat_settings, reset
from tests.support.factories import make_user
from tests.support.pages import sign_in, sign_in_as_admin

pytestmark = pytest.mark.e2e


@pytest.fixture
def app_overrides(openai_server):
    reset(openai_server)
    return chat_settings(openai_server, CHAT_READ_TIMEOUT=5.0)


def test_an_admin_limits_a_group_and_its_member_sees_the_models_the_warning_and_the_refusal(
    page: Page, live_server, openai_server
):
    staff = make_user(live_server.app, email="sam@example.com", name="Sam Staff")
    sign_in_as_admin(page, live_server)

    page.locator("summary", has_text="Admin").click()
    page.get_by_role("link", name="Groups and limits").click()
    page.get_by_label("Name").fill("Interns")
    page.get_by_role("button", name="Create group").click()
    expect(page.get_by_role("heading", name="Interns")).to_be_visible()

    page.get_by_label("Email of a user").fill(staff.email)
    page.get_by_role("button", name="Add to the group").click()
    expect(page.get_by_role("cell", name=staff.email)).to_be_visible()
    page.get_by_label("Only the models ticked below").check()
    page.get_by_role("checkbox", name=re.compile(r"gpt-4o-mini \(")).check()
    page.get_by_role("button", name="Save models").click()
    expect(page.get_by_text("The models of Interns are saved.")).to_be_visible()
    page.get_by_label("Monthly requests").fill("5")
    page.get_by_role("button", name="Save limits").click()
    expect(page.get_by_text("The limits of Interns: 5 requests a month.")).to_be_visible()

    page.locator("summary", has_text="Rita Root").click()
    page.get_by_role("button", name="Sign out").click()
    sign_in(page, live_server.url, staff.email, staff.password)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Chat").click()
    picker = page.get_by_label("Model")
    expect(picker.locator("option")).to_have_text([re.compile(r"gpt-4o-mini \(")])

    box = page.get_by_label("Message")
    for number in range(1, 5):
        box.fill(f"Question {number}")
        box.press("Enter")
        expect(page.locator(".message-assistant[data-status=complete]")).to_have_count(number)
    expect(page.locator(".budget-warning")).to_have_count(0)  # the page has not been reloaded yet
    page.reload()
    warning = page.get_by_role("status").filter(has_text="You have used 80% of the monthly limit")
    expect(warning).to_contain_text("4 of 5 messages this month. It resets on")

    box = page.get_by_label("Message")
    box.fill("Question 5")
    box.press("Enter")
    expect(page.locator(".message-assistant[data-status=complete]")).to_have_count(5)
    box.fill("One too many")
    box.press("Enter")
    refusal = page.locator("#composer-errors")
    expect(refusal).to_contain_text(re.compile(r"You have used 5 of the 5 requests .* resets on \d+ \w+ \d{4}"))
    expect(page.locator(".message-user .message-text").filter(has_text="One too many")).to_have_count(1)
    expect(page.get_by_label("Message")).to_have_value("")
    assert len(openai_server.requests) == 5

    page.locator("summary", has_text="Sam Staff").click()
    page.get_by_role("navigation", name="Main").get_by_role("link", name="My usage").click()
    expect(page.get_by_text("5 of 5 messages used, 0 left.")).to_be_visible()
    expect(page.get_by_role("img", name=re.compile("Messages per UTC day"))).to_be_visible()


def test_a_message_refused_over_the_limit_shows_once_and_retry_answers_it_without_a_duplicate(
    page: Page, live_server, openai_server
):
    staff = make_user(live_server.app, email="sam@example.com", name="Sam Staff")

    def usage_limit(*options: str) -> None:
        result = live_server.app.test_cli_runner().invoke(args=["usage", "limit", staff.email, *options])
        assert result.exit_code == 0, result.output

    usage_limit("--monthly-requests", "0")
    sign_in(page, live_server.url, staff.email, staff.password)
    page.goto(f"{live_server.url}/chat")
    page.get_by_label("Message").fill("What is the capital of Peru?")
    page.get_by_label("Message").press("Enter")

    # A new conversation: the page now shows it, with the kept question once and why it was not sent.
    expect(page).to_have_url(re.compile(r"/chat/\d+$"))
    refusal = page.locator("#composer-errors [role=alert]")
    expect(refusal).to_contain_text(re.compile(r"0 of the 0 requests .* resets on \d+ \w+ \d{4} at 00:00 UTC"))
    expect(refusal).to_contain_text("Your message is kept above")
    question = page.locator(".message-user .message-text")
    expect(question).to_have_text(["What is the capital of Peru?"])
    kept = page.locator(".message-assistant[data-status=error]")
    expect(kept).to_contain_text("Not sent. You have used 0 of the 0 requests")
    expect(page.get_by_label("Message")).to_have_value("")

    # Still over the limit: Retry is refused again, and nothing is added. (The refusal shown already says so:
    # wait for Retry's own answer and its swap, or the limit below could be lifted before Retry reaches the app.)
    with page.expect_response(lambda response: response.url.endswith("/regenerate")) as retried:
        kept.get_by_role("button", name="Retry").click()
    assert retried.value.status == 429
    expect(page.locator(".htmx-request, .htmx-swapping, .htmx-settling")).to_have_count(0)
    expect(page.locator("#composer-errors [role=alert]")).to_contain_text("0 of the 0 requests")
    expect(question).to_have_count(1)
    assert openai_server.requests == []

    usage_limit()  # an administrator lifts the limit
    page.locator(".message-assistant[data-status=error]").get_by_role("button", name="Retry").click()
    expect(page.locator(".message-assistant[data-status=complete] .message-text")).to_have_text(
        "You said: What is the capital of Peru?"
    )
    expect(page.locator(".message-user .message-text")).to_have_text(["What is the capital of Peru?"])
    assert len(openai_server.requests) == 1
    asked = [turn["content"] for turn in openai_server.requests[0].body["messages"] if turn["role"] == "user"]
    assert asked == ["What is the capital of Peru?"]

    page.reload()  # as stored: the question once, its answer shown (the refusal one step back, with ‹ ›)
    expect(page.locator(".message-user .message-text")).to_have_text(["What is the capital of Peru?"])
    expect(page.locator(".message-assistant[data-status=complete]")).to_have_count(1)
