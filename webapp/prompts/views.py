"""/prompts: the user's library of saved prompts (and the ones admins share with everyone)."""

from __future__ import annotations

from flask import flash, redirect, render_template, url_for
from flask_login import current_user, login_required

from webapp.errors import Refused, show_beside_field
from webapp.prompts import bp, service
from webapp.prompts.forms import DeleteForm, PromptForm


def render_library(form: PromptForm, status: int = 200):
    return (
        render_template("prompts/index.html", form=form, library=service.library(current_user)),
        status,
    )


@bp.get("")
@login_required
def index():
    return render_library(PromptForm(formdata=None))


@bp.post("")
@login_required
def create():
    form = PromptForm()
    if not form.validate_on_submit():
        return render_library(form, 400)
    try:
        prompt = service.create_prompt(
            current_user, form.command.data, form.title.data, form.text.data, shared=form.shared.data
        )
    except Refused as refusal:
        show_beside_field(form, refusal)
        return render_library(form, refusal.status)
    flash(f"The prompt /{prompt.command} is saved: type /{prompt.command} in a message to use it.", "success")
    return redirect(url_for("prompts.index"), 303)


@bp.get("/<int:prompt_id>/edit")
@login_required
def edit(prompt_id: int):
    prompt = service.get_prompt(current_user, prompt_id)
    form = PromptForm(formdata=None, obj=prompt)
    form.command.data = f"/{prompt.command}"
    return render_template("prompts/edit.html", form=form, prompt=prompt)


@bp.post("/<int:prompt_id>/edit")
@login_required
def update(prompt_id: int):
    prompt = service.get_prompt(current_user, prompt_id)
    form = PromptForm()
    if form.validate_on_submit():
        try:
            prompt = service.update_prompt(
                current_user,
                prompt_id,
                command=form.command.data,
                title=form.title.data,
                text=form.text.data,
                # Only admins see the box; a staff form without it leaves the prompt as it is.
                shared=form.shared.data if current_user.is_admin else None,
            )
        except Refused as refusal:
            show_beside_field(form, refusal)
            return render_template("prompts/edit.html", form=form, prompt=prompt), refusal.status
        flash(f"The prompt /{prompt.command} is saved.", "success")
        return redirect(url_for("prompts.index"), 303)
    return render_template("prompts/edit.html", form=form, prompt=prompt), 400


@bp.post("/<int:prompt_id>/delete")
@login_required
def delete(prompt_id: int):
    if DeleteForm().validate_on_submit():
        command = service.delete_prompt(current_user, prompt_id)
        flash(f"The prompt /{command} is deleted.", "success")
    return redirect(url_for("prompts.index"), 303)
