"""Projects: named folders of conversations whose instructions reach the model before a conversation's own system
prompt and whose default model starts their new chats; created, renamed, deleted (their chats move out) and
filled from the pages and the API, on SQLite and PostgreSQL. Another user's project is a 404 everywhere."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from sqlalchemy import select

from tests.support.apps import build_app
from tests.support.chat import ChatClient, chat_settings, reset, stored_conversation, stored_counts
from tests.support.factories import make_conversation, make_project
from tests.support.web import bearer, csrf_token
from webapp.chat.models import Conversation
from webapp.extensions import db


@pytest.fixture
def app_overrides(openai_server):
    reset(openai_server)
    return chat_settings(openai_server)


@pytest.fixture
def api(client, staff_token):
    def call(method: str, url: str, **kwargs):
        return client.open(url, method=method, headers=bearer(staff_token), **kwargs)

    return call


def sent_messages(openai_server) -> list[dict]:
    return openai_server.last_request.body["messages"]


@pytest.mark.both_databases
def test_a_project_is_created_listed_renamed_and_deleted_through_the_api_and_its_chats_move_out(app, api, db_backend):
    created = api("POST", "/api/projects", json={"name": "Grant", "instructions": "Be formal.", "model": "gpt-4o"})
    assert created.status_code == 201, created.get_json()
    project = created.get_json()
    assert project["name"] == "Grant" and project["instructions"] == "Be formal."
    assert project["model"] == "openai:gpt-4o" and project["conversation_count"] == 0
    assert created.headers["Location"].endswith(f"/api/projects/{project['id']}")

    chat = api("POST", "/api/chat", json={"message": "Draft the summary", "project_id": project["id"]}).get_json()
    assert chat["model"] == "gpt-4o"
    listed = api("GET", "/api/projects").get_json()["projects"]
    assert [(item["name"], item["conversation_count"]) for item in listed] == [("Grant", 1)]
    assert api("GET", f"/api/conversations/{chat['conversation_id']}").get_json()["project_id"] == project["id"]

    renamed = api("PATCH", f"/api/projects/{project['id']}", json={"name": "Grant 2026", "instructions": None})
    assert renamed.status_code == 200
    assert renamed.get_json()["name"] == "Grant 2026" and renamed.get_json()["instructions"] is None
    assert renamed.get_json()["model"] == "openai:gpt-4o", "a field not sent stays as it was"

    assert api("DELETE", f"/api/projects/{project['id']}").status_code == 204
    assert api("GET", f"/api/projects/{project['id']}").status_code == 404
    kept = stored_conversation(app, chat["conversation_id"])
    assert kept is not None and kept.project_id is None and len(kept.messages) == 2


@pytest.mark.both_databases
def test_the_project_instructions_come_before_the_conversation_system_prompt(app, api, openai_server, db_backend):
    project = api("POST", "/api/projects", json={"name": "French", "instructions": "Answer in French."}).get_json()

    first = api("POST", "/api/chat", json={"message": "Hi", "system": "Be brief.", "project_id": project["id"]})
    assert first.status_code == 200
    assert sent_messages(openai_server)[0] == {"role": "system", "content": "Answer in French.\n\nBe brief."}

    api("PATCH", f"/api/projects/{project['id']}", json={"instructions": "Answer in German."})
    api("POST", "/api/chat", json={"message": "Again", "conversation_id": first.get_json()["conversation_id"]})
    assert sent_messages(openai_server)[0] == {"role": "system", "content": "Answer in German.\n\nBe brief."}

    outside = api("POST", "/api/chat", json={"message": "Elsewhere", "system": "Be brief."})
    assert outside.status_code == 200
    assert sent_messages(openai_server)[0] == {"role": "system", "content": "Be brief."}


def test_a_conversation_moved_into_a_project_gets_its_instructions_from_the_next_reply(
    app, staff, staff_client, openai_server
):
    project = make_project(app, staff, "Legal", instructions="Cite the clause.")
    conversation = make_conversation(app, staff, 2)
    chat = ChatClient(staff_client)

    moved = chat.post(f"/projects/conversations/{conversation.id}/move", {"project_id": str(project.id)}, htmx=False)
    assert moved.status_code == 303 and moved.headers["Location"].endswith(f"/chat/{conversation.id}")
    chat.stream(chat.send(conversation.id, "And now?"))
    assert sent_messages(openai_server)[0] == {"role": "system", "content": "Cite the clause."}

    chat.post(f"/projects/conversations/{conversation.id}/move", {"project_id": "", "next": "/history"}, htmx=False)
    assert stored_conversation(app, conversation.id).project_id is None
    chat.stream(chat.send(conversation.id, "Without it?"))
    assert sent_messages(openai_server)[0]["role"] == "user"


def test_a_new_chat_in_a_project_starts_with_its_default_model_unless_another_is_chosen(
    app, staff, staff_client, openai_server
):
    project = make_project(app, staff, "Big model", model="openai:gpt-4o")
    page = staff_client.get(f"/chat?project={project.id}").get_data(as_text=True)
    assert 'In the project <a href="/projects/' in page and "Big model" in page
    assert f'name="project_id" type="hidden" value="{project.id}"' in page
    assert '<option selected value="openai:gpt-4o">' in page

    chat = ChatClient(staff_client)
    chat.start("Outside")
    chat.start("In the project", project_id=project.id)
    chat.start("Chosen", model="openai:gpt-4o-mini", project_id=project.id)
    with app.app_context():
        rows = db.session.execute(select(Conversation.project_id, Conversation.model).order_by(Conversation.id))
        assert [tuple(row) for row in rows] == [
            (None, "gpt-4o-mini"),
            (project.id, "gpt-4o"),
            (project.id, "gpt-4o-mini"),
        ]


def test_a_default_model_no_longer_offered_falls_back_to_the_app_default(
    app, staff, staff_token, openai_server, tmp_path, database_url
):
    project = make_project(app, staff, "Old model", model="openai:gpt-4o")
    # The same database after a restart that offers one model only.
    restarted = build_app(tmp_path, database_url, chat_settings(openai_server, OPENAI_MODELS="gpt-4o-mini"))
    reply = restarted.test_client().post(
        "/api/chat", json={"message": "Still works?", "project_id": project.id}, headers=bearer(staff_token)
    )
    assert reply.status_code == 200, reply.get_json()
    assert reply.get_json()["model"] == "gpt-4o-mini"
    with restarted.app_context():
        db.engine.dispose()


@pytest.mark.both_databases
def test_another_users_project_is_a_404_everywhere_and_nothing_is_stored(
    app, api, other_staff, staff, client, db_backend
):
    theirs = make_project(app, other_staff, "Theirs", instructions="Secret plans")
    make_conversation(app, staff, 2)
    before = stored_counts(app)

    for method, url, body in [
        ("GET", f"/api/projects/{theirs.id}", None),
        ("PATCH", f"/api/projects/{theirs.id}", {"name": "Taken"}),
        ("DELETE", f"/api/projects/{theirs.id}", None),
        ("POST", "/api/chat", {"message": "Hello", "project_id": theirs.id}),
        ("POST", "/api/chat", {"message": "Hello", "project_id": theirs.id, "temporary": True}),
    ]:
        response = api(method, url, json=body) if body is not None else api(method, url)
        assert response.status_code == 404, (method, url, response.get_json())
        assert "Secret" not in response.get_data(as_text=True)
    assert api("GET", "/api/projects").get_json() == {"projects": []}
    assert stored_counts(app) == before
    assert make_project(app, other_staff, "Theirs 2").name == "Theirs 2"


def test_moving_a_conversation_into_another_users_project_is_a_404(app, staff, other_staff, staff_client):
    theirs = make_project(app, other_staff, "Theirs")
    mine = make_conversation(app, staff, 2)
    response = ChatClient(staff_client).post(
        f"/projects/conversations/{mine.id}/move", {"project_id": str(theirs.id)}, htmx=False
    )
    assert response.status_code == 404
    assert stored_conversation(app, mine.id).project_id is None


@pytest.mark.parametrize(
    "body, status, sentence",
    [
        ({"name": "  "}, 400, "Give the project a name."),
        ({"name": "x" * 201}, 400, "at most 200 characters"),
        ({"name": "Model", "model": "gpt-9"}, 400, "The model 'gpt-9' is not available here."),
        ({"name": "Long", "instructions": "x" * 200_001}, 413, "the limit is 200,000 characters"),
        ({"instructions": "no name"}, 400, "'name' is required."),
        ({"name": 7}, 400, "'name' must be a string."),
    ],
)
def test_a_refused_project_says_why_and_is_not_stored(app, api, staff, body, status, sentence):
    make_project(app, staff, "Kept")
    response = api("POST", "/api/projects", json=body)
    assert response.status_code == status, response.get_json()
    assert sentence in response.get_json()["error"]
    assert len(api("GET", "/api/projects").get_json()["projects"]) == 1


def test_a_patch_changes_only_what_it_sends_and_blank_clears(app, api, staff):
    project = make_project(app, staff, "One", instructions="Be brief.", model="openai:gpt-4o")
    changed = api("PATCH", f"/api/projects/{project.id}", json={"model": ""}).get_json()
    assert (changed["name"], changed["instructions"], changed["model"]) == ("One", "Be brief.", None)
    refused = api("PATCH", f"/api/projects/{project.id}", json={"name": None})
    assert refused.status_code == 400 and "Give the project a name." in refused.get_json()["error"]


def test_the_pages_create_show_edit_and_delete_a_project(app, staff, staff_client):
    token = csrf_token(staff_client, "/projects")
    refused = staff_client.post("/projects", data={"csrf_token": token, "name": " "})
    assert refused.status_code == 400 and "Give the project a name." in refused.get_data(as_text=True)

    created = staff_client.post(
        "/projects", data={"csrf_token": token, "name": "Launch", "instructions": "Be upbeat.", "model": ""}
    )
    assert created.status_code == 303
    project_url = created.headers["Location"]
    project_id = int(project_url.rsplit("/", 1)[1])
    make_conversation(app, staff, 2, title="Press release", project=SimpleNamespace(id=project_id))
    make_conversation(app, staff, 2, title="Elsewhere")

    page = staff_client.get(project_url).get_data(as_text=True)
    assert "<h1>Launch</h1>" in page and "Be upbeat." in page
    assert "Press release" in page and "Elsewhere" not in page
    assert f"/chat?project={project_id}" in page

    index = staff_client.get("/projects").get_data(as_text=True)
    assert "Launch" in index
    history = staff_client.get("/history").get_data(as_text=True)
    assert f'in <a href="/projects/{project_id}">Launch</a>' in history
    sidebar = staff_client.get("/chat").get_data(as_text=True)
    assert f'href="/projects/{project_id}"' in sidebar

    edited = staff_client.post(
        f"{project_url}/edit", data={"csrf_token": token, "name": "Launch v2", "instructions": "", "model": ""}
    )
    assert edited.status_code == 303
    deleted = staff_client.post(f"{project_url}/delete", data={"csrf_token": token}, follow_redirects=True)
    assert "Deleted the project “Launch v2”. Its conversation stays in your history." in deleted.get_data(as_text=True)
    assert "Press release" in staff_client.get("/history").get_data(as_text=True)


def test_a_conversation_page_shows_its_project_and_moves_it_from_there_and_from_history(app, staff, staff_client):
    project = make_project(app, staff, "Research")
    conversation = make_conversation(app, staff, 2, title="Sources", project=project)
    page = staff_client.get(f"/chat/{conversation.id}").get_data(as_text=True)
    assert "In the project" in page and "Research" in page
    assert f'<option value="{project.id}" selected>Research</option>' in page

    token = csrf_token(staff_client, "/history")
    moved = staff_client.post(
        f"/projects/conversations/{conversation.id}/move",
        data={"csrf_token": token, "project_id": "", "next": "/history?q=Sources"},
    )
    assert moved.status_code == 303 and moved.headers["Location"].endswith("/history?q=Sources")
    assert stored_conversation(app, conversation.id).project_id is None
    bad = staff_client.post(
        f"/projects/conversations/{conversation.id}/move", data={"csrf_token": token, "project_id": "abc"}
    )
    assert bad.status_code == 400 and "The project must be given by its number" in bad.get_data(as_text=True)
