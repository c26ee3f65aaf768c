"""The API's OpenAPI 3.1 document (`GET /api/openapi.json`) and a page that renders it (`GET /api/docs`).

spectree writes the document from each operation's declaration (`webapp.api.spec.operation`) and the URL map;
this adds what the bearer-token check decides (`webapp.api.auth`): which operations are public, and the 401
every other one can answer.
"""

from __future__ import annotations

import copy
from typing import Any

from flask import Flask, current_app, jsonify, render_template
from pydantic import BaseModel, ConfigDict

from webapp.api import bp
from webapp.api.auth import PUBLIC_ENDPOINTS, public
from webapp.api.spec import ERROR_DESCRIPTIONS, TAGS, operation, spec

HTTP_METHODS = {"get", "put", "post", "delete", "patch"}


class OpenApiDocument(BaseModel):
    """An OpenAPI 3.1 document."""

    model_config = ConfigDict(extra="allow")

    openapi: str
    paths: dict[str, Any]


def build_document(app: Flask) -> dict[str, Any]:
    """spectree's document for `app`, with authentication as `webapp.api.auth` decides it."""
    with app.app_context():
        document = copy.deepcopy(spec.spec)
    error = {"$ref": "#/components/schemas/ErrorBody"}
    for item in document["paths"].values():
        for method, described in item.items():
            if method not in HTTP_METHODS:
                continue
            if f"{bp.name}.{described['operationId']}" in PUBLIC_ENDPOINTS:
                described["security"] = []
            else:
                described["responses"]["401"] = {
                    "description": ERROR_DESCRIPTIONS[401],
                    "content": {"application/json": {"schema": error}},
                }
            described["responses"] = dict(sorted(described["responses"].items()))
            if not described.get("description"):
                described.pop("description", None)
    document["tags"] = [{"name": name} for name in TAGS]
    return document


def document_operations(document: dict[str, Any]) -> set[tuple[str, str, str]]:
    """Every (method, path, endpoint) the document describes."""
    return {
        (method.upper(), path, f"{bp.name}.{described['operationId']}")
        for path, item in document["paths"].items()
        for method, described in item.items()
        if method in HTTP_METHODS
    }


@bp.get("/openapi.json")
@public
@operation("service", (200, OpenApiDocument, "The document."))
def openapi_document():
    """This document (OpenAPI 3.1)

    Public, like /api/health: it describes routes, not data, and every route in it still needs a token."""
    document = current_app.extensions.get("openapi_document")
    if document is None:
        document = current_app.extensions["openapi_document"] = build_document(current_app._get_current_object())  # type: ignore[attr-defined]
    return jsonify(document)


@bp.get("/docs")
@public
@operation("service", (200, "An HTML page."))
def docs():
    """This document, rendered for reading"""
    return render_template("api/docs.html")
