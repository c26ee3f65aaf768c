"""`flask users ...` and `flask tokens ...`: manage accounts from the shell."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup

from webapp.auth import service
from webapp.auth.models import SCOPES
from webapp.errors import ServiceError

users_cli = AppGroup("users", help="Create and list users.")
tokens_cli = AppGroup("tokens", help="Create API tokens for scripts.")


def fail(error: ServiceError) -> None:
    raise click.ClickException(error.message)


@users_cli.command("create")
@click.argument("email")
@click.option("--name", required=True, help="The person's name as shown in the app.")
@click.option("--password", required=True, help="At least PASSWORD_MIN_LENGTH characters.")
@click.option("--admin", is_flag=True, help="Make the user an admin (default: staff).")
def create_user_command(email: str, name: str, password: str, admin: bool) -> None:
    """Create a user."""
    try:
        user = service.create_user(email, name, password, role="admin" if admin else "staff")
    except ServiceError as error:
        fail(error)
    click.echo(f"Created {user.role} {user.email} (id {user.id}).")


@users_cli.command("list")
def list_users_command() -> None:
    """List every user with role and status."""
    users = service.list_users()
    if not users:
        click.echo("No users yet.")
    for user in users:
        status = "active" if user.is_active else "deactivated"
        click.echo(f"{user.id}\t{user.email}\t{user.name}\t{user.role}\t{status}")


@users_cli.command("ensure-admin")
def ensure_admin_command() -> None:
    """Create the first admin from ADMIN_EMAIL / ADMIN_PASSWORD when there is no user at all."""
    config = current_app.config
    user, generated = service.ensure_first_admin(config["ADMIN_EMAIL"], config["ADMIN_PASSWORD"])
    if user is None:
        return
    click.echo(f"Created the first admin: {user.email}")
    if generated:
        click.echo(f"Its password (shown only this once): {generated}")


@tokens_cli.command("create")
@click.argument("email")
@click.option("--name", required=True, help="What the token is for, e.g. 'nightly export'.")
@click.option("--days", type=int, default=None, help="How many days it works (default: API_TOKEN_DAYS).")
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    type=click.Choice(SCOPES),
    help="What it may do; repeat for several (default: chat, files and faces).",
)
@click.option("--no-history", is_flag=True, help="Calls through the /v1 gateway are counted, never stored.")
def create_token_command(email: str, name: str, days: int | None, scopes: tuple[str, ...], no_history: bool) -> None:
    """Create an API token for EMAIL and print it once."""
    user = service.find_user_by_email(email)
    if user is None:
        raise click.ClickException(f"There is no user with the email {email}.")
    try:
        _, plain = service.create_token(user, name, days=days, scopes=scopes or None, keep_history=not no_history)
    except ServiceError as error:
        fail(error)
    click.echo(plain)
