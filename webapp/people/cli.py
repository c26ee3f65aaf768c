"""`flask faces ...`: the face index from the shell (or a cron job)."""

from __future__ import annotations

import click
from flask.cli import AppGroup

faces_cli = AppGroup("faces", help="Index the library's faces; purge old face data.")


@faces_cli.command("index")
@click.option("--retry-failed", is_flag=True, help="Also try again the photos whose indexing failed.")
@click.option("--user", "email", default=None, help="Only this user's photos (their email).")
def index_command(retry_failed: bool, email: str | None) -> None:
    """Index every library photo not indexed yet, one at a time: stop it whenever you like, and run it again to
    go on where it stopped (each photo is committed as it is done)."""
    from sqlalchemy import select

    from webapp.auth.models import User
    from webapp.extensions import db
    from webapp.people import service
    from webapp.people.models import FAILED

    user_id = None
    if email:
        user_id = db.session.scalar(select(User.id).where(User.email == email.strip().lower()))
        if user_id is None:
            raise click.ClickException(f"There is no user {email}.")
    pending = service.pending_photos(user_id, retry_failed=retry_failed)
    if not pending:
        click.echo("Every photo is indexed.")
        return
    failed = faces = 0
    with click.progressbar(pending, label=f"Indexing {len(pending)} photos", show_pos=True) as bar:
        for file_id in bar:
            if retry_failed:
                service.forget_failure(file_id)
            row = service.index_photo(file_id)
            status, found = (row.status, row.faces) if row is not None else (None, 0)
            db.session.remove()
            if status == FAILED:
                failed += 1
            else:
                faces += found
    click.echo(f"Indexed {len(pending) - failed} photos ({faces} faces); failed: {failed}.")
    if failed:
        click.echo("Run `flask --app wsgi faces index --retry-failed` to try the failed ones again.")


@faces_cli.command("purge")
def purge_command() -> None:
    """Delete face embeddings older than FACE_EMBEDDING_RETENTION_DAYS (run it daily; unset keeps them)."""
    from flask import current_app

    from webapp.people import service

    days = current_app.config["FACE_EMBEDDING_RETENTION_DAYS"]
    if days is None:
        click.echo("FACE_EMBEDDING_RETENTION_DAYS is not set: face embeddings are kept.")
        return
    purged = service.purge_embeddings(days)
    click.echo(f"Face embeddings older than {days} days deleted: {purged}.")
