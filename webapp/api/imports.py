"""Importing conversations over the JSON API: the same service as the import page."""

from __future__ import annotations

from webapp.api import bp
from webapp.api.auth import api_user
from webapp.api.spec import operation
from webapp.files.uploads import accepts_upload_up_to
from webapp.imports import service
from webapp.imports.schemas import ImportResult, ImportUpload


@bp.post("/conversations/import")
@operation(
    "chat",
    (200, ImportResult, "Imported; conversations already imported before are counted in `skipped`."),
    (
        400,
        "No file, or not an export Workbench knows, or a damaged one (the error says what was expected); "
        "nothing was imported.",
    ),
    (409, "Another import of the same conversations was running; nothing was imported, send it again."),
    (413, "The file is larger than `CHAT_IMPORT_MAX_MB`."),
    form=ImportUpload,
)
@accepts_upload_up_to("CHAT_IMPORT_MAX_BYTES")
def import_conversations(form: ImportUpload) -> ImportResult:
    """Import conversations from an export

    multipart/form-data with the export in the field `file`: ChatGPT's `conversations.json` or its whole
    export .zip, an Open WebUI chat export, or a Workbench export. Every conversation with its message tree
    (the current branch and the others); all or nothing. Importing the same file again imports nothing new."""
    return ImportResult.of(service.import_export(api_user(), form.file))
