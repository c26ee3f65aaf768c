"""Saved prompts' JSON bodies: what GET/POST /api/prompts and PATCH /api/prompts/<id> take and answer."""

from __future__ import annotations

from typing import Any, Self

from pydantic import ConfigDict, Field

from webapp.prompts.models import COMMAND_LENGTH, TITLE_LENGTH
from webapp.schemas import DatabaseId, JsonRequest, Schema, Timestamp


class PromptRequest(JsonRequest):
    """A new saved prompt."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"command": "summarize", "title": "Summarize", "text": "Summarize this in 3 bullets:"}]
        }
    )

    command: str = Field(
        description=f"Typed after a slash in the message box: one word of at most {COMMAND_LENGTH} letters, digits, "
        "'-' or '_' (a leading '/' is dropped, upper case is made lower). Unique among your prompts (409)."
    )
    title: str = Field(description=f"What the prompt does, at most {TITLE_LENGTH} characters.")
    text: str = Field(description="The prompt itself, at most CHAT_MAX_MESSAGE_CHARS characters (413).")
    shared: bool = Field(default=False, description="Offer it to every user (admins only; 403 otherwise).")


class PromptChange(JsonRequest):
    """What to change in a saved prompt; a part left out stays as it is."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"title": "Summarize briefly"}]})

    command: str | None = Field(default=None, description="A new command (unique among your prompts: 409).")
    title: str | None = Field(default=None, description="A new title.")
    text: str | None = Field(default=None, description="A new text.")
    shared: bool | None = Field(default=None, description="Offer it to every user, or stop (admins only).")


class Prompt(Schema):
    id: DatabaseId
    command: str = Field(description="Without its slash.")
    title: str
    text: str
    shared: bool
    mine: bool = Field(description="Yours (false: shared with everyone by an administrator).")
    created_at: Timestamp
    updated_at: Timestamp

    @classmethod
    def of(cls, source: Any, *, user_id: int) -> Self:  # type: ignore[override]
        """`source` is a saved prompt; `user_id` the token owner's, who may or may not be its author."""
        return cls.model_validate(
            {
                "id": source.id,
                "command": source.command,
                "title": source.title,
                "text": source.text,
                "shared": source.shared,
                "mine": source.user_id == user_id,
                "created_at": source.created_at,
                "updated_at": source.updated_at,
            }
        )


class PromptList(Schema):
    """Your prompts and those shared with everyone, by command (what the message box offers after '/')."""

    prompts: list[Prompt]
