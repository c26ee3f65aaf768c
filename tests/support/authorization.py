"""The authorization sweep's raw material: one staff user's objects of every kind, and a snapshot of what is stored.

`build_world` makes real objects through the services where there is one (files are uploaded to the real store,
tokens hashed, users created) and as rows where a result would need a model (a conversation that already has a
stopped reply, a face comparison and analysis already done). Every name and text carries SECRET, so a response
that leaks any of them to a stranger can be found by looking for it.
"""

from __future__ import annotations

import hashlib
import io
import secrets
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from flask import Flask
from itsdangerous import URLSafeTimedSerializer
from sqlalchemy import select
from werkzeug.datastructures import FileStorage

from tests.support.factories import make_account
from tests.support.samples import jpeg, minimal_pdf
from tests.support.web import Account
from webapp.audit.models import AuditEvent
from webapp.auth import service as users
from webapp.chat.models import Conversation, Message
from webapp.extensions import db
from webapp.faces.analyzers import Box, FaceAttributes
from webapp.faces.models import FaceAnalysis, FaceComparison
from webapp.files import service as files
from webapp.timeutil import utcnow

SECRET = "zebra-7f3a"
BOX = Box(x=4, y=4, w=20, h=20)
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
PHOTO = {"width": 64, "height": 48}  # samples.jpeg()'s size, in the shape the engine stores


@dataclass(frozen=True)
class World:
    """A staff user and the ids of one object of each kind they own; `token` is their API token in plain."""

    owner: Account
    token: str
    ids: dict[str, Any]


def build_world(app: Flask, owner_account: Account | None = None) -> World:
    """Objects of every kind for `owner_account` (by default a new staff user)."""
    with app.app_context():
        if owner_account is None:
            owner_account = make_account(app, f"owner-{secrets.token_hex(4)}@example.com", f"Owner {SECRET}", "staff")
        owner = users.get_user(owner_account.id)
        api_token, plain = users.create_token(owner, f"script {SECRET}")
        image = files.store_upload(owner, FileStorage(io.BytesIO(jpeg()), f"photo {SECRET}.jpg"))
        document = files.store_upload(owner, FileStorage(io.BytesIO(minimal_pdf()), f"report {SECRET}.pdf"))
        now = utcnow()
        conversation = Conversation(
            user_id=owner.id,
            title=f"Plans {SECRET}",
            provider="openai",
            model="gpt-4o-mini",
            system_prompt=f"Be brief {SECRET}",
            created_at=now,
            updated_at=now,
        )
        question = Message(conversation=conversation, role="user", content=f"Question {SECRET}", created_at=now)
        # Stopped half-way: the owner could retry it, so a missing owner check would act, not just answer.
        reply = Message(
            conversation=conversation,
            role="assistant",
            content=f"Reply {SECRET}",
            status="interrupted",
            provider="openai",
            model="gpt-4o-mini",
            created_at=now,
        )
        engine = {"model": "Dlib", "detector": "dlib", "status": "done", "created_at": now, "finished_at": now}
        faces = PHOTO | {"faces": [FACE]}
        comparison = FaceComparison(
            user_id=owner.id,
            file_a_id=image.id,
            file_b_id=image.id,
            name_a=image.original_name,
            name_b=image.original_name,
            verified=True,
            distance=0.01,
            threshold=0.07,
            face_a=0,
            face_b=0,
            faces_a=faces,
            faces_b=faces,
            **engine,
        )
        analysis = FaceAnalysis(
            user_id=owner.id,
            file_id=image.id,
            name=image.original_name,
            analyzer="offline",
            faces=PHOTO | {"faces": [ATTRIBUTES]},
            **engine,
        )
        db.session.add_all([conversation, question, reply, comparison, analysis])
        db.session.commit()
        ids = {
            "user": owner.id,
            "api_token": api_token.id,
            "image": image.id,
            "document": document.id,
            "conversation": conversation.id,
            "question": question.id,
            "reply": reply.id,
            "comparison": comparison.id,
            "analysis": analysis.id,
            # A download link for the owner's file signed with a key that is not the app's.
            "image_link": forged_link(image.id, image.storage_key),
            "document_link": forged_link(document.id, document.storage_key),
        }
        return World(owner=owner_account, token=plain, ids=ids)


def forged_link(file_id: int, storage_key: str) -> str:
    return URLSafeTimedSerializer("not-the-app-secret", salt="files.download-link").dumps([file_id, storage_key])


def snapshot(app: Flask, ignore_user_ids: set[int]) -> dict[str, Any]:
    """Every stored row (but the audit log, and the rows of the users making requests) and every stored object.

    Requests legitimately touch their own sender (a token's last use) and the audit log; nothing else may change.
    """
    tables: dict[str, Any] = {}
    with app.app_context():
        for table in db.metadata.sorted_tables:
            if table.name == AuditEvent.__tablename__:
                continue
            rows = [dict(row) for row in db.session.execute(select(table)).mappings()]
            owner_column = "id" if table.name == "users" else "user_id"
            rows = [row for row in rows if row.get(owner_column) not in ignore_user_ids or owner_column not in row]
            tables[table.name] = sorted(rows, key=repr)
        upload_dir = Path(app.config["UPLOAD_DIR"])
    stored = {
        str(path.relative_to(upload_dir)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(upload_dir.rglob("*"))
        if path.is_file()
    }
    return {"tables": tables, "stored objects": stored}
