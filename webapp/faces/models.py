"""Face comparisons, analyses and the embedding cache.

Photos live in the file library (StoredFile). A comparison or analysis keeps its result (boxes, verdict,
attributes) when its photo is deleted (the file link becomes NULL, the name stays for the history); the
embeddings of a file are deleted with it.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, Boolean, DateTime, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, backref, mapped_column, relationship

from webapp.extensions import db
from webapp.timeutil import utcnow

if TYPE_CHECKING:
    from webapp.auth.models import User
    from webapp.files.models import StoredFile

# Job states. "pending": waiting for the worker; "running": being computed; "done": a result;
# "failed": no result, `error` says why and `error_status` is the HTTP status that reason deserves.
PENDING, RUNNING, DONE, FAILED = "pending", "running", "done", "failed"
STATUSES = (PENDING, RUNNING, DONE, FAILED)


class FaceJobMixin:
    """Columns every face job has."""

    status: Mapped[str] = mapped_column(String(16), default=PENDING)
    error: Mapped[str | None] = mapped_column(Text)
    error_status: Mapped[int | None] = mapped_column(Integer)
    model: Mapped[str] = mapped_column(String(32))
    detector: Mapped[str] = mapped_column(String(32))
    duration_ms: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class FaceComparison(FaceJobMixin, db.Model):
    __tablename__ = "face_comparisons"
    __table_args__ = (Index("ix_face_comparisons_user_id_created_at", "user_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    file_a_id: Mapped[int | None] = mapped_column(ForeignKey("stored_files.id", ondelete="SET NULL"), index=True)
    file_b_id: Mapped[int | None] = mapped_column(ForeignKey("stored_files.id", ondelete="SET NULL"), index=True)
    # Kept for the history when a photo is deleted from the library.
    name_a: Mapped[str] = mapped_column(String(255))
    name_b: Mapped[str] = mapped_column(String(255))
    # The faces to compare (index into faces_a / faces_b); None until chosen (default: the largest).
    face_a: Mapped[int | None] = mapped_column(Integer)
    face_b: Mapped[int | None] = mapped_column(Integer)
    verified: Mapped[bool | None] = mapped_column(Boolean, index=True)
    distance: Mapped[float | None] = mapped_column(Float)
    threshold: Mapped[float | None] = mapped_column(Float)
    confidence: Mapped[float | None] = mapped_column(Float)
    metric: Mapped[str | None] = mapped_column(String(16))
    # True when both photos' embeddings came from the cache (no detection was run for this result).
    cached: Mapped[bool] = mapped_column(Boolean, default=False)
    # {"width", "height", "faces": [{"box": {x, y, w, h}, "confidence"}]} in original-photo pixels.
    faces_a: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    faces_b: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    user: Mapped[User] = relationship("User")
    # The backrefs make the ORM null these links when a file is deleted, on SQLite too (which does not
    # enforce ON DELETE unless told to); PostgreSQL's SET NULL does the same for deletes outside the ORM.
    file_a: Mapped[StoredFile | None] = relationship(
        "StoredFile", foreign_keys=[file_a_id], backref=backref("face_comparisons_as_a", lazy="select")
    )
    file_b: Mapped[StoredFile | None] = relationship(
        "StoredFile", foreign_keys=[file_b_id], backref=backref("face_comparisons_as_b", lazy="select")
    )

    kind = "comparison"

    def __repr__(self) -> str:
        return f"<FaceComparison {self.id} {self.status} verified={self.verified}>"


class FaceAnalysis(FaceJobMixin, db.Model):
    __tablename__ = "face_analyses"
    __table_args__ = (Index("ix_face_analyses_user_id_created_at", "user_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    file_id: Mapped[int | None] = mapped_column(ForeignKey("stored_files.id", ondelete="SET NULL"), index=True)
    name: Mapped[str] = mapped_column(String(255))
    analyzer: Mapped[str] = mapped_column(String(16))
    # schemas.AnalysedPhoto: {"width", "height", "faces": [every FaceAttributes field, ...]} in original-photo pixels.
    faces: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    user: Mapped[User] = relationship("User")
    file: Mapped[StoredFile | None] = relationship("StoredFile", backref=backref("face_analyses", lazy="select"))

    kind = "analysis"

    def __repr__(self) -> str:
        return f"<FaceAnalysis {self.id} {self.status}>"


class FaceEmbedding(db.Model):
    """One face of one stored photo, embedded by one model after one detector at one size: reused, not recomputed."""

    __tablename__ = "face_embeddings"
    __table_args__ = (
        UniqueConstraint(
            "file_id",
            "model",
            "detector",
            "max_side",
            "face_index",
            name="uq_face_embeddings_file_model_detector_side_face",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    file_id: Mapped[int] = mapped_column(ForeignKey("stored_files.id", ondelete="CASCADE"), index=True)
    model: Mapped[str] = mapped_column(String(32))
    detector: Mapped[str] = mapped_column(String(32))
    # The FACE_MAX_SIDE the photo was shrunk to before detection (0: full size): it changes boxes and vectors.
    max_side: Mapped[int] = mapped_column(Integer)
    face_index: Mapped[int] = mapped_column(Integer)
    # {"x", "y", "w", "h"} in original-photo pixels, plus the photo's upright size.
    box: Mapped[dict[str, int]] = mapped_column(JSON)
    confidence: Mapped[float] = mapped_column(Float)
    image_width: Mapped[int] = mapped_column(Integer)
    image_height: Mapped[int] = mapped_column(Integer)
    # The vector exactly as DeepFace returned it (JSON keeps every float's digits).
    vector: Mapped[list[float]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    # Deleting a file deletes its embeddings: through the ORM (any database) and ON DELETE CASCADE.
    file: Mapped[StoredFile] = relationship(
        "StoredFile", backref=backref("face_embeddings", cascade="all, delete-orphan", lazy="select")
    )


class FaceSearch(FaceJobMixin, db.Model):
    """A search of the library for the person in one photo (People): kept in the face history with its answer.

    Searches run in the request (the index holds the library's embeddings), so a row is `done` or `failed`.
    """

    __tablename__ = "face_searches"
    __table_args__ = (Index("ix_face_searches_user_id_created_at", "user_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    file_id: Mapped[int | None] = mapped_column(ForeignKey("stored_files.id", ondelete="SET NULL"), index=True)
    name: Mapped[str] = mapped_column(String(255))
    # "own": the searcher's library; "all": everyone's (admins only, audited).
    scope: Mapped[str] = mapped_column(String(8), default="own")
    # The face searched for (an index into `faces`, largest first) and how many faces were looked through.
    face: Mapped[int | None] = mapped_column(Integer)
    searched: Mapped[int | None] = mapped_column(Integer)
    threshold: Mapped[float | None] = mapped_column(Float)
    # schemas.FacesOfPhoto of the query photo, and the matches as answered (file_id, face_id, box, distance, …).
    faces: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    matches: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)

    user: Mapped[User] = relationship("User")
    file: Mapped[StoredFile | None] = relationship("StoredFile", backref=backref("face_searches", lazy="select"))

    kind = "search"

    def __repr__(self) -> str:
        return f"<FaceSearch {self.id} {self.status}>"
