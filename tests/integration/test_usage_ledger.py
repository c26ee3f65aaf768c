"""The usage ledger: every request that reached a model counts once, with its provider's tokens, and stays counted
when its conversation is deleted."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask_migrate import upgrade
from sqlalchemy import select, text

from tests.support.chat import chat_settings, reset
from tests.support.databases import reset_to_empty
from tests.support.web import bearer
from webapp.extensions import db
from webapp.timeutil import utcnow
from webapp.usage.models import UsageEvent
from webapp.usage.service import UsageTotal, record_usage, usage_since


@pytest.fixture
def app_overrides(openai_server):
    reset(openai_server)
    return chat_settings(openai_server)


def ledger(app) -> list[tuple]:
    with app.app_context():
        return [
            (event.user_id, event.provider, event.model, event.prompt_tokens, event.completion_tokens, event.source)
            for event in db.session.scalars(select(UsageEvent).order_by(UsageEvent.id))
        ]


@pytest.mark.both_databases
def test_a_reply_counts_its_reported_tokens_once_and_deleting_the_conversation_keeps_them(
    app, client, staff, staff_token
):
    body = client.post("/api/chat", json={"message": "Hello ledger"}, headers=bearer(staff_token)).get_json()

    usage = body["usage"]
    counted = (staff.id, "openai", "gpt-4o-mini", usage["prompt_tokens"], usage["completion_tokens"], "chat")
    assert usage["prompt_tokens"] > 0 and usage["completion_tokens"] > 0
    assert ledger(app) == [counted]
    deleted = client.delete(f"/api/conversations/{body['conversation_id']}", headers=bearer(staff_token))
    assert deleted.status_code == 204
    assert ledger(app) == [counted]
    with app.app_context():
        assert usage_since(staff.id, utcnow() - timedelta(hours=1)) == UsageTotal(counted[3] + counted[4], 1)
        assert usage_since(staff.id, utcnow() + timedelta(seconds=1)) == UsageTotal(0, 0)


def test_a_failed_reply_counts_as_a_request_without_tokens(app, client, staff_token, openai_server):
    openai_server.error_status = 500
    response = client.post("/api/chat", json={"message": "Hello"}, headers=bearer(staff_token))

    assert response.status_code == 503
    assert [(row[3], row[4], row[5]) for row in ledger(app)] == [(0, 0, "chat")]


def test_record_usage_refuses_an_unknown_source(app, staff):
    with app.app_context(), pytest.raises(ValueError, match="unknown usage source"):
        record_usage(staff.id, "openai", "gpt-4o-mini", 1, 1, "typo")


@pytest.mark.both_databases
def test_the_migration_counts_the_replies_already_stored_that_reached_a_model(app, staff):
    with app.app_context():
        reset_to_empty()
        upgrade(revision="0007")
        # Raw SQL with the columns of revision 0007: later migrations may add more.
        now = utcnow()
        db.session.execute(
            text(
                "INSERT INTO users (id, email, name, password_hash, role, is_active, session_version, created_at) "
                "VALUES (1, 'old@example.com', 'Old', 'x', 'staff', true, 1, :now)"
            ),
            {"now": now},
        )
        db.session.execute(
            text(
                "INSERT INTO conversations (id, user_id, title, provider, model, pinned, created_at, updated_at) "
                "VALUES (1, 1, 'Old', 'openai', 'gpt-4o-mini', false, :now, :now)"
            ),
            {"now": now},
        )
        messages = [
            # (role, status, started, prompt, completion): a question, two replies that reached the model, one
            # stopped before its stream began (never sent), and one still pending.
            ("user", "complete", None, None, None),
            ("assistant", "complete", now, 3, 5),
            ("assistant", "error", now, None, None),
            ("assistant", "interrupted", None, None, None),
            ("assistant", "pending", now, None, None),
        ]
        for number, (role, status, started, prompt, completion) in enumerate(messages, start=1):
            db.session.execute(
                text(
                    "INSERT INTO messages (id, conversation_id, role, content, status, provider, model, "
                    "prompt_tokens, completion_tokens, stop_requested, started_at, created_at) "
                    "VALUES (:id, 1, :role, 'text', :status, 'openai', 'gpt-4o-mini', :prompt, :completion, false, "
                    ":started, :now)"
                ),
                dict(
                    id=number, role=role, status=status, started=started, prompt=prompt, completion=completion, now=now
                ),
            )
        db.session.commit()
        upgrade()
        rows = db.session.execute(
            text("SELECT user_id, provider, prompt_tokens, completion_tokens, source FROM usage_events ORDER BY id")
        ).all()
    assert [tuple(row) for row in rows] == [(1, "openai", 3, 5, "chat"), (1, "openai", 0, 0, "chat")]


@pytest.mark.both_databases
def test_the_month_is_summed_from_the_ledger_only_to_make_its_counter(app, staff):
    """Admitting and counting a request reads the month's counter; summing the month's ledger (which grows with
    every request) happens once, when the counter is made, not on every request."""
    from sqlalchemy import event

    from webapp.auth.service import get_user
    from webapp.governance.service import check_budget
    from webapp.usage.service import month_usage

    def statements_of(work) -> list[str]:
        seen: list[str] = []

        def note(conn, cursor, statement, parameters, context, executemany):
            seen.append(statement)

        event.listen(db.engine, "before_cursor_execute", note)
        try:
            work()
        finally:
            event.remove(db.engine, "before_cursor_execute", note)
        return seen

    def one_request() -> None:
        check_budget(get_user(staff.id))
        record_usage(staff.id, "openai", "gpt-4o-mini", 10, 5, "chat")
        db.session.commit()

    with app.app_context():
        first = statements_of(one_request)
        later = statements_of(one_request)
        assert month_usage(staff.id) == UsageTotal(30, 2)
    summing = [statement for statement in first if "sum(" in statement.lower()]
    assert len(summing) == 1  # the counter made at the first request
    assert not [statement for statement in later if "sum(" in statement.lower()]
