"""History that stays fast when it is large: index-backed search (PostgreSQL GIN, SQLite FTS5), a fixed number of
queries for the admins' list and the export however many rows, dashboard figures from indexed lookups, and
rendered replies kept in a cache. The figures at a million messages come from bench/history_scale.py."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest
from flask_migrate import downgrade, upgrade
from sqlalchemy import event, text, update

from webapp.auth.models import User
from webapp.chat import history
from webapp.chat.models import SQLITE_SEARCH_TABLE, Conversation, Message
from webapp.chat.service import WINDOW
from webapp.extensions import db

NOW = datetime.now(UTC).replace(microsecond=0)


def conversation_with(
    app, user_id: int, title: str, texts: list[str] = (), *, age_days: float = 0, message_age_days: float | None = None
) -> int:
    """A stored conversation whose messages alternate question and reply (each reply 5 + 7 tokens)."""
    moment = NOW - timedelta(days=age_days)
    written = NOW - timedelta(days=age_days if message_age_days is None else message_age_days)
    with app.app_context():
        conversation = Conversation(
            user_id=user_id, title=title, provider="openai", model="gpt-4o-mini", created_at=moment, updated_at=moment
        )
        db.session.add(conversation)
        for index, content in enumerate(texts):
            reply = index % 2 == 1
            message = Message(
                conversation=conversation,
                parent_id=conversation.current_message_id,
                role="assistant" if reply else "user",
                content=content,
                created_at=written,
                prompt_tokens=5 if reply else None,
                completion_tokens=7 if reply else None,
            )
            db.session.add(message)
            db.session.flush()
            conversation.current_message_id = message.id
        db.session.commit()
        return conversation.id


def listed_ids(html: str) -> list[int]:
    return [int(number) for number in re.findall(r'<tr id="conversation-(\d+)"', html)]


@contextmanager
def counted_statements(app) -> Iterator[list[str]]:
    """The SQL statements run meanwhile (the real engine's event, nothing replaced)."""
    statements: list[str] = []

    def record(_connection, _cursor, statement, *_args) -> None:
        statements.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", record)


# -- search ------------------------------------------------------------------------------------------------------


@pytest.mark.both_databases
def test_search_stems_words_and_finds_title_fragments_on_both_databases(app, staff_client, staff):
    volcano = conversation_with(app, staff.id, "Geology homework", ["Why do volcanoes erupt?", "Magma rises."])
    penguin = conversation_with(app, staff.id, "Penguins of Antarctica", ["Tell me about birds"])

    def search(query: str) -> list[int]:
        return listed_ids(staff_client.get("/history", query_string={"q": query}).get_data(as_text=True))

    assert search("erupting volcano") == [volcano]  # full-text search, English stemming: SQLite's FTS5 too
    assert search("antarc") == [penguin]  # part of a word of the title
    assert search("penguins antarctica") == [penguin]  # every word in the title
    assert search("volcanoes penguins") == []  # every word must be in one message or in the title


@pytest.mark.both_databases
def test_search_treats_query_syntax_as_text_to_find(app, staff_client, staff):
    conversation_with(app, staff.id, "Operators", ['Is "x AND y" NEAR(z) valid? -- a * b'])
    for query in ['"x AND', "NEAR(z", "*", "- b", '"', "a OR", "^x", "x:y", "100%", "_"]:
        response = staff_client.get("/history", query_string={"q": query})
        assert response.status_code == 200, query


@pytest.mark.both_databases
def test_search_index_follows_messages_as_they_are_written_changed_and_deleted(app, staff_client, staff):
    kept = conversation_with(app, staff.id, "Kept", ["first draft about otters"])
    gone = conversation_with(app, staff.id, "Gone", ["beavers build dams"])

    def search(query: str) -> list[int]:
        return listed_ids(staff_client.get("/history", query_string={"q": query}).get_data(as_text=True))

    assert search("otters") == [kept] and search("beavers") == [gone]
    with app.app_context():  # as a streaming reply saves its text: an UPDATE of the content
        db.session.execute(update(Message).where(Message.conversation_id == kept).values(content="now about badgers"))
        db.session.commit()
    assert search("otters") == [] and search("badgers") == [kept]
    with app.app_context():
        history.delete_conversations([gone])
        db.session.commit()
        if db.engine.dialect.name == "sqlite":  # nothing of it is left in the FTS5 index
            match = text(f"SELECT rowid FROM {SQLITE_SEARCH_TABLE} WHERE {SQLITE_SEARCH_TABLE} MATCH 'beavers'")
            assert db.session.execute(match).all() == []
    assert search("beavers") == []


@pytest.mark.both_databases
def test_search_pages_and_counts_matches_pinned_first(app, staff_client, staff, other_staff):
    ids = [conversation_with(app, staff.id, f"Topic {n}", ["about kites"], age_days=n / 100) for n in range(53)]
    conversation_with(app, staff.id, "Unrelated", ["about boats"])
    conversation_with(app, other_staff.id, "Their kites", ["about kites"])
    with app.app_context():
        db.session.execute(update(Conversation).where(Conversation.id == ids[-1]).values(pinned=True))
        db.session.commit()

    first = staff_client.get("/history?q=kites").get_data(as_text=True)
    second = staff_client.get("/history?q=kites&page=2").get_data(as_text=True)
    assert "53 matching conversations" in first and "Page 1 of 2" in first
    assert listed_ids(first) == [ids[-1], *ids[:49]] and listed_ids(second) == ids[49:52]


@pytest.mark.both_databases
def test_search_reads_the_full_text_indexes_not_every_message(app, staff, db_backend):
    conversation_with(app, staff.id, "Kites", ["about kites"])
    with app.app_context():
        statement = history.filtered_conversations(staff.id, history.HistoryFilter(query="kites"))
        sql = str(statement.compile(db.engine, compile_kwargs={"literal_binds": True}))
        if db_backend == "sqlite":
            plan = " ".join(str(row[-1]) for row in db.session.execute(text("EXPLAIN QUERY PLAN " + sql)))
            assert "VIRTUAL TABLE INDEX" in plan and not re.search(r"SCAN (messages|conversations)\b", plan), plan
        else:
            db.session.execute(text("SET LOCAL enable_seqscan = off"))  # a tiny table would be read whole anyway
            plan = "\n".join(row[0] for row in db.session.execute(text("EXPLAIN " + sql)))
            db.session.rollback()
            assert "ix_messages_content_search" in plan and "ix_conversations_title_search" in plan, plan


@pytest.mark.both_databases
def test_admin_search_of_everyone_pages_and_counts_matches_from_titles_and_messages(
    app, admin_client, admin, staff, other_staff
):
    ages = [n / 100 for n in range(30)] + [0.005 + n / 100 for n in range(25)]  # the two kinds interleave
    ids = [
        conversation_with(app, staff.id, f"Chat {n}", ["about kites"], age_days=age) for n, age in enumerate(ages[:30])
    ]
    ids += [  # found by a part of a word of the title only
        conversation_with(app, other_staff.id, f"Kitesurfing {n}", ["about boats"], age_days=age)
        for n, age in enumerate(ages[30:])
    ]
    conversation_with(app, other_staff.id, "Unrelated", ["about boats"])
    newest_first = [id_ for _age, id_ in sorted(zip(ages, ids, strict=True))]

    pages = [admin_client.get(f"/admin/history?q=kite&page={n}").get_data(as_text=True) for n in (1, 2)]
    shown = [[int(id_) for id_ in re.findall(r'href="/admin/history/(\d+)"', html)] for html in pages]
    assert shown == [newest_first[:50], newest_first[50:]]
    assert "Page 1 of 2" in pages[0] and "Page 2 of 2" in pages[1]
    with app.app_context():
        # Past the last page no row carries the count: it is counted on its own.
        beyond = history.review_list(db.session.get(User, admin.id), None, history.HistoryFilter(query="kite"), page=3)
        assert beyond.items == [] and beyond.total == 55


@pytest.mark.both_databases
def test_search_finds_a_title_substring_across_everyone(app, admin, staff, other_staff):
    theirs = conversation_with(app, other_staff.id, "Antarctic penguins", ["hello"])
    conversation_with(app, staff.id, "Arctic foxes", ["hello"])
    with app.app_context():
        everyone = history.review_list(db.session.get(User, admin.id), None, history.HistoryFilter(query="tarcti"))
        assert [conversation.id for conversation in everyone.items] == [theirs] and everyone.total == 1


@pytest.mark.parametrize("db_backend", ["postgresql"], indirect=True)
def test_the_admins_search_of_everyone_reads_the_trigram_index_for_title_parts(app, staff):
    conversation_with(app, staff.id, "Kites", ["about kites"])
    with app.app_context():
        statement = history.filtered_conversations(None, history.HistoryFilter(query="kites"))
        sql = str(statement.compile(db.engine, compile_kwargs={"literal_binds": True}))
        db.session.execute(text("SET LOCAL enable_seqscan = off"))  # a tiny table would be read whole anyway
        plan = "\n".join(row[0] for row in db.session.execute(text("EXPLAIN " + sql)))
        db.session.rollback()
    assert "ix_conversations_title_trigrams" in plan, plan


@pytest.mark.both_databases
def test_the_model_filter_lists_each_pair_in_use_once_in_order(app, staff, other_staff):
    chats = [
        (staff, "openai", "gpt-4o"),
        (staff, "bedrock", "claude"),
        (staff, "openai", "gpt-4o"),
        (other_staff, "openai", "gpt-4o-mini"),
        (other_staff, "ollama", "llama3.2"),
        (other_staff, "openai", "gpt-4o"),
    ]
    for owner, provider, model in chats:
        conversation_id = conversation_with(app, owner.id, "Chat")
        with app.app_context():
            db.session.execute(
                update(Conversation).where(Conversation.id == conversation_id).values(provider=provider, model=model)
            )
            db.session.commit()
    with app.app_context():
        assert history.models_used(None) == [
            ("bedrock", "claude"),
            ("ollama", "llama3.2"),
            ("openai", "gpt-4o"),
            ("openai", "gpt-4o-mini"),
        ]
        assert history.models_used(staff.id) == [("bedrock", "claude"), ("openai", "gpt-4o")]


# The revision before the history-at-scale migration (0007): rows are written as the schema was then.
BEFORE_SEARCH_INDEXES = "0006"


@pytest.mark.both_databases
def test_messages_stored_before_the_migration_are_searchable_after_it(app, staff):
    with app.app_context():
        db.drop_all()
        db.session.execute(text("DROP TABLE IF EXISTS alembic_version"))
        db.session.commit()
        upgrade(revision=BEFORE_SEARCH_INDEXES)
        values = {"now": NOW, "false": False, "true": True}
        db.session.execute(
            text(
                "INSERT INTO users (email, name, password_hash, role, is_active, session_version, created_at) "
                "VALUES ('old@example.com', 'Old', '!', 'staff', :true, 1, :now)"
            ),
            values,
        )
        owner = db.session.scalar(text("SELECT id FROM users WHERE email = 'old@example.com'"))
        db.session.execute(
            text(
                "INSERT INTO conversations (user_id, title, provider, model, pinned, created_at, updated_at) "
                "VALUES (:owner, 'Old one', 'openai', 'm', :false, :now, :now)"
            ),
            values | {"owner": owner},
        )
        conversation_id = db.session.scalar(text("SELECT id FROM conversations WHERE title = 'Old one'"))
        db.session.execute(
            text(
                "INSERT INTO messages (conversation_id, role, content, status, stop_requested, created_at) "
                "VALUES (:conversation, 'user', 'archived walrus facts', 'complete', :false, :now)"
            ),
            values | {"conversation": conversation_id},
        )
        db.session.commit()
        upgrade()
        found = history.search(db.session.get(User, owner), history.HistoryFilter(query="walrus"))
        assert [conversation.id for conversation in found.items] == [conversation_id]
        db.session.rollback()  # its read locks would hold up the downgrade's DROP INDEX on PostgreSQL
        downgrade(revision=BEFORE_SEARCH_INDEXES)
        upgrade()
        db.session.execute(text("DROP TABLE alembic_version"))
        db.session.commit()


# -- a fixed number of queries, however many rows ----------------------------------------------------------------


def test_admin_list_runs_the_same_queries_for_many_owners_as_for_one(app, admin_client, staff, other_staff):
    def list_statements() -> tuple[int, str]:
        with counted_statements(app) as statements:
            page = admin_client.get("/admin/history").get_data(as_text=True)
        return len(statements), page

    conversation_with(app, staff.id, "Chat", ["hello"])
    one_row, _ = list_statements()
    for index in range(12):
        conversation_with(app, staff.id if index % 2 else other_staff.id, f"Chat {index}", ["hello"])
    many_rows, page = list_statements()
    assert many_rows == one_row, "each row's owner is loaded with the rows, not one query a row"
    assert page.count(f"<td>{staff.email}</td>") == 7 and page.count(f"<td>{other_staff.email}</td>") == 6


def test_export_runs_the_same_queries_for_many_conversations_as_for_few(app, staff_client, staff):
    def export_statements() -> tuple[int, dict]:
        with counted_statements(app) as statements:
            data = json.loads(staff_client.get("/history/export.json").get_data(as_text=True))
        return len(statements), data

    conversation_with(app, staff.id, "Only", ["q", "a"], age_days=1)
    few, _ = export_statements()
    made = [
        conversation_with(app, staff.id, f"Chat {n}", [f"question {n}", f"answer {n}"], age_days=n / 1000)
        for n in range(history.EXPORT_BATCH - 2)
    ]
    many, data = export_statements()
    assert many == few, "one batch of conversations costs the same queries, whatever its size"
    exported = data["conversations"]
    assert len(exported) == history.EXPORT_BATCH - 1
    assert [item["id"] for item in exported[:3]] == made[:3]
    assert [m["content"] for m in exported[0]["messages"]] == ["question 0", "answer 0"]


def test_export_of_more_than_one_batch_keeps_every_conversation_in_order(app, staff):
    made = [conversation_with(app, staff.id, f"Chat {n}", [f"text {n}"], age_days=n / 1000) for n in range(205)]
    with app.app_context():
        data = json.loads("".join(history.export_all(db.session.get(User, staff.id), batch_size=50)))
    assert [item["id"] for item in data["conversations"]] == made
    assert data["conversations"][-1]["messages"][0]["content"] == "text 204"


# -- dashboard figures -------------------------------------------------------------------------------------------


@pytest.mark.both_databases
def test_dashboard_figures_count_everything_and_this_weeks_replies_only(app, staff, other_staff):
    conversation_with(app, staff.id, "Last month", ["q", "a", "q", "a"], age_days=30)
    # Touched today, but with a reply from ten days ago: only activity of the last 7 days counts as this week.
    conversation_with(app, staff.id, "Old reply", ["q", "a"], age_days=0, message_age_days=10)
    conversation_with(app, staff.id, "Today", ["q", "a", "q", "a", "q", "a"], age_days=0)
    conversation_with(app, other_staff.id, "Not mine", ["q", "a"], age_days=0)
    with app.app_context():
        figures = history.stats(db.session.get(User, staff.id))
    assert figures == history.ChatStats(conversations=3, messages=12, replies_this_week=3, tokens_this_week=36)


@pytest.mark.both_databases
def test_dashboard_figures_of_a_user_without_conversations_are_zero(app, staff):
    with app.app_context():
        assert history.stats(db.session.get(User, staff.id)) == history.ChatStats(0, 0, 0, 0)


@pytest.mark.both_databases
def test_activity_chart_counts_only_the_users_recent_questions(app, staff, other_staff):
    conversation_with(app, staff.id, "Recent", ["q1", "a", "q2", "a"], age_days=0)
    conversation_with(app, staff.id, "Long ago", ["q", "a"], age_days=100)
    conversation_with(app, other_staff.id, "Theirs", ["q", "a"], age_days=0)
    with app.app_context():
        rows = db.session.execute(
            history.messages_per_day(True), {"since": NOW - timedelta(days=30), "user_id": staff.id}
        ).all()
    assert sum(count for _day, count in rows) == 2


# -- a long conversation -----------------------------------------------------------------------------------------


def test_a_long_conversation_shows_its_last_window_rendered_on_each_view(app, staff_client, staff):
    texts = [f"question {n}" if n % 2 == 0 else f"**answer {n}** with `code`" for n in range(500)]
    conversation_id = conversation_with(app, staff.id, "Long", texts)
    for _view in range(2):  # the second view takes the rendered replies from the cache
        page = staff_client.get(f"/chat/{conversation_id}").get_data(as_text=True)
        assert page.count('<article id="message-') == WINDOW  # the earlier ones a window at a time, on request
        assert "<strong>answer 499</strong> with <code>code</code>" in page and "question 498" in page
        assert f"{500 - WINDOW} earlier messages not shown" in page


# -- keyset pages ------------------------------------------------------------------------------------------------


def link(html: str, rel: str) -> str | None:
    match = re.search(rf'<a href="([^"]+)" rel="{rel}">', html)
    return match.group(1).replace("&amp;", "&") if match else None


@pytest.mark.both_databases
def test_older_and_newer_links_walk_the_history_by_keyset_as_page_numbers_do(app, staff_client, staff):
    # Ties in last activity (the id decides), and a pinned conversation first.
    ids = [conversation_with(app, staff.id, f"Chat {n}", age_days=(n // 3) / 100) for n in range(120)]
    with app.app_context():
        db.session.execute(update(Conversation).where(Conversation.id == ids[77]).values(pinned=True))
        db.session.commit()
    by_number = [listed_ids(staff_client.get(f"/history?page={n}").get_data(as_text=True)) for n in (1, 2, 3)]
    assert by_number[0][0] == ids[77] and sorted(sum(by_number, [])) == sorted(ids)

    walked, html = [], staff_client.get("/history").get_data(as_text=True)
    while True:
        walked.append(listed_ids(html))
        older = link(html, "next")
        if older is None:
            break
        assert "after=" in older and "page=" in older
        html = staff_client.get(older).get_data(as_text=True)
    assert walked == by_number and "Page 3 of 3" in html

    back = []
    while (newer := link(html, "prev")) is not None:
        assert "before=" in newer
        html = staff_client.get(newer).get_data(as_text=True)
        back.append(listed_ids(html))
    assert back == [by_number[1], by_number[0]] and "Page 1 of 3" in html


@pytest.mark.both_databases
def test_admin_review_pages_by_keyset_with_its_filters_kept(app, admin_client, staff, other_staff):
    mine = [conversation_with(app, staff.id, f"Mine {n}", age_days=n / 100) for n in range(60)]
    conversation_with(app, other_staff.id, "Theirs")
    first = admin_client.get(f"/admin/history?user={staff.id}").get_data(as_text=True)
    older = link(first, "next")
    assert older is not None and f"user={staff.id}" in older and "after=" in older
    second = admin_client.get(older).get_data(as_text=True)
    shown = re.findall(r'href="/admin/history/(\d+)"', second)
    assert [int(id_) for id_ in shown] == mine[50:] and "Page 2 of 2" in second


@pytest.mark.both_databases
def test_a_hand_edited_page_link_falls_back_to_the_page_number(app, staff_client, staff):
    ids = [conversation_with(app, staff.id, f"Chat {n}", age_days=n / 100) for n in range(55)]
    for cursor in ("garbage", "1~not-a-date~5", "0~2024-13-45T00:00:00~5", "1~2024-01-01T00:00:00~x", "~~", "\x00"):
        for direction in ("after", "before"):
            response = staff_client.get("/history", query_string={"page": 2, direction: cursor})
            assert response.status_code == 200, (direction, cursor)
            assert listed_ids(response.get_data(as_text=True)) == ids[50:], (direction, cursor)
    # A well-formed row past any the database can hold is just a place in the order: nothing older, not a 500.
    far = staff_client.get("/history", query_string={"page": 2, "after": "0~2000-01-01T00:00:00+00:00~" + "9" * 30})
    assert far.status_code == 200 and listed_ids(far.get_data(as_text=True)) == []
