"""Usage reports from the ledger: a user's month ("My usage", GET /api/usage) and everyone's (the admin page, CSV).

Every figure is a GROUP BY over `usage_events` (by UTC day, model, user or group) on the indexes the ledger has;
the charts reuse the dashboard's bar geometry (`webapp.dashboard.activity.bars`) and are drawn as SVG on the
server, like the dashboard's.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta

from sqlalchemy import Select, func, select

from webapp.auth.models import User
from webapp.dashboard.activity import CHART_HEIGHT, CHART_WIDTH, Bar, bars
from webapp.extensions import db
from webapp.governance.models import Group, group_members
from webapp.timeutil import start_of, utc_day, utcnow
from webapp.usage.models import UsageEvent
from webapp.usage.service import month_start, next_month_start

# The admin report covers at most this many days at once (one bar each).
MAX_REPORT_DAYS = 366

TOKENS = func.coalesce(func.sum(UsageEvent.prompt_tokens + UsageEvent.completion_tokens), 0)
PROMPT = func.coalesce(func.sum(UsageEvent.prompt_tokens), 0)
COMPLETION = func.coalesce(func.sum(UsageEvent.completion_tokens), 0)
REQUESTS = func.count(UsageEvent.id)


@dataclass(frozen=True)
class Figures:
    """One line of a report: what is counted (a day, a model, a user or a group) and its totals."""

    key: str
    label: str
    tokens: int
    prompt_tokens: int
    completion_tokens: int
    requests: int


@dataclass(frozen=True)
class Chart:
    """Bars per UTC day, in the dashboard's SVG units."""

    label: str
    days: list[date]
    counts: list[int]
    bars: list[Bar]
    width: int = CHART_WIDTH
    height: int = CHART_HEIGHT

    @property
    def total(self) -> int:
        return sum(self.counts)

    @property
    def peak(self) -> int:
        return max(self.counts, default=0)


def chart(label: str, days: list[date], per_day: dict[date, int]) -> Chart:
    counts = [int(per_day.get(day, 0)) for day in days]
    return Chart(label, days, counts, bars(days, counts))


@dataclass(frozen=True)
class ReportFilter:
    """Which events a report counts: UTC days from `date_from` to `date_to` (both included), and optionally one
    user, the members of one group, one model ("provider:model")."""

    date_from: date
    date_to: date
    user_id: int | None = None
    group_id: int | None = None
    model: str | None = None

    @property
    def days(self) -> list[date]:
        return [self.date_from + timedelta(days=offset) for offset in range((self.date_to - self.date_from).days + 1)]

    def apply(self, statement: Select) -> Select:
        statement = statement.where(
            UsageEvent.created_at >= start_of(self.date_from),
            UsageEvent.created_at < start_of(self.date_to + timedelta(days=1)),
        )
        if self.user_id is not None:
            statement = statement.where(UsageEvent.user_id == self.user_id)
        if self.group_id is not None:
            members = select(group_members.c.user_id).where(group_members.c.group_id == self.group_id)
            statement = statement.where(UsageEvent.user_id.in_(members))
        if self.model:
            provider, _, model = self.model.partition(":")
            statement = statement.where(UsageEvent.provider == provider, UsageEvent.model == model)
        return statement


def month_filter(user_id: int, month: str) -> ReportFilter:
    """A user's month, up to today (a past month: to its last day)."""
    last = (next_month_start(month) - timedelta(days=1)).date()
    return ReportFilter(month_start(month).date(), min(last, utcnow().date()), user_id=user_id)


def _figures(rows, label=lambda key: key) -> list[Figures]:
    return [
        Figures(str(key), label(key), int(tokens), int(prompt), int(completion), int(requests))
        for key, tokens, prompt, completion, requests in rows
    ]


def by_day(filters: ReportFilter) -> list[Figures]:
    """Every day of the range, oldest first (days with nothing at zero)."""
    day = utc_day(UsageEvent.created_at)
    rows = db.session.execute(filters.apply(select(day, TOKENS, PROMPT, COMPLETION, REQUESTS).group_by(day)))
    found = {
        _as_date(key): (tokens, prompt, completion, requests) for key, tokens, prompt, completion, requests in rows
    }
    return [
        Figures(day.isoformat(), day.isoformat(), *(int(value) for value in found.get(day, (0, 0, 0, 0))))
        for day in filters.days
    ]


def _as_date(value) -> date:
    # SQLite's date() answers text, PostgreSQL's CAST a date.
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def by_model(filters: ReportFilter) -> list[Figures]:
    """Per model, most tokens first."""
    statement = filters.apply(
        select(UsageEvent.provider, UsageEvent.model, TOKENS, PROMPT, COMPLETION, REQUESTS).group_by(
            UsageEvent.provider, UsageEvent.model
        )
    )
    rows = [
        (f"{provider}:{model}", tokens, prompt, completion, requests)
        for provider, model, tokens, prompt, completion, requests in db.session.execute(statement)
    ]
    return sorted(_figures(rows), key=lambda figures: (-figures.tokens, figures.key))


def by_user(filters: ReportFilter) -> list[Figures]:
    """Per user (key: their email, label: their name), most tokens first."""
    statement = filters.apply(
        select(User.email, User.name, TOKENS, PROMPT, COMPLETION, REQUESTS)
        .join(User, User.id == UsageEvent.user_id)
        .group_by(User.id, User.email, User.name)
    )
    lines = [
        Figures(email, name, int(tokens), int(prompt), int(completion), int(requests))
        for email, name, tokens, prompt, completion, requests in db.session.execute(statement)
    ]
    return sorted(lines, key=lambda figures: (-figures.tokens, figures.key))


def by_group(filters: ReportFilter) -> list[Figures]:
    """Per group, counting its members' use (a user in two groups counts in both), most tokens first."""
    statement = filters.apply(
        select(Group.name, TOKENS, PROMPT, COMPLETION, REQUESTS)
        .join(group_members, group_members.c.user_id == UsageEvent.user_id)
        .join(Group, Group.id == group_members.c.group_id)
        .group_by(Group.id, Group.name)
    )
    return sorted(_figures(db.session.execute(statement)), key=lambda figures: (-figures.tokens, figures.key))


def models_used() -> list[str]:
    """Every "provider:model" the ledger has seen, for the report's model filter."""
    rows = db.session.execute(
        select(UsageEvent.provider, UsageEvent.model).distinct().order_by(UsageEvent.provider, UsageEvent.model)
    )
    return [f"{provider}:{model}" for provider, model in rows]


@dataclass(frozen=True)
class Report:
    filters: ReportFilter
    days: list[Figures]
    models: list[Figures]
    users: list[Figures] = field(default_factory=list)
    groups: list[Figures] = field(default_factory=list)

    @property
    def tokens(self) -> int:
        return sum(day.tokens for day in self.days)

    @property
    def requests(self) -> int:
        return sum(day.requests for day in self.days)

    @property
    def charts(self) -> list[Chart]:
        dates = self.filters.days
        return [
            chart("Tokens", dates, {date.fromisoformat(day.key): day.tokens for day in self.days}),
            chart("Messages", dates, {date.fromisoformat(day.key): day.requests for day in self.days}),
        ]


def user_report(filters: ReportFilter) -> Report:
    return Report(filters, by_day(filters), by_model(filters))


def admin_report(filters: ReportFilter) -> Report:
    return Report(filters, by_day(filters), by_model(filters), by_user(filters), by_group(filters))


CSV_COLUMNS = ("day", "email", "name", "provider", "model", "requests", "prompt_tokens", "completion_tokens", "tokens")


def csv_rows(filters: ReportFilter) -> Iterator[str]:
    """The report as CSV, one line per UTC day, user and model (streamed: a year of everyone's use is long)."""
    day = utc_day(UsageEvent.created_at)
    statement = filters.apply(
        select(day, User.email, User.name, UsageEvent.provider, UsageEvent.model, REQUESTS, PROMPT, COMPLETION, TOKENS)
        .join(User, User.id == UsageEvent.user_id)
        .group_by(day, User.email, User.name, UsageEvent.provider, UsageEvent.model)
        .order_by(day, User.email, UsageEvent.provider, UsageEvent.model)
    )
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    yield _drain(buffer)
    for row in db.session.execute(statement):
        values = list(row)
        values[0] = _as_date(values[0]).isoformat()
        # A name or model starting with = + - @ would be a formula in a spreadsheet: quote it as text.
        writer.writerow([_safe_cell(value) for value in values])
        yield _drain(buffer)


def _drain(buffer: io.StringIO) -> str:
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return text


def _safe_cell(value):
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value
