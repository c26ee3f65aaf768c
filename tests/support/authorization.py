"""The authorization sweep's raw material: one staff user's objects of every kind, and a snapshot of what is stored.

`build_world` makes them with the factories: real objects through the services where there is one (files are
uploaded to the real store, tokens hashed, users created) and as rows where a result would need a model (a
conversation that already has a stopped reply, a face comparison and analysis already done). Every name and
text carries SECRET, so a response that leaks any of them to a stranger can be found by looking for it.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import Flask
from itsdangerous import URLSafeTimedSerializer
from sqlalchemy import select

from tests.support.factories import (
    make_conversation,
    make_face_result,
    make_face_search,
    make_file,
    make_person,
    make_project,
    make_user,
)
from tests.support.samples import jpeg, minimal_pdf
from tests.support.web import Account
from webapp.audit.models import AuditEvent
from webapp.auth import service as users
from webapp.extensions import db
from webapp.prompts import service as prompts
from webapp.sharing import service as sharing

SECRET = "zebra-7f3a"


@dataclass(frozen=True)
class World:
    """A staff user and the ids of one object of each kind they own; `token` is their API token in plain."""

    owner: Account
    token: str
    ids: dict[str, Any]


def build_world(app: Flask, owner_account: Account | None = None) -> World:
    """Objects of every kind for `owner_account` (by default a new staff user)."""
    owner = owner_account or make_user(app, name=f"Owner {SECRET}")
    with app.app_context():  # the token's id as well as its plain text: make_token gives only the second
        api_token, plain = users.create_token(users.get_user(owner.id), f"script {SECRET}")
        api_token_id = api_token.id
    image = make_file(app, owner, name=f"photo {SECRET}.jpg", content=jpeg())
    document = make_file(app, owner, name=f"report {SECRET}.pdf", content=minimal_pdf())
    project = make_project(app, owner, f"Project {SECRET}", instructions=f"Instructions {SECRET}")
    # Stopped half-way: the owner could retry it, so a missing owner check would act, not just answer.
    conversation = make_conversation(
        app,
        owner,
        [("user", f"Question {SECRET}"), ("assistant", f"Reply {SECRET}")],
        title=f"Plans {SECRET}",
        system_prompt=f"Be brief {SECRET}",
        reply_status="interrupted",
        project=project,
    )
    question, reply = conversation.messages
    with app.app_context():  # a saved prompt, and a share of the conversation (its link is not what is swept)
        owner_user = users.get_user(owner.id)
        prompt_id = prompts.create_prompt(
            owner_user, f"notes-{secrets.token_hex(4)}", f"Notes {SECRET}", f"Take notes {SECRET}"
        ).id
        share_id = sharing.share_conversation(owner_user, conversation.id).id
    comparison = make_face_result(app, owner, "comparison", file=image)
    analysis = make_face_result(app, owner, "analysis", file=image)
    search = make_face_search(app, owner, file=image)
    person = make_person(app, owner, f"Someone {SECRET}")
    ids = {
        "user": owner.id,
        "api_token": api_token_id,
        "image": image.id,
        "document": document.id,
        "project": project.id,
        "conversation": conversation.id,
        "question": question.id,
        "reply": reply.id,
        "comparison": comparison.id,
        "analysis": analysis.id,
        "search": search.id,
        "person": person.id,
        "prompt": prompt_id,
        "share": share_id,
        # A share link of the right shape that no share has (a real one opens for every signed-in user).
        "share_link": secrets.token_urlsafe(32),
        # A download link for the owner's file signed with a key that is not the app's.
        "image_link": forged_link(image.id, image.storage_key),
        "document_link": forged_link(document.id, document.storage_key),
    }
    return World(owner=owner, token=plain, ids=ids)


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
