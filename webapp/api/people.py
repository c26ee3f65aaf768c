"""People over JSON: the face index's progress and search by face; the same service as the pages.

GET  /api/face/index    {"indexed", "pending", "failed"} for your library
POST /api/people        {"name", "file_ids" or "face_ids"}; GET /api/people, GET|PATCH|DELETE /api/people/<id>,
                        POST /api/people/<id>/merge {"into"}, POST /api/people/<id>/split {"face_ids", "name"}
POST /api/face/search   multipart `image` (or `file_id`), or JSON {"file_id": N}; optional `face`, `limit`, `all`
                        (also a query parameter) and `scope` ("all": everyone's photos, administrators, audited)
"""

from __future__ import annotations

from flask import url_for

from webapp.api import bp
from webapp.api.auth import api_user
from webapp.api.spec import operation
from webapp.faces import service as faces
from webapp.files.uploads import accepts_uploads
from webapp.people import service
from webapp.people.models import Person as PersonRow
from webapp.people.schemas import (
    IndexStatus,
    Merge,
    NewPerson,
    PeopleList,
    Person,
    PersonChange,
    PersonDetail,
    SearchForm,
    SearchJson,
    SearchQuery,
    SearchResult,
    Split,
    SplitResult,
)


@bp.get("/face/index")
@operation("faces", (200, IndexStatus, "Your library's indexing progress."))
def face_index() -> IndexStatus:
    """How far the face index of your photos has got"""
    return IndexStatus.of(service.index_status(api_user()))


@bp.post("/face/search")
@operation(
    "faces",
    (200, SearchResult, "The photos with that person, best first."),
    (400, "No photo, an unreadable one, or no such face."),
    (403, "`scope=all` is for administrators."),
    404,
    413,
    (422, "No face was found in the photo."),
    503,
    query=SearchQuery,
    json=SearchJson,
    form=SearchForm,
)
@accepts_uploads
def face_search(query: SearchQuery, json: SearchJson | None, form: SearchForm | None) -> SearchResult:
    """Find the photos of your library with the person in a photo

    Every face of the photo is detected; the one chosen by `face` (largest first, default the largest) is
    searched for. Only faces at or under the threshold are listed unless `all` is true."""
    user = api_user()
    body = json if json is not None else form
    assert body is not None
    upload = getattr(body, "image", None)
    photo = faces.resolve_photo(user, upload, body.file_id, "image", announce=False)
    row = service.search(
        user,
        photo,
        face=body.face,
        limit=body.limit,
        include_all=query.all or body.all,
        everyone=body.scope == "all",
    )
    return SearchResult.of(row)


# --- people ---


def person_body(person: PersonRow, detail: bool = False) -> Person | PersonDetail:
    summary = service.summary(person)
    fields = {
        "id": summary.id,
        "name": summary.name,
        "faces": summary.faces,
        "photos": summary.photos,
        "do_not_recognise": summary.do_not_recognise,
    }
    return PersonDetail(**fields, file_ids=service.photo_ids(person)) if detail else Person(**fields)


@bp.post("/people")
@operation(
    "faces",
    (201, Person, "Created; `Location` is where to read them."),
    400,
    404,
    (422, "A photo without exactly one face (named in `error`)."),
    json=NewPerson,
)
def person_create(json: NewPerson):
    """Name a person from photos or faces

    Each photo must show exactly one face; faces of the library within the threshold of theirs are theirs too."""
    person = service.create_person(api_user(), json.name, file_ids=json.file_ids, face_ids=json.face_ids)
    return person_body(person), 201, {"Location": url_for("api.person_detail", person_id=person.id)}


@bp.get("/people")
@operation("faces", (200, PeopleList, "Your people by name."))
def person_list() -> PeopleList:
    """The people of your library, with their face and photo counts"""
    return PeopleList(
        items=[
            Person(
                id=item.id,
                name=item.name,
                faces=item.faces,
                photos=item.photos,
                do_not_recognise=item.do_not_recognise,
            )
            for item in service.summaries(api_user())
        ]
    )


@bp.get("/people/<int:person_id>")
@operation("faces", (200, PersonDetail, "The person and the photos they appear in."), 404)
def person_detail(person_id: int):
    """One person, with the ids of their photos"""
    return person_body(service.get_person(api_user(), person_id), detail=True)


@bp.patch("/people/<int:person_id>")
@operation("faces", (200, PersonDetail, "Changed."), 400, 404, json=PersonChange)
def person_change(person_id: int, json: PersonChange):
    """Rename a person, or mark them "do not recognise\""""
    user = api_user()
    person = service.get_person(user, person_id)
    if json.name is not None:
        service.rename_person(user, person, json.name)
    if json.do_not_recognise:
        service.do_not_recognise(user, person)
    return person_body(person, detail=True)


@bp.delete("/people/<int:person_id>")
@operation("faces", (204, "Deleted; their faces are unnamed now."), 404)
def person_delete(person_id: int):
    """Delete a person (their faces stay, unnamed)"""
    user = api_user()
    service.delete_person(user, service.get_person(user, person_id))
    return "", 204


@bp.post("/people/<int:person_id>/merge")
@operation("faces", (200, PersonDetail, "The person who kept every face."), 400, 404, json=Merge)
def person_merge(person_id: int, json: Merge):
    """Merge a person into another"""
    user = api_user()
    person = service.get_person(user, person_id)
    into = service.get_person(user, json.into)
    return person_body(service.merge_people(user, person, into), detail=True)


@bp.post("/people/<int:person_id>/split")
@operation("faces", (200, SplitResult, "The faces were taken away."), 400, 404, json=Split)
def person_split(person_id: int, json: Split) -> SplitResult:
    """Take faces away from a person (split)

    The faces become unnamed, or a new person's when `name` is given."""
    user = api_user()
    person = service.get_person(user, person_id)
    new = service.split_faces(user, person, json.face_ids, json.name)
    return SplitResult(person=person_body(person), new_person=person_body(new) if new is not None else None)
