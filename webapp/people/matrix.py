"""Exact face search over one owner's faces: a float32 matrix of unit embeddings, cached per process.

No Flask here. The database is the source of truth; a process keeps, per owner, the matrix it read last and the
owner's version number it read it at (`FaceLibraryVersion`). Every search first reads the owner's current
version (one primary-key lookup) and reloads the matrix when it differs, so a face added, assigned or deleted by
any app server or worker is seen by every other process on its next search, with no message between them.

Why exact and not an approximate index (hnswlib, faiss): one owner's 100,000 faces are a 100,000 x 128 float32
matrix (51 MB), and one matrix-vector product over it takes a few milliseconds on one core
(bench/people.py), well inside the 50 ms aim, with no recall loss and nothing to rebuild when a face changes.

The distance is DeepFace's cosine distance, 1 - a.b / (|a| |b|), rounded to 6 decimals as DeepFace.verify does,
so a match here and a comparison of the same two faces agree.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

DTYPE = np.float32


def to_bytes(embedding: Iterable[float]) -> bytes:
    """An embedding as the database keeps it: float32, native little-endian bytes."""
    return np.asarray(list(embedding), dtype="<f4").tobytes()


def from_bytes(data: bytes) -> np.ndarray:
    return np.frombuffer(data, dtype="<f4")


def unit(vector: np.ndarray) -> np.ndarray:
    """The vector scaled to length 1 (a zero vector stays zero: it matches nothing)."""
    vector = np.asarray(vector, dtype=DTYPE)
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm else vector


def cosine_distances(matrix: np.ndarray, query: np.ndarray) -> np.ndarray:
    """Cosine distance of each row of a matrix of unit rows to a query (any length), rounded as DeepFace does."""
    if not len(matrix):
        return np.empty(0, dtype=np.float64)
    similarities = matrix @ unit(query)
    return np.round(1.0 - similarities.astype(np.float64), 6)


@dataclass(frozen=True)
class OwnerFaces:
    """One owner's searchable faces at one version: parallel arrays, one entry per face."""

    version: int
    face_ids: np.ndarray  # int64
    file_ids: np.ndarray  # int64
    person_ids: np.ndarray  # int64, 0 for a face not assigned to anyone
    vectors: np.ndarray  # float32, n x d, unit rows

    def __len__(self) -> int:
        return len(self.face_ids)

    @property
    def nbytes(self) -> int:
        return sum(array.nbytes for array in (self.face_ids, self.file_ids, self.person_ids, self.vectors))

    def nearest(self, query: np.ndarray, threshold: float | None, limit: int | None) -> list[tuple[int, float]]:
        """(row, distance) of the closest faces, best first: those within `threshold` (None: any), at most `limit`."""
        distances = cosine_distances(self.vectors, query)
        candidates = np.flatnonzero(distances <= threshold) if threshold is not None else np.arange(len(distances))
        if limit is not None and len(candidates) > limit:
            # argpartition finds the `limit` best in linear time; only those are sorted.
            best = np.argpartition(distances[candidates], limit - 1)[:limit]
            candidates = candidates[best]
        order = candidates[np.lexsort((self.face_ids[candidates], distances[candidates]))]
        return [(int(row), float(distances[row])) for row in order]


class FaceRows:
    """Builds an `OwnerFaces` from rows of (face_id, file_id, person_id or None, embedding bytes), streamed in any
    number of chunks into arrays allocated once: loading 100,000 faces never holds them twice as Python objects."""

    def __init__(self, count: int, dimensions: int = 128) -> None:
        self.count = 0
        self.face_ids = np.empty(count, dtype=np.int64)
        self.file_ids = np.empty(count, dtype=np.int64)
        self.person_ids = np.empty(count, dtype=np.int64)
        self.vectors = np.empty((count, dimensions), dtype=DTYPE)

    def add(self, rows: Iterable[tuple[int, int, int | None, bytes]]) -> None:
        """Add a chunk of rows: one copy of their bytes into the matrix, no Python object per number."""
        width = self.vectors.shape[1] * 4
        # A face of another model (another length), or one added since the count, waits for the next version.
        kept = [row for row in rows if len(row[3]) == width][: len(self.face_ids) - self.count]
        if not kept:
            return
        end = self.count + len(kept)
        self.face_ids[self.count : end] = [row[0] for row in kept]
        self.file_ids[self.count : end] = [row[1] for row in kept]
        self.person_ids[self.count : end] = [row[2] or 0 for row in kept]
        self.vectors[self.count : end] = np.frombuffer(b"".join(row[3] for row in kept), dtype="<f4").reshape(
            len(kept), -1
        )
        self.count = end

    def build(self, version: int) -> OwnerFaces:
        vectors = self.vectors[: self.count]
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        np.divide(vectors, norms, out=vectors, where=norms > 0)
        return OwnerFaces(
            version=version,
            face_ids=self.face_ids[: self.count].copy(),
            file_ids=self.file_ids[: self.count].copy(),
            person_ids=self.person_ids[: self.count].copy(),
            vectors=np.ascontiguousarray(vectors),
        )


class MatrixCache:
    """Each owner's `OwnerFaces`, most recently used kept, at most `max_owners` of them; thread-safe.

    `get(owner, version, load)` returns the cached matrix when it is at `version`, else calls `load()` (outside
    the lock, so one owner's reload never blocks another's search) and keeps what it returns.
    """

    def __init__(self, max_owners: int = 64) -> None:
        self.max_owners = max_owners
        self._entries: OrderedDict[int, OwnerFaces] = OrderedDict()
        self._lock = threading.Lock()
        self.loads = 0

    def get(self, owner_id: int, version: int, load: Callable[[], OwnerFaces]) -> OwnerFaces:
        with self._lock:
            entry = self._entries.get(owner_id)
            if entry is not None and entry.version == version:
                self._entries.move_to_end(owner_id)
                return entry
        entry = load()
        with self._lock:
            self.loads += 1
            current = self._entries.get(owner_id)
            if current is None or current.version <= entry.version:
                self._entries[owner_id] = entry
                self._entries.move_to_end(owner_id)
            while len(self._entries) > self.max_owners:
                self._entries.popitem(last=False)
        return entry

    def append(
        self, owner_id: int, after_version: int, version: int, rows: list[tuple[int, int, int | None, bytes]]
    ) -> bool:
        """Add faces this process just committed as the owner's change number `version`, when the cached matrix is
        at `after_version` (the number before that change): no other change can lie between, so appending gives
        exactly what a reload would. Otherwise nothing is changed (the next search reloads). True when appended."""
        with self._lock:
            entry = self._entries.get(owner_id)
            if entry is None or entry.version != after_version or version != after_version + 1:
                return False
            dimensions = entry.vectors.shape[1] if len(entry) else len(from_bytes(rows[0][3])) if rows else 128
            added = FaceRows(len(rows), dimensions)
            added.add(rows)
            new = added.build(version)
            self._entries[owner_id] = OwnerFaces(
                version=version,
                face_ids=np.concatenate((entry.face_ids, new.face_ids)),
                file_ids=np.concatenate((entry.file_ids, new.file_ids)),
                person_ids=np.concatenate((entry.person_ids, new.person_ids)),
                vectors=np.concatenate((entry.vectors, new.vectors)) if len(entry) else new.vectors,
            )
            return True

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
