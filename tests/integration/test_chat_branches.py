"""Edit and regenerate: every version is kept as a branch of the conversation, ‹ n/m › steps through them, and what
is shown, exported, reviewed or sent to the model is the current branch alone (on SQLite and PostgreSQL)."""

from __future__ import annotations

import json

import pytest
from flask_migrate import upgrade
from sqlalchemy import select, text

from tests.support.chat import ChatClient, chat_settings, reply_id, reset, stored_conversation, stored_message
from tests.support.databases import reset_to_empty
from tests.support.web import bearer, give_reason
from webapp.auth.models import User
from webapp.chat import history
from webapp.chat.branches import thread, tree
from webapp.chat.models import Conversation, Message
from webapp.extensions import db
from webapp.timeutil import utcnow

pytestmark = pytest.mark.both_databases


@pytest.fixture
def app_overrides(openai_server):
    reset(openai_server)
    return chat_settings(openai_server)


@pytest.fixture
def chat(staff_client) -> ChatClient:
    return ChatClient(staff_client)


def sent_to_model(openai_server) -> list[tuple[str, str]]:
    return [(turn["role"], turn["content"]) for turn in openai_server.last_request.body["messages"]]


def shown(app, conversation_id: int) -> list[str]:
    """The texts of the branch the conversation shows."""
    with app.app_context():
        return [message.content for message in thread(db.session.get(Conversation, conversation_id))]


def two_exchanges(chat: ChatClient) -> tuple[int, list[int]]:
    """A conversation of two questions and their replies (streamed); its id and the four message ids."""
    conversation_id, first_reply = chat.start("First question")
    chat.stream(first_reply)
    second_reply = chat.send(conversation_id, "Second question")
    chat.stream(second_reply)
    return conversation_id, [first_reply - 1, first_reply, second_reply - 1, second_reply]


# -- the migration -----------------------------------------------------------------------------------------------


def test_the_migration_makes_each_stored_conversation_one_branch_ending_at_its_last_message(app):
    with app.app_context():
        reset_to_empty()
        upgrade(revision="0013")
        # Raw SQL with the columns of revision 0013; two conversations whose messages' ids interleave, one empty.
        now = utcnow()
        db.session.execute(
            text(
                "INSERT INTO users (id, email, name, password_hash, role, is_active, session_version, created_at) "
                "VALUES (1, 'old@example.com', 'Old', 'x', 'staff', true, 1, :now)"
            ),
            {"now": now},
        )
        for conversation_id in (1, 2, 3):
            db.session.execute(
                text(
                    "INSERT INTO conversations (id, user_id, title, provider, model, pinned, created_at, updated_at) "
                    "VALUES (:id, 1, 'Old', 'openai', 'gpt-4o-mini', false, :now, :now)"
                ),
                {"id": conversation_id, "now": now},
            )
        for message_id, conversation_id, role, content in [
            (1, 1, "user", "walrus facts"),
            (2, 2, "user", "other"),
            (3, 1, "assistant", "tusks"),
            (4, 1, "user", "more"),
            (5, 2, "assistant", "reply"),
        ]:
            db.session.execute(
                text(
                    "INSERT INTO messages (id, conversation_id, role, content, status, stop_requested, created_at) "
                    "VALUES (:id, :conversation, :role, :content, 'complete', false, :now)"
                ),
                {"id": message_id, "conversation": conversation_id, "role": role, "content": content, "now": now},
            )
        db.session.commit()
        upgrade()

        parents = dict(db.session.execute(select(Message.id, Message.parent_id)).all())
        assert parents == {1: None, 2: None, 3: 1, 4: 3, 5: 2}
        current = dict(db.session.execute(select(Conversation.id, Conversation.current_message_id)).all())
        assert current == {1: 4, 2: 5, 3: None}
        assert [message.id for message in thread(db.session.get(Conversation, 1))] == [1, 3, 4]
        assert thread(db.session.get(Conversation, 3)) == []

        # Search still finds what was there, and what is written after (SQLite's FTS5 triggers survived).
        db.session.add(Message(id=6, conversation_id=2, parent_id=5, role="user", content="zebra stripes"))
        db.session.commit()
        owner = db.session.get(User, 1)
        for word, expected in (("walrus", [1]), ("zebra", [2])):
            found = history.search(owner, history.HistoryFilter(query=word))
            assert [conversation.id for conversation in found.items] == expected, word
        db.session.rollback()


# -- editing a question ------------------------------------------------------------------------------------------


def test_editing_a_question_sends_the_new_text_with_only_what_came_before_it(app, chat, openai_server):
    conversation_id, (first, first_reply, second, second_reply) = two_exchanges(chat)

    response = chat.post(f"/chat/messages/{second}/edit", {"message": "Second question, better put"})
    assert response.status_code == 201
    html_text = response.get_data(as_text=True)
    new_reply = reply_id(response)
    assert 'id="messages"' in html_text and "Second question, better put" in html_text
    assert f'id="message-{second}"' not in html_text and f'id="message-{second_reply}"' not in html_text
    assert "Version 2 of 2" in html_text  # the edited question's ‹ 2/2 ›
    assert "Edited message sent: version 2 of 2." in html_text  # the live region's announcement
    chat.stream(new_reply)

    assert sent_to_model(openai_server) == [
        ("user", "First question"),
        ("assistant", "You said: First question"),
        ("user", "Second question, better put"),
    ]
    assert shown(app, conversation_id) == [
        "First question",
        "You said: First question",
        "Second question, better put",
        "You said: Second question, better put",
    ]
    edited = stored_message(app, new_reply - 1)
    assert edited.parent_id == first_reply and stored_message(app, second).parent_id == first_reply


def test_the_first_question_can_be_edited_too(app, chat, openai_server):
    conversation_id, (first, *_rest) = two_exchanges(chat)
    response = chat.post(f"/chat/messages/{first}/edit", {"message": "A different start"})
    assert response.status_code == 201
    chat.stream(reply_id(response))
    assert sent_to_model(openai_server) == [("user", "A different start")]
    assert shown(app, conversation_id) == ["A different start", "You said: A different start"]


def test_stepping_back_to_an_earlier_version_shows_its_whole_branch_and_sending_continues_it(app, chat, openai_server):
    conversation_id, (first, first_reply, second, second_reply) = two_exchanges(chat)
    edit = chat.post(f"/chat/messages/{second}/edit", {"message": "Reworded question"})
    chat.stream(reply_id(edit))
    edited_question = reply_id(edit) - 1

    response = chat.post(f"/chat/messages/{second}/select")
    assert response.status_code == 200
    html_text = response.get_data(as_text=True)
    assert "Showing version 1 of 2 of this question." in html_text
    assert f'id="message-{second_reply}"' in html_text and "Version 1 of 2" in html_text
    assert shown(app, conversation_id)[-2:] == ["Second question", "You said: Second question"]
    page = chat.client.get(f"/chat/{conversation_id}").get_data(as_text=True)
    assert f'id="message-{second_reply}"' in page and "Reworded question" not in page

    chat.stream(chat.send(conversation_id, "Third question"))
    assert sent_to_model(openai_server)[-3:] == [
        ("user", "Second question"),
        ("assistant", "You said: Second question"),
        ("user", "Third question"),
    ]
    # ‹ › on the second question again: version 2 is its own branch, down to its newest message.
    chat.post(f"/chat/messages/{edited_question}/select")
    assert shown(app, conversation_id)[-2:] == ["Reworded question", "You said: Reworded question"]


def test_an_edit_that_is_refused_stores_nothing(app, chat, openai_server):
    conversation_id, (first, first_reply, second, second_reply) = two_exchanges(chat)
    before = shown(app, conversation_id)

    response = chat.post(f"/chat/messages/{second}/edit", {"message": "   "})
    assert response.status_code == 400 and "Type a message before sending it." in response.get_data(as_text=True)
    response = chat.post(f"/chat/messages/{second_reply}/edit", {"message": "Mine now"})
    assert response.status_code == 409 and "regenerate a reply instead" in response.get_data(as_text=True)

    assert shown(app, conversation_id) == before
    assert len(stored_conversation(app, conversation_id).messages) == 4


def test_nothing_new_is_asked_while_a_reply_is_being_written(app, chat, openai_server):
    conversation_id, (first, first_reply, second, second_reply) = two_exchanges(chat)
    pending = chat.send(conversation_id, "Third question")  # not streamed: still pending
    for url, data in (
        (f"/chat/messages/{first}/edit", {"message": "Again"}),
        (f"/chat/messages/{first_reply}/regenerate", {}),
        (f"/chat/messages/{first}/select", {}),
    ):
        response = chat.post(url, data)
        assert response.status_code == 409, url
        assert "still being written" in response.get_data(as_text=True)
    assert stored_message(app, pending).status == "pending"


# -- regenerating a reply ----------------------------------------------------------------------------------------


def test_regenerating_a_reply_asks_the_same_question_again_and_keeps_the_first_reply(app, chat, openai_server):
    conversation_id, (first, first_reply, second, second_reply) = two_exchanges(chat)
    openai_server.reply = "A better answer"

    response = chat.post(f"/chat/messages/{first_reply}/regenerate")
    assert response.status_code == 201
    html_text = response.get_data(as_text=True)
    new_reply = reply_id(response)
    assert "Writing reply version 2 of 2." in html_text and "Version 2 of 2" in html_text
    chat.stream(new_reply)

    assert sent_to_model(openai_server) == [("user", "First question")]
    assert shown(app, conversation_id) == ["First question", "A better answer"]
    assert stored_message(app, new_reply).parent_id == first
    assert stored_message(app, first_reply).content == "You said: First question"  # kept

    # The done event of the new version's stream carries its ‹ 2/2 ›, and a Regenerate button.
    with app.app_context():
        conversation = db.session.get(Conversation, conversation_id)
        versions = tree(conversation).versions(db.session.get(Message, new_reply))
        assert (versions.number, versions.count, versions.previous_id, versions.next_id) == (2, 2, first_reply, None)
    page = chat.client.get(f"/chat/{conversation_id}").get_data(as_text=True)
    assert ">Regenerate</button>" in page and 'aria-label="Previous version of this reply"' in page


def test_a_question_cannot_be_regenerated(app, chat, openai_server):
    conversation_id, (first, *_rest) = two_exchanges(chat)
    response = chat.post(f"/chat/messages/{first}/regenerate")
    assert response.status_code == 409 and "edit your message instead" in response.get_data(as_text=True)


def test_without_htmx_each_action_returns_to_the_conversation(app, chat, openai_server):
    conversation_id, (first, first_reply, second, second_reply) = two_exchanges(chat)
    for url, data in (
        (f"/chat/messages/{second}/edit", {"message": "Plain form"}),
        (f"/chat/messages/{second}/select", {}),
    ):
        response = chat.post(url, {**data, "csrf_token": chat.token}, htmx=False)
        assert response.status_code == 303 and response.headers["Location"] == f"/chat/{conversation_id}"
        if "edit" in url:
            chat.stream(stored_conversation(app, conversation_id).current_message_id)


# -- exports, review, API ----------------------------------------------------------------------------------------


def branched_conversation(chat: ChatClient) -> tuple[int, list[int]]:
    conversation_id, ids = two_exchanges(chat)
    response = chat.post(f"/chat/messages/{ids[2]}/edit", {"message": "Second, edited"})
    chat.stream(reply_id(response))
    return conversation_id, ids


def test_exports_show_the_current_branch_and_say_that_others_exist(app, chat, staff_client, openai_server):
    conversation_id, _ids = branched_conversation(chat)

    markdown = staff_client.get(f"/history/{conversation_id}/export.md").get_data(as_text=True)
    assert "- Branches: 2 (edited or regenerated); this is the current one" in markdown
    assert "Second, edited" in markdown and "Second question" not in markdown

    exported = json.loads(staff_client.get(f"/history/{conversation_id}/export.json").get_data(as_text=True))
    assert exported["branches"] == 2
    assert [message["content"] for message in exported["messages"]][2:] == [
        "Second, edited",
        "You said: Second, edited",
    ]

    everything = json.loads(staff_client.get("/history/export.json").get_data(as_text=True))
    (listed,) = everything["conversations"]
    assert listed["branches"] == 2 and listed["messages"] == exported["messages"]


def test_search_finds_text_of_other_branches_and_opens_the_conversation_on_the_current_one(
    app, chat, staff_client, openai_server
):
    conversation_id, ids = branched_conversation(chat)
    page = staff_client.get("/history?q=Second+question").get_data(as_text=True)
    assert f'<tr id="conversation-{conversation_id}"' in page
    opened = staff_client.get(f"/chat/{conversation_id}").get_data(as_text=True)
    assert "Second, edited" in opened and f'id="message-{ids[2]}"' not in opened


def test_the_admin_review_shows_the_current_branch_and_says_there_are_others(app, chat, admin_client, openai_server):
    conversation_id, ids = branched_conversation(chat)
    give_reason(admin_client, "conversation", conversation_id)
    page = admin_client.get(f"/admin/history/{conversation_id}").get_data(as_text=True)
    assert "This conversation has 2 branches" in page
    assert "Second, edited" in page and f'id="message-{ids[2]}"' not in page
    assert "Version 2 of 2" in page
    assert "hx-post" not in page and "Save edit" not in page


def test_the_api_edits_regenerates_and_switches_versions(app, chat, staff_client, staff_token, openai_server):
    headers = bearer(staff_token)
    first = staff_client.post("/api/chat", json={"message": "Via the API"}, headers=headers).get_json()

    edited = staff_client.post(
        f"/api/messages/{first['question_id']}/edit", json={"message": "Via the API, edited"}, headers=headers
    )
    assert edited.status_code == 200, edited.get_json()
    edited = edited.get_json()
    assert edited["reply"] == "You said: Via the API, edited"
    assert edited["conversation_id"] == first["conversation_id"] and edited["question_id"] != first["question_id"]

    openai_server.reply = "Another go"
    again = staff_client.post(f"/api/messages/{edited['message_id']}/regenerate", json={}, headers=headers)
    assert again.status_code == 200 and again.get_json()["reply"] == "Another go"
    assert again.get_json()["question_id"] == edited["question_id"]

    conversation = staff_client.get(f"/api/conversations/{first['conversation_id']}", headers=headers).get_json()
    assert conversation["branches"] == 3
    question, reply = conversation["messages"]
    assert question["versions"] == [first["question_id"], edited["question_id"]]
    assert reply["versions"] == [edited["message_id"], again.get_json()["message_id"]]
    assert reply["parent_id"] == question["id"]

    switched = staff_client.post(f"/api/messages/{first['question_id']}/select", headers=headers)
    assert switched.status_code == 200
    assert [message["content"] for message in switched.get_json()["messages"]] == [
        "Via the API",
        "You said: Via the API",
    ]

    refused = staff_client.post(f"/api/messages/{first['message_id']}/edit", json={"message": "x"}, headers=headers)
    assert refused.status_code == 409 and refused.get_json()["status"] == 409
