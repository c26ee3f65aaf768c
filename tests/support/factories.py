"""Factories: a user, a token, a conversation, a file or a face result in one line.

Users, tokens and files are made through the services, as the pages make them (passwords hashed, tokens hashed,
files inspected and written to the app's store). Conversations and face results are stored as rows, as if they
had already happened: the real thing would need a model server or the face engine, and a test that needs one to
exist is not testing how it came about. Rows come back detached from the session, their columns loaded.

    staff = make_user(app)                                  # a staff member (make_user(app, "admin") for an admin)
    token = make_token(app, staff)                          # an API token, in plain, as shown once
    conversation = make_conversation(app, staff, messages=3)
    project = make_project(app, staff, instructions="Answer in French.")   # make_conversation(..., project=project)
    photo = make_file(app, staff, photo=True)
    comparison = make_face_result(app, staff, file=photo)   # or kind="analysis"
"""

from __future__ import annotations

import io
import itertools
from dataclasses import asdict
from datetime import datetime
from typing import Any, Literal, Protocol, TypeVar

from flask import Flask
from werkzeug.datastructures import FileStorage

from tests.support.samples import jpeg
from tests.support.web import PASSWORD, Account
from webapp.auth import service as users
from webapp.chat.models import Conversation, Message
from webapp.extensions import db
from webapp.faces.analyzers import Box, FaceAttributes
from webapp.faces.models import FaceAnalysis, FaceComparison, FaceSearch
from webapp.files import service as files
from webapp.files.models import StoredFile
from webapp.people.models import Person
from webapp.projects import service as projects
from webapp.projects.models import Project
from webapp.timeutil import utcnow

MODEL = "gpt-4o-mini"
PROVIDER = "openai"
# One face on samples.jpeg()'s 64 x 48 picture, in the shape the face engine stores results.
BOX = Box(x=4, y=4, w=20, h=20)
PHOTO = {"width": 64, "height": 48}
FACE = {"box": asdict(BOX), "confidence": 0.99}
ATTRIBUTES = asdict(
    FaceAttributes(
        box=BOX,
        confidence=0.99,
        age=40,
        gender="female",
        gender_confidence=0.9,
        emotion="neutral",
        emotion_confidence=0.8,
        analyzer="offline",
    )
)
# What a finished job on the offline engine records.
FINISHED = {"model": "Dlib", "detector": "dlib", "status": "done"}

_numbers = itertools.count(1)
Row = TypeVar("Row")


class Owner(Protocol):
    """An Account of the tests or a User of the app: all a factory needs is whose it is."""

    id: int


def make_user(
    app: Flask, role: str = "staff", *, email: str | None = None, name: str | None = None, password: str = PASSWORD
) -> Account:
    """A user of `role` made through the auth service; email and name are unique unless given."""
    number = next(_numbers)
    email = email or f"{role}{number}@example.com"
    name = name or f"{role.title()} Person {number}"
    with app.app_context():
        user = users.create_user(email, name, password, role=role)
        return Account(id=user.id, email=user.email, name=user.name, role=role, password=password)


def make_token(app: Flask, user: Owner, name: str = "tests", scopes: tuple[str, ...] | None = None) -> str:
    """A new API token of the user (for `scopes`, by default full access); returns the plain token (shown once, as
    the tokens page does)."""
    with app.app_context():
        _, plain = users.create_token(users.get_user(user.id), name, scopes=scopes)
    return plain


def make_conversation(
    app: Flask,
    user: Owner,
    messages: int | list[tuple[str, str]] = 2,
    *,
    title: str = "Plans",
    at: datetime | None = None,
    model: str = MODEL,
    provider: str = PROVIDER,
    system_prompt: str | None = None,
    reply_status: str = "complete",
    project: Project | None = None,
) -> Conversation:
    """A conversation stored as if it had happened `at` (default now): `messages` alternate between the user's
    questions and the model's replies (a number, or (role, content) pairs). Replies have `reply_status`, the
    model and token counts; the conversation comes back with its messages."""
    moment = at or utcnow()
    if isinstance(messages, int):
        messages = [
            ("user", f"Question {n // 2 + 1}") if n % 2 == 0 else ("assistant", f"Reply {n // 2 + 1}")
            for n in range(messages)
        ]
    with app.app_context():
        conversation = Conversation(
            user_id=user.id,
            title=title,
            provider=provider,
            model=model,
            system_prompt=system_prompt,
            project_id=project.id if project is not None else None,
            created_at=moment,
            updated_at=moment,
        )
        db.session.add(conversation)
        for role, content in messages:
            reply = role == "assistant"
            db.session.add(
                Message(
                    conversation=conversation,
                    role=role,
                    content=content,
                    created_at=moment,
                    status=reply_status if reply else "complete",
                    provider=provider if reply else None,
                    model=model if reply else None,
                    prompt_tokens=5 if reply else None,
                    completion_tokens=7 if reply else None,
                )
            )
        db.session.commit()
        return _detached(conversation, "messages")


def make_project(
    app: Flask, user: Owner, name: str | None = None, *, instructions: str | None = None, model: str | None = None
) -> Project:
    """A project of the user made through the projects service (a unique name unless given); `model` as the picker
    names it ("openai:gpt-4o") must be one the app offers."""
    with app.app_context():
        project = projects.create_project(
            users.get_user(user.id), name or f"Project {next(_numbers)}", instructions, model
        )
        return _detached(project)


def make_file(
    app: Flask,
    user: Owner,
    photo: bool = False,
    *,
    name: str | None = None,
    content: bytes | None = None,
    at: datetime | None = None,
) -> StoredFile:
    """A file uploaded through the files service into the app's store: a small JPEG (`photo`), a text file, or
    `content` under `name`; `at` dates the upload."""
    if content is None:
        content = jpeg() if photo else b"Notes for the meeting\n"
    name = name or ("photo.jpg" if photo else "notes.txt")
    with app.app_context():
        stored = files.store_upload(users.get_user(user.id), FileStorage(io.BytesIO(content), name))
        if at is not None:
            stored.created_at = at
        db.session.commit()
        return _detached(stored)


def make_face_result(
    app: Flask,
    user: Owner,
    kind: Literal["comparison", "analysis"] = "comparison",
    *,
    file: StoredFile | None = None,
    at: datetime | None = None,
) -> FaceComparison | FaceAnalysis:
    """A finished face comparison (the photo against itself: verified) or analysis (one face, its attributes),
    of `file` or of photos no longer in the library, stored as the offline engine would have left it at `at`."""
    moment = at or utcnow()
    engine: dict[str, Any] = {**FINISHED, "user_id": user.id, "created_at": moment, "finished_at": moment}
    name = file.original_name if file is not None else "photo.jpg"
    file_id = file.id if file is not None else None
    result: FaceComparison | FaceAnalysis
    if kind == "comparison":
        faces = PHOTO | {"faces": [FACE]}
        result = FaceComparison(
            file_a_id=file_id,
            file_b_id=file_id,
            name_a=name,
            name_b=name,
            verified=True,
            distance=0.01,
            threshold=0.07,
            face_a=0,
            face_b=0,
            faces_a=faces,
            faces_b=faces,
            **engine,
        )
    else:
        result = FaceAnalysis(
            file_id=file_id, name=name, analyzer="offline", faces=PHOTO | {"faces": [ATTRIBUTES]}, **engine
        )
    with app.app_context():
        db.session.add(result)
        db.session.commit()
        return _detached(result)


def make_face_search(app: Flask, user: Owner, *, file: StoredFile | None = None) -> FaceSearch:
    """A finished face search with `file` (one face, no match), as the search would have kept it."""
    moment = utcnow()
    search = FaceSearch(
        user_id=user.id,
        file_id=file.id if file is not None else None,
        name=file.original_name if file is not None else "photo.jpg",
        scope="own",
        face=0,
        searched=0,
        threshold=0.07,
        faces=PHOTO | {"faces": [FACE]},
        matches=[],
        created_at=moment,
        finished_at=moment,
        **FINISHED,
    )
    with app.app_context():
        db.session.add(search)
        db.session.commit()
        return _detached(search)


def make_person(app: Flask, user: Owner, name: str = "Ada") -> Person:
    """A person of the user's library (with no face yet)."""
    with app.app_context():
        person = Person(user_id=user.id, name=name)
        db.session.add(person)
        db.session.commit()
        return _detached(person)


def _detached(row: Row, *relationships: str) -> Row:
    """The row with its columns (and these relationships) loaded, out of the session: readable after the app
    context ends."""
    db.session.refresh(row)
    for name in relationships:
        getattr(row, name)
    db.session.expunge_all()
    return row
