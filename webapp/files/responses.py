"""HTTP responses that carry stored bytes: streamed in chunks, with the right headers, never read whole."""

from __future__ import annotations

from typing import BinaryIO

from flask import Response, abort, current_app, request
from werkzeug.wsgi import wrap_file

from webapp.files.models import StoredFile
from webapp.files.service import download_name, open_thumbnail
from webapp.files.storage import content_disposition
from webapp.middleware import content_security_policy
from webapp.timeutil import as_utc
from webapp.units import MEGABYTE

CHUNK_SIZE = MEGABYTE


def stream_stored_file(stored: StoredFile, stream: BinaryIO, inline: bool) -> Response:
    """The file's bytes with its stored content type, a Content-Disposition naming it, conditional
    requests and ranges (resumable downloads, PDF viewers), and `nosniff` (set for every response)."""
    response = Response(
        wrap_file(request.environ, stream, buffer_size=CHUNK_SIZE),
        mimetype=stored.content_type,
        direct_passthrough=True,
    )
    response.content_length = stored.size
    response.headers["Content-Disposition"] = content_disposition(download_name(stored), inline)
    response.set_etag(stored.sha256)
    response.last_modified = as_utc(stored.created_at)
    # Personal files: browsers may keep them, shared caches must not.
    response.cache_control.private = True
    response.cache_control.no_cache = True
    if stored.content_type == "application/pdf" and inline:
        allow_same_origin_frame(response)
    return response.make_conditional(request.environ, accept_ranges=True, complete_length=stored.size)


def thumbnail_response(stored: StoredFile) -> Response:
    """The file's thumbnail (cached privately for an hour), or 404 when it has none."""
    stream = open_thumbnail(stored)
    if stream is None:
        abort(404)
    with stream:
        data = stream.read()  # a thumbnail is a few kilobytes
    response = Response(data, mimetype="image/webp")
    response.set_etag(f"{stored.sha256}-thumbnail")
    response.cache_control.private = True
    response.cache_control.max_age = 3600
    return response.make_conditional(request.environ)


def allow_same_origin_frame(response: Response) -> None:
    """Let our own pages embed this response (the PDF preview); the site default forbids all framing."""
    policy = dict(current_app.config["CONTENT_SECURITY_POLICY"])
    policy["frame-ancestors"] = "'self'"
    # Pages forbid plugins (object-src 'none'); a browser that shows PDFs with a plugin applies this response's own.
    policy["object-src"] = "'self'"
    response.headers["Content-Security-Policy"] = content_security_policy(policy)
    response.headers["X-Frame-Options"] = "SAMEORIGIN"
