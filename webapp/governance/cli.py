"""`flask groups …`: groups, their members and the models they allow, from the command line."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from webapp.errors import ServiceError
from webapp.governance import service
from webapp.governance.models import ALL_MODELS

groups_cli = AppGroup("groups", help="Groups of users and the models they may use.")


def fail(error: ServiceError) -> None:
    raise click.ClickException(error.message)


@groups_cli.command("create")
@click.argument("name")
def create_command(name: str) -> None:
    """Create the group NAME."""
    try:
        group = service.create_group(name)
    except ServiceError as error:
        fail(error)
    click.echo(f"Created the group {group.name!r}.")


@groups_cli.command("add")
@click.argument("name")
@click.argument("email")
def add_command(name: str, email: str) -> None:
    """Put the user with EMAIL in the group NAME."""
    try:
        user = service.add_member(service.find_group(name), email)
    except ServiceError as error:
        fail(error)
    click.echo(f"{user.email} is in the group {name!r}.")


@groups_cli.command("remove")
@click.argument("name")
@click.argument("email")
def remove_command(name: str, email: str) -> None:
    """Take the user with EMAIL out of the group NAME."""
    try:
        group = service.find_group(name)
        service.remove_member(group, service.user_by_email(email))
    except ServiceError as error:
        fail(error)
    click.echo(f"{email} is no longer in the group {name!r}.")


@groups_cli.command("models")
@click.argument("name")
@click.argument("models", required=False, default=None)
@click.option("--any", "unrestricted", is_flag=True, help="Lift the group's restriction: it says nothing about models.")
def models_command(name: str, models: str | None, unrestricted: bool) -> None:
    """Let the group NAME use only MODELS (comma-separated, "provider:model" or a model id; "*" for every one)."""
    if unrestricted == (models is not None):
        raise click.UsageError("Give either MODELS (e.g. gpt-4o-mini,gpt-4o, or '*') or --any.")
    wanted = None if unrestricted else [model for model in (models or "").split(",") if model.strip()]
    try:
        group = service.set_group_models(service.find_group(name), wanted)
    except ServiceError as error:
        fail(error)
    if group.model_list is None:
        click.echo(f"The group {group.name!r} no longer restricts models.")
    elif ALL_MODELS in group.model_list:
        click.echo(f"The group {group.name!r} may use every configured model.")
    else:
        click.echo(f"The group {group.name!r} may use: {', '.join(group.model_list) or 'no model'}.")


@groups_cli.command("list")
def list_command() -> None:
    """Each group with its members, models and limits."""
    groups = service.list_groups()
    if not groups:
        click.echo("No groups yet: flask groups create NAME")
    for group in groups:
        models = "any (no restriction)" if group.model_list is None else ", ".join(group.model_list) or "none"
        click.echo(
            f"{group.name}: {len(group.members)} member(s); models: {models}; limits: {service.describe_limits(group)}"
        )
        for member in group.members:
            click.echo(f"  {member.email}")
