"""The import's JSON bodies: the file POST /api/conversations/import takes, and what it answers."""

from __future__ import annotations

from typing import Any, Self

from pydantic import Field

from webapp.schemas import FormFields, Schema, UploadedFile


class ImportUpload(FormFields):
    file: UploadedFile = Field(
        default=None,
        description="The export: ChatGPT's conversations.json or its whole export .zip, an Open WebUI chat "
        "export (.json) or a Workbench export (.json). None or an empty one: 400.",
    )


class ImportFailure(Schema):
    title: str | None = Field(description="The conversation's title in the file, when it has one.")
    source_id: str | None = Field(description="The conversation's id in the file, when it has one.")
    error: str = Field(description="Why it was not imported.")


class ImportResult(Schema):
    imported: int = Field(ge=0, description="Conversations imported now.")
    skipped: int = Field(ge=0, description="Conversations already imported before (found by their id there).")
    failed: list[ImportFailure] = Field(description="Conversations the file holds that could not be imported.")

    @classmethod
    def of(cls, source: Any) -> Self:
        """`source` is the service's ImportOutcome."""
        return cls(
            imported=source.imported,
            skipped=source.skipped,
            failed=[ImportFailure.of(failure) for failure in source.failed],
        )
