"""The API contract: /api/openapi.json describes every /api route and nothing else, is valid OpenAPI 3.1, and
every error it lists is the API's error shape. Below, the defects schemathesis found (test_api_schemathesis.py),
kept as plain regression tests on both databases.
"""

from __future__ import annotations

import pytest
from flask import Flask
from openapi_spec_validator import validate

from tests.support.chat import chat_settings, reset
from tests.support.web import bearer
from webapp.api.openapi import route_operations
from webapp.api.operations import OPERATIONS
from webapp.bounds import MAX_DATABASE_ID


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
                    document["components"]["schemas"][name].get("allOf", [])
                )
                assert error_based, f"{method.upper()} {path} {status} answers {name}, not an Error"


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
