"""The attach picker of the chat page: the user's library as checkboxes named `file_ids`, loaded on demand."""

from __future__ import annotations

from flask import render_template, request
from flask_login import current_user, login_required

from webapp.attachments import bp
from webapp.files import service as files


@bp.get("/picker")
@login_required
def picker():
    """The newest files of the user's library (documents and photos), to attach to the next message."""
    search = request.args.get("q", "")
    page = files.list_files(current_user, search, page=1, per_page=50)
    return render_template("attachments/_picker.html", files=page.items, search=search)
