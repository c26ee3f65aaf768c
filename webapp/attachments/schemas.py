"""Files in chat as the JSON API and the exports write them: the files on a message, the sources of a reply."""

from __future__ import annotations

from webapp.schemas import DatabaseId, Schema


class AttachedFile(Schema):
    """A file attached to a message; `problem` says why its text could not go to the model."""

    file_id: DatabaseId
    file_name: str
    kind: str
    problem: str | None


class Source(Schema):
    """An excerpt a reply was given, by the number it cites it with (`[1]`); `file_id` is null once deleted."""

    number: int
    file_id: DatabaseId | None
    file_name: str
    locator: str
    excerpt: str
