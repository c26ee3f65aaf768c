"""End to end in Chromium: save prompts and pick one by typing "/" in the message box, with the keyboard alone and
as a screen reader is told it; share a conversation and open the link as a colleague who signs in on the way."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.support.axe import axe_problems, axe_script
from tests.support.chat import ChatClient, chat_settings, reset
from tests.support.factories import make_user
from tests.support.pages import sign_in, sign_in_as_admin
from tests.support.web import login

pytestmark = pytest.mark.e2e

TEXT = "Summarize the conversation so far in three bullet points."


@pytest.fixture
def app_overrides(openai_server):
    reset(openai_server)
    return chat_settings(openai_server)


@pytest.fixture
def axe_context(context: BrowserContext) -> BrowserContext:
    context.add_init_script(path=str(axe_script()))
    return context


def save_prompt(page: Page, command: str, title: str, text: str) -> None:
    page.get_by_label("Command").fill(command)
    page.get_by_label("Title").fill(title)
    page.get_by_label("Text").fill(text)
    page.get_by_role("button", name="Save prompt").click()
    expect(page.get_by_text(f"The prompt /{command.lstrip('/')} is saved")).to_be_visible()


def test_typing_a_slash_offers_saved_prompts_and_the_keyboard_picks_one(
    axe_context: BrowserContext, page: Page, live_server, openai_server
):
    openai_server.reply = "Done."
    sign_in_as_admin(page, live_server)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Prompts").click()
    save_prompt(page, "/summarize", "Summarize", TEXT)
    save_prompt(page, "french", "Translate to French", "Translate into French:")
    save_prompt(page, "tone", "House tone", "Rewrite this in our house style:")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Chat").click()
    page.wait_for_load_state("load")  # the page's scripts run: typing is for the picker from here on
    box = page.get_by_label("Message")
    listbox = page.get_by_role("listbox", name="Saved prompts")
    status = page.locator("#prompt-status")
    box.press_sequentially("/")
    expect(listbox).to_be_visible()
    expect(listbox.get_by_role("option")).to_have_count(3)
    expect(status).to_have_text(re.compile(r"^3 saved prompts match\."))
    # The box keeps the focus and points at the highlighted option, which a screen reader then announces.
    expect(box).to_be_focused()
    first = listbox.get_by_role("option").first
    expect(first).to_have_attribute("aria-selected", "true")
    expect(box).to_have_attribute("aria-activedescendant", first.get_attribute("id") or "")
    assert axe_problems(page) == []

    box.press_sequentially("t")  # commands that start with it first (tone), then those that contain it (french's title)
    expect(listbox.get_by_role("option")).to_have_text([re.compile("^/tone"), re.compile("^/french")])
    box.press_sequentially("r")
    expect(listbox.get_by_role("option")).to_have_text([re.compile("^/french")])
    expect(status).to_have_text(re.compile(r"^1 saved prompt matches\."))
    box.press("Escape")
    expect(listbox).to_be_hidden()
    expect(box).to_have_value("/tr")
    expect(box).not_to_have_attribute("aria-activedescendant", re.compile(".+"))

    box.fill("")
    box.press_sequentially("Please: /")  # french, summarize, tone; french highlighted
    for key in ("ArrowDown", "ArrowDown"):
        box.press(key)
    expect(listbox.get_by_role("option").filter(has_text="/tone")).to_have_attribute("aria-selected", "true")
    box.press("ArrowDown")  # past the end: back to the first
    expect(listbox.get_by_role("option").filter(has_text="/french")).to_have_attribute("aria-selected", "true")
    for key in ("ArrowUp", "ArrowUp"):  # before the first: the last, then the one above it
        box.press(key)
    expect(listbox.get_by_role("option").filter(has_text="/summarize")).to_have_attribute("aria-selected", "true")
    box.press("Enter")  # inserts the prompt: it does not send the message
    expect(listbox).to_be_hidden()
    expect(box).to_have_value(f"Please: {TEXT}")
    expect(box).to_be_focused()
    expect(page.locator(".message-user")).to_have_count(0)

    box.press_sequentially(" /fr")
    box.press("Tab")
    expect(box).to_have_value(f"Please: {TEXT} Translate into French:")
    box.press("Enter")  # the list is closed: Enter sends, as always
    expect(page.locator(".message-user .message-text")).to_have_text(f"Please: {TEXT} Translate into French:")
    expect(page.locator(".message-assistant[data-status=complete]")).to_contain_text("Done.")


def test_a_colleague_opens_a_shared_link_after_signing_in_and_the_owner_sees_who(
    axe_context: BrowserContext, page: Page, browser: Browser, live_server, openai_server
):
    openai_server.reply = "The Moon pulls the oceans."
    app = live_server.app
    owner = make_user(app, email="owner@example.com", name="Owen Owner")
    colleague = make_user(app, email="colleague@example.com", name="Cleo Colleague")
    client = app.test_client()
    login(client, owner.email, owner.password)
    conversation_id, _ = ChatClient(client).chat("How do tides work?")

    sign_in(page, live_server.url, owner.email, owner.password)
    page.goto(f"{live_server.url}/chat/{conversation_id}")
    page.get_by_role("link", name="Share…").click()
    expect(page.get_by_role("heading", name="Share “How do tides work?”")).to_be_visible()
    page.get_by_label("Days the link works").fill("3")
    page.get_by_role("button", name="Create link").click()
    expect(page.get_by_text("The link is ready")).to_be_visible()
    link = page.get_by_label("Link to send").input_value()
    assert re.fullmatch(rf"{re.escape(live_server.url)}/shared/[\w-]{{43}}", link)
    page.get_by_role("button", name="Copy link").click()
    expect(page.get_by_role("status").filter(has_text=re.compile("Copied|Selected"))).to_be_visible()
    assert axe_problems(page) == []

    # A message sent after sharing is not in the snapshot.
    ChatClient(client).send(conversation_id, "One more thing")
    guest_context = browser.new_context()
    guest = guest_context.new_page()
    guest.goto(link)
    expect(guest).to_have_url(re.compile(r"/login\?next=/shared/"))
    guest.get_by_label("Email").fill(colleague.email)
    guest.get_by_label("Password", exact=True).fill(colleague.password)
    guest.get_by_role("button", name="Sign in").click()
    expect(guest).to_have_url(link)
    expect(guest.get_by_role("heading", name="How do tides work?")).to_be_visible()
    expect(guest.get_by_text("Shared by Owen Owner")).to_be_visible()
    expect(guest.locator(".message-assistant")).to_contain_text("The Moon pulls the oceans.")
    expect(guest.get_by_text("One more thing")).to_have_count(0)
    expect(guest.get_by_role("textbox", name="Message")).to_have_count(0)

    page.reload()
    expect(page.get_by_text("Opened 1 time by 1 person.")).to_be_visible()
    expect(page.get_by_role("cell", name=re.compile("Cleo Colleague"))).to_be_visible()

    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Stop sharing").click()
    expect(page.get_by_text("Sharing stopped")).to_be_visible()
    response = guest.goto(link)
    assert response is not None and response.status == 404
    guest_context.close()
