"""People over JSON: the face index's progress and search by face; the same service as the pages.

GET  /api/face/index    {"indexed", "pending", "failed"} for your library
POST /api/face/search   multipart `image` (or `file_id`), or JSON {"file_id": N}; optional `face`, `limit`, `all`
                        (also a query parameter) and `scope` ("all": everyone's photos, administrators, audited)
"""

from __future__ import annotations

from webapp.api import bp
from webapp.api.auth import api_user
from webapp.api.spec import operation
from webapp.faces import service as faces
from webapp.files.uploads import accepts_uploads
from webapp.people import service
from webapp.people.schemas import IndexStatus, SearchForm, SearchJson, SearchQuery, SearchResult


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
