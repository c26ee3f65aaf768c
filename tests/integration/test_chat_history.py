"""/history and /admin/history: newest first, 50 a page, search (PostgreSQL full-text, SQLite LIKE), filters,
pin, rename, delete, exports; admins review read-only with every look audited; retention; dashboard cards."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from tests.support.factories import make_conversation
from tests.support.web import Account, csrf_token, give_reason
from webapp.audit.models import AuditEvent
from webapp.chat.models import Conversation, Message
from webapp.extensions import db

NOW = datetime.now(UTC).replace(microsecond=0)


def add_conversation(
    app, user: Account, title: str, messages: list[tuple[str, str]] = (), *, age_days: float = 0, **options
) -> int:
    """A stored conversation, as if it had happened `age_days` ago."""
    return make_conversation(app, user, list(messages), title=title, at=NOW - timedelta(days=age_days), **options).id


def listed_ids(html: str) -> list[int]:
    return [int(number) for number in re.findall(r'<tr id="conversation-(\d+)"', html)]


def post(client, url: str, data: dict | None = None, **kwargs):
    return client.post(url, data={"csrf_token": csrf_token(client, "/history"), **(data or {})}, **kwargs)


# -- the list ----------------------------------------------------------------------------------------------------


def test_history_lists_own_conversations_newest_first_50_a_page(app, staff_client, staff, other_staff):
    ids = [add_conversation(app, staff, f"Conversation {index}", age_days=index / 100) for index in range(55)]
    add_conversation(app, other_staff, "Someone else's")

    first = staff_client.get("/history").get_data(as_text=True)
    second = staff_client.get("/history?page=2").get_data(as_text=True)

    assert listed_ids(first) == ids[:50] and listed_ids(second) == ids[50:]
    assert "55 conversations" in first and "Someone else" not in first + second
    assert 'rel="next"' in first and "Page 1 of 2" in first


@pytest.mark.both_databases
def test_search_finds_titles_and_message_text(app, staff_client, staff, other_staff, db_backend):
    volcano = add_conversation(
        app,
        staff,
        "Geology homework",
        [("user", "Why do volcanoes erupt?"), ("assistant", "Magma rises through the crust.")],
    )
    penguin = add_conversation(app, staff, "Penguins of Antarctica", [("user", "Tell me about penguins")])
    add_conversation(app, staff, "Cooking", [("user", "How long to boil an egg?")])
    add_conversation(app, other_staff, "Their volcano", [("user", "volcanoes again")])

    def search(query: str) -> list[int]:
        return listed_ids(staff_client.get("/history", query_string={"q": query}).get_data(as_text=True))

    assert search("volcanoes") == [volcano]  # user message text
    assert search("MAGMA crust") == [volcano]  # assistant text, every word, any case
    assert search("penguins") == [penguin]  # title and text
    assert search("antarctica") == [penguin]  # title only
    assert search("giraffes") == []
    if db_backend == "postgresql":
        assert search("erupting volcano") == [volcano]  # full-text search: English stemming


def test_filters_by_model_and_date_range(app, staff_client, staff):
    old = add_conversation(app, staff, "Old one", age_days=30)
    recent_bedrock = add_conversation(
        app, staff, "Recent Bedrock", age_days=1, provider="bedrock", model="anthropic.claude-3-haiku-20240307-v1:0"
    )
    today = add_conversation(app, staff, "Today", age_days=0)

    def listed(**query) -> list[int]:
        return listed_ids(staff_client.get("/history", query_string=query).get_data(as_text=True))

    assert listed(model="bedrock:anthropic.claude-3-haiku-20240307-v1:0") == [recent_bedrock]
    assert listed(model="openai:gpt-4o-mini") == [today, old]
    start = (NOW - timedelta(days=2)).date().isoformat()
    assert listed(**{"from": start}) == [today, recent_bedrock]
    assert listed(**{"to": (NOW - timedelta(days=10)).date().isoformat()}) == [old]
    page = staff_client.get("/history").get_data(as_text=True)
    assert 'value="bedrock:anthropic.claude-3-haiku-20240307-v1:0"' in page
    bad = staff_client.get("/history?from=last-tuesday")
    assert bad.status_code == 400 and "must look like 2024-01-31" in bad.get_data(as_text=True)


def test_pin_puts_a_conversation_first_and_unpin_back(app, staff_client, staff):
    older = add_conversation(app, staff, "Older", age_days=5)
    newer = add_conversation(app, staff, "Newer", age_days=1)

    response = post(staff_client, f"/history/{older}/pin", {"next": "/history?q=&page=1"})
    assert response.status_code == 303 and response.headers["Location"] == "/history?q=&page=1"
    assert listed_ids(staff_client.get("/history").get_data(as_text=True)) == [older, newer]

    post(staff_client, f"/history/{older}/unpin", {"next": "https://evil.example/"})
    assert listed_ids(staff_client.get("/history").get_data(as_text=True)) == [newer, older]


def test_rename_and_delete_from_history(app, staff_client, staff):
    keep = add_conversation(app, staff, "Keep me", [("user", "hello"), ("assistant", "hi")])
    doomed = add_conversation(app, staff, "Delete me", [("user", "bye"), ("assistant", "ok")])

    page = staff_client.get("/history").get_data(as_text=True)
    assert 'data-confirm="Delete “Delete me” and all its messages? This cannot be undone."' in page

    response = post(staff_client, f"/history/{keep}/rename", {"title": "Kept and renamed"}, follow_redirects=True)
    assert "Renamed to “Kept and renamed”." in response.get_data(as_text=True)
    assert post(staff_client, f"/history/{keep}/rename", {"title": ""}).status_code == 400

    response = post(staff_client, f"/history/{doomed}/delete", follow_redirects=True)
    assert "Deleted “Delete me”." in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(Conversation, doomed) is None
        assert db.session.scalars(select(Message).where(Message.conversation_id == doomed)).all() == []
        assert db.session.get(Conversation, keep).title == "Kept and renamed"


# -- export ------------------------------------------------------------------------------------------------------


def test_export_one_conversation_as_markdown_and_json(app, staff_client, staff):
    conversation_id = add_conversation(
        app, staff, "Tides & moons", [("user", "Why are there tides?"), ("assistant", "Mostly **the Moon**.")]
    )

    markdown = staff_client.get(f"/history/{conversation_id}/export.md")
    assert markdown.status_code == 200 and markdown.mimetype == "text/markdown"
    assert markdown.headers["Content-Disposition"] == (
        f'attachment; filename="conversation-{conversation_id}-tides-moons.md"'
    )
    text = markdown.get_data(as_text=True)
    assert text.startswith("# Tides & moons\n")
    assert "## You · " in text and "Why are there tides?" in text
    assert "## Assistant (gpt-4o-mini) · " in text and "Mostly **the Moon**." in text

    exported = staff_client.get(f"/history/{conversation_id}/export.json")
    data = json.loads(exported.get_data(as_text=True))
    assert exported.headers["Content-Disposition"].endswith('.json"')
    assert data["title"] == "Tides & moons" and data["model"] == "gpt-4o-mini"
    assert [(m["role"], m["content"], m["status"]) for m in data["messages"]] == [
        ("user", "Why are there tides?", "complete"),
        ("assistant", "Mostly **the Moon**.", "complete"),
    ]
    assert data["messages"][1]["completion_tokens"] == 7


def test_export_everything_as_one_json_file(app, staff_client, staff, other_staff):
    first = add_conversation(app, staff, "First", [("user", "one")], age_days=2)
    second = add_conversation(app, staff, "Second „quoted“", [("user", "two"), ("assistant", "deux")], age_days=1)
    add_conversation(app, other_staff, "Not mine", [("user", "secret")])

    response = staff_client.get("/history/export.json")
    assert response.headers["Content-Disposition"] == 'attachment; filename="workbench-conversations.json"'
    data = json.loads(response.get_data(as_text=True))
    assert data["user"] == staff.email
    assert [c["id"] for c in data["conversations"]] == [second, first]
    assert data["conversations"][0]["title"] == "Second „quoted“"
    assert data["conversations"][0]["messages"][1]["content"] == "deux"


def test_export_everything_with_no_conversation_is_valid_json(staff_client):
    data = json.loads(staff_client.get("/history/export.json").get_data(as_text=True))
    assert data["conversations"] == []


# -- the admins' review ------------------------------------------------------------------------------------------


def test_admin_reviews_any_users_conversations_read_only_and_each_look_is_audited(
    app, admin_client, admin, staff, other_staff
):
    mine = add_conversation(app, staff, "Sam's question", [("user", "What is 2+2?"), ("assistant", "4")])
    add_conversation(app, other_staff, "Olga's question", [("user", "Capital of France?")])

    everyone = admin_client.get("/admin/history").get_data(as_text=True)
    assert "Sam&#39;s question" in everyone and "Olga&#39;s question" in everyone
    only_sam = admin_client.get(f"/admin/history?user={staff.id}").get_data(as_text=True)
    assert "Sam&#39;s question" in only_sam and "Olga&#39;s question" not in only_sam

    assert admin_client.get(f"/admin/history/{mine}").status_code == 302  # a reason first (test_admin_review.py)
    give_reason(admin_client, "conversation", mine)
    page = admin_client.get(f"/admin/history/{mine}").get_data(as_text=True)
    assert "What is 2+2?" in page and staff.email in page
    for control in ("hx-post", "sse-connect", '<form method="post"', "Retry", "Delete"):
        assert control not in page[page.index("<main") :], control

    with app.app_context():
        events = db.session.scalars(
            select(AuditEvent).where(AuditEvent.action.like("chat.review%")).order_by(AuditEvent.id)
        ).all()
        assert [(e.action, e.user_id) for e in events] == [
            ("chat.review_list", admin.id),
            ("chat.review_list", admin.id),
            ("chat.review_view", admin.id),
        ]
        assert events[1].detail.startswith(f"user {staff.id}")
        assert (events[2].target_type, events[2].target_id) == ("conversation", str(mine))
        assert staff.email in events[2].detail


def test_staff_cannot_open_the_review(staff_client, staff, app):
    conversation_id = add_conversation(app, staff, "Mine")
    assert staff_client.get("/admin/history").status_code == 403
    assert staff_client.get(f"/admin/history/{conversation_id}").status_code == 403


def test_admin_menu_links_to_the_review(admin_client):
    assert 'href="/admin/history"' in admin_client.get("/").get_data(as_text=True)


# -- retention ---------------------------------------------------------------------------------------------------


def test_purge_deletes_conversations_idle_beyond_retention_and_reports_how_many(app, staff, other_staff):
    add_conversation(app, staff, "Ancient", [("user", "a"), ("assistant", "b")], age_days=40)
    add_conversation(app, other_staff, "Old", [("user", "c")], age_days=31)
    recent = add_conversation(app, staff, "Recent", [("user", "d")], age_days=29)
    runner = app.test_cli_runner()

    result = runner.invoke(args=["chat", "purge"])
    assert result.exit_code == 0 and "kept forever" in result.output and "nothing was deleted" in result.output

    app.config["CHAT_RETENTION_DAYS"] = 30
    result = runner.invoke(args=["chat", "purge"])
    assert result.exit_code == 0, result.output
    assert "Deleted 2 conversations (3 messages) with no activity in the last 30 days." in result.output
    with app.app_context():
        assert db.session.scalars(select(Conversation.id)).all() == [recent]
        assert len(db.session.scalars(select(Message.id)).all()) == 1

    result = runner.invoke(args=["chat", "purge", "--days", "1"])
    assert "Deleted 1 conversation (1 message)" in result.output


# -- dashboard ---------------------------------------------------------------------------------------------------


def test_dashboard_cards_show_counts_and_the_latest_conversations(app, staff_client, staff, other_staff):
    for index in range(6):
        add_conversation(app, staff, f"Topic {index}", [("user", "q"), ("assistant", "a")], age_days=index)
    add_conversation(app, other_staff, "Not counted", [("user", "q")])

    page = staff_client.get("/").get_data(as_text=True)
    assert "<strong>6</strong> conversations, <strong>12</strong> messages" in page
    assert "<strong>6</strong> replies this week (72 tokens)" in page
    latest = re.findall(r'href="/chat/\d+">(Topic \d)</a>', page)
    assert latest == [f"Topic {index}" for index in range(5)]
    assert "Not counted" not in page
