"""schemathesis against the app: requests generated from /api/openapi.json for every operation, valid and invalid,
sent with a real API token (chat to the local OpenAI protocol server, files to local disk, faces to the offline
engine), on SQLite and PostgreSQL. Each answer must be no server error, with a documented status code and content
type, and a body valid against its schema.
"""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest
import schemathesis
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.specs.openapi.schemas import OpenApiSchema

from tests.support.apps import build_app
from tests.support.chat import chat_settings, reset
from tests.support.exports import as_bytes, chatgpt_branched
from tests.support.faces import photo_bytes
from tests.support.factories import make_token, make_user
from tests.support.web import bearer
from webapp import create_app
from webapp.extensions import db

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
EXAMPLES_PER_OPERATION = 20


def seed(client: FlaskClient, token: str) -> None:
    """Something to find for the token's owner: a document (file 1), a photo (file 2), a conversation (1), a
    project (1), a saved prompt (1).

    The photo is not file 1: generated ids are most often 1, and each hit on a photo runs the face engine."""
    for name, content in [("notes.txt", b"plain notes\n"), ("obama.jpg", photo_bytes("obama.jpg"))]:
        response = client.post(
            "/api/upload",
            headers=bearer(token),
            content_type="multipart/form-data",
            data={"file": (io.BytesIO(content), name)},
        )
        assert response.status_code == 201, response.get_json()
    assert client.post("/api/chat", headers=bearer(token), json={"message": "Hello"}).status_code == 200
    prompt = {"command": "notes", "title": "Notes", "text": "Take notes:"}
    assert client.post("/api/prompts", headers=bearer(token), json=prompt).status_code == 201
    assert client.post("/api/projects", headers=bearer(token), json={"name": "Seeded"}).status_code == 201


def load_schema() -> OpenApiSchema:
    """The document as the app serves it. Paths come from the URL map, which no setting changes, so one app
    built here (pytest parametrizes at collection, before any fixture) describes the app of every test."""
    app = create_app("testing", {"SQLALCHEMY_DATABASE_URI": "sqlite://"})
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", app)
    # Valid and invalid requests (wrong types, missing fields): either way never a 500, always as documented.
    schema.config.generation.update(
        max_examples=EXAMPLES_PER_OPERATION, deterministic=True, modes=["positive", "negative"]
    )
    return schema


# Eager, not schemathesis.pytest.from_fixture: its lazy loader sets a private attribute pytest 9 removed.
schema = load_schema()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, openai_server
) -> Iterator[tuple[Flask, str]]:
    """One seeded app per database for every operation, keeping its state between requests like a server
    (a fresh app per operation would spend more time on set-up than on the requests)."""
    folder = tmp_path_factory.mktemp("contract")
    if request.param == "postgresql":
        url = request.getfixturevalue("postgres_url")  # skips when TEST_DATABASE_URL is unset
    else:
        url = f"sqlite:///{folder / 'contract.db'}"
    reset(openai_server)
    app = build_app(folder, url, chat_settings(openai_server))
    with app.app_context():
        db.drop_all()
        db.create_all()
    token = make_token(app, make_user(app), "schemathesis")
    seed(app.test_client(), token)
    yield app, token
    with app.app_context():
        db.session.remove()
        db.drop_all()
        db.engine.dispose()


@schema.parametrize()
# No deadline: a chat or a face job takes longer than hypothesis' default 200 ms.
@settings(suppress_health_check=[HealthCheck.too_slow], deadline=None)
def test_every_operation_keeps_the_contract(case, served: tuple[Flask, str]):
    app, token = served
    case.call_and_validate(app=app, headers=bearer(token), checks=CHECKS)


@pytest.fixture
def app_overrides(openai_server):
    reset(openai_server)
    return chat_settings(openai_server)


# A request each operation should answer with success, against the `seed` data (in a fresh app of its own).
# Generated requests mostly miss (random ids are 404s, random bytes are not photos), so these make sure every
# success body is checked too.
KNOWN_GOOD: dict[tuple[str, str], dict] = {
    ("GET", "/api/health"): {},
    ("GET", "/api/openapi.json"): {},
    ("GET", "/api/docs"): {},
    ("GET", "/api/me"): {},
    ("GET", "/api/usage"): {},
    ("POST", "/api/chat"): {"body": {"message": "Hello again", "conversation_id": 1}, "media_type": "application/json"},
    ("GET", "/api/conversations"): {"query": {"q": "Hello", "per_page": 10}},
    ("POST", "/api/projects"): {
        "body": {"name": "Grant", "instructions": "Be formal.", "model": "gpt-4o"},
        "media_type": "application/json",
    },
    ("GET", "/api/projects"): {},
    ("GET", "/api/projects/{project_id}"): {"path_parameters": {"project_id": 1}},
    ("PATCH", "/api/projects/{project_id}"): {
        "path_parameters": {"project_id": 1},
        "body": {"name": "Seeded, renamed"},
        "media_type": "application/json",
    },
    ("DELETE", "/api/projects/{project_id}"): {"path_parameters": {"project_id": 1}},
    ("GET", "/api/conversations/{conversation_id}"): {"path_parameters": {"conversation_id": 1}},
    ("POST", "/api/conversations/{conversation_id}/share"): {
        "path_parameters": {"conversation_id": 1},
        "body": {"days": 7},
        "media_type": "application/json",
    },
    ("DELETE", "/api/conversations/{conversation_id}/share"): {"path_parameters": {"conversation_id": 1}},
    ("DELETE", "/api/conversations/{conversation_id}"): {"path_parameters": {"conversation_id": 1}},
    ("GET", "/api/prompts"): {},
    ("POST", "/api/prompts"): {
        "body": {"command": "tldr", "title": "TL;DR", "text": "Sum up:"},
        "media_type": "application/json",
    },
    ("PATCH", "/api/prompts/{prompt_id}"): {
        "path_parameters": {"prompt_id": 1},
        "body": {"title": "Short notes"},
        "media_type": "application/json",
    },
    ("DELETE", "/api/prompts/{prompt_id}"): {"path_parameters": {"prompt_id": 1}},
    ("POST", "/api/conversations/import"): {
        "body": {"file": as_bytes([chatgpt_branched()])},
        "media_type": "multipart/form-data",
    },
    ("POST", "/api/upload"): {"body": {"file": b"more notes\n"}, "media_type": "multipart/form-data"},
    ("GET", "/api/files"): {"query": {"kind": "image"}},
    ("GET", "/api/files/{file_id}"): {"path_parameters": {"file_id": 2}},
    ("GET", "/api/files/{file_id}/url"): {"path_parameters": {"file_id": 1}},
    ("DELETE", "/api/files/{file_id}"): {"path_parameters": {"file_id": 1}},
    ("POST", "/api/face/verify"): {"body": {"image1": 2, "image2": 2}, "media_type": "application/json"},
    ("GET", "/api/face/verify/{row_id}"): {"path_parameters": {"row_id": 1}},
    ("POST", "/api/face/analyze"): {"body": {"image": 2}, "media_type": "application/json"},
    ("GET", "/api/face/analyze/{row_id}"): {"path_parameters": {"row_id": 1}},
    # People: the photo (file 2) is indexed by the search; its one face (face 1) names person 1.
    ("GET", "/api/face/index"): {},
    ("POST", "/api/face/search"): {"body": {"file_id": 2}, "media_type": "application/json"},
    ("POST", "/api/people"): {"body": {"name": "Obama", "file_ids": [2]}, "media_type": "application/json"},
    ("GET", "/api/people"): {},
    ("GET", "/api/people/{person_id}"): {"path_parameters": {"person_id": 1}},
    ("PATCH", "/api/people/{person_id}"): {
        "path_parameters": {"person_id": 1},
        "body": {"name": "Barack Obama"},
        "media_type": "application/json",
    },
    ("POST", "/api/people/{person_id}/split"): {
        "path_parameters": {"person_id": 1},
        "body": {"face_ids": [1], "name": "Someone else"},
        "media_type": "application/json",
    },
    ("POST", "/api/people/{person_id}/merge"): {
        "path_parameters": {"person_id": 2},
        "body": {"into": 1},
        "media_type": "application/json",
    },
    ("DELETE", "/api/people/{person_id}"): {"path_parameters": {"person_id": 1}},
}


def test_every_operation_answers_a_good_request_by_the_contract(app: Flask, client: FlaskClient, staff_token: str):
    seed(client, staff_token)
    documented = {(method.upper(), path) for path, item in schema.raw_schema["paths"].items() for method in item}
    assert set(KNOWN_GOOD) == documented, "every documented operation needs a known-good request here"
    for (method, path), request in KNOWN_GOOD.items():  # in order: the result reads follow the jobs
        case = schema[path][method].Case(**request)
        response = case.call_and_validate(app=app, headers=bearer(staff_token), checks=CHECKS)
        assert 200 <= response.status_code < 300, (method, path, response.status_code, response.text[:300])
