"""End to end in Chromium: attach a file of the library to a message, and upload one in place; the model gets
their excerpts, the message shows them as chips, and the reply's citation links to its source."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.support.chat import chat_settings, reset
from tests.support.documents import pdf_with_text
from tests.support.factories import make_file
from tests.support.pages import sign_in_as_admin

pytestmark = pytest.mark.e2e

MANUAL = "The ferry to Vesteroy leaves at 07:40 from pier three, except on public holidays."


@pytest.fixture
def app_overrides(openai_server):
    reset(openai_server)
    return chat_settings(openai_server, CHAT_READ_TIMEOUT=5.0)


def test_attach_from_the_library_and_upload_in_place(page: Page, live_server, openai_server, tmp_path):
    make_file(live_server.app, live_server.admin, name="ferry.txt", content=f"Timetable\n{MANUAL}\n".encode())
    upload = tmp_path / "harbour-rules.pdf"
    upload.write_bytes(pdf_with_text(["Harbour rules. Kayaks keep to the east side of the breakwater."]))
    openai_server.reply = "It leaves at 07:40 [1]; kayaks keep east [2]."
    sign_in_as_admin(page, live_server)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Chat").click()

    page.get_by_text("Attach files").click()
    page.get_by_label(re.compile("ferry.txt")).check()
    page.get_by_label("Upload new files to your library and attach them").set_input_files(str(upload))
    expect(page.get_by_text("Uploaded and attached.")).to_be_visible(timeout=20_000)
    chips = page.get_by_role("list", name="Chosen files")
    expect(chips.get_by_role("listitem")).to_have_count(2)
    page.get_by_label("Message").fill("When does the ferry leave, and where do kayaks go?")
    page.get_by_role("button", name="Send").click()

    question = page.locator(".message-user").last
    expect(question.get_by_role("list", name="Attached files")).to_contain_text("ferry.txt")
    expect(question.get_by_role("list", name="Attached files")).to_contain_text("harbour-rules.pdf")
    reply = page.locator(".message-assistant[data-status=complete]")
    expect(reply.get_by_role("link", name="[1]")).to_be_visible()
    expect(reply.locator(".reply-sources")).to_contain_text("ferry.txt")
    expect(reply.locator(".reply-sources")).to_contain_text("harbour-rules.pdf, page 1")
    system = openai_server.last_request.body["messages"][0]["content"]
    assert MANUAL in system and "Kayaks keep to the east side of the breakwater." in system
    expect(chips.get_by_role("listitem")).to_have_count(0)  # the next message starts with no files

    reply.get_by_role("link", name="[1]").click()
    expect(page).to_have_url(re.compile(r"#source-\d+-1$"))
    reply.locator(".reply-sources").get_by_role("link", name="ferry.txt").click()
    expect(page.get_by_role("heading", name="ferry.txt")).to_be_visible()
