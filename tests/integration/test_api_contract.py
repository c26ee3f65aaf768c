"""The API contract: /api/openapi.json describes every /api route and nothing else, is valid OpenAPI 3.1, and the
app keeps to it. schemathesis generates requests for every operation from the document, sends them with a real
token to the app (chat to the local OpenAI protocol server, files to local disk, faces to the offline engine),
and checks each answer: no server error, status code and content type documented, body valid against its schema.
"""
from __future__ import annotations

import io

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, settings
from openapi_spec_validator import validate
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.specs.openapi.schemas import OpenApiSchema

from tests.chat_support import chat_settings, reset
from tests.faces_support import photo_bytes
from tests.helpers import bearer
from webapp import create_app
from webapp.api.openapi import route_operations
from webapp.api.operations import OPERATIONS
from webapp.bounds import MAX_DATABASE_ID

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
EXAMPLES_PER_OPERATION = 20


@pytest.fixture
def app_overrides(openai_server):
    reset(openai_server)
    return chat_settings(openai_server)


def document_operations(document: dict) -> set[tuple[str, str, str]]:
    return {
        (method.upper(), path, f"api.{operation['operationId']}")
        for path, item in document["paths"].items()
        for method, operation in item.items()
    }


def test_document_is_valid_openapi_3_1(client):
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    document = response.get_json()
    assert document["openapi"].startswith("3.1")
    validate(document)


def test_every_api_route_is_documented_and_every_documented_operation_is_routed(app: Flask, client):
    document = client.get("/api/openapi.json").get_json()
    routes = route_operations(app)
    assert routes, "the URL map has no /api routes"
    undocumented = sorted((method, path) for method, path, endpoint in routes if (endpoint, method) not in OPERATIONS)
    assert not undocumented, f"routes with no entry in webapp/api/operations.py: {undocumented}"
    stale = sorted(set(OPERATIONS) - {(endpoint, method) for method, _, endpoint in routes})
    assert not stale, f"entries in webapp/api/operations.py with no route: {stale}"
    assert document_operations(document) == routes


def test_every_error_response_uses_the_error_schema(client):
    document = client.get("/api/openapi.json").get_json()
    for path, item in document["paths"].items():
        for method, operation in item.items():
            for status, response in operation["responses"].items():
                if int(status) < 400:
                    continue
                schema = response["content"]["application/json"]["schema"]
                name = schema["$ref"].rsplit("/", 1)[-1]
                error_based = name == "Error" or {"$ref": "#/components/schemas/Error"} in (
                    document["components"]["schemas"][name].get("allOf", []))
                assert error_based, f"{method.upper()} {path} {status} answers {name}, not an Error"


@pytest.fixture
def seeded(app: Flask, client, staff_token: str) -> str:
    """Something to find for the token's owner: a photo (file 1), a document (file 2), a conversation (1)."""
    for name, content in [("obama.jpg", photo_bytes("obama.jpg")), ("notes.txt", b"plain notes\n")]:
        response = client.post("/api/upload", headers=bearer(staff_token), content_type="multipart/form-data",
                               data={"file": (io.BytesIO(content), name)})
        assert response.status_code == 201, response.get_json()
    assert client.post("/api/chat", headers=bearer(staff_token), json={"message": "Hello"}).status_code == 200
    return staff_token


def load_schema() -> OpenApiSchema:
    """The document as the app serves it. Paths come from the URL map, which no setting changes, so one app
    built here (pytest parametrizes at collection, before any fixture) describes the app of every test."""
    app = create_app("testing", {"SQLALCHEMY_DATABASE_URI": "sqlite://"})
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", app)
    # Valid and invalid requests (wrong types, missing fields): either way never a 500, always as documented.
    schema.config.generation.update(max_examples=EXAMPLES_PER_OPERATION, deterministic=True,
                                    modes=["positive", "negative"])
    return schema


# Eager, not schemathesis.pytest.from_fixture: its lazy loader sets a private attribute pytest 9 removed.
schema = load_schema()


@pytest.mark.both_databases
@schema.parametrize()
# One app per operation, shared by its examples like a running server's state; no deadline, a chat or a face
# job takes longer than hypothesis' default 200 ms.
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow], deadline=None)
def test_every_operation_keeps_the_contract(case, app: Flask, seeded: str, db_backend: str):
    case.call_and_validate(app=app, headers=bearer(seeded), checks=CHECKS)


# A request each operation should answer with success, against the `seeded` data. Generated requests mostly
# miss (random ids are 404s, random bytes are not photos), so these make sure every success body is checked too.
KNOWN_GOOD: dict[tuple[str, str], dict] = {
    ("GET", "/api/health"): {},
    ("GET", "/api/openapi.json"): {},
    ("GET", "/api/docs"): {},
    ("GET", "/api/me"): {},
    ("POST", "/api/chat"): {"body": {"message": "Hello again", "conversation_id": 1},
                            "media_type": "application/json"},
    ("GET", "/api/conversations"): {"query": {"q": "Hello", "per_page": 10}},
    ("GET", "/api/conversations/{conversation_id}"): {"path_parameters": {"conversation_id": 1}},
    ("DELETE", "/api/conversations/{conversation_id}"): {"path_parameters": {"conversation_id": 1}},
    ("POST", "/api/upload"): {"body": {"file": b"more notes\n"}, "media_type": "multipart/form-data"},
    ("GET", "/api/files"): {"query": {"kind": "image"}},
    ("GET", "/api/files/{file_id}"): {"path_parameters": {"file_id": 1}},
    ("GET", "/api/files/{file_id}/url"): {"path_parameters": {"file_id": 2}},
    ("DELETE", "/api/files/{file_id}"): {"path_parameters": {"file_id": 2}},
    ("POST", "/api/face/verify"): {"body": {"image1": 1, "image2": 1}, "media_type": "application/json"},
    ("GET", "/api/face/verify/{row_id}"): {"path_parameters": {"row_id": 1}},
    ("POST", "/api/face/analyze"): {"body": {"image": 1}, "media_type": "application/json"},
    ("GET", "/api/face/analyze/{row_id}"): {"path_parameters": {"row_id": 1}},
}


def test_every_operation_answers_a_good_request_by_the_contract(app: Flask, seeded: str):
    documented = {(method.upper(), path) for path, item in schema.raw_schema["paths"].items() for method in item}
    assert set(KNOWN_GOOD) == documented, "every documented operation needs a known-good request here"
    for (method, path), request in KNOWN_GOOD.items():  # in order: the result reads follow the jobs
        case = schema[path][method].Case(**request)
        response = case.call_and_validate(app=app, headers=bearer(seeded), checks=CHECKS)
        assert 200 <= response.status_code < 300, (method, path, response.status_code, response.text[:300])


# --- what the generated requests found, kept as plain regression tests (SQLite and PostgreSQL) -------------

TOO_LARGE_ID = MAX_DATABASE_ID + 1  # PostgreSQL: "integer out of range"; past 2**63 SQLite overflows too


@pytest.mark.both_databases
@pytest.mark.parametrize("number", [TOO_LARGE_ID, 2**63])
def test_an_id_too_large_for_the_database_is_a_404_for_every_method(client, staff_token, db_backend, number):
    for method, url in [("GET", f"/api/files/{number}"), ("DELETE", f"/api/files/{number}"),
                        ("GET", f"/api/files/{number}/url"), ("GET", f"/api/conversations/{number}"),
                        ("DELETE", f"/api/conversations/{number}"), ("GET", f"/api/face/verify/{number}"),
                        ("GET", f"/api/face/analyze/{number}"), ("GET", f"/files/{number}")]:
        response = client.open(url, method=method, headers=bearer(staff_token))
        assert response.status_code == 404, (method, url, response.status_code)


@pytest.mark.both_databases
def test_an_id_too_large_for_the_database_in_a_body_is_a_400_naming_the_field(client, staff_token, db_backend):
    for url, body, field in [("/api/chat", {"message": "Hi", "conversation_id": TOO_LARGE_ID}, "conversation_id"),
                             ("/api/face/verify", {"image1": TOO_LARGE_ID, "image2": 1}, "image1"),
                             ("/api/face/analyze", {"image": 2**63}, "image")]:
        response = client.post(url, json=body, headers=bearer(staff_token))
        assert response.status_code == 400, (url, response.get_json())
        assert field in response.get_json()["error"]
    response = client.post("/api/face/analyze", data={"image_id": str(TOO_LARGE_ID)}, headers=bearer(staff_token))
    assert response.status_code == 400 and "image_id" in response.get_json()["error"]


@pytest.mark.both_databases
def test_a_page_far_past_the_end_is_an_empty_page(client, staff_token, db_backend):
    for url, items in [("/api/files", "items"), ("/api/conversations", "conversations")]:
        response = client.get(f"{url}?page=313135631024086592", headers=bearer(staff_token))
        assert response.status_code == 200, response.get_json()
        assert response.get_json()[items] == []


@pytest.mark.both_databases
def test_nul_characters_are_dropped_from_messages_and_searches(app, client, staff_token, db_backend):
    response = client.post("/api/chat", json={"message": "Hel\x00lo", "system": "Be\x00 brief."},
                           headers=bearer(staff_token))
    assert response.status_code == 200, response.get_json()
    conversation = client.get(f"/api/conversations/{response.get_json()['conversation_id']}",
                              headers=bearer(staff_token)).get_json()
    assert conversation["messages"][0]["content"] == "Hello"
    assert conversation["system_prompt"] == "Be brief."
    found = client.get("/api/conversations?q=Hel%00lo&model=openai:gpt-4o-mini%00", headers=bearer(staff_token))
    assert found.status_code == 200 and found.get_json()["total"] == 1
    assert client.get("/api/files?q=a%00b", headers=bearer(staff_token)).status_code == 200
