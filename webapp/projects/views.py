"""/projects: list and create projects, a project's page (its chats, its settings), move a conversation in or out."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from webapp.errors import Refused, show_beside_field
from webapp.projects import bp, service
from webapp.projects.forms import ProjectForm
from webapp.security import safe_next_url


def render_index(form: ProjectForm, status: int = 200):
    return render_template(
        "projects/index.html",
        projects=service.list_projects(current_user),
        counts=service.conversation_counts(current_user),
        form=form,
    ), status


@bp.get("")
@login_required
def index():
    return render_index(ProjectForm(formdata=None).offer_models())


@bp.post("")
@login_required
def create():
    form = ProjectForm().offer_models()
    if form.validate_on_submit():
        try:
            project = service.create_project(current_user, form.name.data, form.instructions.data, form.model.data)
        except Refused as refusal:
            show_beside_field(form, refusal)
        else:
            flash(f"Created the project “{project.name}”.", "success")
            return redirect(url_for("projects.detail", project_id=project.id), 303)
    return render_index(form, 400)


def render_detail(project, form: ProjectForm, status: int = 200):
    return render_template(
        "projects/detail.html",
        project=project,
        page=service.project_conversations(current_user, project, request.args.get("page", 1, type=int)),
        form=form,
    ), status


def edit_form(project) -> ProjectForm:
    form = ProjectForm(formdata=None, name=project.name, instructions=project.instructions, model=project.model or "")
    form.submit.label.text = "Save"
    return form.offer_models()


@bp.get("/<int:project_id>")
@login_required
def detail(project_id: int):
    project = service.get_project(current_user, project_id)
    return render_detail(project, edit_form(project))


@bp.post("/<int:project_id>/edit")
@login_required
def edit(project_id: int):
    project = service.get_project(current_user, project_id)
    form = ProjectForm().offer_models()
    form.submit.label.text = "Save"
    if form.validate_on_submit():
        changes = {"name": form.name.data, "instructions": form.instructions.data, "model": form.model.data}
        try:
            service.update_project(current_user, project.id, changes)
        except Refused as refusal:
            show_beside_field(form, refusal)
        else:
            flash("Saved.", "success")
            return redirect(url_for("projects.detail", project_id=project.id), 303)
    return render_detail(project, form, 400)


@bp.post("/<int:project_id>/delete")
@login_required
def delete(project_id: int):
    name = service.get_project(current_user, project_id).name
    moved = service.delete_project(current_user, project_id)
    kept = {0: "", 1: " Its conversation stays in your history."}.get(
        moved, f" Its {moved} conversations stay in your history."
    )
    flash(f"Deleted the project “{name}”.{kept}", "success")
    return redirect(url_for("projects.index"), 303)


@bp.post("/conversations/<int:conversation_id>/move")
@login_required
def move(conversation_id: int):
    """Into the project chosen (`project_id`), or out of any (blank); back to the page it was done from."""
    project_id = service.parse_project_id(request.form.get("project_id"))
    conversation = service.move_conversation(current_user, conversation_id, project_id)
    if project_id is None:
        flash(f"Moved “{conversation.title}” out of its project.", "success")
    else:
        flash(f"Moved “{conversation.title}” to “{service.get_project(current_user, project_id).name}”.", "success")
    back = safe_next_url(request.form.get("next"))
    return redirect(back or url_for("chat.conversation", conversation_id=conversation.id), 303)
