"""The API contract: /api/openapi.json describes every /api route and nothing else, is valid OpenAPI 3.1, and
every error it lists is the API's error shape; a request the schemas refuse is a 400 in that shape with a sentence
naming the field. Below, the defects schemathesis found (test_api_schemathesis.py), kept as plain regression tests
on both databases.
"""

from __future__ import annotations

import re

import pytest
from flask import Flask
from openapi_spec_validator import validate

from tests.support.chat import chat_settings, reset
from tests.support.web import bearer
from webapp.api import bp
from webapp.api.openapi import document_operations
from webapp.bounds import MAX_DATABASE_ID


@pytest.fixture
def app_overrides(openai_server):
    reset(openai_server)
    return chat_settings(openai_server)


def route_operations(app: Flask) -> set[tuple[str, str, str]]:
    """Every (method, OpenAPI path, endpoint) the URL map routes under the API blueprint."""
    return {
        (method, re.sub(r"<(?:\w+(?:\([^)]*\))?:)?(\w+)>", r"{\1}", rule.rule), rule.endpoint)
        for rule in app.url_map.iter_rules()
        if rule.endpoint.startswith(f"{bp.name}.")
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}
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
    documented = document_operations(document)
    undocumented = sorted(routes - documented)
    assert not undocumented, f"/api views without @operation(...) (webapp/api/spec.py): {undocumented}"
    assert documented == routes


def test_every_error_response_is_the_error_shape(client):
    document = client.get("/api/openapi.json").get_json()
    schemas = document["components"]["schemas"]
    error = schemas["ErrorBody"]
    assert set(error["required"]) == {"error", "status"}
    for path, item in document["paths"].items():
        for method, operation in item.items():
            for status, response in operation["responses"].items():
                if int(status) < 400:
                    continue
                name = response["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
                schema = schemas[name]
                # The error body itself, or one built on it (a failed chat or face job adds its ids).
                assert {"error", "status"} <= set(schema["required"]), (method, path, status, name)
                for field in ("error", "status"):
                    assert schema["properties"][field] == error["properties"][field], (method, path, status, name)


def test_every_operation_has_a_summary_and_a_tag(client):
    document = client.get("/api/openapi.json").get_json()
    tags = {tag["name"] for tag in document["tags"]}
    for path, item in document["paths"].items():
        for method, operation in item.items():
            assert operation["summary"] and "<" not in operation["summary"], (method, path)
            assert len(operation["tags"]) == 1 and operation["tags"][0] in tags, (method, path)


@pytest.mark.parametrize(
    "method, url, body, sentence",
    [
        ("POST", "/api/chat", {"json": [1, 2]}, 'Send a JSON object, e.g. {"message": "Hello"}, with Content-Type'),
        ("POST", "/api/chat", {"data": {"message": "Hi"}}, "Send a JSON object"),
        ("POST", "/api/chat", {"json": {"message": "Hi", "model": 4}}, "'model' must be a string."),
        ("POST", "/api/chat", {"json": {"message": "Hi", "conversation_id": 2.0}}, "must be a whole number"),
        (
            "POST",
            "/api/chat",
            {"json": {"message": "Hi", "conversation_id": True}},
            "'conversation_id' must be a whole",
        ),
        (
            "POST",
            "/api/chat",
            {"json": {"message": "Hi", "conversation_id": 0}},
            "'conversation_id' must be 1 or more.",
        ),
        ("POST", "/api/chat", {"json": {"message": "Hi", "temporary": "yes"}}, "'temporary' must be"),
        ("POST", "/api/chat", {"json": {"message": "Hi", "turns": [{"role": "x"}]}}, "'turns.0.role' must be one"),
        ("POST", "/api/chat", {"json": {"message": "Hi", "project_id": 0}}, "'project_id' must be 1 or more."),
        ("POST", "/api/projects", {"json": {"instructions": "Be brief."}}, "'name' is required."),
        ("PATCH", "/api/projects/1", {"json": {"name": 3}}, "'name' must be a string."),
        ("GET", "/api/conversations?per_page=lots", {}, "'per_page' must be a whole number."),
        ("GET", "/api/conversations?per_page=500", {}, "'per_page' must be 100 or less."),
        ("GET", "/api/conversations?from=last-tuesday", {}, "'from' must be a date like 2024-01-31."),
        ("GET", "/api/files?kind=video", {}, "'kind' must be one of 'image' or 'document'."),
        ("GET", "/api/files?page=0", {}, "'page' must be 1 or more."),
        ("POST", "/api/upload", {"data": {"file": "not a file"}}, "'file' must be a file"),
        ("POST", "/api/face/verify", {"json": {"image1": 1}}, "'image2' is required."),
        ("POST", "/api/face/verify", {"data": {"image1_id": "x"}}, "'image1_id' must be a whole number."),
        ("POST", "/api/face/analyze", {"data": "raw", "content_type": "text/plain"}, "or a multipart/form-data form"),
    ],
)
def test_a_request_the_schema_refuses_is_a_400_with_a_sentence_naming_the_field(
    client, staff_token, method, url, body, sentence
):
    response = client.open(url, method=method, headers=bearer(staff_token), **body)
    assert response.status_code == 400, response.get_data(as_text=True)
    answer = response.get_json()
    assert set(answer) == {"error", "status"} and answer["status"] == 400
    assert sentence in answer["error"]


def test_a_refusal_names_every_field_it_refuses(client, staff_token):
    response = client.post("/api/face/verify", headers=bearer(staff_token), json={"image1": "seven"})
    assert response.get_json() == {
        "error": "'image1' must be a whole number. 'image2' is required.",
        "status": 400,
    }


def test_blank_filters_are_no_filters(client, staff_token):
    for url in ("/api/conversations?from=&to=&model=&q=", "/api/files?kind=&q="):
        response = client.get(url, headers=bearer(staff_token))
        assert response.status_code == 200, response.get_json()


# --- what the generated requests found, kept as plain regression tests (SQLite and PostgreSQL) -------------

TOO_LARGE_ID = MAX_DATABASE_ID + 1  # PostgreSQL: "integer out of range"; past 2**63 SQLite overflows too


@pytest.mark.both_databases
@pytest.mark.parametrize("number", [TOO_LARGE_ID, 2**63])
def test_an_id_too_large_for_the_database_is_a_404_for_every_method(client, staff_token, db_backend, number):
    for method, url in [
        ("GET", f"/api/files/{number}"),
        ("DELETE", f"/api/files/{number}"),
        ("GET", f"/api/files/{number}/url"),
        ("GET", f"/api/conversations/{number}"),
        ("DELETE", f"/api/conversations/{number}"),
        ("GET", f"/api/projects/{number}"),
        ("PATCH", f"/api/projects/{number}"),
        ("DELETE", f"/api/projects/{number}"),
        ("GET", f"/projects/{number}"),
        ("GET", f"/api/face/verify/{number}"),
        ("GET", f"/api/face/analyze/{number}"),
        ("GET", f"/files/{number}"),
    ]:
        response = client.open(url, method=method, headers=bearer(staff_token))
        assert response.status_code == 404, (method, url, response.status_code)


@pytest.mark.both_databases
def test_an_id_too_large_for_the_database_in_a_body_is_a_400_naming_the_field(client, staff_token, db_backend):
    for url, body, field in [
        ("/api/chat", {"message": "Hi", "conversation_id": TOO_LARGE_ID}, "conversation_id"),
        ("/api/face/verify", {"image1": TOO_LARGE_ID, "image2": 1}, "image1"),
        ("/api/face/analyze", {"image": 2**63}, "image"),
    ]:
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
    response = client.post(
        "/api/chat", json={"message": "Hel\x00lo", "system": "Be\x00 brief."}, headers=bearer(staff_token)
    )
    assert response.status_code == 200, response.get_json()
    conversation = client.get(
        f"/api/conversations/{response.get_json()['conversation_id']}", headers=bearer(staff_token)
    ).get_json()
    assert conversation["messages"][0]["content"] == "Hello"
    assert conversation["system_prompt"] == "Be brief."
    found = client.get("/api/conversations?q=Hel%00lo&model=openai:gpt-4o-mini%00", headers=bearer(staff_token))
    assert found.status_code == 200 and found.get_json()["total"] == 1
    assert client.get("/api/files?q=a%00b", headers=bearer(staff_token)).status_code == 200
