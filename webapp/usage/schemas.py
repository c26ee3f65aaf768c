"""Usage's JSON body: GET /api/usage, the caller's month against their limits."""

from __future__ import annotations

from typing import Any, Literal, Self

from pydantic import Field

from webapp.schemas import Schema


class LimitFigures(Schema):
    scope: Literal["user", "group"] = Field(description="Your own limit, or one of your groups'.")
    name: str = Field(description="Your email, or the group's name.")
    monthly_tokens: int | None = Field(description="Tokens a month; null when this limit counts only requests.")
    remaining: int | None = Field(description="Tokens left this month under this limit (never below 0).")
    monthly_requests: int | None
    requests_remaining: int | None


class ModelFigures(Schema):
    model: str = Field(description="`provider:model`.")
    tokens: int
    prompt_tokens: int
    completion_tokens: int
    requests: int


class DayFigures(Schema):
    day: str = Field(description="A UTC day, YYYY-MM-DD; every day of the month so far is listed.")
    tokens: int
    requests: int


class UsageReport(Schema):
    """Your use of the models this UTC month, against every limit that applies to you."""

    month: str = Field(description="The UTC month, YYYY-MM.", examples=["2026-12"])
    resets_at: str = Field(description="When the month's limits reset: 00:00 UTC on the 1st of next month.")
    tokens: int = Field(description="Tokens the providers reported for your requests this month.")
    requests: int = Field(description="Requests admitted to a model this month (those still running included).")
    limits: list[LimitFigures]
    by_model: list[ModelFigures]
    by_day: list[DayFigures]

    @classmethod
    def of(cls, source: Any, *, report: Any) -> Self:  # type: ignore[override]
        """`source` is the user's BudgetStatus, `report` their month's usage report."""
        return cls(
            month=source.month,
            resets_at=source.resets_at.isoformat().replace("+00:00", "Z"),
            tokens=source.tokens,
            requests=source.requests,
            limits=[
                LimitFigures(
                    scope=status.limit.scope,
                    name=status.limit.name,
                    monthly_tokens=status.limit.monthly_tokens,
                    remaining=status.remaining,
                    monthly_requests=status.limit.monthly_requests,
                    requests_remaining=status.requests_remaining,
                )
                for status in source.limits
            ],
            by_model=[
                ModelFigures(
                    model=line.key,
                    tokens=line.tokens,
                    prompt_tokens=line.prompt_tokens,
                    completion_tokens=line.completion_tokens,
                    requests=line.requests,
                )
                for line in report.models
            ],
            by_day=[DayFigures(day=line.key, tokens=line.tokens, requests=line.requests) for line in report.days],
        )
