"""People: the face index of every library photo, search by face, and the people named in a library.

The pages, the JSON API, the CLI and the Celery worker call these functions. Promises:

- Every image stored in the library is indexed in the background (`indexer.py`): each face found becomes a `Face`
  row (box, float32 embedding, owner) and the photo an `IndexedPhoto` (indexed, or failed with a sentence). An
  image without that row is pending; `flask faces index` does every pending one and can be stopped and run again.
- A face within the threshold of a named person's face is assigned to that person when it is indexed.
- Deleting a photo deletes its faces and index row in the same transaction that hides it.
- Every change to an owner's faces bumps that owner's `FaceLibraryVersion` in the same transaction, so each
  process's cached matrix (`matrix.py`) is reloaded before it could answer from stale faces.
- Search is exact: the cosine distance of the chosen face to every face of the library searched, best first;
  a match is `same_person` at or below the engine's threshold (DeepFace's for the model, or FACE_THRESHOLD).
  Staff search their own library; an admin may search everyone's, and each such search is audited. Every
  search is a `FaceSearch` row, shown in the face history.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from flask import current_app
from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError

from webapp.audit import service as audit
from webapp.auth.models import User
from webapp.errors import NotFound, Refused
from webapp.extensions import db
from webapp.faces import service as faces
from webapp.faces.engine import Face as DetectedFace
from webapp.faces.models import DONE, FAILED, RUNNING, FaceSearch
from webapp.files.models import StoredFile
from webapp.people import indexer
from webapp.people.matrix import FaceRows, MatrixCache, OwnerFaces, cosine_distances, from_bytes, to_bytes, unit
from webapp.people.models import FAILED as INDEX_FAILED
from webapp.people.models import INDEXED, Face, FaceLibraryVersion, IndexedPhoto, Person
from webapp.timeutil import utcnow

log = logging.getLogger("webapp.people")

EVERYONE_ONLY_ADMINS = "Only administrators can search everyone's photos."
NO_SUCH_FACE_MESSAGE = "The photo has no face number {number}: {found} found."
DEFAULT_LIMIT = 20
MAX_LIMIT = 500


# --- the per-owner matrices ----------------------------------------------------------------------------------


def matrices() -> MatrixCache:
    return current_app.extensions["face_matrices"]


def threshold() -> float:
    """The distance at or below which two faces are the same person: the engine's, as a comparison decides."""
    face_engine = faces.engine()
    if face_engine.threshold is not None:
        return float(face_engine.threshold)
    from deepface.modules import verification

    return float(verification.find_threshold(face_engine.model, face_engine.metric))


def library_version(user_id: int) -> int:
    version = db.session.scalar(select(FaceLibraryVersion.version).where(FaceLibraryVersion.user_id == user_id))
    return int(version or 0)


def bump(user_id: int) -> int:
    """Count one change to the owner's faces, in the caller's transaction (its commit publishes both together);
    returns the change's number. The row stays locked until that commit, so the number before it is exactly
    this one minus one: no other change can commit in between."""
    insert = postgresql_insert if db.session.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = insert(FaceLibraryVersion).values(user_id=user_id, version=1)
    statement = statement.on_conflict_do_update(
        index_elements=[FaceLibraryVersion.user_id], set_={"version": FaceLibraryVersion.version + 1}
    ).returning(FaceLibraryVersion.version)
    return int(db.session.execute(statement).scalar_one())


def owner_faces(user_id: int) -> OwnerFaces:
    """The owner's searchable faces, from this process's cache when it is at the owner's current version."""
    version = library_version(user_id)
    return matrices().get(user_id, version, lambda: _load(user_id, version))


def _load(user_id: int, version: int) -> OwnerFaces:
    searchable = (Face.user_id == user_id, Face.embedding.is_not(None))
    count = db.session.scalar(select(func.count(Face.id)).where(*searchable)) or 0
    rows = FaceRows(count)
    result = db.session.execute(
        select(Face.id, Face.file_id, Face.person_id, Face.embedding).where(*searchable).order_by(Face.id),
        execution_options={"yield_per": 5000},
    )
    for chunk in result.partitions():
        rows.add(tuple(row) for row in chunk)
    return rows.build(version)


# --- indexing ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class IndexStatus:
    indexed: int
    pending: int
    failed: int


def on_stored(stored: StoredFile) -> None:
    """The files service's "stored" event: queue a new image for indexing when FACE_INDEX_ON_UPLOAD is on."""
    if stored.is_image and current_app.config["FACE_INDEX_ON_UPLOAD"]:
        indexer.schedule(stored.id)


def on_deleting(stored: StoredFile) -> None:
    """The files service's "deleting" event: the photo's faces and index row go with it, in its transaction."""
    had_faces = db.session.scalar(select(func.count(Face.id)).where(Face.file_id == stored.id))
    db.session.query(Face).filter(Face.file_id == stored.id).delete(synchronize_session=False)
    db.session.query(IndexedPhoto).filter(IndexedPhoto.file_id == stored.id).delete(synchronize_session=False)
    if had_faces:
        bump(stored.user_id)


def sorted_faces(detected: list[DetectedFace]) -> list[DetectedFace]:
    """Largest first (the person a photo is of comes first); equal sizes left to right."""
    return sorted(detected, key=lambda face: (-face.box.w * face.box.h, face.box.x, face.box.y))


def detect(stored: StoredFile) -> tuple[int, int, list[DetectedFace]]:
    """The photo's (width, height, faces largest first): from the comparisons' embedding cache when the photo was
    compared before, else detected and embedded now. Raises what the engine and the file store raise."""
    cached = faces.cached_faces(stored.id)
    if cached is not None:
        return cached.width, cached.height, sorted_faces(cached.faces)
    face_engine = faces.engine()
    decoded = faces.decode_photo(face_engine, stored)
    return decoded.width, decoded.height, sorted_faces(face_engine.detect_and_embed(decoded))


def index_photo(file_id: int) -> IndexedPhoto | None:
    """Index one library photo (skipped when it is gone, not an image, or already indexed); returns its row."""
    stored = db.session.get(StoredFile, file_id)
    if stored is None or stored.deleted_at is not None or not stored.is_image:
        return None
    done = db.session.get(IndexedPhoto, file_id)
    if done is not None:
        return done
    try:
        width, height, detected = detect(stored)
    except Exception as error:
        db.session.rollback()
        message, _status = faces.job_error(error, stored.original_name)
        return _record(IndexedPhoto(file_id=file_id, user_id=stored.user_id, status=INDEX_FAILED, error=message))
    return store_faces(stored, width, height, detected)


def store_faces(stored: StoredFile, width: int, height: int, detected: list[DetectedFace]) -> IndexedPhoto | None:
    """Write a photo's faces (largest first) and its index row; a face matching someone not to be recognised is
    dropped, one within the threshold of a named person's face is assigned to them."""
    limit = threshold()
    excluded = exclusions(stored.user_id)
    library = owner_faces(stored.user_id) if detected else None
    added: list[Face] = []
    for index, face in enumerate(detected):
        vector = np.asarray(face.embedding, dtype=np.float32)
        if excluded is not None and excluded.nearest(vector, limit, 1):
            continue
        added.append(
            Face(
                user_id=stored.user_id,
                file_id=stored.id,
                face_index=index,
                x=face.box.x,
                y=face.box.y,
                w=face.box.w,
                h=face.box.h,
                confidence=face.confidence,
                embedding=to_bytes(face.embedding),
                person_id=_person_for(library, vector, limit),
            )
        )
    db.session.add_all(added)
    row = IndexedPhoto(
        file_id=stored.id, user_id=stored.user_id, status=INDEXED, faces=len(added), width=width, height=height
    )
    owner_id, file_id = stored.user_id, stored.id
    version = bump(owner_id) if added else None
    db.session.flush()
    rows = [(face.id, file_id, face.person_id, face.embedding) for face in added]
    recorded = _record(row)
    if recorded is row and version is not None:
        # This process's matrix takes the new faces at once, instead of reloading every face on the next search.
        matrices().append(owner_id, version - 1, version, rows)
    return recorded


def _record(row: IndexedPhoto) -> IndexedPhoto | None:
    db.session.add(row)
    try:
        db.session.commit()
    except IntegrityError:
        # Another process indexed the same photo at the same moment (or it was deleted meanwhile): theirs stands.
        db.session.rollback()
        return db.session.get(IndexedPhoto, row.file_id)
    return row


def _person_for(library: OwnerFaces | None, vector: np.ndarray, limit: float) -> int | None:
    """The person whose nearest face is within the threshold, if any face of a person is."""
    if library is None or not len(library) or not library.person_ids.any():
        return None
    named = library.person_ids > 0
    distances = 1.0 - library.vectors[named] @ unit(vector)
    best = int(np.argmin(distances))
    return int(library.person_ids[named][best]) if round(float(distances[best]), 6) <= limit else None


def exclusions(user_id: int) -> OwnerFaces | None:
    """The vectors kept for the owner's people marked "do not recognise", as a matrix (None when there are none)."""
    vectors = list(
        db.session.scalars(select(Person.exclusion).where(Person.user_id == user_id, Person.exclusion.is_not(None)))
    )
    if not vectors:
        return None
    rows = FaceRows(len(vectors), dimensions=len(from_bytes(vectors[0])))
    rows.add((number, 0, None, vector) for number, vector in enumerate(vectors, start=1))
    return rows.build(0)


def index_status(user: User) -> IndexStatus:
    images = db.session.scalar(
        select(func.count(StoredFile.id)).where(
            StoredFile.user_id == user.id, StoredFile.kind == "image", StoredFile.deleted_at.is_(None)
        )
    )
    counts = dict(
        db.session.execute(
            select(IndexedPhoto.status, func.count())
            .join(StoredFile, StoredFile.id == IndexedPhoto.file_id)
            .where(IndexedPhoto.user_id == user.id, StoredFile.deleted_at.is_(None))
            .group_by(IndexedPhoto.status)
        ).all()
    )
    indexed, failed = counts.get(INDEXED, 0), counts.get(INDEX_FAILED, 0)
    return IndexStatus(indexed=indexed, pending=max(0, (images or 0) - indexed - failed), failed=failed)


def pending_photos(user_id: int | None = None, retry_failed: bool = False) -> list[int]:
    """Ids of the library images not indexed yet (and those that failed, with `retry_failed`), oldest first."""
    query = (
        select(StoredFile.id)
        .outerjoin(IndexedPhoto, IndexedPhoto.file_id == StoredFile.id)
        .where(StoredFile.kind == "image", StoredFile.deleted_at.is_(None))
        .order_by(StoredFile.id)
    )
    if retry_failed:
        query = query.where((IndexedPhoto.file_id.is_(None)) | (IndexedPhoto.status == INDEX_FAILED))
    else:
        query = query.where(IndexedPhoto.file_id.is_(None))
    if user_id is not None:
        query = query.where(StoredFile.user_id == user_id)
    return list(db.session.scalars(query))


def forget_failure(file_id: int) -> None:
    db.session.query(IndexedPhoto).filter(IndexedPhoto.file_id == file_id, IndexedPhoto.status == INDEX_FAILED).delete(
        synchronize_session=False
    )
    db.session.commit()


# --- search --------------------------------------------------------------------------------------------------


def search(
    user: User,
    photo: StoredFile,
    face: int | None = None,
    limit: int | None = None,
    include_all: bool = False,
    everyone: bool = False,
) -> FaceSearch:
    """Search the library (everyone's with `everyone`, admins only) for the person of one face of `photo`.

    Returns the finished `FaceSearch`; raises Refused with the status a failure deserves (422 no face, 400
    unreadable or no such face, 503 engine unavailable), after keeping the failed search in the history."""
    if everyone and not user.is_admin:
        raise Refused(EVERYONE_ONLY_ADMINS, status=403, field="scope")
    limit = DEFAULT_LIMIT if limit is None else limit
    face_engine = faces.engine()
    started = time.perf_counter()
    row = FaceSearch(
        user_id=user.id,
        file_id=photo.id,
        name=photo.original_name,
        scope="all" if everyone else "own",
        model=face_engine.model,
        detector=face_engine.detector,
        status=RUNNING,
        started_at=utcnow(),
    )
    db.session.add(row)
    db.session.flush()
    if everyone:
        audit.record("face.search.everyone", user, row, detail=photo.original_name)
    db.session.commit()
    try:
        width, height, detected, indexed = query_faces(photo)
    except Exception as error:
        message, status = faces.job_error(error, photo.original_name)
        _fail(row.id, message, status, started, None)
        raise Refused(message, status=status) from error
    found_faces = faces.PhotoFaces(width, height, detected, cached=indexed).stored()
    if not detected:
        message = faces.NO_FACE_MESSAGE.format(which=f"“{photo.original_name}”")
        _fail(row.id, message, 422, started, found_faces)
        raise Refused(message, status=422)
    chosen = 0 if face is None else face
    if not 0 <= chosen < len(detected):
        message = NO_SUCH_FACE_MESSAGE.format(number=chosen + 1, found=len(detected))
        _fail(row.id, message, 400, started, found_faces)
        raise Refused(message, field="face")
    limit_value = threshold()
    query = np.asarray(detected[chosen].embedding, dtype=np.float32)
    owners = _owners_with_faces() if everyone else [user.id]
    found: list[tuple[float, int, int]] = []  # (distance, face id, owner)
    searched = 0
    for owner in owners:
        excluded = exclusions(owner)
        if excluded is not None and excluded.nearest(query, limit_value, 1):
            continue  # the person is not to be recognised in this library: nothing of theirs is returned
        library = owner_faces(owner)
        searched += len(library)
        # A few more than asked: the faces of the query photo itself are left out below.
        for position, distance in library.nearest(query, None if include_all else limit_value, limit + len(detected)):
            if int(library.file_ids[position]) == photo.id:
                continue
            if excluded is not None and excluded.nearest(library.vectors[position], limit_value, 1):
                continue  # a face like someone not to be recognised (indexed before they were marked)
            found.append((distance, int(library.face_ids[position]), owner))
    found.sort()
    row.faces = found_faces
    row.face = chosen
    row.searched = searched
    row.threshold = limit_value
    row.matches = _matches(found[:limit], limit_value)
    row.status = DONE
    row.finished_at = utcnow()
    row.duration_ms = round((time.perf_counter() - started) * 1000)
    db.session.commit()
    if not indexed and db.session.get(IndexedPhoto, photo.id) is None:
        # A photo searched with is indexed after the answer is made (its faces then change the library's version).
        store_faces(photo, width, height, detected)
    return db.session.get(FaceSearch, row.id)


def query_faces(photo: StoredFile) -> tuple[int, int, list[DetectedFace], bool]:
    """The (width, height, faces, from the index) of the photo searched with: from the index when it is indexed
    with its embeddings, else detected now (the search then indexes it, so the background job has nothing left)."""
    from webapp.faces.analyzers import Box

    indexed = db.session.get(IndexedPhoto, photo.id)
    # A photo indexed with no face is detected again: its faces may have been deleted (do not recognise).
    if indexed is not None and indexed.status == INDEXED and indexed.width and indexed.faces:
        rows = list(db.session.scalars(select(Face).where(Face.file_id == photo.id).order_by(Face.face_index)))
        if len(rows) == indexed.faces and all(row.embedding is not None for row in rows):
            detected = [
                DetectedFace(
                    box=Box(row.x, row.y, row.w, row.h),
                    confidence=row.confidence,
                    embedding=from_bytes(row.embedding).tolist(),  # type: ignore[arg-type]
                )
                for row in rows
            ]
            return indexed.width, indexed.height or 0, detected, True
    width, height, detected = detect(photo)
    return width, height, detected, False


def _owners_with_faces() -> list[int]:
    return list(db.session.scalars(select(Face.user_id).where(Face.embedding.is_not(None)).distinct()))


def _matches(found: list[tuple[float, int, int]], limit_value: float) -> list[dict[str, Any]]:
    """The answer's matches, best first, with each face's box, its photo's size and its person."""
    ids = [face_id for _, face_id, _ in found]
    rows = {
        face.id: (face, person, indexed)
        for face, person, indexed in db.session.execute(
            select(Face, Person, IndexedPhoto)
            .outerjoin(Person, Person.id == Face.person_id)
            .outerjoin(IndexedPhoto, IndexedPhoto.file_id == Face.file_id)
            .where(Face.id.in_(ids))
        ).all()
    }
    matches = []
    for distance, face_id, owner in found:
        if face_id not in rows:
            continue  # deleted since the matrix was read
        face, person, indexed = rows[face_id]
        matches.append(
            {
                "file_id": face.file_id,
                "face_id": face.id,
                "box": face.box,
                "distance": distance,
                "same_person": distance <= limit_value,
                "person": {"id": person.id, "name": person.name} if person is not None else None,
                # For the page: the photo's frame and owner (the API answers the fields above only).
                "width": indexed.width if indexed is not None else None,
                "height": indexed.height if indexed is not None else None,
                "owner_id": owner,
            }
        )
    return matches


def _fail(row_id: int, message: str, status: int, started: float, found_faces: dict[str, Any] | None) -> None:
    db.session.rollback()
    db.session.execute(
        update(FaceSearch)
        .where(FaceSearch.id == row_id)
        .values(
            status=FAILED,
            error=message,
            error_status=status,
            faces=found_faces,
            finished_at=utcnow(),
            duration_ms=round((time.perf_counter() - started) * 1000),
        )
    )
    db.session.commit()


# --- people --------------------------------------------------------------------------------------------------

NO_SUCH_PERSON_MESSAGE = "There is no such person, or they are not in your library."
NO_SUCH_FACE_IN_LIBRARY = "There is no such face in your library."
NAME_REQUIRED = "Give the person a name."
NAME_TOO_LONG = "A name can be at most 120 characters."
NOT_ONE_FACE = "“{name}” shows {count} faces; choose a photo with exactly one face, or name the faces one by one."
NOTHING_TO_NAME = "Choose at least one photo or face."
MERGE_INTO_ITSELF = "A person cannot be merged into themselves."
NOT_THEIR_FACE = "Face {face_id} is not one of this person's faces."


@dataclass(frozen=True)
class PersonSummary:
    id: int
    name: str
    faces: int
    photos: int
    do_not_recognise: bool
    cover: Face | None = None  # one of their faces, for the card's crop


def clean_person_name(name: str | None) -> str:
    from webapp.bounds import without_nul

    cleaned = " ".join(without_nul(name or "").split())
    if not cleaned:
        raise Refused(NAME_REQUIRED, field="name")
    if len(cleaned) > 120:
        raise Refused(NAME_TOO_LONG, field="name")
    return cleaned


def get_person(user: User, person_id: int) -> Person:
    from webapp.security import owned_or_404

    return owned_or_404(Person, person_id, user, NO_SUCH_PERSON_MESSAGE)


def _owned_faces(user: User, face_ids: list[int]) -> list[Face]:
    from webapp.bounds import is_database_id

    wanted = {face_id for face_id in face_ids if is_database_id(face_id)}
    found = list(db.session.scalars(select(Face).where(Face.id.in_(wanted), Face.user_id == user.id)))
    if len(found) != len(set(face_ids)):
        raise NotFound(NO_SUCH_FACE_IN_LIBRARY)
    return found


def _faces_of_photos(user: User, file_ids: list[int]) -> list[Face]:
    """The one face of each photo (indexed now if it was still pending); 422 naming a photo without exactly one."""
    from webapp.files import service as files

    chosen: list[Face] = []
    for file_id in dict.fromkeys(file_ids):
        stored = files.get_owned(user, file_id)
        if not stored.is_image:
            raise Refused(faces.NOT_A_PHOTO_MESSAGE.format(name=stored.original_name), status=422, field="file_ids")
        if db.session.get(IndexedPhoto, stored.id) is None:
            index_photo(stored.id)
            stored = files.get_owned(user, file_id)
        indexed = db.session.get(IndexedPhoto, stored.id)
        if indexed is not None and indexed.status == INDEX_FAILED:
            raise Refused(indexed.error or "", status=422, field="file_ids")
        found = list(db.session.scalars(select(Face).where(Face.file_id == stored.id)))
        if len(found) != 1:
            message = NOT_ONE_FACE.format(name=stored.original_name, count=len(found) or "no")
            raise Refused(message, status=422, field="file_ids")
        chosen.append(found[0])
    return chosen


def create_person(
    user: User, name: str, file_ids: list[int] | None = None, face_ids: list[int] | None = None
) -> Person:
    """A person named from photos (each with exactly one face) and/or faces of the library; the library's unnamed
    faces within the threshold of theirs are given to them too."""
    name = clean_person_name(name)
    chosen = _faces_of_photos(user, file_ids or []) + _owned_faces(user, face_ids or [])
    if not chosen:
        raise Refused(NOTHING_TO_NAME, field="file_ids")
    person = Person(user_id=user.id, name=name)
    db.session.add(person)
    db.session.flush()
    for face in chosen:
        face.person_id = person.id
    db.session.flush()
    _gather(user.id, person.id, [face.id for face in chosen])
    bump(user.id)
    audit.record("person.create", user, person, detail=f"{name}: {len(chosen)} faces")
    db.session.commit()
    return person


def _gather(owner_id: int, person_id: int, face_ids: list[int]) -> None:
    """Give the person every unnamed face of the library within the threshold of one of `face_ids`."""
    library = owner_faces(owner_id)
    if not len(library):
        return
    positions = np.flatnonzero(np.isin(library.face_ids, face_ids))
    unnamed = library.person_ids == 0
    if not len(positions) or not unnamed.any():
        return
    distances = 1.0 - library.vectors[unnamed] @ library.vectors[positions].T
    near = np.round(distances.min(axis=1), 6) <= threshold()
    gathered = library.face_ids[unnamed][near].tolist()
    if gathered:
        db.session.execute(
            update(Face)
            .where(Face.id.in_(gathered), Face.person_id.is_(None), Face.user_id == owner_id)
            .values(person_id=person_id)
        )


def summaries(user: User) -> list[PersonSummary]:
    """The user's people by name, with their counts of faces and photos, and one face each for a crop."""
    counts = {
        person_id: (faces_count, photos)
        for person_id, faces_count, photos in db.session.execute(
            select(Face.person_id, func.count(Face.id), func.count(func.distinct(Face.file_id)))
            .where(Face.user_id == user.id, Face.person_id.is_not(None))
            .group_by(Face.person_id)
        ).all()
    }
    covers = {
        face.person_id: face
        for face in db.session.scalars(
            select(Face).where(
                Face.id.in_(
                    select(func.min(Face.id))
                    .where(Face.user_id == user.id, Face.person_id.is_not(None))
                    .group_by(Face.person_id)
                )
            )
        )
    }
    people = db.session.scalars(select(Person).where(Person.user_id == user.id).order_by(Person.name, Person.id))
    return [
        PersonSummary(
            id=person.id,
            name=person.name,
            faces=counts.get(person.id, (0, 0))[0],
            photos=counts.get(person.id, (0, 0))[1],
            do_not_recognise=person.do_not_recognise,
            cover=covers.get(person.id),
        )
        for person in people
    ]


def summary(person: Person) -> PersonSummary:
    faces_count, photos = db.session.execute(
        select(func.count(Face.id), func.count(func.distinct(Face.file_id))).where(Face.person_id == person.id)
    ).one()
    return PersonSummary(person.id, person.name, faces_count, photos, person.do_not_recognise)


def person_faces(person: Person) -> list[tuple[Face, IndexedPhoto | None]]:
    """The person's faces, newest photo first, each with its photo's index row (its size, for the boxes)."""
    return list(
        db.session.execute(
            select(Face, IndexedPhoto)
            .outerjoin(IndexedPhoto, IndexedPhoto.file_id == Face.file_id)
            .where(Face.person_id == person.id)
            .order_by(Face.file_id.desc(), Face.face_index)
        ).all()
    )


def photo_ids(person: Person) -> list[int]:
    return list(
        db.session.scalars(
            select(Face.file_id).where(Face.person_id == person.id).distinct().order_by(Face.file_id.desc())
        )
    )


def rename_person(user: User, person: Person, name: str) -> Person:
    name = clean_person_name(name)
    if name != person.name:
        audit.record("person.rename", user, person, detail=f"{person.name} → {name}")
        person.name = name
        db.session.commit()
    return person


def delete_person(user: User, person: Person) -> None:
    """Delete the person; their faces stay in the index, unnamed."""
    db.session.execute(update(Face).where(Face.person_id == person.id).values(person_id=None))
    bump(person.user_id)
    audit.record("person.delete", user, person, detail=person.name)
    db.session.delete(person)
    db.session.commit()


def merge_people(user: User, person: Person, into: Person) -> Person:
    """Every face of `person` becomes `into`'s; `person` is deleted."""
    if person.id == into.id:
        raise Refused(MERGE_INTO_ITSELF, field="into")
    db.session.execute(update(Face).where(Face.person_id == person.id).values(person_id=into.id))
    bump(person.user_id)
    audit.record("person.merge", user, into, detail=f"{person.name} → {into.name}")
    db.session.delete(person)
    db.session.commit()
    return into


def split_faces(user: User, person: Person, face_ids: list[int], name: str | None = None) -> Person | None:
    """Take faces away from a person (wrongly given to them): unnamed, or a new person when `name` is given."""
    chosen = _owned_faces(user, face_ids)
    if not chosen:
        raise Refused(NOTHING_TO_NAME, field="face_ids")
    for face in chosen:
        if face.person_id != person.id:
            raise Refused(NOT_THEIR_FACE.format(face_id=face.id), field="face_ids")
    new = None
    if name is not None and name.strip():
        new = Person(user_id=user.id, name=clean_person_name(name))
        db.session.add(new)
        db.session.flush()
    for face in chosen:
        face.person_id = new.id if new is not None else None
    bump(person.user_id)
    audit.record("person.split", user, person, detail=f"{len(chosen)} faces → {new.name if new else 'unnamed'}")
    db.session.commit()
    return new


@dataclass(frozen=True)
class FaceGroup:
    """Unnamed faces that look like one person: each within the threshold of another of the group."""

    faces: list[tuple[Face, IndexedPhoto | None]]


def suggested_groups(user: User, limit: int = 2000) -> list[FaceGroup]:
    """The library's unnamed faces (the newest `limit`) grouped into suggested people: faces closer than the
    threshold are joined (single linkage, the same distance and threshold as search), largest group first."""
    rows = list(
        db.session.execute(
            select(Face, IndexedPhoto)
            .outerjoin(IndexedPhoto, IndexedPhoto.file_id == Face.file_id)
            .where(Face.user_id == user.id, Face.person_id.is_(None), Face.embedding.is_not(None))
            .order_by(Face.id.desc())
            .limit(limit)
        ).all()
    )
    if not rows:
        return []
    vectors = np.stack([unit(from_bytes(face.embedding)) for face, _ in rows])  # type: ignore[arg-type]
    close = np.round(1.0 - vectors @ vectors.T, 6) <= threshold()
    parent = list(range(len(rows)))

    def root(item: int) -> int:
        while parent[item] != item:
            parent[item] = parent[parent[item]]
            item = parent[item]
        return item

    for first, second in zip(*np.nonzero(np.triu(close, 1)), strict=True):
        parent[root(int(first))] = root(int(second))
    groups: dict[int, list[tuple[Face, IndexedPhoto | None]]] = {}
    for position, row in enumerate(rows):
        groups.setdefault(root(position), []).append(row)
    return [FaceGroup(faces=members) for members in sorted(groups.values(), key=lambda group: -len(group))]


# --- face data under the owner's control ---------------------------------------------------------------------


def do_not_recognise(user: User, person: Person) -> Person:
    """Stop recognising a person: their faces (and the library's unnamed faces that match them) are deleted, and
    only the mean of their unit embeddings is kept on the person, so that a face matching them from now on is
    neither stored, assigned nor returned by search."""
    if person.do_not_recognise:
        return person
    theirs = list(db.session.scalars(select(Face).where(Face.person_id == person.id, Face.embedding.is_not(None))))
    vectors = [unit(from_bytes(face.embedding)) for face in theirs]  # type: ignore[arg-type]
    if vectors:
        person.exclusion = to_bytes(unit(np.mean(vectors, axis=0)))
    doomed = {face.id: face.file_id for face in db.session.scalars(select(Face).where(Face.person_id == person.id))}
    if person.exclusion is not None:
        library = owner_faces(person.user_id)
        if len(library):
            near = cosine_distances(library.vectors, from_bytes(person.exclusion)) <= threshold()
            for face_id, file_id, person_id in zip(
                library.face_ids[near].tolist(),
                library.file_ids[near].tolist(),
                library.person_ids[near].tolist(),
                strict=True,
            ):
                if person_id == 0:
                    doomed[face_id] = file_id
    _delete_faces(doomed)
    person.do_not_recognise = True
    bump(person.user_id)
    audit.record("person.do_not_recognise", user, person, detail=f"{person.name}: {len(doomed)} faces deleted")
    db.session.commit()
    return person


def _delete_faces(doomed: dict[int, int]) -> None:
    """Delete faces (id → photo id), keeping each photo's count of faces right."""
    if not doomed:
        return
    db.session.execute(delete(Face).where(Face.id.in_(list(doomed))))
    per_photo: dict[int, int] = {}
    for file_id in doomed.values():
        per_photo[file_id] = per_photo.get(file_id, 0) + 1
    for file_id, count in per_photo.items():
        db.session.execute(
            update(IndexedPhoto).where(IndexedPhoto.file_id == file_id).values(faces=IndexedPhoto.faces - count)
        )


def purge_embeddings(days: int) -> int:
    """Delete the embeddings of faces indexed more than `days` days ago (their boxes and names stay; they are no
    longer searched nor grouped), and the comparisons' cached embeddings as old. Returns how many went."""
    from datetime import timedelta

    from webapp.faces.models import FaceEmbedding

    before = utcnow() - timedelta(days=days)
    owners = list(
        db.session.scalars(select(Face.user_id).where(Face.created_at < before, Face.embedding.is_not(None)).distinct())
    )
    purged = db.session.execute(
        update(Face).where(Face.created_at < before, Face.embedding.is_not(None)).values(embedding=None)
    ).rowcount
    cached = db.session.execute(delete(FaceEmbedding).where(FaceEmbedding.created_at < before)).rowcount
    for owner in owners:
        bump(owner)
    db.session.commit()
    return int(purged or 0) + int(cached or 0)


# --- the library filtered by people ------------------------------------------------------------------------


def library_filter(user: User, arguments: Any) -> Any:
    """The file library's "People" filter: photos with every chosen person (`?person=ID&person=ID`), or photos
    with nobody recognised in them (`?person=none`)."""
    from webapp.bounds import is_database_id
    from webapp.files.service import LibraryFilter

    values = arguments.getlist("person")
    unrecognised = "none" in values
    chosen = sorted({int(value) for value in values if value.isdecimal() and is_database_id(int(value))})
    choices = [item for item in summaries(user) if not item.do_not_recognise]
    within = None
    if unrecognised:
        named = select(Face.file_id).where(Face.user_id == user.id, Face.person_id.is_not(None))
        within = select(StoredFile.id).where(
            StoredFile.user_id == user.id, StoredFile.kind == "image", StoredFile.id.not_in(named)
        )
        chosen = []
    elif chosen:
        within = (
            select(Face.file_id)
            .where(Face.user_id == user.id, Face.person_id.in_(chosen))
            .group_by(Face.file_id)
            .having(func.count(func.distinct(Face.person_id)) == len(chosen))
        )
    kept = ["none"] if unrecognised else [str(person_id) for person_id in chosen]
    return LibraryFilter(
        within=within,
        arguments={"person": kept} if kept else {},
        template="people/_library_filter.html",
        context={"people": choices, "chosen": chosen, "unrecognised": unrecognised},
    )
