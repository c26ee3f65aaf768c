"""Saved prompts over the JSON API: the same service as the library page."""

from __future__ import annotations

from webapp.api import bp
from webapp.api.auth import api_user
from webapp.api.spec import operation
from webapp.prompts import service
from webapp.prompts.schemas import Prompt, PromptChange, PromptList, PromptRequest

FORBIDDEN = (
    403,
    "Only an administrator can share a prompt with everyone; or the token's scopes do not cover this operation "
    "(`error` says which).",
)
TAKEN = (409, "You already have a prompt with this command.")


@bp.get("/prompts")
@operation("prompts", (200, PromptList, "Your prompts and the shared ones."))
def prompts() -> PromptList:
    """Your saved prompts, and those shared with everyone

    In the order the message box offers them after '/': by command, yours first where a command is taken twice."""
    user = api_user()
    library = service.library(user)
    rows = sorted([*library.own, *library.shared], key=lambda row: (row.command, row.user_id != user.id))
    return PromptList(prompts=[Prompt.of(row, user_id=user.id) for row in rows])


@bp.post("/prompts")
@operation("prompts", (201, Prompt, "Saved."), 400, FORBIDDEN, TAKEN, 413, json=PromptRequest)
def create_prompt(json: PromptRequest):
    """Save a prompt"""
    user = api_user()
    prompt = service.create_prompt(user, json.command, json.title, json.text, shared=json.shared)
    return Prompt.of(prompt, user_id=user.id), 201


@bp.patch("/prompts/<int:prompt_id>")
@operation("prompts", (200, Prompt, "Saved."), 400, FORBIDDEN, 404, TAKEN, 413, json=PromptChange)
def update_prompt(prompt_id: int, json: PromptChange) -> Prompt:
    """Change one of your prompts"""
    user = api_user()
    prompt = service.update_prompt(
        user, prompt_id, command=json.command, title=json.title, text=json.text, shared=json.shared
    )
    return Prompt.of(prompt, user_id=user.id)


@bp.delete("/prompts/<int:prompt_id>")
@operation("prompts", (204, "Deleted."), 404)
def delete_prompt(prompt_id: int):
    """Delete one of your prompts"""
    service.delete_prompt(api_user(), prompt_id)
    return "", 204
