"""Faces' JSON bodies: the faces of a photo as they are stored, a comparison's and an analysis's result, a failed
job, and what POST /api/face/verify and /api/face/analyze take."""

from __future__ import annotations

from typing import Any, Literal, Self

from pydantic import ConfigDict, Field

from webapp.schemas import DatabaseId, ErrorBody, FormFields, JsonRequest, Schema, Timestamp, UploadedFile

# --- the faces of a photo, in its upright original pixels (stored as JSON on the result rows) ---------------


class FaceBox(Schema):
    x: int
    y: int
    w: int
    h: int


class FoundFace(Schema):
    """One face found; analyses add `age`, `gender`, `emotion` and their scores."""

    box: FaceBox
    confidence: float | None


class AnalysedFace(FoundFace):
    age: int | float
    gender: str
    gender_confidence: float
    emotion: str
    emotion_confidence: float
    emotion_scores: dict[str, float] = {}
    analyzer: str = ""


class FacesOfPhoto(Schema):
    width: int
    height: int
    faces: list[FoundFace]


class AnalysedPhoto(FacesOfPhoto):
    faces: list[AnalysedFace]


# --- results ----------------------------------------------------------------------------------------------

JobStatus = Literal["pending", "running", "done"]


class FacesPair(Schema):
    image1: list[FoundFace]
    image2: list[FoundFace]


class ComparedFaces(Schema):
    """Which face of each photo was compared (an index into `faces`)."""

    image1: int | None
    image2: int | None


class PhotoIds(Schema):
    """The two photos (null once deleted from your files)."""

    image1: DatabaseId | None
    image2: DatabaseId | None


def _faces(stored: dict[str, Any] | None) -> list[dict[str, Any]]:
    return list((stored or {}).get("faces", []))


class FaceJob(Schema):
    """A comparison's or an analysis's answer: its `status` and the fields `fields_of` reads from its row."""

    @classmethod
    def fields_of(cls, source: Any) -> dict[str, Any]:
        raise NotImplementedError

    @classmethod
    def of(cls, source: Any) -> Self:
        return cls(status=source.status, **cls.fields_of(source))


class FaceComparison(FaceJob):
    id: DatabaseId
    status: JobStatus
    verified: bool | None
    distance: float | None
    threshold: float | None
    confidence: float | None
    model: str | None
    detector: str | None
    similarity_metric: str | None
    faces: FacesPair
    compared_faces: ComparedFaces
    files: PhotoIds
    cached: bool
    time_ms: int | None
    created_at: Timestamp

    @classmethod
    def fields_of(cls, source: Any) -> dict[str, Any]:
        """Every field but `status`, from a comparison row (a failed job's body has them too)."""
        return {
            "id": source.id,
            "verified": source.verified,
            "distance": source.distance,
            "threshold": source.threshold,
            "confidence": source.confidence,
            "model": source.model,
            "detector": source.detector,
            "similarity_metric": source.metric,
            "faces": {"image1": _faces(source.faces_a), "image2": _faces(source.faces_b)},
            "compared_faces": {"image1": source.face_a, "image2": source.face_b},
            "files": {"image1": source.file_a_id, "image2": source.file_b_id},
            "cached": bool(source.cached),
            "time_ms": source.duration_ms,
            "created_at": source.created_at,
        }


class FaceAnalysis(FaceJob):
    id: DatabaseId
    status: JobStatus
    faces: list[AnalysedFace]
    analyzer: str | None
    model: str | None
    detector: str | None
    file: DatabaseId | None = Field(description="The photo (null once deleted from your files).")
    time_ms: int | None
    created_at: Timestamp

    @classmethod
    def fields_of(cls, source: Any) -> dict[str, Any]:
        """Every field but `status`, from an analysis row (a failed job's body has them too)."""
        return {
            "id": source.id,
            "faces": _faces(source.faces),
            "analyzer": source.analyzer,
            "model": source.model,
            "detector": source.detector,
            "file": source.file_id,
            "time_ms": source.duration_ms,
            "created_at": source.created_at,
        }


class FaceJobFailure(ErrorBody):
    """A failed face job: the error, plus the result so far (`status` is the HTTP status here, `job_status` the
    job's). A request refused before any job started has only `error` and `status`."""

    id: DatabaseId | None = None
    job_status: Literal["failed"] | None = None

    @classmethod
    def of(cls, source: Any, status: int) -> Self:
        """The body for a failed comparison or analysis row, answered with HTTP `status`."""
        result = FaceComparison if source.kind == "comparison" else FaceAnalysis
        fields = result.fields_of(source)
        # Written by the result's own field types (timestamps as everywhere), kept as extra fields of the error.
        fields = result.model_construct(**fields).model_dump(exclude={"status"}, mode="json", warnings=False)
        return cls(error=source.error or "", status=status, job_status=source.status, **fields)


# --- requests ---------------------------------------------------------------------------------------------


class PhotoPair(JsonRequest):
    """Two photos in your files, by id."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"image1": 3, "image2": 4}]})

    image1: DatabaseId
    image2: DatabaseId


class PhotoPairForm(FormFields):
    """Each photo as a file, or `<slot>_id` naming one in your files."""

    image1: UploadedFile = None
    image2: UploadedFile = None
    image1_id: DatabaseId | None = None
    image2_id: DatabaseId | None = None


class Photo(JsonRequest):
    """A photo in your files, by id."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"image": 3}]})

    image: DatabaseId


class PhotoForm(FormFields):
    """The photo as a file, or `image_id` naming one in your files."""

    image: UploadedFile = None
    image_id: DatabaseId | None = None
