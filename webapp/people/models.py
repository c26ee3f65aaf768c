"""The face index and people: one row per face found in a library photo, the photos indexed, the people named.

A face row keeps its photo's id, its owner, its box (upright original pixels) and its embedding as float32 bytes
(the database is the source of truth; search reads it into per-owner matrices, see `matrix.py`). Deleting a photo
deletes its faces (the files service tells this feature at once, and ON DELETE CASCADE does it in the database).
`FaceLibraryVersion` counts the changes to one owner's faces, so every process knows when its cached matrix of
that owner is stale.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import Boolean, DateTime, Float, ForeignKey, Index, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, backref, mapped_column, relationship

from webapp.extensions import db
from webapp.timeutil import utcnow

if TYPE_CHECKING:
    from webapp.files.models import StoredFile

# A photo's place in the index: "indexed" (its faces are rows, maybe none) or "failed" (`error` says why);
# an image of the library without an `IndexedPhoto` row is pending.
INDEXED, FAILED = "indexed", "failed"


class Person(db.Model):
    """A name and the faces that are theirs, in one owner's library."""

    __tablename__ = "people"
    __table_args__ = (Index("ix_people_user_id_name", "user_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(120))
    # "Do not recognise": the person's faces are deleted and only `exclusion` is kept, the mean of their unit
    # embeddings, so that a new face matching them is neither stored, assigned nor returned by search.
    do_not_recognise: Mapped[bool] = mapped_column(Boolean, default=False)
    exclusion: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    def __repr__(self) -> str:
        return f"<Person {self.id} {self.name!r} user={self.user_id}>"


class Face(db.Model):
    """One face of one library photo: its box and its embedding (float32 bytes, None once purged)."""

    __tablename__ = "faces"
    __table_args__ = (
        UniqueConstraint("file_id", "face_index", name="uq_faces_file_id_face_index"),
        Index("ix_faces_user_id_person_id", "user_id", "person_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    file_id: Mapped[int] = mapped_column(ForeignKey("stored_files.id", ondelete="CASCADE"))
    # The face's place in its photo, largest first (the order search and the API number faces in).
    face_index: Mapped[int] = mapped_column(Integer)
    x: Mapped[int] = mapped_column(Integer)
    y: Mapped[int] = mapped_column(Integer)
    w: Mapped[int] = mapped_column(Integer)
    h: Mapped[int] = mapped_column(Integer)
    confidence: Mapped[float] = mapped_column(Float)
    embedding: Mapped[bytes | None] = mapped_column(LargeBinary)
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)

    person: Mapped[Person | None] = relationship("Person")
    file: Mapped[StoredFile] = relationship(
        "StoredFile", backref=backref("faces", cascade="all, delete-orphan", lazy="select")
    )

    @property
    def box(self) -> dict[str, int]:
        return {"x": self.x, "y": self.y, "w": self.w, "h": self.h}


class IndexedPhoto(db.Model):
    """A library photo the indexer has finished with: its faces are rows (`faces` of them), or it failed."""

    __tablename__ = "indexed_photos"
    __table_args__ = (Index("ix_indexed_photos_user_id_status", "user_id", "status"),)

    file_id: Mapped[int] = mapped_column(ForeignKey("stored_files.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16))
    faces: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    # The photo's upright size, the frame of its faces' boxes.
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    indexed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    file: Mapped[StoredFile] = relationship(
        "StoredFile", backref=backref("face_index", cascade="all, delete-orphan", lazy="select", uselist=False)
    )


class FaceLibraryVersion(db.Model):
    """How many times one owner's faces have changed: a process whose cached matrix has another number reloads."""

    __tablename__ = "face_library_versions"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, default=0)
