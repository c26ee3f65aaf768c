"""What the OpenAPI document says about each /api operation: summaries, bodies, responses and their schemas.

Paths, methods and path parameters are not written here: `webapp.api.openapi` reads them from the URL map, so
a route cannot be documented at a path it does not have. Each entry is keyed by (endpoint, method); a test
fails when a route has no entry here or an entry has no route. Error responses are listed by status only and
all share the `Error` schema, the body `webapp.errors.error_response` writes.
"""

from __future__ import annotations

from typing import Any

from webapp.bounds import MAX_DATABASE_ID

JSON = "application/json"

ERROR_DESCRIPTIONS = {
    400: "The request was understood and refused; `error` says why.",
    401: "No valid API token: send `Authorization: Bearer <token>`.",
    404: "No such object among the token owner's (another user's object is a 404 too, never a 403).",
    409: "Conflicts with the object's state; `error` says what to wait for.",
    413: "Larger than the server accepts (`MAX_UPLOAD_MB`, `CHAT_MAX_MESSAGE_CHARS`).",
    422: "Understood but refused: not an allowed type, a damaged image, or (faces) no face found.",
    500: "The job failed for an unexpected reason (logged with the request id).",
    503: "An outside service (model provider, file store, face engine or worker, database) is unavailable.",
}


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(schema_type: str, **extra: Any) -> dict[str, Any]:
    return {"type": [schema_type, "null"], **extra}


def json_response(description: str, schema: dict[str, Any], **headers: dict[str, Any]) -> dict[str, Any]:
    response: dict[str, Any] = {"description": description, "content": {JSON: {"schema": schema}}}
    if headers:
        response["headers"] = headers
    return response


def json_body(schema: dict[str, Any], required: bool = True) -> dict[str, Any]:
    return {"required": required, "content": {JSON: {"schema": schema}}}


def page_query(extra: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return extra + [
        {
            "name": "page",
            "in": "query",
            "description": "Page number, from 1 (past the last page: no items).",
            "schema": {"type": "integer", "minimum": 1, "default": 1},
        },
        {
            "name": "per_page",
            "in": "query",
            "description": "Items a page (at most 100).",
            "schema": {"type": "integer", "minimum": 1, "maximum": 100},
        },
    ]


def text_query(name: str, description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "description": description, "schema": {"type": "string"}}


LOCATION = {"description": "Where to read the result.", "schema": {"type": "string"}}
ID = {"type": "integer", "minimum": 1, "maximum": MAX_DATABASE_ID}
TIMESTAMP = {"type": "string", "format": "date-time"}
PAGE_FIELDS = {
    "page": {"type": "integer", "minimum": 1},
    "per_page": {"type": "integer", "minimum": 1},
    "pages": {"type": "integer", "minimum": 0},
    "total": {"type": "integer", "minimum": 0},
}

SCHEMAS: dict[str, dict[str, Any]] = {
    "Error": {
        "type": "object",
        "description": "Every 4xx and 5xx answer of the API. Some add details (e.g. the ids of a kept chat message).",
        "required": ["error", "status"],
        "properties": {
            "error": {"type": "string", "description": "What went wrong, written for a person."},
            "status": {"type": "integer", "minimum": 400, "maximum": 599, "description": "The HTTP status."},
        },
    },
    "Health": {
        "type": "object",
        "required": ["status", "database"],
        "properties": {"status": {"const": "ok"}, "database": {"const": "ok"}},
    },
    "Me": {
        "type": "object",
        "required": ["id", "email", "name", "role"],
        "properties": {
            "id": ID,
            "email": {"type": "string"},
            "name": {"type": "string"},
            "role": {"enum": ["admin", "staff"]},
        },
    },
    "ChatRequest": {
        "type": "object",
        "required": ["message"],
        "properties": {
            "message": {"type": "string", "description": "Your message; blank is refused (400)."},
            "conversation_id": nullable(
                "integer",
                minimum=1,
                maximum=MAX_DATABASE_ID,
                description="Continue this conversation; omit to start a new one.",
            ),
            "model": nullable("string", description="`provider:model` as in the picker, or a bare model name."),
            "system": nullable("string", description="A system prompt for a new conversation."),
        },
    },
    "Usage": {
        "type": "object",
        "required": ["prompt_tokens", "completion_tokens", "latency_ms"],
        "properties": {
            "prompt_tokens": nullable("integer"),
            "completion_tokens": nullable("integer"),
            "latency_ms": nullable("integer"),
        },
    },
    "ChatReply": {
        "type": "object",
        "required": ["reply", "conversation_id", "message_id", "question_id", "provider", "model", "usage"],
        "properties": {
            "reply": {"type": "string"},
            "conversation_id": ID,
            "message_id": ID,
            "question_id": ID,
            "provider": nullable("string"),
            "model": nullable("string"),
            "usage": ref("Usage"),
        },
    },
    "ChatFailure": {
        "description": "The model service failed: your message is kept; the failed reply is `message_id`.",
        "allOf": [ref("Error")],
        "properties": {"conversation_id": ID, "message_id": ID},
    },
    "Message": {
        "type": "object",
        "required": ["id", "role", "content", "status", "created_at"],
        "properties": {
            "id": ID,
            "role": {"enum": ["user", "assistant"]},
            "content": {"type": "string"},
            "status": {"enum": ["pending", "complete", "error", "interrupted"]},
            "error": nullable("string"),
            "provider": nullable("string"),
            "model": nullable("string"),
            "prompt_tokens": nullable("integer"),
            "completion_tokens": nullable("integer"),
            "latency_ms": nullable("integer"),
            "finish_reason": nullable("string"),
            "created_at": TIMESTAMP,
            "completed_at": nullable("string", format="date-time"),
        },
    },
    "ConversationSummary": {
        "type": "object",
        "required": ["id", "title", "provider", "model", "pinned", "created_at", "updated_at"],
        "properties": {
            "id": ID,
            "title": {"type": "string"},
            "provider": {"type": "string"},
            "model": {"type": "string"},
            "system_prompt": nullable("string"),
            "pinned": {"type": "boolean"},
            "created_at": TIMESTAMP,
            "updated_at": TIMESTAMP,
        },
    },
    "Conversation": {
        "allOf": [ref("ConversationSummary")],
        "required": ["messages"],
        "properties": {"messages": {"type": "array", "items": ref("Message")}},
    },
    "ConversationPage": {
        "type": "object",
        "required": ["conversations", *PAGE_FIELDS],
        "properties": {"conversations": {"type": "array", "items": ref("ConversationSummary")}, **PAGE_FIELDS},
    },
    "StoredFile": {
        "type": "object",
        "required": ["id", "name", "size", "content_type", "sha256", "kind", "created_at", "url", "expires_in"],
        "properties": {
            "id": ID,
            "name": {"type": "string"},
            "size": {"type": "integer", "minimum": 0},
            "content_type": {"type": "string"},
            "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
            "kind": {"enum": ["image", "document"]},
            "width": nullable("integer"),
            "height": nullable("integer"),
            "created_at": TIMESTAMP,
            "url": {"type": "string", "description": "A download link that works without a token until it expires."},
            "expires_in": {"type": "integer", "description": "Seconds the `url` stays valid."},
        },
    },
    "FilePage": {
        "type": "object",
        "required": ["items", *PAGE_FIELDS],
        "properties": {"items": {"type": "array", "items": ref("StoredFile")}, **PAGE_FIELDS},
    },
    "DownloadLink": {
        "type": "object",
        "required": ["url", "expires_in"],
        "properties": {"url": {"type": "string"}, "expires_in": {"type": "integer"}},
    },
    "Face": {
        "type": "object",
        "description": "One face found; analyses add `age`, `gender`, `emotion` and their scores.",
        "required": ["box"],
        "properties": {
            "box": {
                "type": "object",
                "required": ["x", "y", "w", "h"],
                "properties": {name: {"type": "integer"} for name in ("x", "y", "w", "h")},
            },
            "confidence": nullable("number"),
        },
    },
    "FaceComparison": {
        "type": "object",
        "required": ["id", "status", "faces", "files", "created_at"],
        "properties": {
            "id": ID,
            "status": {"enum": ["pending", "running", "done"]},
            "verified": nullable("boolean"),
            "distance": nullable("number"),
            "threshold": nullable("number"),
            "confidence": nullable("number"),
            "model": nullable("string"),
            "detector": nullable("string"),
            "similarity_metric": nullable("string"),
            "faces": {
                "type": "object",
                "properties": {side: {"type": "array", "items": ref("Face")} for side in ("image1", "image2")},
            },
            "compared_faces": {
                "type": "object",
                "properties": {side: nullable("integer") for side in ("image1", "image2")},
            },
            "files": {"type": "object", "properties": {side: ID for side in ("image1", "image2")}},
            "cached": {"type": "boolean"},
            "time_ms": nullable("integer"),
            "created_at": TIMESTAMP,
        },
    },
    "FaceAnalysis": {
        "type": "object",
        "required": ["id", "status", "faces", "file", "created_at"],
        "properties": {
            "id": ID,
            "status": {"enum": ["pending", "running", "done"]},
            "faces": {"type": "array", "items": ref("Face")},
            "analyzer": nullable("string"),
            "model": nullable("string"),
            "detector": nullable("string"),
            "file": ID,
            "time_ms": nullable("integer"),
            "created_at": TIMESTAMP,
        },
    },
    "FaceJobFailure": {
        "description": "A failed face job: the error, plus the result so far (`status` is the HTTP status here, "
        "`job_status` the job's).",
        "allOf": [ref("Error")],
        "properties": {"id": ID, "job_status": {"const": "failed"}},
    },
}


def face_request(*slots: str) -> dict[str, Any]:
    files = {slot: {"type": "string", "contentMediaType": "application/octet-stream"} for slot in slots}
    ids = {f"{slot}_id": ID for slot in slots}
    json_ids = {slot: ID for slot in slots}
    return {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {**files, **ids},
                    "description": "Each photo as a file, or `<slot>_id` naming one in your files.",
                },
            },
            JSON: {"schema": {"type": "object", "required": list(slots), "properties": json_ids}},
        },
    }


def face_result(schema: str, started: str) -> dict[Any, Any]:
    return {
        200: json_response("The finished result.", ref(schema)),
        202: json_response(f"{started}: poll the `Location` until it answers 200.", ref(schema), Location=LOCATION),
        400: ref("FaceJobFailure"),
        422: ref("FaceJobFailure"),
        500: ref("FaceJobFailure"),
        503: ref("FaceJobFailure"),
    }


# (endpoint, method) → operation. `responses` maps a status to a response object, or (an error status) to None
# for the plain `Error` body, to a string describing it, or to a reference to a schema built on `Error`.
OPERATIONS: dict[tuple[str, str], dict[str, Any]] = {
    ("api.health", "GET"): {
        "tags": ["service"],
        "summary": "Liveness, with a database round trip",
        "responses": {200: json_response("Up, and the database answers.", ref("Health")), 503: None},
    },
    ("api.openapi_document", "GET"): {
        "tags": ["service"],
        "summary": "This document (OpenAPI 3.1)",
        "responses": {200: json_response("The document.", {"type": "object", "required": ["openapi", "paths"]})},
    },
    ("api.docs", "GET"): {
        "tags": ["service"],
        "summary": "This document, rendered for reading",
        "responses": {200: {"description": "An HTML page.", "content": {"text/html": {"schema": {"type": "string"}}}}},
    },
    ("api.me", "GET"): {
        "tags": ["account"],
        "summary": "Who the token belongs to",
        "responses": {200: json_response("The token's owner.", ref("Me"))},
    },
    ("api.chat", "POST"): {
        "tags": ["chat"],
        "summary": "Send a message and wait for the whole reply",
        "description": "Saves your message first; the reply comes back whole (the pages stream it).",
        "requestBody": json_body(ref("ChatRequest")),
        "responses": {
            200: json_response("The reply.", ref("ChatReply")),
            400: None,
            404: None,
            409: "The previous reply of this conversation is still being written.",
            413: None,
            503: ref("ChatFailure"),
        },
    },
    ("api.conversations", "GET"): {
        "tags": ["chat"],
        "summary": "Your conversations, newest first",
        "parameters": page_query(
            [
                text_query("q", "Search titles and message text."),
                text_query("model", "Only conversations with this model."),
                {
                    "name": "from",
                    "in": "query",
                    "description": "Updated on or after this day (YYYY-MM-DD).",
                    "schema": {"type": "string", "format": "date"},
                },
                {
                    "name": "to",
                    "in": "query",
                    "description": "Updated on or before this day (YYYY-MM-DD).",
                    "schema": {"type": "string", "format": "date"},
                },
            ]
        ),
        "responses": {200: json_response("One page of conversations.", ref("ConversationPage")), 400: None},
    },
    ("api.conversation", "GET"): {
        "tags": ["chat"],
        "summary": "One conversation with its messages",
        "responses": {200: json_response("The conversation.", ref("Conversation")), 404: None},
    },
    ("api.delete_conversation", "DELETE"): {
        "tags": ["chat"],
        "summary": "Delete a conversation and its messages",
        "responses": {204: {"description": "Deleted."}, 404: None},
    },
    ("api.upload", "POST"): {
        "tags": ["files"],
        "summary": "Upload one file",
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": ["file"],
                        "properties": {"file": {"type": "string", "contentMediaType": "application/octet-stream"}},
                    }
                }
            },
        },
        "responses": {
            201: json_response("Stored.", ref("StoredFile"), Location=LOCATION),
            400: "No file in the field `file`, or an empty one.",
            413: None,
            422: "Not an allowed type (decided from the content), a damaged image or PDF.",
            503: None,
        },
    },
    ("api.file_list", "GET"): {
        "tags": ["files"],
        "summary": "Your files, newest first",
        "parameters": page_query(
            [
                text_query("q", "Search names."),
                {
                    "name": "kind",
                    "in": "query",
                    "description": "Only images, or only documents.",
                    "schema": {"enum": ["image", "document"]},
                },
            ]
        ),
        "responses": {200: json_response("One page of files.", ref("FilePage"))},
    },
    ("api.file_detail", "GET"): {
        "tags": ["files"],
        "summary": "One file, with a download link",
        "responses": {200: json_response("The file.", ref("StoredFile")), 404: None},
    },
    ("api.file_url", "GET"): {
        "tags": ["files"],
        "summary": "A fresh download link",
        "responses": {
            200: json_response("A link that works without a token until it expires.", ref("DownloadLink")),
            404: None,
        },
    },
    ("api.file_delete", "DELETE"): {
        "tags": ["files"],
        "summary": "Delete a file",
        "responses": {204: {"description": "Deleted."}, 404: None, 503: None},
    },
    ("api.face_verify", "POST"): {
        "tags": ["faces"],
        "summary": "Compare the faces of two photos",
        "requestBody": face_request("image1", "image2"),
        "responses": {**face_result("FaceComparison", "Queued for the worker"), 404: None, 409: None, 413: None},
    },
    ("api.face_verify_result", "GET"): {
        "tags": ["faces"],
        "summary": "A comparison's result",
        "responses": {**face_result("FaceComparison", "Still running"), 404: None},
    },
    ("api.face_analyze", "POST"): {
        "tags": ["faces"],
        "summary": "Estimate age, gender and emotion of every face in a photo",
        "requestBody": face_request("image"),
        "responses": {**face_result("FaceAnalysis", "Queued for the worker"), 404: None, 409: None, 413: None},
    },
    ("api.face_analyze_result", "GET"): {
        "tags": ["faces"],
        "summary": "An analysis's result",
        "responses": {**face_result("FaceAnalysis", "Still running"), 404: None},
    },
}
