"""Each /api operation declared once: `@operation(...)` names its request schemas, its answers and its tag.

spectree (over pydantic) does the rest from that one declaration: it validates the query, JSON or form body and
hands the view the parsed schema; it serialises the schema the view returns; and it writes the OpenAPI 3.1
document (`webapp.api.openapi`) from the same schemas, with paths and path parameters read from the URL map.

Why spectree (bench/api_schemas.py --candidates has the figures): it decorates the views of an ordinary Flask
blueprint, so the app stays a plain `Flask` and the API wires itself like every other feature; flask-openapi3,
the other candidate, needs the app itself to be its `OpenAPI` subclass (its validation reads settings off the
app class) and documents only routes registered through it. Either adds at most a few hundred µs a request.

A request the schemas refuse is a 400 in the API's one error shape, `{"error": "...", "status": 400}`, with a
sentence naming each field (`webapp.schemas.explain`), raised as `Refused` through the app's error pipeline.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any

from flask import request
from pydantic import BaseModel
from spectree import Response, SpecTree
from spectree.models import SecureType, SecurityScheme, SecuritySchemeData, Server
from spectree.plugins.flask_plugin import FlaskPlugin
from spectree.plugins.werkzeug_utils import flask_response_unpack

from webapp.bounds import MAX_DATABASE_ID
from webapp.errors import Refused
from webapp.schemas import ErrorBody, explain

TAGS = ("chat", "projects", "prompts", "files", "faces", "account", "service")
# The scope (webapp.auth.models.SCOPES) a token needs for each tag's operations, or `read-only` for a GET; projects
# organise conversations and saved prompts fill the message box, so both are chat's. The account and service
# operations are about the token itself, open to every token.
TAG_SCOPES = {"chat": "chat", "projects": "chat", "prompts": "chat", "files": "files", "faces": "faces"}
# Each declared operation's tag, by its view's name (the endpoint's name in the API blueprint).
OPERATION_TAGS: dict[str, str] = {}

ERROR_DESCRIPTIONS = {
    400: "The request was understood and refused; `error` says why (a field the schema refuses is named).",
    401: "No valid API token: send `Authorization: Bearer <token>`.",
    403: "The token's scopes do not cover this operation; `error` names the scope it needs (`scope`).",
    404: "No such object among the token owner's (another user's object is a 404 too, never a 403).",
    409: "Conflicts with the object's state; `error` says what to wait for.",
    413: "Larger than the server accepts (`MAX_UPLOAD_MB`, `CHAT_MAX_MESSAGE_CHARS`).",
    422: "Understood but refused: not an allowed type, a damaged image, or (faces) no face found.",
    500: "The job failed for an unexpected reason (logged with the request id).",
    503: "An outside service (model provider, file store, face engine or worker, database) is unavailable.",
}


def refuse_invalid(req: Any, resp: Any, error: Exception | None, instance: Any, adapter: Any) -> None:
    """spectree's hook after validating a request: a refusal goes through the app's error pipeline."""
    if error is not None:
        raise Refused(explain(error))  # type: ignore[arg-type]  (pydantic's ValidationError here)


def not_an_object(json_schema: type[BaseModel], takes_form: bool) -> str:
    examples = (json_schema.model_config.get("json_schema_extra") or {}).get("examples")  # type: ignore[union-attr]
    example = f", e.g. {_compact(examples[0])}," if examples else ""
    form = ", or a multipart/form-data form" if takes_form else ""
    return f"Send a JSON object{example} with Content-Type: application/json{form}."


def every_field_optional(schema: type[BaseModel]) -> bool:
    return not any(field.is_required() for field in schema.model_fields.values())


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(", ", ": "))


class WorkbenchFlaskPlugin(FlaskPlugin):
    """spectree's Flask plugin, with what this app decides differently."""

    def request_validation(self, request, query, json, form, headers, cookies):
        # spectree reads a missing or non-object JSON body as {}, and a body that is not the form it expects as
        # no body at all; here either is refused, saying what to send.
        if request.method not in ("GET", "DELETE") and (json is not None or form is not None):
            is_form = request.mimetype in self.FORM_MIMETYPE
            if json is None and not is_form:
                raise Refused("Send a multipart/form-data form.")
            sent_json = json is not None and not (form is not None and is_form)
            # A body whose every field is optional may be left out altogether (POST …/share without a body).
            left_out = json is not None and every_field_optional(json) and not request.get_data(cache=True)
            if sent_json and not isinstance(request.get_json(silent=True), dict) and not left_out:
                raise Refused(not_an_object(json, form is not None))
        super().request_validation(request, query, json, form, headers, cookies)

    def parse_path(self, route, path_parameter_descriptions):
        # `<int:...>` is our DatabaseIdConverter: past MAX_DATABASE_ID is no such object (a 404).
        path, parameters = super().parse_path(route, path_parameter_descriptions)
        for parameter in parameters:
            if parameter["schema"].get("type") == "integer":
                parameter["schema"] = {"type": "integer", "minimum": 0, "maximum": MAX_DATABASE_ID}
        return path, parameters

    def get_func_operation_id(self, func: Callable[..., Any], path: str, method: str) -> str:
        return func.__name__  # the endpoint's name, as url_for knows it

    def validate_response(self, resp, resp_model, skip_validation, force_resp_serialize):
        # A schema answered with a status the operation does not list is still written, never a 500.
        payload, status, _ = flask_response_unpack(resp)
        if isinstance(payload, BaseModel) and resp_model is not None and resp_model.find_model(status) is None:
            skip_validation = True
            body = self.get_current_app().response_class(payload.model_dump_json(), mimetype="application/json")
            resp = (body, *resp[1:]) if isinstance(resp, tuple) else body
        return super().validate_response(resp, resp_model, skip_validation, force_resp_serialize)


spec = SpecTree(
    "flask",
    backend=WorkbenchFlaskPlugin,
    mode="strict",  # only the operations declared here: the pages are not part of the API
    title="Workbench API",
    version="1",
    description="Chat, files and faces for scripts: the same services as the pages. Send "
    "`Authorization: Bearer <token>` (create one under Account → API tokens). Every error "
    'is JSON: `{"error": "...", "status": N}`.',
    servers=[Server(url="/")],
    security_schemes=[
        SecurityScheme(
            name="bearerToken",
            data=SecuritySchemeData(
                type=SecureType.HTTP, scheme="bearer", description="A personal API token from Account → API tokens."
            ),
        )
    ],
    security={"bearerToken": []},
    page_templates={},  # /api/docs is our own page (vendored Swagger UI under the app's CSP)
    annotations=False,  # the schemas are named once, in `operation(...)`; the views' annotations only repeat them
    before=refuse_invalid,
    validation_error_status=400,
    validation_error_model=ErrorBody,
    naming_strategy=lambda model: model.__name__,  # as pydantic names the schemas nested in others
    nested_naming_strategy=lambda _parent, child: child,
)


# One answer of an operation: a status (an error status answers the `Error` body; 204 answers nothing), or a
# tuple of the status with its schema, its description, or both.
Answer = int | tuple[int, type[BaseModel]] | tuple[int, str] | tuple[int, type[BaseModel], str]


def _status(entry: Answer) -> int:
    return entry[0] if isinstance(entry, tuple) else entry


def answers(*entries: Answer) -> Response:
    """spectree's `Response` for these answers."""
    codes: dict[str, Any] = {}
    for entry in entries:
        status, *rest = entry if isinstance(entry, tuple) else (entry,)
        schema = next((item for item in rest if isinstance(item, type)), ErrorBody if status >= 400 else None)
        description = next((item for item in rest if isinstance(item, str)), ERROR_DESCRIPTIONS.get(status))
        codes[f"HTTP_{status}"] = (schema, description) if description else schema
    return Response(**codes)


def operation(
    tag: str,
    *answered: Answer,
    query: type[BaseModel] | None = None,
    json: type[BaseModel] | None = None,
    form: type[BaseModel] | None = None,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Declare an /api operation: its tag, its answers, the schemas of its query string and body.

    The view's docstring is the operation's summary (first line) and description (the rest). The view takes a
    parameter `query`, `json` or `form` for each schema given, and receives it parsed (given `json` and `form`
    both, it receives whichever the request sent, and None for the other)."""
    if tag not in TAGS:
        raise ValueError(f"{tag!r} is not one of the API's tags {TAGS}")
    if tag in TAG_SCOPES and not any(_status(entry) == 403 for entry in answered):
        answered = (*answered, 403)  # the token's scopes may not cover it (webapp.api.auth)
    response = answers(*answered)
    validate = spec.validate(query=query, json=json, form=form, resp=response, tags=[tag])
    parts = [name for name, schema in (("query", query), ("json", json), ("form", form)) if schema is not None]

    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(view)
        def with_parsed_parts(*args: Any, **kwargs: Any) -> Any:
            parsed = request.context  # type: ignore[attr-defined]  (set by spectree's validation)
            return view(*args, **kwargs, **{name: getattr(parsed, name) for name in parts})

        OPERATION_TAGS[view.__name__] = tag
        validated = validate(with_parsed_parts)
        if not parts and not any(_status(entry) == spec.validation_error_status for entry in answered):
            # spectree lists its validation error on every operation; one that takes no input cannot answer it.
            response.code_models.pop(f"HTTP_{spec.validation_error_status}", None)
        return validated

    return decorate
