"""Projects' JSON bodies: what POST and PATCH /api/projects take, and a project as the API writes it."""

from __future__ import annotations

from typing import Any, Self

from pydantic import ConfigDict, Field

from webapp.schemas import DatabaseId, JsonRequest, Schema, Timestamp


class ProjectRequest(JsonRequest):
    """A new project."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"name": "Grant proposal", "instructions": "Answer in British English."}]}
    )

    name: str = Field(description="Its name (unique among your projects, at most 200 characters).")
    instructions: str | None = Field(
        default=None, description="Sent to the model as the system prompt, before each conversation's own."
    )
    model: str | None = Field(
        default=None,
        description="The model new conversations of the project start with (`provider:model`, or a bare model "
        "name); empty: the app's default.",
    )


class ProjectChanges(JsonRequest):
    """What to change in a project: only the fields sent change (`null` or "" clears instructions and model)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"name": "Grant proposal, round 2"}]})

    name: str | None = Field(default=None, description="A new name.")
    instructions: str | None = Field(default=None, description='New instructions; `null` or "" removes them.')
    model: str | None = Field(default=None, description='A new default model; `null` or "" is the app\'s default.')


class Project(Schema):
    id: DatabaseId
    name: str
    instructions: str | None
    model: str | None = Field(description="The default model of its new conversations; null: the app's default.")
    conversation_count: int = Field(ge=0, description="How many of your conversations are in it.")
    created_at: Timestamp
    updated_at: Timestamp

    @classmethod
    def of(cls, source: Any, *, conversation_count: int = 0) -> Self:  # type: ignore[override]
        """`source` is a project row."""
        return cls(
            id=source.id,
            name=source.name,
            instructions=source.instructions,
            model=source.model,
            conversation_count=conversation_count,
            created_at=source.created_at,
            updated_at=source.updated_at,
        )


class ProjectList(Schema):
    projects: list[Project]
