"""People's JSON bodies: the index's progress, a face search's request and answer."""

from __future__ import annotations

from typing import Annotated, Any, Literal, Self

from pydantic import ConfigDict, Field

from webapp.faces.schemas import FaceBox
from webapp.schemas import BlankIsNone, DatabaseId, FormFields, JsonRequest, QueryParameters, Schema, UploadedFile

MAX_LIMIT = 500


class IndexStatus(Schema):
    """How far the indexing of your library's photos has got."""

    indexed: int = Field(ge=0, description="Photos whose faces are in the index.")
    pending: int = Field(ge=0, description="Photos waiting to be indexed.")
    failed: int = Field(ge=0, description="Photos that could not be read; `flask faces index --retry-failed`.")


# --- search ------------------------------------------------------------------------------------------------

Scope = Literal["own", "all"]


class SearchQuery(QueryParameters):
    all: bool = Field(False, description="Also list the faces beyond the threshold (`same_person` false).")


class SearchJson(JsonRequest):
    """A photo in your files, by id."""

    model_config = ConfigDict(strict=True, json_schema_extra={"examples": [{"file_id": 3}]})

    file_id: DatabaseId
    face: int | None = Field(None, ge=0, description="Which detected face (largest first); default 0.")
    limit: int = Field(20, ge=1, le=MAX_LIMIT)
    all: bool = False
    scope: Scope = Field("own", description="`all`: everyone's photos (administrators; audited).")


class SearchForm(FormFields):
    """The photo as a file in `image`, or `file_id` naming one in your files."""

    image: UploadedFile = None
    file_id: Annotated[DatabaseId | None, BlankIsNone] = None
    face: Annotated[int | None, BlankIsNone] = Field(None, ge=0)
    limit: int = Field(20, ge=1, le=MAX_LIMIT)
    all: bool = False
    scope: Scope = "own"


class PersonRef(Schema):
    id: DatabaseId
    name: str


class Match(Schema):
    file_id: DatabaseId
    face_id: DatabaseId
    box: FaceBox
    distance: float
    same_person: bool
    person: PersonRef | None


class SearchResult(Schema):
    faces_found: int = Field(ge=0)
    face: FaceBox = Field(description="The face searched for.")
    searched: int = Field(ge=0, description="How many faces were compared with it.")
    matches: list[Match]

    @classmethod
    def of(cls, source: Any) -> Self:
        """The answer for a finished `FaceSearch` row."""
        found = source.faces["faces"]
        return cls(
            faces_found=len(found),
            face=found[source.face]["box"],
            searched=source.searched,
            matches=[
                {name: match[name] for name in ("file_id", "face_id", "box", "distance", "same_person", "person")}
                for match in source.matches
            ],
        )
