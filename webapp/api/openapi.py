"""The API's OpenAPI 3.1 document (`GET /api/openapi.json`) and a page that renders it (`GET /api/docs`).

Paths, methods and path parameters come from the app's URL map, so the document cannot drift from the routes;
what a route takes and answers is written by hand in `webapp.api.operations`.
"""

from __future__ import annotations

import re
from typing import Any

from flask import Flask, current_app, jsonify, render_template
from werkzeug.routing import Rule

from webapp.api import bp
from webapp.api.auth import PUBLIC_ENDPOINTS, public
from webapp.api.operations import ERROR_DESCRIPTIONS, JSON, OPERATIONS, SCHEMAS
from webapp.bounds import MAX_DATABASE_ID

SKIPPED_METHODS = {"HEAD", "OPTIONS"}
# <converter(arguments):name> or <name> in a werkzeug rule.
RULE_VARIABLE = re.compile(r"<(?:(?P<converter>\w+)(?:\([^)]*\))?:)?(?P<name>\w+)>")
CONVERTER_SCHEMAS: dict[str, dict[str, Any]] = {
    "int": {"type": "integer", "minimum": 0, "maximum": MAX_DATABASE_ID},
    "float": {"type": "number", "minimum": 0},
    "uuid": {"type": "string", "format": "uuid"},
    "path": {"type": "string"},
    "default": {"type": "string", "pattern": "^[^/]+$"},
}


def api_rules(app: Flask) -> list[Rule]:
    return sorted(
        (rule for rule in app.url_map.iter_rules() if rule.endpoint.startswith(f"{bp.name}.")),
        key=lambda rule: rule.rule,
    )


def openapi_path(rule: Rule) -> str:
    """`/api/files/<int:file_id>` → `/api/files/{file_id}`."""
    return RULE_VARIABLE.sub(lambda match: "{" + match["name"] + "}", rule.rule)


def path_parameters(rule: Rule) -> list[dict[str, Any]]:
    return [
        {
            "name": match["name"],
            "in": "path",
            "required": True,
            "schema": CONVERTER_SCHEMAS.get(match["converter"] or "default", CONVERTER_SCHEMAS["default"]),
        }
        for match in RULE_VARIABLE.finditer(rule.rule)
    ]


def route_operations(app: Flask) -> set[tuple[str, str, str]]:
    """Every (method, OpenAPI path, endpoint) the URL map routes under the API blueprint."""
    return {
        (method, openapi_path(rule), rule.endpoint)
        for rule in api_rules(app)
        for method in (rule.methods or set()) - SKIPPED_METHODS
    }


def error_response(status: int, detail: str | dict[str, Any] | None = None) -> dict[str, Any]:
    """An error status: `detail` is its own description, or a schema built on Error, or None (the defaults)."""
    description = detail if isinstance(detail, str) else ERROR_DESCRIPTIONS[status]
    schema = detail if isinstance(detail, dict) else {"$ref": "#/components/schemas/Error"}
    return {"description": description, "content": {JSON: {"schema": schema}}}


def build_operation(endpoint: str, method: str, rule: Rule) -> dict[str, Any]:
    written = OPERATIONS.get((endpoint, method))
    if written is None:
        # Listed anyway so the document shows every route; the contract test names what is missing.
        return {
            "summary": f"Undocumented: {method} {rule.rule}",
            "responses": {"default": error_response(500)},
            "x-undocumented": True,
        }
    operation = {key: value for key, value in written.items() if key != "responses"}
    operation["operationId"] = endpoint.removeprefix(f"{bp.name}.")
    operation["parameters"] = path_parameters(rule) + written.get("parameters", [])
    responses: dict[str, Any] = {}
    for status, response in written["responses"].items():
        if status >= 400:
            responses[str(status)] = error_response(status, response)
        else:
            responses[str(status)] = response
    if endpoint in PUBLIC_ENDPOINTS:
        operation["security"] = []
    else:
        responses["401"] = error_response(401)
    operation["responses"] = dict(sorted(responses.items()))
    return operation


def build_document(app: Flask) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for rule in api_rules(app):
        for method in sorted((rule.methods or set()) - SKIPPED_METHODS):
            paths.setdefault(openapi_path(rule), {})[method.lower()] = build_operation(rule.endpoint, method, rule)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Workbench API",
            "version": "1",
            "description": "Chat, files and faces for scripts: the same services as the pages. Send "
            "`Authorization: Bearer <token>` (create one under Account → API tokens). Every error "
            'is JSON: `{"error": "...", "status": N}`.',
        },
        "servers": [{"url": "/"}],
        "security": [{"bearerToken": []}],
        "tags": [{"name": name} for name in ("chat", "files", "faces", "account", "service")],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearerToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A personal API token from Account → API tokens.",
                },
            },
            "schemas": SCHEMAS,
        },
    }


@bp.get("/openapi.json")
@public
def openapi_document():
    """Public, like /api/health: it describes routes, not data (the README says the same), and every
    route in it still needs a token."""
    document = current_app.extensions.get("openapi_document")
    if document is None:
        document = current_app.extensions["openapi_document"] = build_document(current_app)
    return jsonify(document)


@bp.get("/docs")
@public
def docs():
    return render_template("api/docs.html")
