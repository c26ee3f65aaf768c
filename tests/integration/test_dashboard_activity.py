"""The dashboard's activity chart: chat messages, uploads and face checks per UTC day over the last 30 days.

Rows are placed on chosen days (at both ends of a UTC day, and just outside the window); the figures are read
back from the page the way a screen reader gets them (its table), and the bars from the SVG.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event

from tests.support.factories import make_conversation, make_face_result, make_file
from tests.support.web import Account
from webapp.auth import service as users
from webapp.dashboard.activity import CHART_HEIGHT, activity_for, bars
from webapp.extensions import db

TODAY = datetime.now(UTC).date()
ROW = re.compile(r'<tr><th scope="row">(\d{4}-\d\d-\d\d)</th>((?:<td>\d+</td>)+)</tr>')
BAR = re.compile(
    r'<rect class="activity-bar" x="[\d.]+" y="[\d.]+" width="[\d.]+" height="([\d.]+)">'
    r"<title>(\d{4}-\d\d-\d\d): (\d+)</title>"
)


def at(days_ago: int, hour: int = 12, minute: int = 0) -> datetime:
    return datetime.combine(TODAY - timedelta(days=days_ago), time(hour, minute), tzinfo=UTC)


def day(days_ago: int) -> str:
    return (TODAY - timedelta(days=days_ago)).isoformat()


def add_messages(app: Flask, user: Account, moments: list[datetime]) -> None:
    """A question and its reply at each moment (replies are not counted)."""
    for moment in moments:
        make_conversation(app, user, messages=2, at=moment)


def add_uploads(app: Flask, user: Account, moments: list[datetime]) -> None:
    """Files stored through the files service, dated: the chart counts when they were uploaded."""
    for moment in moments:
        make_file(app, user, photo=True, at=moment)


def add_face_checks(app: Flask, user: Account, comparisons: list[datetime], analyses: list[datetime]) -> None:
    for moment in comparisons:
        make_face_result(app, user, "comparison", at=moment)
    for moment in analyses:
        make_face_result(app, user, "analysis", at=moment)


def bars_of(html: str, name: str) -> dict[str, tuple[int, float]]:
    """The bars of one feature's chart: {day: (count, height)}."""
    chart = html.split(f'<figure class="activity-chart activity-{name}">')[1].split("</figure>")[0]
    return {found_day: (int(count), float(height)) for height, found_day, count in BAR.findall(chart)}


def figures(html: str) -> dict[str, tuple[int, ...]]:
    """The page's table of figures: {day: (messages, uploads, face checks)}."""
    return {
        found_day: tuple(int(value) for value in re.findall(r"<td>(\d+)</td>", cells))
        for found_day, cells in ROW.findall(html)
    }


@pytest.fixture
def activity_data(app: Flask, staff: Account, other_staff: Account) -> None:
    """Sam: messages at both ends of one UTC day, and just inside and outside the window; Olga: a bit of each."""
    add_messages(app, staff, [at(3, 0, 5), at(3, 23, 55), at(29, 0, 1), at(30, 23, 59), at(0)])
    add_uploads(app, staff, [at(3), at(10), at(10)])
    add_face_checks(app, staff, comparisons=[at(10, 23, 59)], analyses=[at(10, 0, 0), at(11)])
    add_messages(app, other_staff, [at(3), at(5)])
    add_uploads(app, other_staff, [at(10)])
    add_face_checks(app, other_staff, comparisons=[at(0)], analyses=[])


def expected(*days: tuple[int, tuple[int, int, int]]) -> dict[str, tuple[int, ...]]:
    table = {day(days_ago): (0, 0, 0) for days_ago in range(30)}
    table.update({day(days_ago): counts for days_ago, counts in days})
    return table


@pytest.mark.both_databases
def test_staff_see_their_own_activity_per_utc_day(activity_data: None, staff_client: FlaskClient) -> None:
    html = staff_client.get("/").get_data(as_text=True)
    assert "Your activity, last 30 days" in html
    assert figures(html) == expected((0, (1, 0, 0)), (3, (2, 1, 0)), (10, (0, 2, 2)), (11, (0, 0, 1)), (29, (1, 0, 0)))
    # Days with nothing have no bar; the busiest day of a chart is full height.
    full, half = CHART_HEIGHT, CHART_HEIGHT / 2
    assert bars_of(html, "chat") == {day(29): (1, half), day(3): (2, full), day(0): (1, half)}
    assert bars_of(html, "files") == {day(10): (2, full), day(3): (1, half)}
    assert bars_of(html, "faces") == {day(11): (1, half), day(10): (2, full)}


@pytest.mark.both_databases
def test_admins_see_everyones_activity(activity_data: None, admin_client: FlaskClient) -> None:
    html = admin_client.get("/").get_data(as_text=True)
    assert "Everyone&#39;s activity, last 30 days" in html
    assert figures(html) == expected(
        (0, (1, 0, 1)), (3, (3, 1, 0)), (5, (1, 0, 0)), (10, (0, 3, 2)), (11, (0, 0, 1)), (29, (1, 0, 0))
    )


@pytest.mark.both_databases
def test_the_chart_is_accessible(activity_data: None, staff_client: FlaskClient) -> None:
    html = staff_client.get("/").get_data(as_text=True)
    charts = re.findall(
        r'<svg [^>]*role="img" aria-labelledby="(activity-\w+-title)">\s*<title id="\1">([^<]+)</title>', html
    )
    assert [title.split(" per UTC day")[0] for _, title in charts] == ["Chat messages", "Uploads", "Face checks"]
    assert charts[0][1] == (f"Chat messages per UTC day from {day(29)} to {day(0)}: 4 in all, at most 2 a day.")
    assert '<div class="visually-hidden">\n  <table>\n    <caption>Your activity per UTC day</caption>' in html
    assert "days are UTC days" in html


def test_an_empty_dashboard_says_there_is_nothing_yet(staff_client: FlaskClient) -> None:
    html = staff_client.get("/").get_data(as_text=True)
    assert "No chats, uploads or face checks in the last 30 days yet." in html
    assert "<svg" not in html.split('id="activity-heading"')[1].split("</section>")[0]


@pytest.fixture
def app_overrides(db_backend: str) -> dict[str, Any]:
    """On PostgreSQL, a session time zone 14 hours ahead of UTC: the days must still be UTC days."""
    if db_backend == "postgresql":
        return {
            "SQLALCHEMY_ENGINE_OPTIONS": {
                "pool_pre_ping": True,
                "connect_args": {"options": "-c timezone=Pacific/Kiritimati"},
            }
        }
    return {}


@pytest.mark.both_databases
def test_a_day_is_a_utc_day_whatever_the_database_session_time_zone(app: Flask, staff: Account) -> None:
    add_messages(app, staff, [at(1, 23, 30), at(2, 0, 30), at(2, 9, 0)])
    with app.test_request_context():
        chat = activity_for(users.get_user(staff.id), today=TODAY).series[0]
    assert chat.counts[-3:] == [2, 1, 0]


def test_one_query_per_feature(app: Flask, activity_data: None, admin: Account) -> None:
    statements: list[str] = []
    with app.test_request_context():
        viewer = users.get_user(admin.id)
        listener = lambda *args: statements.append(args[2])  # noqa: E731  (conn, cursor, statement, ...)
        event.listen(db.engine, "before_cursor_execute", listener)
        try:
            activity = activity_for(viewer)
        finally:
            event.remove(db.engine, "before_cursor_execute", listener)
    assert len(statements) == len(activity.series) == 3
    assert all("GROUP BY" in statement for statement in statements)


def test_bars_are_scaled_to_the_busiest_day() -> None:
    days = [date(2026, 1, day_number) for day_number in range(1, 11)]
    drawn = bars(days, [0, 1000, 0, 0, 1, 0, 0, 0, 0, 500])
    assert [(bar.day.day, bar.count, bar.height) for bar in drawn] == [
        (2, 1000, CHART_HEIGHT),
        (5, 1, 1.0),
        (10, 500, CHART_HEIGHT / 2),
    ]
    assert all(bar.y + bar.height == CHART_HEIGHT for bar in drawn)
    assert bars(days, [0] * 10) == []
