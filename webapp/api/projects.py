"""Projects over the JSON API: the same service as the pages."""

from __future__ import annotations

from flask import url_for

from webapp.api import bp
from webapp.api.auth import api_user
from webapp.api.spec import operation
from webapp.projects import service
from webapp.projects.schemas import Project, ProjectChanges, ProjectList, ProjectRequest


@bp.post("/projects")
@operation(
    "projects", (201, Project, "The new project; `Location` is where to read it."), 400, 413, json=ProjectRequest
)
def create_project(json: ProjectRequest):
    """Create a project

    A named folder of conversations: its instructions go to the model before each conversation's own system
    prompt, and its model is the default of the conversations started in it (`project_id` of POST /api/chat)."""
    project = service.create_project(api_user(), json.name, json.instructions, json.model)
    return Project.of(project), 201, {"Location": url_for("api.project", project_id=project.id)}


@bp.get("/projects")
@operation("projects", (200, ProjectList, "Your projects, by name."))
def projects() -> ProjectList:
    """Your projects"""
    user = api_user()
    counts = service.conversation_counts(user)
    return ProjectList(
        projects=[
            Project.of(project, conversation_count=counts.get(project.id, 0)) for project in service.list_projects(user)
        ]
    )


@bp.get("/projects/<int:project_id>")
@operation("projects", (200, Project, "The project."), 404)
def project(project_id: int) -> Project:
    """One project"""
    user = api_user()
    found = service.get_project(user, project_id)
    return Project.of(found, conversation_count=service.conversation_counts(user).get(found.id, 0))


@bp.patch("/projects/<int:project_id>")
@operation("projects", (200, Project, "The project as changed."), 400, 404, 413, json=ProjectChanges)
def update_project(project_id: int, json: ProjectChanges) -> Project:
    """Rename a project, or change its instructions or default model

    Only the fields sent change."""
    user = api_user()
    changed = service.update_project(user, project_id, json.model_dump(include=json.model_fields_set))
    return Project.of(changed, conversation_count=service.conversation_counts(user).get(changed.id, 0))


@bp.delete("/projects/<int:project_id>")
@operation("projects", (204, "Deleted; its conversations are kept, in no project."), 404)
def delete_project(project_id: int):
    """Delete a project

    Its conversations move out of it (they are kept)."""
    service.delete_project(api_user(), project_id)
    return "", 204
