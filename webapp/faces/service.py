"""Faces: compare two photos and analyse the faces in one, with the history and the embedding cache.

The pages, the JSON API and the Celery worker call these functions. Promises:

- Photos go through the file library: an upload is stored with `files.service.store_upload` (validated
  there), a picked photo must be the user's own image (`files.service.get_owned`).
- A job is a row (`FaceComparison` / `FaceAnalysis`) committed before any face work starts; it runs inline
  in the request without a broker, on the worker with one. It ends `done` or `failed` with a sentence and
  the HTTP status that sentence deserves (400 unreadable photo, 422 no face, 503 engine or worker
  unavailable). A job not finished `FACE_JOB_TIMEOUT` seconds after it was created is marked failed when
  it is next read: never pending forever.
- Embeddings are cached per file, model, detector, size and face (`FaceEmbedding`); a re-compare reuses
  them and decides with DeepFace's own distance and threshold functions (`FaceEngine.compare`), so the
  verdict and distance are the same as a fresh `DeepFace.verify` of the same two faces.
- Which faces are compared: by default the largest face of each photo (the person the photo is of), not
  DeepFace.verify's closest pair over all faces, which would call two group photos "the same person" as
  soon as anyone appears in both. The user can choose any other face of either photo (`choose_faces`).
  For one-face photos (the usual case) both rules pick the same pair.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from functools import cache
from typing import Any

from flask import current_app
from sqlalchemy import Select, Subquery, bindparam, func, literal, select, union_all, update
from sqlalchemy.exc import IntegrityError
from werkzeug.datastructures import FileStorage

from webapp.audit import service as audit
from webapp.auth.models import User
from webapp.bounds import page_number
from webapp.errors import Refused, ServiceError
from webapp.extensions import db
from webapp.faces import schemas, tasks
from webapp.faces.engine import DecodedImage, Face, FaceEngine
from webapp.faces.errors import EngineUnavailable, ImageDecodeError
from webapp.faces.models import DONE, FAILED, PENDING, RUNNING, FaceAnalysis, FaceComparison, FaceEmbedding, FaceSearch
from webapp.faces.runtime import runtime
from webapp.files import service as files
from webapp.files.models import StoredFile
from webapp.security import owned_or_404, require_owner
from webapp.timeutil import as_utc, utc_day, utcnow

log = logging.getLogger("webapp.faces")

NO_PHOTO_MESSAGE = "Choose {label}: upload a photo or pick one from your files."
NOT_A_PHOTO_MESSAGE = "“{name}” is not a photo; choose an image (JPEG, PNG, WebP, HEIC…)."
UNREADABLE_MESSAGE = "“{name}” could not be read as a photo ({reason})."
NO_FACE_MESSAGE = "No face was found in {which}. Choose a photo where a face is clearly visible."
TIMEOUT_MESSAGE = (
    "The face worker did not finish this job within {seconds} seconds (it may have stopped). Try again; "
    "if it keeps happening, ask an administrator to check the worker."
)
QUEUE_DOWN_MESSAGE = "The face worker's queue cannot be reached right now. Try again in a minute."
PHOTO_GONE_MESSAGE = "A photo of this comparison was deleted from your files; compare new photos instead."
UNEXPECTED_MESSAGE = "An unexpected error stopped this job. It has been logged."
NO_SUCH_RESULT_MESSAGE = "There is no such result, or it is not yours."

VERDICTS = {
    "same": "Same person",
    "different": "Different people",
    "analysis": "Analyses",
    "search": "Searches",
    "failed": "Failed",
}


# --- photos -----------------------------------------------------------------------------------------


def resolve_photo(
    user: User, upload: FileStorage | None, file_id: int | None, label: str, announce: bool = True
) -> StoredFile:
    """The photo for one slot of a form: a new upload (stored in the library first) or a picked file.

    `announce=False` stores an upload without telling the library's listeners (a face search indexes its own
    photo: the background indexer must not embed it a second time at the same moment)."""
    if upload is not None and upload.filename:
        try:
            stored = files.store_upload(user, upload, announce=announce)
        except Refused as refusal:
            # The library refuses what it cannot keep (its reasons, its statuses); for a face job anything
            # that is not a usable photo is a bad request (400), only "too large" keeps its own 413.
            if refusal.status == 413:
                raise
            raise Refused(refusal.message) from refusal
    elif file_id:
        stored = files.get_owned(user, file_id)
    else:
        raise Refused(NO_PHOTO_MESSAGE.format(label=label))
    if not stored.is_image:
        raise Refused(NOT_A_PHOTO_MESSAGE.format(name=stored.original_name))
    return stored


def read_photo(stored: StoredFile) -> bytes:
    with files.open_original(stored) as stream:
        return stream.read()


def decode_photo(face_engine: FaceEngine, stored: StoredFile) -> DecodedImage:
    """The photo's pixels, downscaled for the engine; the full decode takes one of the process's decode slots."""
    photo = read_photo(stored)
    with files.decode_slot():
        return face_engine.decode(photo)


def engine() -> FaceEngine:
    return runtime().engine


@dataclass(frozen=True)
class PhotoFaces:
    """The faces of one photo (boxes in its upright original pixels) with their embeddings."""

    width: int
    height: int
    faces: list[Face]
    cached: bool

    def stored(self) -> dict[str, Any]:
        """The faces as a result row keeps them (JSON): boxes and confidences, no embeddings."""
        return schemas.FacesOfPhoto.of(self).model_dump()


def _cache_key(stored_id: int, face_engine: FaceEngine):
    return (
        select(FaceEmbedding)
        .where(
            FaceEmbedding.file_id == stored_id,
            FaceEmbedding.model == face_engine.model,
            FaceEmbedding.detector == face_engine.detector,
            FaceEmbedding.max_side == (face_engine.max_side or 0),
        )
        .order_by(FaceEmbedding.face_index)
    )


def cached_faces(stored_id: int) -> PhotoFaces | None:
    """The photo's faces from the embedding cache, or None when it was never embedded with these settings."""
    from webapp.faces.analyzers import Box

    rows = list(db.session.scalars(_cache_key(stored_id, engine())))
    if not rows:
        return None
    faces = [Face(box=Box(**row.box), confidence=row.confidence, embedding=list(row.vector)) for row in rows]
    return PhotoFaces(rows[0].image_width, rows[0].image_height, faces, cached=True)


def faces_of(stored: StoredFile) -> PhotoFaces:
    """Detect and embed every face of a stored photo once; later calls read the cache.

    Raises ImageDecodeError (unreadable), EngineUnavailable (weights), ServiceError (file store).
    """
    cached = cached_faces(stored.id)
    if cached is not None:
        return cached
    face_engine = engine()
    decoded = decode_photo(face_engine, stored)
    faces = face_engine.detect_and_embed(decoded)
    if faces:
        for index, face in enumerate(faces):
            db.session.add(
                FaceEmbedding(
                    file_id=stored.id,
                    model=face_engine.model,
                    detector=face_engine.detector,
                    max_side=face_engine.max_side or 0,
                    face_index=index,
                    box=schemas.FaceBox.of(face.box).model_dump(),
                    confidence=face.confidence,
                    image_width=decoded.width,
                    image_height=decoded.height,
                    vector=face.embedding,
                )
            )
        try:
            db.session.commit()
        except IntegrityError:
            # Another job embedded the same photo at the same moment: theirs is as good as ours.
            db.session.rollback()
    return PhotoFaces(decoded.width, decoded.height, faces, cached=False)


def largest_face(faces: list[Face]) -> int:
    return max(range(len(faces)), key=lambda index: faces[index].box.w * faces[index].box.h)


# --- jobs -------------------------------------------------------------------------------------------


def _dispatch(row: FaceComparison | FaceAnalysis, task_name: str, run_inline) -> None:
    if not tasks.queue_enabled():
        run_inline(row.id)
        return
    try:
        tasks.enqueue(task_name, row.id)
    except Exception as error:
        log.warning("face job %s %s not queued: %s", task_name, row.id, error.__class__.__name__)
        _fail(type(row), row.id, QUEUE_DOWN_MESSAGE, 503)


def _claim(model: type, row_id: int) -> bool:
    """Move a pending job to running; False when it is gone, already taken, or expired."""
    result = db.session.execute(
        update(model).where(model.id == row_id, model.status == PENDING).values(status=RUNNING, started_at=utcnow())
    )
    db.session.commit()
    return result.rowcount == 1


def _fail(model: type, row_id: int, message: str, status: int, **values: Any) -> None:
    db.session.rollback()
    db.session.execute(
        update(model)
        .where(model.id == row_id, model.status.in_((PENDING, RUNNING)))
        .values(status=FAILED, error=message, error_status=status, finished_at=utcnow(), **values)
    )
    db.session.commit()


def job_error(error: Exception, name: str) -> tuple[str, int]:
    """The sentence and status a person gets for an error raised while computing."""
    if isinstance(error, ImageDecodeError):
        return UNREADABLE_MESSAGE.format(name=name, reason=str(error).removeprefix("not a readable image: ")), 400
    if isinstance(error, EngineUnavailable):
        return f"Face recognition is unavailable on this server: {error.message}", 503
    if isinstance(error, ServiceError):
        return error.message, error.status
    log.exception("face job failed")
    return UNEXPECTED_MESSAGE, 500


def start_comparison(user: User, photo_a: StoredFile, photo_b: StoredFile) -> FaceComparison:
    """Record a comparison of two of the user's photos and run it (inline) or queue it (worker)."""
    face_engine = engine()
    comparison = FaceComparison(
        user_id=user.id,
        file_a_id=photo_a.id,
        file_b_id=photo_b.id,
        name_a=photo_a.original_name,
        name_b=photo_b.original_name,
        model=face_engine.model,
        detector=face_engine.detector,
        metric=face_engine.metric,
        status=PENDING,
    )
    db.session.add(comparison)
    db.session.flush()
    audit.record("face.compare", user, comparison, detail=f"{photo_a.original_name} / {photo_b.original_name}")
    db.session.commit()
    _dispatch(comparison, tasks.COMPARE_TASK, run_comparison)
    db.session.expire_all()
    return db.session.get(FaceComparison, comparison.id)


def run_comparison(comparison_id: int) -> None:
    """Compute a pending comparison (inline or on the worker); every outcome is written to its row."""
    if not _claim(FaceComparison, comparison_id):
        return
    comparison = db.session.get(FaceComparison, comparison_id)
    started = time.perf_counter()
    photos: dict[str, PhotoFaces] = {}
    try:
        for side, stored, name in (
            ("a", comparison.file_a, comparison.name_a),
            ("b", comparison.file_b, comparison.name_b),
        ):
            if stored is None or stored.deleted_at is not None:
                raise Refused(PHOTO_GONE_MESSAGE, status=409)
            try:
                photos[side] = faces_of(stored)
            except Exception as error:
                message, status = job_error(error, name)
                raise _JobFailed(message, status) from error
    except _JobFailed as failure:
        _fail(FaceComparison, comparison_id, failure.message, failure.status, **_partial_faces(photos))
        return
    except ServiceError as error:
        _fail(FaceComparison, comparison_id, error.message, error.status)
        return
    comparison = db.session.get(FaceComparison, comparison_id)
    values: dict[str, Any] = _partial_faces(photos)
    missing = [
        f"“{name}”" for side, name in (("a", comparison.name_a), ("b", comparison.name_b)) if not photos[side].faces
    ]
    if missing:
        values.update(status=FAILED, error_status=422, error=NO_FACE_MESSAGE.format(which=" or ".join(missing)))
    else:
        face_a, face_b = largest_face(photos["a"].faces), largest_face(photos["b"].faces)
        values.update(
            face_a=face_a,
            face_b=face_b,
            status=DONE,
            cached=photos["a"].cached and photos["b"].cached,
            **_verdict(photos["a"].faces[face_a], photos["b"].faces[face_b]),
        )
    values.update(duration_ms=round((time.perf_counter() - started) * 1000), finished_at=utcnow())
    _finish(FaceComparison, comparison_id, values)


class _JobFailed(Exception):
    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def _partial_faces(photos: dict[str, PhotoFaces]) -> dict[str, Any]:
    return {f"faces_{side}": photo.stored() for side, photo in photos.items()}


def _finish(model: type, row_id: int, values: dict[str, Any]) -> None:
    """Write a finished job, unless it was marked failed (timed out) while it ran."""
    db.session.rollback()
    result = db.session.execute(update(model).where(model.id == row_id, model.status == RUNNING).values(**values))
    db.session.commit()
    if result.rowcount != 1:
        log.warning("%s %s finished after it timed out; result dropped", model.__name__, row_id)


def _verdict(face_a: Face, face_b: Face) -> dict[str, Any]:
    verdict = engine().compare(face_a.embedding, face_b.embedding)
    return {
        "verified": verdict.verified,
        "distance": verdict.distance,
        "threshold": verdict.threshold,
        "confidence": verdict.confidence,
        "metric": verdict.metric,
    }


def choose_faces(user: User, comparison: FaceComparison, face_a: int | None, face_b: int | None) -> FaceComparison:
    """Compare other faces of the same two photos, from the embedding cache (no detection again)."""
    if comparison.status != DONE:
        raise Refused("Faces can be chosen once the comparison has a result.", status=409)
    photos = []
    for stored in (comparison.file_a, comparison.file_b):
        cached = cached_faces(stored.id) if stored is not None and stored.deleted_at is None else None
        if cached is None:
            raise Refused(PHOTO_GONE_MESSAGE, status=409)
        photos.append(cached)
    chosen = [comparison.face_a if face_a is None else face_a, comparison.face_b if face_b is None else face_b]
    for index, photo, label in zip(chosen, photos, ("first", "second"), strict=True):
        if not 0 <= index < len(photo.faces):
            raise Refused(f"The {label} photo has no face number {index + 1}.")
    started = time.perf_counter()
    comparison.face_a, comparison.face_b = chosen
    for name, value in _verdict(photos[0].faces[chosen[0]], photos[1].faces[chosen[1]]).items():
        setattr(comparison, name, value)
    comparison.cached = True
    comparison.duration_ms = round((time.perf_counter() - started) * 1000)
    audit.record("face.compare.choose", user, comparison, detail=f"faces {chosen[0] + 1} / {chosen[1] + 1}")
    db.session.commit()
    return comparison


def start_analysis(user: User, photo: StoredFile) -> FaceAnalysis:
    face_engine = engine()
    analysis = FaceAnalysis(
        user_id=user.id,
        file_id=photo.id,
        name=photo.original_name,
        model=face_engine.model,
        detector=face_engine.detector,
        analyzer=face_engine.analyzer.name,
        status=PENDING,
    )
    db.session.add(analysis)
    db.session.flush()
    audit.record("face.analyze", user, analysis, detail=photo.original_name)
    db.session.commit()
    _dispatch(analysis, tasks.ANALYZE_TASK, run_analysis)
    db.session.expire_all()
    return db.session.get(FaceAnalysis, analysis.id)


def run_analysis(analysis_id: int) -> None:
    if not _claim(FaceAnalysis, analysis_id):
        return
    analysis = db.session.get(FaceAnalysis, analysis_id)
    started = time.perf_counter()
    stored = analysis.file
    try:
        if stored is None or stored.deleted_at is not None:
            raise Refused(PHOTO_GONE_MESSAGE, status=409)
        face_engine = engine()
        decoded = decode_photo(face_engine, stored)
        results = face_engine.analyze(decoded)
    except Exception as error:
        message, status = job_error(error, analysis.name)
        _fail(FaceAnalysis, analysis_id, message, status)
        return
    values: dict[str, Any] = {
        "faces": schemas.AnalysedPhoto(width=decoded.width, height=decoded.height, faces=results).model_dump(),
        "duration_ms": round((time.perf_counter() - started) * 1000),
        "finished_at": utcnow(),
        "status": DONE if results else FAILED,
    }
    if not results:
        values.update(error=NO_FACE_MESSAGE.format(which=f"“{analysis.name}”"), error_status=422)
    _finish(FaceAnalysis, analysis_id, values)


# --- reading ----------------------------------------------------------------------------------------


def expire_if_stale(row: FaceComparison | FaceAnalysis) -> None:
    """Mark a job failed when it has waited longer than FACE_JOB_TIMEOUT (its worker may have died)."""
    if row.status not in (PENDING, RUNNING):
        return
    seconds = current_app.config["FACE_JOB_TIMEOUT"]
    if as_utc(row.created_at) > utcnow() - timedelta(seconds=seconds):
        return
    _fail(type(row), row.id, TIMEOUT_MESSAGE.format(seconds=seconds), 503)
    db.session.refresh(row)


def _get(model: type, user: User, row_id: int, allow_admin: bool, audit_review: bool):
    row = owned_or_404(model, row_id, user, NO_SUCH_RESULT_MESSAGE, admins_too=allow_admin)
    if row.user_id != user.id:
        # An admin looking at someone else's result or its photos is a review, logged like chat reviews and admin
        # downloads: the page always; its photos, thumbnails and polls once a minute (they share the page's row).
        action, detail = f"face.{row.kind}.review_view", f"{row.kind} of {row.user.email}"
        if audit_review:
            audit.record(action, user, row, detail=detail)
        else:
            audit.record_view(action, user, row, detail=detail)
        db.session.commit()
    expire_if_stale(row)
    return row


def get_comparison(
    user: User, comparison_id: int, allow_admin: bool = True, audit_review: bool = False
) -> FaceComparison:
    """The user's comparison (admins: anyone's, for review), or NotFound.

    An admin's view of someone else's is audited: every time with `audit_review` (a page), else once per minute.
    """
    return _get(FaceComparison, user, comparison_id, allow_admin, audit_review)


def get_analysis(user: User, analysis_id: int, allow_admin: bool = True, audit_review: bool = False) -> FaceAnalysis:
    return _get(FaceAnalysis, user, analysis_id, allow_admin, audit_review)


def get_search(user: User, search_id: int, allow_admin: bool = True, audit_review: bool = False) -> FaceSearch:
    """The user's face search (admins: anyone's, for review, audited as the others)."""
    return _get(FaceSearch, user, search_id, allow_admin, audit_review)


def delete_result(user: User, row: FaceComparison | FaceAnalysis) -> None:
    """Delete a comparison or analysis from the history; the photos stay in the file library."""
    require_owner(row, user, NO_SUCH_RESULT_MESSAGE, admins_too=True)
    audit.record(f"face.{row.kind}.delete", user, row)
    db.session.delete(row)
    db.session.commit()


# Comparisons and analyses, as their `kind` in every list of both.
KINDS = ("comparison", "analysis", "search")
MODELS: dict[str, type[FaceComparison | FaceAnalysis | FaceSearch]] = {
    "comparison": FaceComparison,
    "analysis": FaceAnalysis,
    "search": FaceSearch,
}


def _results(
    conditions: Callable[[type[FaceComparison | FaceAnalysis]], list[Any]], kinds: tuple[str, ...] = KINDS
) -> Subquery:
    """Comparisons and analyses as one table of (kind, id, created_at, user_id), each kind filtered by
    `conditions(model)`: the history, the dashboard card, the activity chart and the owner filter are all made
    from this union."""
    parts = [
        select(
            literal(kind).label("kind"),
            MODELS[kind].id.label("id"),
            MODELS[kind].created_at.label("created_at"),
            MODELS[kind].user_id.label("user_id"),
        ).where(*conditions(MODELS[kind]))
        for kind in kinds
    ]
    return (union_all(*parts) if len(parts) > 1 else parts[0]).subquery()


def _newest_first(results: Subquery) -> Select:
    return select(results.c.kind, results.c.id).order_by(results.c.created_at.desc(), results.c.id.desc())


def history(viewer: User, verdict: str = "", owner_id: int | None = None, page: int = 1, per_page: int | None = None):
    """Comparisons and analyses newest first, as (pagination of (kind, id) rows, loaded objects by key).

    Staff see their own; admins see everyone's, or one owner's with `owner_id`.
    """
    owner = viewer.id if not viewer.is_admin else owner_id

    def conditions(model: type[FaceComparison | FaceAnalysis]) -> list[Any]:
        where = [model.user_id == owner] if owner else []
        if verdict in ("same", "different"):
            where += [FaceComparison.verified.is_(verdict == "same"), FaceComparison.status == DONE]
        elif verdict == "failed":
            where.append(model.status == FAILED)
        return where

    kinds = {
        "same": ("comparison",),
        "different": ("comparison",),
        "analysis": ("analysis",),
        "search": ("search",),
    }.get(verdict, KINDS)
    combined = _results(conditions, kinds)
    query = _newest_first(combined)
    per_page = per_page or current_app.config["PAGE_SIZE"]
    total = db.session.scalar(select(func.count()).select_from(combined)) or 0
    page = page_number(page)
    keys = db.session.execute(query.limit(per_page).offset((page - 1) * per_page)).all()
    items = _load(keys)
    for item in items:
        expire_if_stale(item)
    return HistoryPage(items=items, page=page, per_page=per_page, total=total)


def _load(keys) -> list[FaceComparison | FaceAnalysis]:
    """The rows that (kind, id) keys name, in the keys' order: one query per kind."""
    loaded: dict[tuple[str, int], Any] = {}
    for kind, model in MODELS.items():
        ids = [key.id for key in keys if key.kind == kind]
        if ids:
            for row in db.session.scalars(select(model).where(model.id.in_(ids))):
                loaded[(kind, row.id)] = row
    return [loaded[(key.kind, key.id)] for key in keys if (key.kind, key.id) in loaded]


@dataclass
class HistoryPage:
    """The few things the pagination macro reads, for a list made of two tables."""

    items: list[Any]
    page: int
    per_page: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages

    @property
    def prev_num(self) -> int:
        return self.page - 1

    @property
    def next_num(self) -> int:
        return self.page + 1


def recent(user: User, limit: int = 4) -> list[FaceComparison | FaceAnalysis]:
    """The user's latest comparisons and analyses, for the dashboard card."""
    items = _load(db.session.execute(_recent_keys(), {"user_id": user.id, "limit": limit}).all())
    for item in items:
        expire_if_stale(item)
    return items


@cache
def _recent_keys() -> Select:
    # Built once: the dashboard asks on every visit, and building the union costs more than running it.
    mine = _results(lambda model: [model.user_id == bindparam("user_id")])
    return _newest_first(mine).limit(bindparam("limit"))


def owners() -> list[User]:
    """Users who have face results, for the admin's owner filter."""
    with_results = select(_results(lambda model: []).c.user_id)
    return list(db.session.scalars(select(User).where(User.id.in_(with_results)).order_by(User.name)))


def result_status(row: FaceComparison | FaceAnalysis) -> int:
    """The HTTP status a page or the API answers with for this job's current state."""
    if row.status == DONE:
        return 200
    if row.status == FAILED:
        return row.error_status or 500
    return 202


@cache
def checks_per_day(one_user: bool) -> Select:
    """Face checks (comparisons and analyses together) per UTC day from `:since`, of `:user_id` when `one_user`;
    built once."""

    def conditions(model: type[FaceComparison | FaceAnalysis]) -> list[Any]:
        since = [model.created_at >= bindparam("since")]
        return [*since, model.user_id == bindparam("user_id")] if one_user else since

    checks = _results(conditions)
    day = utc_day(checks.c.created_at)
    return select(day, func.count()).group_by(day)
