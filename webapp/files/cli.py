"""`flask files ...`: maintenance of the file store from the shell (or a cron job)."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup

from webapp.errors import ServiceError
from webapp.files.uploads import remove_stale_files

files_cli = AppGroup("files", help="Maintain the file store.")


@files_cli.command("cleanup")
@click.option("--temp-age-hours", default=24, show_default=True, help="Remove temp uploads older than this.")
def cleanup_command(temp_age_hours: int) -> None:
    """Finish deletes the store could not complete, and remove what interrupted uploads left (temp files, and
    unfinished multipart uploads on S3)."""
    from webapp.files import service

    removed, pending = service.purge_deleted()
    click.echo(f"Deleted files purged: {removed}; still pending (store unavailable): {pending}.")
    unfinished = bool(pending)  # exit status 1: run again once the store is back
    swept = remove_stale_files(current_app.extensions["upload_temp_dir"], temp_age_hours * 3600)
    click.echo(f"Stale temp uploads removed: {swept}.")
    try:
        aborted = current_app.extensions["storage"].abort_stale_uploads(temp_age_hours * 3600)
    except ServiceError as error:
        click.echo(f"Unfinished uploads in the store not checked: {error.message}")
        unfinished = True
    else:
        click.echo(f"Unfinished uploads in the store aborted: {aborted}.")
    if unfinished:
        raise SystemExit(1)


@files_cli.command("create-bucket")
def create_bucket_command() -> None:
    """Create S3_BUCKET_NAME if it does not exist (STORAGE_BACKEND=s3; for MinIO and first deployments)."""
    storage = current_app.extensions["storage"]
    if storage.name != "s3":
        raise click.ClickException("STORAGE_BACKEND is not s3: there is no bucket to create.")
    try:
        storage.ensure_bucket()
    except ServiceError as error:
        raise click.ClickException(error.message) from None
    click.echo(f"Bucket {storage.bucket} is ready.")
