"""Sharing's JSON bodies: what POST /api/conversations/<id>/share takes and answers."""

from __future__ import annotations

from pydantic import ConfigDict, Field

from webapp.schemas import JsonRequest, Schema, Timestamp


class ShareRequest(JsonRequest):
    """How long the link works; the body may be left out (then SHARE_DEFAULT_DAYS)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"days": 7}]})

    days: int | None = Field(
        default=None,
        ge=1,
        description="Days from now; SHARE_DEFAULT_DAYS (30) when left out, at most SHARE_MAX_DAYS (more is a 400).",
    )


class ShareLink(Schema):
    """The link to send: it opens for anyone signed in to this Workbench until `expires_at`."""

    url: str = Field(description="The share's address; the same when a live share is updated.")
    expires_at: Timestamp
