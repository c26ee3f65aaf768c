"""The typed shapes every JSON body is made of: ids, timestamps, the error body, a page of results.

Each feature declares its own bodies in `webapp/<feature>/schemas.py` on these bases. The /api views take and
return them (`webapp.api.spec` validates requests, serialises answers and writes the OpenAPI document from
them); the chat export writes the same `Conversation`. A body is built from a row with `Schema.of(row)`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Self

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    ValidationError,
    WithJsonSchema,
)
from pydantic_core import PydanticCustomError
from werkzeug.datastructures import FileStorage

from webapp.bounds import MAX_DATABASE_ID
from webapp.timeutil import as_utc

# An id a column can hold: larger is refused (400) naming the field, never a query the database refuses.
DatabaseId = Annotated[int, Field(ge=1, le=MAX_DATABASE_ID)]
# SQLite hands timestamps back without a zone; every one we store is UTC, written as 2026-01-31T09:30:00+00:00.
Timestamp = Annotated[
    datetime,
    PlainSerializer(lambda moment: as_utc(moment).isoformat(), return_type=str),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]

# A query or form value left blank ("?from=&kind=") is the same as one not sent.
BlankIsNone = BeforeValidator(lambda value: None if isinstance(value, str) and not value.strip() else value)


def _uploaded_file(value: Any) -> FileStorage | None:
    if value is not None and not isinstance(value, FileStorage):
        raise PydanticCustomError("file_type", "must be a file, sent as a part of multipart/form-data")
    return value


# One file of a multipart/form-data request, None when the form has no such part. Documented as a file only (not
# "a file or null"): a form part cannot be null, and clients read the plain schema as "send a file here".
UploadedFile = Annotated[
    FileStorage | None,
    PlainValidator(_uploaded_file),
    WithJsonSchema({"type": "string", "contentMediaType": "application/octet-stream"}),
]


class Schema(BaseModel):
    """A body the app writes: built from a row's attributes (`of`), every field listed as present."""

    model_config = ConfigDict(from_attributes=True, json_schema_serialization_defaults_required=True)

    @classmethod
    def of(cls, source: Any) -> Self:
        """The body for `source` (a row, or any object with these attributes)."""
        return cls.model_validate(source)


class JsonRequest(BaseModel):
    """A JSON request body. Strict: "3" is not a number and 3.0 is not an id, as JSON's own types say."""

    model_config = ConfigDict(strict=True)


class QueryParameters(BaseModel):
    """Query-string parameters: text on the wire, so "3" is the number 3."""


def _files_have_no_default(schema: dict[str, Any]) -> None:
    # A missing file part is None in Python; in the document, a file has no "default": null (not a string).
    for field in schema.get("properties", {}).values():
        if "contentMediaType" in field:
            field.pop("default", None)


class FormFields(BaseModel):
    """A multipart/form-data body: its files, and its text fields ("3" is the number 3)."""

    model_config = ConfigDict(json_schema_extra=_files_have_no_default)


class ErrorBody(BaseModel):
    """Every 4xx and 5xx answer of the API. Some add details (e.g. the ids of a kept chat message)."""

    model_config = ConfigDict(extra="allow")

    error: str = Field(description="What went wrong, written for a person.")
    status: int = Field(ge=400, le=599, description="The HTTP status.")


class PageFields(Schema):
    """Where a page of results stands: past the last page is an empty page, not an error."""

    page: int = Field(ge=1)
    per_page: int = Field(ge=1)
    pages: int = Field(ge=0)
    total: int = Field(ge=0)

    @staticmethod
    def of_pagination(pagination: Any) -> dict[str, int]:
        """A Flask-SQLAlchemy pagination's numbers, to build a page body with its items."""
        return {
            "page": pagination.page,
            "per_page": pagination.per_page,
            "pages": pagination.pages,
            "total": pagination.total,
        }


# --- what a refused request is told -------------------------------------------------------------------------

WHOLE_NUMBER_ERRORS = {"int_type", "int_parsing", "int_from_float"}
DATE_ERRORS = {"date_type", "date_parsing", "date_from_datetime_parsing", "date_from_datetime_inexact"}


def explain(error: ValidationError) -> str:
    """Pydantic's findings as sentences a person understands, each naming its field."""
    sentences = [_sentence(problem) for problem in error.errors(include_url=False)]
    return " ".join(dict.fromkeys(sentences))


def _sentence(problem: Any) -> str:
    field = ".".join(str(part) for part in problem["loc"])
    name = f"'{field}'" if field else "The request body"
    kind, context = problem["type"], problem.get("ctx") or {}
    if kind == "missing":
        return f"{name} is required."
    if kind == "string_type":
        return f"{name} must be a string."
    if kind in WHOLE_NUMBER_ERRORS:
        return f"{name} must be a whole number."
    if kind in ("float_type", "float_parsing"):
        return f"{name} must be a number."
    if kind == "finite_number":
        return f"{name} must be a finite number."
    if kind == "greater_than_equal":
        return f"{name} must be {_bound(context['ge'])} or more."
    if kind == "less_than_equal":
        return f"{name} must be {_bound(context['le'])} or less."
    if kind in DATE_ERRORS:
        return f"{name} must be a date like 2024-01-31."
    if kind in ("literal_error", "enum"):
        return f"{name} must be one of {context['expected']}."
    if kind in ("bool_type", "bool_parsing"):
        return f"{name} must be true or false."
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return f"{name} must be a JSON object."
    if kind == "string_too_long":
        return f"{name} must be at most {context['max_length']} characters."
    # Our own validators raise PydanticCustomError with a phrase that follows the name ("must be a file").
    message = problem["msg"].removeprefix("Value error, ")
    return f"{name} {message}." if message[:1].islower() else f"{name}: {message}."


def _bound(value: Any) -> Any:
    """A limit as a person writes it: a float field's bound 2.0 is "2"."""
    return int(value) if isinstance(value, float) and value.is_integer() else value
