"""Files in chat: documents and photos of the library attached to messages, read once, excerpted and cited."""

from __future__ import annotations

from flask import Blueprint, Flask

bp = Blueprint("attachments", __name__)


def init_app(app: Flask) -> None:
    """Read a document's text when the files service keeps it and forget it when the file goes; the composer's
    picker and the citation links of replies."""
    from webapp.attachments.citations import link_citations
    from webapp.attachments.service import on_file_purged, on_file_stored
    from webapp.files.service import listen

    listen(app, "stored", on_file_stored)
    listen(app, "deleting", on_file_purged)
    app.add_template_filter(link_citations, "citations")
    app.add_template_global(attachable_files, "attachable_files")
    app.add_template_global(files_of_project, "project_files")
    app.register_blueprint(bp)


def attachable_files() -> list:
    """The signed-in user's newest files, for the composer's attach picker."""
    from flask_login import current_user

    from webapp.attachments.service import PICKER_SIZE
    from webapp.files import service as files

    return list(files.list_files(current_user, per_page=PICKER_SIZE).items)


def files_of_project(project) -> list:
    """The files attached to a project, for its page."""
    from webapp.attachments.service import project_files

    return project_files(project.id, project.user_id)


from webapp.attachments import views  # noqa: E402,F401
