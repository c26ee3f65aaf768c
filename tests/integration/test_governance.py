"""Groups, model access and enforced monthly budgets (issue 14, points 1–3): the CLI, the admin pages, the chat
page's picker and warning, and the API's 403 and 429, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from sqlalchemy import func, select

from tests.support.chat import ChatClient, chat_settings, reset, stored_conversation
from tests.support.factories import make_token, make_user
from tests.support.web import bearer, csrf_token
from webapp.auth.models import User
from webapp.chat.models import Conversation, Message
from webapp.extensions import db
from webapp.governance import service as governance
from webapp.governance.models import Group
from webapp.usage.models import UsageMonth
from webapp.usage.service import current_month, next_month_start, record_usage


@pytest.fixture
def app_overrides(openai_server):
    reset(openai_server)
    return chat_settings(openai_server)


def cli(app: Flask, *args: str):
    return app.test_cli_runner().invoke(args=list(args))


def group_of(app: Flask, name: str) -> Group:
    with app.app_context():
        group = db.session.scalar(select(Group).where(Group.name == name))
        assert group is not None
        list(group.members)
        db.session.expunge_all()
        return group


def ask(client, token: str, message: str = "Hello", **body):
    return client.post("/api/chat", json={"message": message, **body}, headers=bearer(token))


def upstream_calls(openai_server) -> int:
    with openai_server._lock:
        return len(openai_server.requests)


# -- groups and model access ------------------------------------------------------------------------------------


@pytest.mark.both_databases
def test_the_groups_cli_creates_a_group_adds_and_removes_members_and_sets_its_models(app, staff, other_staff):
    assert cli(app, "groups", "create", "Engineering").output == "Created the group 'Engineering'.\n"
    assert cli(app, "groups", "add", "Engineering", staff.email.upper()).exit_code == 0
    assert cli(app, "groups", "add", "Engineering", other_staff.email).exit_code == 0
    assert cli(app, "groups", "remove", "Engineering", other_staff.email).exit_code == 0
    result = cli(app, "groups", "models", "Engineering", "gpt-4o-mini, openai:gpt-4o")

    assert result.exit_code == 0, result.output
    assert result.output == "The group 'Engineering' may use: gpt-4o-mini, openai:gpt-4o.\n"
    group = group_of(app, "Engineering")
    assert [member.email for member in group.members] == [staff.email]
    assert group.model_list == ["gpt-4o-mini", "openai:gpt-4o"]
    assert cli(app, "groups", "models", "Engineering", "--any").exit_code == 0
    assert group_of(app, "Engineering").model_list is None
    listing = cli(app, "groups", "list").output
    assert "Engineering: 1 member(s); models: any (no restriction)" in listing and staff.email in listing


def test_the_groups_cli_refuses_unknown_groups_users_and_models_with_a_sentence(app, staff):
    cli(app, "groups", "create", "Sales")
    duplicate = cli(app, "groups", "create", "Sales")
    assert duplicate.exit_code == 1 and "A group named 'Sales' already exists." in duplicate.output
    assert "There is no group named 'Nobody'. Groups: Sales." in cli(app, "groups", "add", "Nobody", staff.email).output
    assert (
        "No user has the email 'ghost@example.com'." in cli(app, "groups", "add", "Sales", "ghost@example.com").output
    )
    wrong = cli(app, "groups", "models", "Sales", "gpt-5")
    assert wrong.exit_code == 1
    assert "'gpt-5' is not configured here. Configured models: openai:gpt-4o-mini, openai:gpt-4o" in wrong.output
    assert group_of(app, "Sales").model_list is None


@pytest.mark.both_databases
def test_a_restricted_user_is_offered_only_allowed_models_and_the_api_refuses_another_with_403_naming_them(
    app, staff, staff_client, staff_token, client, openai_server
):
    cli(app, "groups", "create", "Interns")
    cli(app, "groups", "add", "Interns", staff.email)
    cli(app, "groups", "models", "Interns", "gpt-4o-mini")

    page = staff_client.get("/chat").get_data(as_text=True)
    assert 'value="openai:gpt-4o-mini"' in page and 'value="openai:gpt-4o"' not in page
    refused = ask(client, staff_token, model="gpt-4o")
    assert refused.status_code == 403
    body = refused.get_json()
    assert body["allowed_models"] == ["openai:gpt-4o-mini"]
    assert "do not allow the model 'openai:gpt-4o'; the models open to you are: openai:gpt-4o-mini" in body["error"]
    assert upstream_calls(openai_server) == 0
    with app.app_context():
        assert db.session.scalar(select(func.count(Message.id))) == 0  # refused before anything is stored
    # Without a model named, the first allowed one is used.
    answered = ask(client, staff_token)
    assert answered.status_code == 200 and answered.get_json()["model"] == "gpt-4o-mini"


def test_any_group_allowing_a_model_is_enough_and_a_group_without_a_list_allows_nothing_by_itself(app, staff):
    for name in ("Mini", "Big", "Everyone"):
        cli(app, "groups", "create", name)
        cli(app, "groups", "add", name, staff.email)
    cli(app, "groups", "models", "Mini", "gpt-4o-mini")
    with app.app_context():
        user = db.session.get(User, staff.id)
        assert [choice.model for choice in governance.allowed_models(user)] == ["gpt-4o-mini"]
        cli(app, "groups", "models", "Big", "openai:gpt-4o")
        assert [choice.model for choice in governance.allowed_models(user)] == ["gpt-4o-mini", "gpt-4o"]
        cli(app, "groups", "models", "Big", "")  # an empty list: this group allows no model
        assert [choice.model for choice in governance.allowed_models(user)] == ["gpt-4o-mini"]
        cli(app, "groups", "models", "Everyone", "*")
        assert [choice.model for choice in governance.allowed_models(user)] == ["gpt-4o-mini", "gpt-4o"]


def test_admins_are_not_exempt_unless_a_group_says_so(app, admin, client):
    token = make_token(app, admin)
    cli(app, "groups", "create", "Admins")
    cli(app, "groups", "add", "Admins", admin.email)
    cli(app, "groups", "models", "Admins", "gpt-4o")
    assert ask(client, token, model="gpt-4o-mini").status_code == 403
    cli(app, "groups", "models", "Admins", "*")
    assert ask(client, token, model="gpt-4o-mini").status_code == 200


def test_a_user_in_no_group_may_use_every_model(app, staff, staff_token, client):
    assert ask(client, staff_token, model="gpt-4o").status_code == 200


# -- budgets -----------------------------------------------------------------------------------------------------


@pytest.mark.both_databases
def test_over_the_monthly_token_limit_the_api_answers_429_keeps_the_message_and_sends_nothing_upstream(
    app, staff, staff_token, client, openai_server
):
    first = ask(client, staff_token, "Use some tokens")
    assert first.status_code == 200
    spent = sum(first.get_json()["usage"][key] for key in ("prompt_tokens", "completion_tokens"))
    assert cli(app, "usage", "limit", staff.email, "--monthly-tokens", str(spent)).exit_code == 0
    calls = upstream_calls(openai_server)

    refused = ask(client, staff_token, "One more, please", conversation_id=first.get_json()["conversation_id"])

    assert refused.status_code == 429
    body = refused.get_json()
    reset_at = next_month_start(current_month())
    assert body["resets_at"] == reset_at.isoformat().replace("+00:00", "Z")
    assert reset_at.day == 1 and reset_at.tzinfo == UTC and reset_at > datetime.now(UTC)
    assert body["limit"] == {
        "scope": "user",
        "name": staff.email,
        "monthly_tokens": spent,
        "monthly_requests": None,
        "tokens": spent,
        "requests": 1,
    }
    assert f"You have used {spent:,} of the {spent:,} tokens that your own monthly limit allows" in body["error"]
    assert f"resets on {reset_at:%-d %B %Y} at 00:00 UTC" in body["error"]
    assert upstream_calls(openai_server) == calls
    conversation = stored_conversation(app, body["conversation_id"])
    question, reply = conversation.messages[-2:]
    assert question.content == "One more, please"
    assert (reply.id, reply.status, reply.error) == (body["message_id"], "error", body["error"])


@pytest.mark.both_databases
def test_a_group_limit_holds_each_member_to_their_own_spend_and_the_request_limit_counts_messages(
    app, staff, other_staff, staff_token, other_token, client
):
    cli(app, "groups", "create", "Contractors")
    cli(app, "groups", "add", "Contractors", staff.email)
    cli(app, "groups", "add", "Contractors", other_staff.email)
    result = cli(app, "usage", "limit", "--group", "Contractors", "--monthly-requests", "2")
    assert result.output == "The group 'Contractors': 2 requests a month for each member.\n"

    assert [ask(client, staff_token).status_code for _ in range(3)] == [200, 200, 429]
    assert ask(client, other_token).status_code == 200  # the other member's allowance is their own
    refused = ask(client, staff_token).get_json()
    assert refused["limit"]["scope"] == "group" and refused["limit"]["name"] == "Contractors"
    assert "2 of the 2 requests that the monthly limit of the group 'Contractors' allows" in refused["error"]


def test_the_usage_limit_cli_sets_and_removes_a_users_limit_and_refuses_bad_input(app, staff):
    assert cli(app, "usage", "limit", staff.email, "--monthly-tokens", "50000").output == (
        f"{staff.email}: 50,000 tokens a month.\n"
    )
    assert cli(app, "usage", "limit", staff.email).output == f"{staff.email}: no limit of their own.\n"
    assert cli(app, "usage", "limit", "--monthly-tokens", "5").exit_code == 2
    assert cli(app, "usage", "limit", staff.email, "--monthly-tokens", "-5").exit_code == 2
    assert "There is no group named 'Ghosts'" in cli(app, "usage", "limit", "--group", "Ghosts").output


def test_last_months_spend_does_not_count_and_the_counter_starts_from_this_months_ledger(
    app, staff, staff_token, client
):
    last_month = datetime.now(UTC).replace(day=1) - timedelta(days=1)
    with app.app_context():
        record_usage(staff.id, "openai", "gpt-4o-mini", 900, 100, "chat", at=last_month)
        record_usage(staff.id, "openai", "gpt-4o-mini", 40, 10, "temporary")
        db.session.commit()
    cli(app, "usage", "limit", staff.email, "--monthly-tokens", "51")

    answered = ask(client, staff_token)  # 50 of 51 used: admitted

    assert answered.status_code == 200
    reply_tokens = sum(answered.get_json()["usage"][key] for key in ("prompt_tokens", "completion_tokens"))
    with app.app_context():
        row = db.session.get(UsageMonth, (staff.id, current_month()))
        assert (row.tokens, row.requests) == (50 + reply_tokens, 2)
    assert 50 + reply_tokens > 51  # the reply that streamed past the limit finished; the next one is refused
    assert ask(client, staff_token).status_code == 429


# SQLite runs one writer at a time, so the race needs PostgreSQL (row locks, READ COMMITTED).
@pytest.mark.parametrize("db_backend", ["postgresql"], indirect=True)
def test_concurrent_requests_cannot_pass_a_request_limit(app, staff, staff_token):
    """Eight sends at once against a limit of three: the conditional UPDATE admits exactly three."""
    cli(app, "usage", "limit", staff.email, "--monthly-requests", "3")
    statuses: list[int] = []
    start = threading.Barrier(8)

    def send() -> None:
        start.wait()
        statuses.append(ask(app.test_client(), staff_token, "at once").status_code)

    threads = [threading.Thread(target=send) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [200, 200, 200] + [429] * 5
    with app.app_context():
        assert db.session.get(UsageMonth, (staff.id, current_month())).requests == 3
        replies = db.session.scalars(select(Message.status).where(Message.role == "assistant")).all()
        assert sorted(replies) == ["complete"] * 3 + ["error"] * 5


def test_a_retry_over_the_limit_is_refused_and_the_failed_reply_stays(app, staff, staff_client, openai_server):
    chat = ChatClient(staff_client)
    openai_server.error_status = 500
    conversation_id, reply_id = chat.start("Hello")
    chat.stream(reply_id)
    reset(openai_server)
    cli(app, "usage", "limit", staff.email, "--monthly-requests", "1")

    refused = chat.post(f"/chat/messages/{reply_id}/regenerate")  # Retry is a regeneration

    assert refused.status_code == 429
    assert "1 of the 1 requests" in refused.get_data(as_text=True)
    assert [message.status for message in stored_conversation(app, conversation_id).messages] == ["complete", "error"]


def test_the_chat_page_warns_from_80_percent_of_a_limit_and_the_refused_page_says_when_it_resets(
    app, staff, staff_client
):
    cli(app, "usage", "limit", staff.email, "--monthly-requests", "5")
    with app.app_context():
        for _ in range(3):
            governance.check_budget(db.session.get(User, staff.id))
        db.session.commit()
    assert "budget-warning" not in staff_client.get("/chat").get_data(as_text=True)  # 60%
    with app.app_context():
        governance.check_budget(db.session.get(User, staff.id))
        db.session.commit()
    page = staff_client.get("/chat").get_data(as_text=True)
    assert "You have used 80% of" in page and "4 of 5 messages" in page
    assert f"It resets on {next_month_start(current_month()):%-d %B %Y} at 00:00 UTC" in page
    with app.app_context():
        governance.check_budget(db.session.get(User, staff.id))
        db.session.commit()
    chat = ChatClient(staff_client)
    refused = chat.post("/chat", {"message": "Over the limit"}, htmx=False)
    assert refused.status_code == 429
    assert "5 of the 5 requests that your own monthly limit allows" in refused.get_data(as_text=True)
    with app.app_context():  # the message is kept, with a reply saying why nothing was sent
        kept = db.session.scalars(select(Message).join(Conversation).where(Conversation.user_id == staff.id)).all()
        assert [(message.role, message.status) for message in kept] == [("user", "complete"), ("assistant", "error")]


# -- admin pages -------------------------------------------------------------------------------------------------


@pytest.mark.both_databases
def test_an_admin_manages_a_group_its_members_models_and_limits_on_the_pages(app, admin_client, staff):
    token = csrf_token(admin_client, "/admin/groups")
    created = admin_client.post("/admin/groups", data={"csrf_token": token, "name": "  Research  Team "})
    assert created.status_code == 303
    group = group_of(app, "Research Team")
    base = f"/admin/groups/{group.id}"
    assert created.headers["Location"] == base

    assert admin_client.post(f"{base}/members", data={"csrf_token": token, "email": staff.email}).status_code == 303
    unknown = admin_client.post(f"{base}/members", data={"csrf_token": token, "email": "ghost@example.com"})
    assert unknown.status_code == 400 and "No user has the email" in unknown.get_data(as_text=True)
    models = {"csrf_token": token, "access": "some", "models": ["openai:gpt-4o"]}
    assert admin_client.post(f"{base}/models", data=models).status_code == 303
    limits = {"csrf_token": token, "monthly_tokens": "1,000,000", "monthly_requests": ""}
    assert admin_client.post(f"{base}/limits", data=limits).status_code == 303
    bad = admin_client.post(f"{base}/limits", data={"csrf_token": token, "monthly_tokens": "lots"})
    assert bad.status_code == 400 and "Enter a whole number" in bad.get_data(as_text=True)

    group = group_of(app, "Research Team")
    assert [member.email for member in group.members] == [staff.email]
    assert (group.model_list, group.monthly_tokens, group.monthly_requests) == (["openai:gpt-4o"], 1_000_000, None)
    page = admin_client.get(base).get_data(as_text=True)
    assert staff.email in page and 'value="openai:gpt-4o" checked' in page
    listing = admin_client.get("/admin/groups").get_data(as_text=True)
    assert "Research Team" in listing and "1,000,000 tokens a month" in listing

    removed = admin_client.post(f"{base}/members/remove", data={"csrf_token": token, "email": staff.email})
    assert removed.status_code == 303 and group_of(app, "Research Team").members == []
    assert admin_client.post(f"{base}/delete", data={"csrf_token": token}).status_code == 303
    with app.app_context():
        assert db.session.scalar(select(func.count(Group.id))) == 0


def test_an_admin_sets_a_users_own_limit_on_the_limits_page(app, admin_client, staff):
    token = csrf_token(admin_client, "/admin/limits")
    form = {"csrf_token": token, "email": staff.email, "monthly_tokens": "2000", "monthly_requests": "10"}
    assert admin_client.post("/admin/limits", data=form).status_code == 303
    page = admin_client.get("/admin/limits").get_data(as_text=True)
    assert staff.email in page and "2,000" in page
    missing = admin_client.post("/admin/limits", data={**form, "email": "ghost@example.com"})
    assert missing.status_code == 400 and "ghost@example.com" in missing.get_data(as_text=True)


def test_staff_get_403_and_visitors_the_sign_in_page_on_every_governance_and_admin_usage_route(app, staff_client):
    make_user(app)
    with app.app_context():
        group = governance.create_group("Anyone")
        group_id = group.id
    visitor = app.test_client()
    visitor_token = csrf_token(visitor, "/login")
    staff_token = csrf_token(staff_client, "/chat")
    rules = [
        rule
        for rule in app.url_map.iter_rules()
        if rule.endpoint.startswith("governance.") or rule.endpoint.startswith("usage.admin")
    ]
    assert len(rules) >= 10
    for rule in rules:
        url = rule.rule.replace("<int:group_id>", str(group_id))
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            data = {"csrf_token": staff_token, "name": "Taken", "email": "x@example.com"} if method == "POST" else None
            response = staff_client.open(url, method=method, data=data)
            assert response.status_code == 403, f"{method} {url}: {response.status_code}"
            response = visitor.open(url, method=method, data={"csrf_token": visitor_token})
            assert response.status_code == 302 and response.headers["Location"].startswith("/login"), url
    assert group_of(app, "Anyone").model_list is None


def test_temporary_chats_are_held_to_model_access_and_the_budget_too(app, staff, staff_token, client, openai_server):
    cli(app, "groups", "create", "Mini")
    cli(app, "groups", "add", "Mini", staff.email)
    cli(app, "groups", "models", "Mini", "gpt-4o-mini")
    cli(app, "usage", "limit", staff.email, "--monthly-requests", "1")

    assert ask(client, staff_token, temporary=True, model="gpt-4o").status_code == 403
    assert ask(client, staff_token, temporary=True).status_code == 200
    refused = ask(client, staff_token, temporary=True)

    assert refused.status_code == 429 and refused.get_json()["limit"]["monthly_requests"] == 1
    assert upstream_calls(openai_server) == 1


# A token that keeps no history stores nothing, yet its admission must be committed all the same.
@pytest.mark.parametrize("keep_history", [True, False], ids=["history", "counted-only"])
def test_the_gateway_lists_only_allowed_models_and_refuses_others_and_over_budget_in_openais_shape(
    app, staff, client, openai_server, keep_history
):
    with app.app_context():
        from webapp.auth import service as users

        _, token = users.create_token(users.get_user(staff.id), "script", keep_history=keep_history)
    cli(app, "groups", "create", "Mini")
    cli(app, "groups", "add", "Mini", staff.email)
    cli(app, "groups", "models", "Mini", "gpt-4o-mini")
    cli(app, "usage", "limit", staff.email, "--monthly-requests", "1")

    def complete(model: str):
        body = {"model": model, "messages": [{"role": "user", "content": "Hi"}]}
        return client.post("/v1/chat/completions", json=body, headers=bearer(token))

    listed = client.get("/v1/models", headers=bearer(token)).get_json()
    assert [model["id"] for model in listed["data"]] == ["gpt-4o-mini"]
    refused = complete("gpt-4o")
    assert refused.status_code == 403 and "openai:gpt-4o-mini" in refused.get_json()["error"]["message"]
    assert complete("gpt-4o-mini").status_code == 200
    over = complete("gpt-4o-mini")
    assert over.status_code == 429
    assert f"resets on {next_month_start(current_month()):%-d %B %Y}" in over.get_json()["error"]["message"]
    assert upstream_calls(openai_server) == 1
