"""Files' JSON bodies: a stored file with a download link, a page of them, what an upload and a listing take."""

from __future__ import annotations

from typing import Annotated, Any, Literal, Self

from pydantic import Field

from webapp.schemas import (
    BlankIsNone,
    DatabaseId,
    FormFields,
    PageFields,
    QueryParameters,
    Schema,
    Timestamp,
    UploadedFile,
)


class DownloadLink(Schema):
    url: str = Field(description="A download link that works without a token until it expires.")
    expires_in: int = Field(description="Seconds the `url` stays valid.")


class StoredFile(DownloadLink):
    id: DatabaseId
    name: str
    size: int = Field(ge=0)
    content_type: str
    sha256: str = Field(pattern="^[0-9a-f]{64}$")
    kind: Literal["image", "document"]
    width: int | None
    height: int | None
    created_at: Timestamp

    @classmethod
    def of(cls, source: Any, *, link: DownloadLink) -> Self:  # type: ignore[override]
        """`source` is a stored file (a row); `link` a fresh download link to it."""
        return cls(
            id=source.id,
            name=source.original_name,
            size=source.size,
            content_type=source.content_type,
            sha256=source.sha256,
            kind=source.kind,
            width=source.width,
            height=source.height,
            created_at=source.created_at,
            url=link.url,
            expires_in=link.expires_in,
        )


class FilePage(PageFields):
    items: list[StoredFile]


class FileQuery(QueryParameters):
    q: str = Field(default="", description="Search names.")
    kind: Annotated[Literal["image", "document"] | None, BlankIsNone] = Field(
        default=None, description="Only images, or only documents."
    )
    person: list[Annotated[str, Field(pattern=r"^(none|[1-9][0-9]{0,17})$")]] = Field(
        default_factory=list,
        description="Only photos with every one of these people (ids from /api/people; repeat the parameter), "
        "or `none`: only photos with nobody recognised in them.",
    )
    page: int = Field(default=1, ge=1, description="Page number, from 1 (past the last page: no items).")
    per_page: int = Field(default=50, ge=1, le=100, description="Items a page (at most 100).")


class Upload(FormFields):
    file: UploadedFile = Field(default=None, description="The file (one; none or an empty one: 400).")
