"""Governance's JSON bodies: the API's refusals for a model the user's groups do not allow, and over a budget."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from webapp.schemas import DatabaseId, ErrorBody


class ModelRefused(ErrorBody):
    """403: your groups do not allow this model; `allowed_models` names those you may use."""

    allowed_models: list[str] = Field(description="`provider:model` of each model you may use (maybe none).")


class ReachedLimit(BaseModel):
    scope: Literal["user", "group"] = Field(description="Your own limit, or one of your groups'.")
    name: str = Field(description="Your email, or the group's name.")
    monthly_tokens: int | None
    monthly_requests: int | None
    tokens: int = Field(description="Your tokens this month.")
    requests: int = Field(description="Your requests this month.")


class OverBudget(ErrorBody):
    """429: a monthly limit is reached. Nothing was sent to the model; your message is kept (`message_id` is its
    reply, which says why). Once the limit allows, `POST` to `retry` (the regenerate operation) to have the kept
    message answered; sending the same message to the same conversation again does the same. Neither stores it a
    second time."""

    limit: ReachedLimit
    resets_at: str = Field(description="When the limit resets: 00:00 UTC on the 1st of next month (ISO 8601).")
    conversation_id: DatabaseId | None = None
    message_id: DatabaseId | None = None
    retry: str | None = Field(
        default=None,
        description="`/api/messages/{message_id}/regenerate`: POST here (same body as regenerate) to ask the model "
        "about the kept message once the limit allows, without storing it again.",
    )
