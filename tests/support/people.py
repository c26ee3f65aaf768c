"""Helpers for the People tests: photos added to a library, the background indexer waited for."""

from __future__ import annotations

from flask import Flask

from tests.support.faces import photo_bytes
from tests.support.factories import make_file
from tests.support.web import Account


def indexed(app: Flask) -> None:
    """Wait for the app's background indexer to finish every photo handed to it."""
    app.extensions["face_indexer"].join()


def add_photo(app: Flask, owner: Account, name: str, content: bytes | None = None) -> int:
    """A photo in the owner's library (a test photo by name, or `content`); indexed in the background when
    FACE_INDEX_ON_UPLOAD is on."""
    return make_file(app, owner, name=name, content=photo_bytes(name) if content is None else content).id
