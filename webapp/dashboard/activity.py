"""The dashboard's activity chart: what each feature counted per UTC day over the last days, drawn as bars.

Each feature registers a source in its `init_app`: a function of `one_user` returning its grouped statement (rows of
day and count from `:since`, for `:user_id` when `one_user`), built once in its own service; everyone's activity
is what admins see. This module runs the statements, lines the figures up day by day (days with nothing are zero)
and works out the bars; templates/dashboard/_activity.html draws them as SVG.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from flask import Flask, current_app
from sqlalchemy import Select

from webapp.extensions import db
from webapp.timeutil import last_days, start_of

ActivityQuery = Callable[[bool], Select]

# The SVG's own units: the browser scales the drawing to the width it is given.
CHART_WIDTH = 300
CHART_HEIGHT = 60
BAR_GAP = 0.25  # of each day's slot


@dataclass(frozen=True)
class Source:
    label: str  # "Chat messages": what is counted
    query: ActivityQuery


@dataclass(frozen=True)
class Bar:
    day: date
    count: int
    x: float
    y: float
    width: float
    height: float


@dataclass(frozen=True)
class Series:
    name: str
    label: str
    counts: list[int]  # one per day of the Activity, oldest first
    bars: list[Bar]  # days with nothing have no bar

    @property
    def total(self) -> int:
        return sum(self.counts)


@dataclass(frozen=True)
class Activity:
    days: list[date]
    series: list[Series]
    everyone: bool  # across every user (admins), not only the viewer's own
    width: int = CHART_WIDTH
    height: int = CHART_HEIGHT

    @property
    def empty(self) -> bool:
        return not any(series.total for series in self.series)


def register_activity(app: Flask, name: str, label: str, query: ActivityQuery) -> None:
    app.extensions.setdefault("dashboard_activity", {})[name] = Source(label, query)


def activity_for(user: Any, today: date | None = None) -> Activity:
    """The last DASHBOARD_DAYS UTC days of each feature: the user's own, or everyone's for an admin."""
    days = last_days(current_app.config["DASHBOARD_DAYS"], today)
    everyone = bool(user.is_admin)
    sources: dict[str, Source] = current_app.extensions.get("dashboard_activity", {})
    series = []
    # In the order the features registered (create_app's order).
    for name, source in sources.items():
        per_day = counts_per_day(source.query, None if everyone else user, start_of(days[0]))
        counts = [int(per_day.get(day, 0)) for day in days]
        series.append(Series(name, source.label, counts, bars(days, counts)))
    return Activity(days, series, everyone)


def counts_per_day(query: ActivityQuery, user: Any, since: datetime) -> dict[date, int]:
    """{day: count} from a source's statement: the user's, or everyone's when `user` is None."""
    parameters = {"since": since} | ({"user_id": user.id} if user is not None else {})
    return {day: int(count) for day, count in db.session.execute(query(user is not None), parameters)}


def bars(days: list[date], counts: list[int]) -> list[Bar]:
    """One bar per day with something, scaled to the busiest day, in the chart's own units (y grows down)."""
    peak = max(counts, default=0)
    slot = CHART_WIDTH / len(days)
    width = slot * (1 - BAR_GAP)
    drawn = []
    for index, (day, count) in enumerate(zip(days, counts, strict=True)):
        if not count:
            continue
        # At least one unit tall, so a day with one upload beside a day with a thousand still shows.
        height = max(CHART_HEIGHT * count / peak, 1.0)
        drawn.append(
            Bar(
                day,
                count,
                round(index * slot + (slot - width) / 2, 2),
                round(CHART_HEIGHT - height, 2),
                round(width, 2),
                round(height, 2),
            )
        )
    return drawn
