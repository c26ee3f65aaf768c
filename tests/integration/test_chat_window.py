"""A long conversation opens on the last window of its branch; "Show earlier messages" adds the window before, with
htmx in place or as a plain link, until the start. Exports and the API still carry the whole branch (on SQLite and
PostgreSQL)."""

from __future__ import annotations

import json
import re

import pytest

from tests.support.chat import ChatClient, chat_settings, reply_id, reset
from tests.support.factories import make_conversation
from webapp.chat.service import WINDOW

pytestmark = pytest.mark.both_databases

LONG = 2 * WINDOW + 10  # three windows: two whole ones and ten messages at the start
SHOWN = re.compile(r'<article id="message-(\d+)"')
EARLIER = re.compile(r'<a href="([^"]+)" hx-get="([^"]+)"[^>]*>Show earlier messages</a>')
HTMX = {"HX-Request": "true"}


@pytest.fixture
def app_overrides(openai_server):
    reset(openai_server)
    return chat_settings(openai_server)


@pytest.fixture
def chat(staff_client) -> ChatClient:
    return ChatClient(staff_client)


def shown_ids(html_text: str) -> list[int]:
    return [int(found) for found in SHOWN.findall(html_text)]


def earlier_links(html_text: str) -> tuple[str, str] | None:
    """The control's (plain link, htmx fragment URL), or None when the branch's start is shown."""
    found = EARLIER.search(html_text)
    return (found[1].replace("&amp;", "&"), found[2].replace("&amp;", "&")) if found else None


def long_conversation(app, staff) -> tuple[int, list[int]]:
    conversation = make_conversation(app, staff, LONG, title="A long one")
    return conversation.id, [message.id for message in conversation.messages]


def test_a_long_conversation_opens_on_its_last_window_below_the_control(app, staff_client, staff):
    conversation_id, ids = long_conversation(app, staff)
    page = staff_client.get(f"/chat/{conversation_id}").get_data(as_text=True)
    assert shown_ids(page) == ids[-WINDOW:]
    assert f"{LONG - WINDOW} earlier messages not shown" in page
    link, fragment = earlier_links(page)
    assert link == f"/chat/{conversation_id}?before={ids[-WINDOW]}#messages"
    assert fragment == f"/chat/{conversation_id}/earlier?before={ids[-WINDOW]}"
    assert page.index("Show earlier messages") < page.index(f'id="message-{ids[-WINDOW]}"')


def test_a_short_conversation_shows_every_message_and_no_control(app, staff_client, staff):
    conversation = make_conversation(app, staff, 6)
    page = staff_client.get(f"/chat/{conversation.id}").get_data(as_text=True)
    assert shown_ids(page) == [message.id for message in conversation.messages]
    assert "Show earlier messages" not in page


def test_loading_earlier_gives_the_windows_before_in_order_down_to_the_start(app, staff_client, staff):
    conversation_id, ids = long_conversation(app, staff)
    _link, fragment = earlier_links(staff_client.get(f"/chat/{conversation_id}").get_data(as_text=True))

    first = staff_client.get(fragment, headers=HTMX)
    assert first.status_code == 200
    first_html = first.get_data(as_text=True)
    assert shown_ids(first_html) == ids[-2 * WINDOW : -WINDOW]
    assert 'tabindex="-1" data-earlier-first' in first_html.split(f'id="message-{ids[-2 * WINDOW]}"')[1][:120]
    assert f"Showing {WINDOW} earlier messages." in first_html and 'hx-swap-oob="innerHTML"' in first_html
    assert "10 earlier messages not shown" in first_html
    _link, fragment = earlier_links(first_html)

    last = staff_client.get(fragment, headers=HTMX).get_data(as_text=True)
    assert shown_ids(last) == ids[:10]
    assert earlier_links(last) is None
    assert "Showing 10 earlier messages, from the start of the conversation." in last


def test_without_a_script_the_link_shows_the_page_from_the_window_before_on(app, staff_client, staff):
    conversation_id, ids = long_conversation(app, staff)
    link, fragment = earlier_links(staff_client.get(f"/chat/{conversation_id}").get_data(as_text=True))

    page = staff_client.get(link)
    assert page.status_code == 200
    assert shown_ids(page.get_data(as_text=True)) == ids[-2 * WINDOW :]
    link, _fragment = earlier_links(page.get_data(as_text=True))
    whole = staff_client.get(link).get_data(as_text=True)
    assert shown_ids(whole) == ids and earlier_links(whole) is None
    assert 'id="composer"' in whole  # still the conversation's page, to go on with

    # The fragment's URL opened as a page (no htmx) goes to the same page.
    plain = staff_client.get(fragment)
    assert (
        plain.status_code == 303
        and plain.headers["Location"] == f"/chat/{conversation_id}?before={ids[-WINDOW]}#messages"
    )


def test_a_message_not_on_the_branch_shown_is_a_404_that_says_so(app, staff_client, staff, other_staff):
    conversation_id, _ids = long_conversation(app, staff)
    elsewhere = make_conversation(app, staff, 2).messages[0].id
    for response in (
        staff_client.get(f"/chat/{conversation_id}?before={elsewhere}"),
        staff_client.get(f"/chat/{conversation_id}/earlier?before={elsewhere}", headers=HTMX),
    ):
        assert response.status_code == 404
        assert "not in the branch this conversation shows now" in response.get_data(as_text=True)


def test_a_branched_long_conversation_shows_its_current_branch_a_window_at_a_time(app, chat, staff, openai_server):
    conversation_id, ids = long_conversation(app, staff)
    last_question = ids[-2]
    edit = chat.post(f"/chat/messages/{last_question}/edit", {"message": "The last question, reworded"})
    assert edit.status_code == 201
    chat.stream(reply_id(edit))
    new_question, new_reply = reply_id(edit) - 1, reply_id(edit)
    branch = [*ids[:-2], new_question, new_reply]

    # The swapped #messages: the last window of the new branch, with ‹ 2/2 › and the control above.
    edited = edit.get_data(as_text=True)
    assert shown_ids(edited) == branch[-WINDOW:] and "Version 2 of 2" in edited
    assert earlier_links(edited) is not None

    page = chat.client.get(f"/chat/{conversation_id}").get_data(as_text=True)
    assert shown_ids(page) == branch[-WINDOW:] and last_question not in shown_ids(page)
    _link, fragment = earlier_links(page)
    earlier = chat.client.get(fragment, headers=HTMX).get_data(as_text=True)
    assert shown_ids(earlier) == branch[-2 * WINDOW : -WINDOW]

    # ‹ › back to the first version: its branch, down to its newest message, shown.
    back = chat.post(f"/chat/messages/{last_question}/select").get_data(as_text=True)
    assert shown_ids(back) == ids[-WINDOW:] and "Version 1 of 2" in back


def test_choosing_a_version_far_up_keeps_it_on_screen(app, chat, staff, openai_server):
    conversation_id, ids = long_conversation(app, staff)
    early_question = ids[2]
    edit = chat.post(f"/chat/messages/{early_question}/edit", {"message": "An early question, reworded"})
    chat.stream(reply_id(edit))
    assert shown_ids(edit.get_data(as_text=True)) == [*ids[:2], reply_id(edit) - 1, reply_id(edit)]

    # Back to version 1: its branch is the long one, and the window reaches up to the question chosen.
    back = chat.post(f"/chat/messages/{early_question}/select").get_data(as_text=True)
    assert shown_ids(back) == ids[2:]
    assert "2 earlier messages not shown" in back and "Version 1 of 2" in back


def test_exports_and_the_api_still_carry_the_whole_branch(app, staff_client, staff, staff_token):
    conversation_id, ids = long_conversation(app, staff)
    markdown = staff_client.get(f"/history/{conversation_id}/export.md").get_data(as_text=True)
    assert "Question 1\n" in markdown and f"Reply {LONG // 2}" in markdown
    exported = json.loads(staff_client.get(f"/history/{conversation_id}/export.json").get_data(as_text=True))
    assert [message["id"] for message in exported["messages"]] == ids
    api = staff_client.get(f"/api/conversations/{conversation_id}", headers={"Authorization": f"Bearer {staff_token}"})
    assert [message["id"] for message in api.get_json()["messages"]] == ids
