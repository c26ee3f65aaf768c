"""`flask usage limit`: a user's or a group's monthly limits from the command line."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from webapp.errors import ServiceError
from webapp.governance import service as governance

usage_cli = AppGroup("usage", help="Token usage and monthly limits.")


@usage_cli.command("limit")
@click.argument("email", required=False)
@click.option("--group", "group_name", help="Set the limit of this group (each member's allowance) instead.")
@click.option("--monthly-tokens", type=click.IntRange(min=0), help="Tokens a month; leave out for no token limit.")
@click.option("--monthly-requests", type=click.IntRange(min=0), help="Requests a month; leave out for none.")
def limit_command(
    email: str | None, group_name: str | None, monthly_tokens: int | None, monthly_requests: int | None
) -> None:
    """Set the monthly limits of the user EMAIL (or of --group NAME). Given neither limit, the limits are removed.

    Months are UTC months: every limit resets at 00:00 UTC on the 1st."""
    if (email is None) == (group_name is None):
        raise click.UsageError("Give either a user's EMAIL or --group NAME.")
    try:
        if group_name is not None:
            group = governance.set_group_limits(governance.find_group(group_name), monthly_tokens, monthly_requests)
            click.echo(f"The group {group.name!r}: {governance.describe_limits(group)} for each member.")
        else:
            user = governance.user_by_email(email)
            limit = governance.set_user_limit(user, monthly_tokens, monthly_requests)
            click.echo(f"{user.email}: {governance.describe_limits(limit) if limit else 'no limit of their own'}.")
    except ServiceError as error:
        raise click.ClickException(error.message) from None
