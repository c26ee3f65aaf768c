"""Jinja filters shared by every page."""

from __future__ import annotations

from datetime import datetime

from flask import Flask

from webapp.timeutil import as_utc


def format_datetime(moment: datetime | None, pattern: str = "%Y-%m-%d %H:%M") -> str:
    """Shown in UTC, labelled as such, so staff in different places read the same time."""
    if moment is None:
        return "—"
    return as_utc(moment).strftime(pattern) + " UTC"


def format_filesize(size: int | None) -> str:
    if size is None:
        return "—"
    value = float(size)
    for unit in ("bytes", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{int(value)} {unit}" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GB"


def register_filters(app: Flask) -> None:
    app.add_template_filter(format_datetime, "datetime")
    app.add_template_filter(format_filesize, "filesize")
