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


# --- people ------------------------------------------------------------------------------------------------


class Person(Schema):
    id: DatabaseId
    name: str
    faces: int = Field(ge=0, description="Faces of theirs in your photos.")
    photos: int = Field(ge=0, description="Photos they appear in.")
    do_not_recognise: bool = False


class PersonDetail(Person):
    file_ids: list[DatabaseId] = Field(description="The photos they appear in, newest first.")


class PeopleList(Schema):
    items: list[Person]


class NewPerson(JsonRequest):
    """A name, and the photos (each with exactly one face) or faces that are theirs."""

    model_config = ConfigDict(strict=True, json_schema_extra={"examples": [{"name": "Ada", "file_ids": [3, 4]}]})

    name: str = Field(max_length=500)
    file_ids: list[DatabaseId] = Field(default_factory=list, max_length=500)
    face_ids: list[DatabaseId] = Field(default_factory=list, max_length=500)


class PersonChange(JsonRequest):
    """A new name, or `do_not_recognise: true` (their faces' embeddings are deleted; faces matching them are
    neither stored, assigned nor found from then on)."""

    model_config = ConfigDict(strict=True, json_schema_extra={"examples": [{"name": "Ada Lovelace"}]})

    name: str | None = Field(None, max_length=500)
    do_not_recognise: bool | None = None


class Merge(JsonRequest):
    model_config = ConfigDict(strict=True, json_schema_extra={"examples": [{"into": 2}]})

    into: DatabaseId = Field(description="The person who keeps every face of both.")


class Split(JsonRequest):
    """Faces wrongly given to the person: they become unnamed, or a new person when `name` is given."""

    model_config = ConfigDict(strict=True, json_schema_extra={"examples": [{"face_ids": [7]}]})

    face_ids: list[DatabaseId] = Field(min_length=1, max_length=500)
    name: str | None = Field(None, max_length=500)


class SplitResult(Schema):
    person: Person = Field(description="The person, without the faces taken away.")
    new_person: Person | None = Field(description="The person the faces were given to, when `name` was sent.")
