"""Files: uploads streamed to local disk or S3, a photo library with thumbnails, safe downloads."""

from __future__ import annotations

from flask import Blueprint, Flask

from webapp.units import MEGABYTE

bp = Blueprint("files", __name__, url_prefix="/files")


def init_app(app: Flask) -> None:
    """Build the file store once, stream uploads to disk; register the pages, template filter, dashboard card,
    chart line, 413 page and commands."""
    from werkzeug.exceptions import RequestEntityTooLarge

    from config import ConfigError
    from webapp.dashboard.activity import register_activity
    from webapp.dashboard.cards import register_card
    from webapp.files.cli import files_cli
    from webapp.files.decoding import DecodeSlots, use_large_pixel_blocks
    from webapp.files.inspection import KNOWN_TYPES
    from webapp.files.service import uploads_per_day
    from webapp.files.storage import StorageSettings, build_storage
    from webapp.files.uploads import UploadRequest, upload_temp_dir
    from webapp.files.views import dashboard_card, request_too_large

    config = app.config
    unknown = set(config["ALLOWED_UPLOAD_TYPES"]) - KNOWN_TYPES
    if unknown:
        raise ConfigError(
            f"ALLOWED_UPLOAD_TYPES has types this app cannot check: {', '.join(sorted(unknown))} "
            f"(known: {', '.join(sorted(KNOWN_TYPES))})"
        )
    config["MAX_UPLOAD_BYTES"] = config["MAX_UPLOAD_MB"] * MEGABYTE
    # Upload routes take several files in one request (a plain form post); each file has its own limit.
    config["MAX_UPLOAD_REQUEST_BYTES"] = config["MAX_UPLOAD_BYTES"] * config["MAX_FILES_PER_UPLOAD"] + MEGABYTE
    try:
        storage = build_storage(StorageSettings.from_config(config))
    except ValueError as error:
        raise ConfigError(str(error)) from None
    app.extensions["storage"] = storage
    use_large_pixel_blocks()
    app.extensions["image_decodes"] = DecodeSlots(
        config["IMAGE_DECODE_CONCURRENCY"], config["IMAGE_DECODE_WAIT_SECONDS"]
    )
    app.extensions["upload_temp_dir"] = upload_temp_dir(app, storage)
    app.request_class = UploadRequest

    app.register_blueprint(bp)
    app.add_template_filter(file_label, "file_label")
    register_card(app, "files", dashboard_card)
    register_activity(app, "files", "Uploads", uploads_per_day)
    app.register_error_handler(RequestEntityTooLarge, request_too_large)
    app.cli.add_command(files_cli)


def file_label(content_type: str) -> str:
    """What a person calls a content type: "image/jpeg" → "JPEG"."""
    from webapp.files.inspection import FILE_TYPES

    file_type = FILE_TYPES.get(content_type)
    return file_type.label if file_type else content_type


from webapp.files import views  # noqa: E402,F401
