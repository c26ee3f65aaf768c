"""Usage reports (issue 14, point 4): GET /api/usage, "My usage" and the admins' usage page with its filters, chart
and CSV export, all read from the usage ledger, on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from sqlalchemy import select

from tests.support.chat import chat_settings, reset
from tests.support.factories import make_user
from tests.support.web import bearer
from webapp.audit.models import AuditEvent
from webapp.auth.models import User
from webapp.extensions import db
from webapp.governance import service as governance
from webapp.usage.service import current_month, next_month_start, record_usage


@pytest.fixture
def app_overrides(openai_server):
    reset(openai_server)
    return chat_settings(openai_server)


def today() -> datetime:
    return datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)


def spend(app: Flask, user_id: int, model: str, prompt: int, completion: int, at: datetime | None = None) -> None:
    """A request as every path to a model makes one: admitted against the budget, then its usage recorded."""
    provider, _, name = model.partition(":")
    with app.app_context():
        if at is None or at.strftime("%Y-%m") == current_month():
            governance.check_budget(db.session.get(User, user_id))
        record_usage(user_id, provider, name, prompt, completion, "chat", at=at)
        db.session.commit()


def cli(app: Flask, *args: str):
    result = app.test_cli_runner().invoke(args=list(args))
    assert result.exit_code == 0, result.output
    return result


@pytest.mark.both_databases
def test_api_usage_answers_the_callers_month_against_every_limit_with_figures_per_model_and_day(
    app, client, staff, other_staff, staff_token
):
    spend(app, staff.id, "openai:gpt-4o-mini", 100, 50, today())
    spend(app, staff.id, "openai:gpt-4o", 300, 200)
    spend(app, staff.id, "openai:gpt-4o", 999, 1, today().replace(day=1) - timedelta(days=1))  # last month
    spend(app, other_staff.id, "openai:gpt-4o", 5000, 5000)  # someone else's
    cli(app, "usage", "limit", staff.email, "--monthly-tokens", "1000")
    cli(app, "groups", "create", "Research")
    cli(app, "groups", "add", "Research", staff.email)
    cli(app, "usage", "limit", "--group", "Research", "--monthly-tokens", "600", "--monthly-requests", "10")

    body = client.get("/api/usage", headers=bearer(staff_token)).get_json()

    assert body["month"] == current_month() == datetime.now(UTC).strftime("%Y-%m")
    assert body["resets_at"] == next_month_start(current_month()).isoformat().replace("+00:00", "Z")
    assert (body["tokens"], body["requests"]) == (650, 2)
    assert body["limits"] == [
        {
            "scope": "user",
            "name": staff.email,
            "monthly_tokens": 1000,
            "remaining": 350,
            "monthly_requests": None,
            "requests_remaining": None,
        },
        {
            "scope": "group",
            "name": "Research",
            "monthly_tokens": 600,
            "remaining": 0,
            "monthly_requests": 10,
            "requests_remaining": 8,
        },
    ]
    assert body["by_model"] == [
        {"model": "openai:gpt-4o", "tokens": 500, "prompt_tokens": 300, "completion_tokens": 200, "requests": 1},
        {"model": "openai:gpt-4o-mini", "tokens": 150, "prompt_tokens": 100, "completion_tokens": 50, "requests": 1},
    ]
    days = [line["day"] for line in body["by_day"]]
    assert days[0] == datetime.now(UTC).strftime("%Y-%m-01") and days[-1] == datetime.now(UTC).date().isoformat()
    assert len(days) == datetime.now(UTC).day
    assert body["by_day"][-1] == {"day": days[-1], "tokens": 650, "requests": 2}
    assert sum(line["tokens"] for line in body["by_day"]) == 650


def test_api_usage_of_a_user_with_no_use_and_no_limit_is_all_zero(client, staff_token):
    body = client.get("/api/usage", headers=bearer(staff_token)).get_json()
    assert (body["tokens"], body["requests"], body["limits"], body["by_model"]) == (0, 0, [], [])
    assert all(line["tokens"] == 0 for line in body["by_day"])


@pytest.mark.both_databases
def test_my_usage_shows_the_month_against_the_limits_with_a_chart_and_the_models(app, staff, staff_client):
    spend(app, staff.id, "openai:gpt-4o-mini", 1200, 300)
    cli(app, "usage", "limit", staff.email, "--monthly-tokens", "2000", "--monthly-requests", "40")

    page = staff_client.get("/usage").get_data(as_text=True)

    assert "<strong>1,500 tokens</strong>" in page and "<strong>1 messages</strong>" in page
    assert "1,500 of 2,000 tokens used, 500 left" in page and "1 of 40 messages used, 39 left" in page
    assert page.count('<svg viewBox="0 -2 300 64"') == 2 and 'class="activity-bar"' in page
    assert f"Tokens per UTC day from {datetime.now(UTC).strftime('%Y-%m-01')}" in page
    assert "openai:gpt-4o-mini" in page
    assert f"{next_month_start(current_month()):%-d %B %Y} at 00:00 UTC" in page


@pytest.mark.both_databases
def test_the_admin_usage_page_reports_per_user_group_model_and_day_with_filters(app, admin_client, staff, other_staff):
    spend(app, staff.id, "openai:gpt-4o-mini", 10, 5, today())
    spend(app, other_staff.id, "openai:gpt-4o", 70, 30, today())
    spend(app, other_staff.id, "openai:gpt-4o", 1, 1, today() - timedelta(days=40))
    cli(app, "groups", "create", "Sales")
    cli(app, "groups", "add", "Sales", other_staff.email)

    page = admin_client.get("/admin/usage").get_data(as_text=True)
    assert "115 tokens in 2 messages" in page
    for heading in ("Per user", "Per group", "Per model", "Per day"):
        assert heading in page
    assert staff.email in page and other_staff.email in page and "Sales" in page
    assert 'class="activity-bar"' in page

    only_sales = admin_client.get("/admin/usage?group=Sales").get_data(as_text=True)
    assert "100 tokens in 1 messages" in only_sales and staff.email not in only_sales
    by_model = admin_client.get("/admin/usage?model=openai:gpt-4o-mini").get_data(as_text=True)
    assert "15 tokens in 1 messages" in by_model
    start = (today() - timedelta(days=41)).date().isoformat()
    one_user = admin_client.get(f"/admin/usage?user={other_staff.email}&from={start}").get_data(as_text=True)
    assert "102 tokens in 2 messages" in one_user
    with app.app_context():  # looking at one person's use is audited
        viewed = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "usage.admin_view"))
        assert viewed is not None and viewed.target_id == str(other_staff.id)

    bad = admin_client.get("/admin/usage?from=yesterday")
    assert bad.status_code == 400 and "is not a date: write it as YYYY-MM-DD" in bad.get_data(as_text=True)
    backwards = admin_client.get("/admin/usage?from=2026-02-01&to=2026-01-01")
    assert backwards.status_code == 400 and "The end date is before the start date." in backwards.get_data(as_text=True)
    assert admin_client.get("/admin/usage?group=Nobody").status_code == 404


def test_the_csv_export_has_a_line_per_day_user_and_model_and_is_audited(app, admin, admin_client, staff):
    spend(app, staff.id, "openai:gpt-4o-mini", 10, 5, today())
    spend(app, staff.id, "openai:gpt-4o-mini", 20, 5, today())
    evil = make_user(app, name="=HYPERLINK(1)")
    spend(app, evil.id, "openai:gpt-4o", 1, 1, today())

    response = admin_client.get("/admin/usage.csv")

    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    day = today().date().isoformat()
    assert rows[0] == [
        "day",
        "email",
        "name",
        "provider",
        "model",
        "requests",
        "prompt_tokens",
        "completion_tokens",
        "tokens",
    ]
    assert [day, staff.email, staff.name, "openai", "gpt-4o-mini", "2", "30", "10", "40"] in rows
    assert [day, evil.email, "'=HYPERLINK(1)", "openai", "gpt-4o", "1", "1", "1", "2"] in rows  # not a formula
    with app.app_context():
        exported = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "usage.exported"))
        assert exported is not None and exported.user_id == admin.id


def test_a_member_of_two_groups_counts_in_both_group_lines(app, staff):
    spend(app, staff.id, "openai:gpt-4o", 10, 10)
    for name in ("A", "B"):
        cli(app, "groups", "create", name)
        cli(app, "groups", "add", name, staff.email)
    from webapp.usage import reports

    with app.app_context():
        filters = reports.ReportFilter(today().date(), today().date())
        assert [(line.key, line.tokens) for line in reports.by_group(filters)] == [("A", 20), ("B", 20)]
        assert governance.budget_status(governance.user_by_email(staff.email)).tokens == 20


@pytest.mark.both_databases
def test_nul_characters_in_the_admin_usage_filters_are_not_a_server_error(app, admin_client):
    for query in ("model=usage.csv%00", "user=%00", "group=a%00b"):
        for route in ("/admin/usage", "/admin/usage.csv"):
            response = admin_client.get(f"{route}?{query}")
            status = response.status_code
            response.get_data()  # the CSV streams: read it to its end, so its request context closes
            response.close()
            assert status < 500, (route, query, status)
