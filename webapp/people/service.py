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
from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError

from webapp.audit import service as audit
from webapp.auth.models import User
from webapp.errors import Refused
from webapp.extensions import db
from webapp.faces import service as faces
from webapp.faces.engine import Face as DetectedFace
from webapp.faces.models import DONE, FAILED, RUNNING, FaceSearch
from webapp.files.models import StoredFile
from webapp.people import indexer
from webapp.people.matrix import FaceRows, MatrixCache, OwnerFaces, from_bytes, to_bytes, unit
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
            if int(library.file_ids[position]) != photo.id:
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
    if indexed is not None and indexed.status == INDEXED and indexed.width:
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
