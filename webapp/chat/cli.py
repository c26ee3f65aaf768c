"""`flask chat purge`: the retention policy, run from cron or by hand."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup

from webapp.chat import history

chat_cli = AppGroup("chat", help="Chat maintenance.")


@chat_cli.command("purge")
@click.option(
    "--days",
    type=click.IntRange(min=1),
    default=None,
    help="Delete conversations idle for more than this many days (default: CHAT_RETENTION_DAYS).",
)
def purge_command(days: int | None) -> None:
    """Delete conversations (with their messages) older than the retention period, and say how many."""
    days = days or current_app.config["CHAT_RETENTION_DAYS"]
    if not days:
        click.echo(
            "CHAT_RETENTION_DAYS is not set, so conversations are kept forever; nothing was deleted. "
            "Set it, or pass --days N."
        )
        return
    conversations, messages = history.purge_older_than(int(days))
    click.echo(
        f"Deleted {conversations} conversation{'s' if conversations != 1 else ''} "
        f"({messages} message{'s' if messages != 1 else ''}) with no activity in the last {days} days."
    )
