"""Sharing a conversation: a read-only snapshot behind a link that only signed-in users of this Workbench open.

Pages, the JSON API and the admins' list all call these functions. The link's token is derived from a random
nonce with the app's secret key and looked up by its SHA-256 (see models.ConversationShare); a share lives until
it expires (SHARE_DEFAULT_DAYS unless the owner asks for up to SHARE_MAX_DAYS) or is revoked. Every open by someone
other than the owner counts, and says who (ShareView) and is audited.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from base64 import urlsafe_b64encode
from datetime import datetime, timedelta

from flask import current_app, url_for
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload

from webapp.audit import service as audit
from webapp.auth.models import User
from webapp.bounds import page_number
from webapp.chat.models import COMPLETE, INTERRUPTED, Conversation, Message
from webapp.errors import NotFound, Refused
from webapp.extensions import db
from webapp.security import owned_or_404
from webapp.sharing.models import ConversationShare, SharedMessage, ShareView
from webapp.timeutil import as_utc, utcnow

NO_SUCH_CONVERSATION = "There is no such conversation, or it is not yours."
NO_SUCH_LINK = "There is no such shared conversation: the link is wrong, has expired or was revoked."
NOT_SHARED = "This conversation is not shared."
# A token is 43 URL-safe characters (256 bits); anything else in the URL is refused before any lookup.
TOKEN_LENGTH = 43


# -- the link ----------------------------------------------------------------------------------------------------


def _link_key() -> bytes:
    # A key of its own, derived from SECRET_KEY: a share link is never also a valid signature of anything else.
    return hmac.new(current_app.config["SECRET_KEY"].encode(), b"workbench.share-link", hashlib.sha256).digest()


def link_token(share: ConversationShare) -> str:
    """The token in the share's URL (rebuilt from its nonce; changing SECRET_KEY ends every link)."""
    digest = hmac.new(_link_key(), share.nonce.encode(), hashlib.sha256).digest()
    return urlsafe_b64encode(digest).rstrip(b"=").decode()


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def share_url(share: ConversationShare) -> str:
    return url_for("sharing.view", share_token=link_token(share), _external=True)


def _new_link(share: ConversationShare) -> None:
    share.nonce = secrets.token_urlsafe(32)
    share.token_hash = token_hash(link_token(share))


# -- the owner's side --------------------------------------------------------------------------------------------


def is_live(share: ConversationShare, now: datetime | None = None) -> bool:
    return as_utc(share.expires_at) > (now or utcnow())


def expiry_days(days: int | None) -> int:
    """The days a link lasts: SHARE_DEFAULT_DAYS when not given; at most SHARE_MAX_DAYS (the admins' choice)."""
    if days is None:
        return current_app.config["SHARE_DEFAULT_DAYS"]
    limit = current_app.config["SHARE_MAX_DAYS"]
    if isinstance(days, bool) or not isinstance(days, int) or days < 1:
        raise Refused("A link lasts a whole number of days, 1 or more.", field="days")
    if days > limit:
        raise Refused(
            f"A link can last at most {limit} days here (SHARE_MAX_DAYS); {days} is too many.",
            field="days",
            limit=limit,
        )
    return days


def current_share(user: User, conversation_id: int) -> ConversationShare | None:
    """The conversation's share, live or expired, or None; NotFound unless the conversation is the user's."""
    return sharing_state(user, conversation_id)[1]


def sharing_state(user: User, conversation_id: int) -> tuple[Conversation, ConversationShare | None]:
    """The user's conversation and its share (live or expired, with who opened it), or None when not shared."""
    conversation = owned_or_404(Conversation, conversation_id, user, NO_SUCH_CONVERSATION)
    share = db.session.scalar(
        select(ConversationShare)
        .where(ConversationShare.conversation_id == conversation.id)
        .options(joinedload(ConversationShare.views).joinedload(ShareView.user))
    )
    return conversation, share


def snapshot_messages(conversation: Conversation) -> list[Message]:
    """The messages a share copies: the user's, and the replies that were written (whole or stopped), in order.

    A reply still being written, or one that failed without text, is left out. Once conversations have branches,
    this is the current branch (webapp.chat.service.thread)."""
    return [
        message
        for message in conversation.messages
        if message.content.strip() and (message.role == "user" or message.status in (COMPLETE, INTERRUPTED))
    ]


def share_conversation(user: User, conversation_id: int, days: int | None = None) -> ConversationShare:
    """Share the conversation as it is now, for `days` (SHARE_DEFAULT_DAYS by default).

    Shared already and still live: the snapshot and expiry are renewed, the link stays the same. An expired share
    is replaced by a new one, with a new link (an expired link never comes back). Two requests sharing the same
    conversation at once meet at the unique conversation_id: the second one, refused by the database, starts over
    and renews what the first made.
    """
    days = expiry_days(days)
    for attempt in range(2):
        try:
            return _share(user, conversation_id, days)
        except IntegrityError:
            db.session.rollback()
            if attempt:
                raise
    raise AssertionError("unreachable")


def _share(user: User, conversation_id: int, days: int) -> ConversationShare:
    conversation = owned_or_404(Conversation, conversation_id, user, NO_SUCH_CONVERSATION)
    now = utcnow()
    share = db.session.scalar(select(ConversationShare).where(ConversationShare.conversation_id == conversation.id))
    renewed = share is not None and is_live(share, now)
    if share is not None and not renewed:
        delete_shares([share.id])
        share = None
    if share is None:
        share = ConversationShare(conversation_id=conversation.id, user_id=user.id, created_at=now, view_count=0)
        _new_link(share)
        db.session.add(share)
    else:  # the old snapshot goes in one statement, not one DELETE a message
        db.session.execute(delete(SharedMessage).where(SharedMessage.share_id == share.id))
        db.session.expire(share, ["messages"])
    share.title = conversation.title
    share.model = conversation.model
    share.snapshot_at = now
    share.expires_at = now + timedelta(days=days)
    share.messages = [
        SharedMessage(
            position=position,
            role=message.role,
            content=message.content,
            model=message.model,
            created_at=message.created_at,
        )
        for position, message in enumerate(snapshot_messages(conversation))
    ]
    db.session.flush()
    audit.record(
        "share.update" if renewed else "share.create",
        user=user,
        target=conversation,
        detail=f"{len(share.messages)} messages, {days} days",
    )
    db.session.commit()
    return share


def revoke(user: User, conversation_id: int) -> None:
    """Stop sharing the conversation: its link answers 404 from now on. NotFound when it is not shared."""
    share = current_share(user, conversation_id)
    if share is None:
        raise NotFound(NOT_SHARED)
    audit.record("share.revoke", user=user, target=share.conversation, detail=f"by its owner, {share.view_count} views")
    delete_shares([share.id])
    db.session.commit()


# -- opening a link ----------------------------------------------------------------------------------------------


def open_share(user: User, token: str) -> ConversationShare:
    """The live share behind `token`, for a signed-in user; counts the open unless it is the owner's own.

    The count is one conditional UPDATE (two opens at once both count); who opened it is one row per user,
    inserted the first time and counted up after: of two first opens at once, the one the unique constraint
    refuses counts up the row the other inserted."""
    share = find_live(token)
    if user.id != share.user_id:
        now = utcnow()
        db.session.execute(
            update(ConversationShare)
            .where(ConversationShare.id == share.id)
            .values(view_count=ConversationShare.view_count + 1)
            .execution_options(synchronize_session=False)
        )
        _count_viewer(share.id, user.id, now)
        audit.record_view("share.open", user, share, detail=f"conversation {share.conversation_id}: {share.title}")
        db.session.commit()
    return share


def _count_viewer(share_id: int, user_id: int, now: datetime) -> None:
    def count_up() -> int:
        return db.session.execute(
            update(ShareView)
            .where(ShareView.share_id == share_id, ShareView.user_id == user_id)
            .values(opens=ShareView.opens + 1, last_opened_at=now)
            .execution_options(synchronize_session=False)
        ).rowcount

    if count_up():
        return
    try:
        with db.session.begin_nested():
            db.session.add(ShareView(share_id=share_id, user_id=user_id, first_opened_at=now, last_opened_at=now))
    except IntegrityError:
        count_up()


def find_live(token: str) -> ConversationShare:
    if len(token) != TOKEN_LENGTH:
        raise NotFound(NO_SUCH_LINK)
    share = db.session.scalar(
        select(ConversationShare)
        .where(ConversationShare.token_hash == token_hash(token), ConversationShare.expires_at > utcnow())
        .options(joinedload(ConversationShare.user))
    )
    if share is None:
        raise NotFound(NO_SUCH_LINK)
    return share


# -- the admins' side --------------------------------------------------------------------------------------------


def live_shares(admin: User, page: int = 1):
    """Every live share, newest first, with its owner; the look is written to the audit log."""
    page = page_number(page)
    audit.record("share.review_list", user=admin, detail=f"page {page}")
    db.session.commit()
    statement = (
        select(ConversationShare)
        .where(ConversationShare.expires_at > utcnow())
        .options(joinedload(ConversationShare.user))
        .order_by(ConversationShare.created_at.desc(), ConversationShare.id.desc())
    )
    return db.paginate(statement, page=page, per_page=current_app.config["PAGE_SIZE"], error_out=False)


def admin_revoke(admin: User, share_id: int) -> str:
    """An admin ends anyone's share (audited, naming the owner); returns what it was, for the page to say."""
    share = db.session.get(ConversationShare, share_id, options=(joinedload(ConversationShare.user),))
    if share is None:
        raise NotFound("There is no such share; it may have been revoked already.")
    audit.record(
        "share.revoke",
        user=admin,
        target=share.conversation,
        detail=f"by an admin: {share.user.email}'s “{share.title}”, {share.view_count} views",
    )
    described = f"“{share.title}” shared by {share.user.name}"
    delete_shares([share.id])
    db.session.commit()
    return described


# -- deleting ----------------------------------------------------------------------------------------------------


def delete_shares(share_ids: list[int]) -> None:
    """Delete shares with their snapshots and viewers (explicitly: SQLite does not enforce the cascade by itself)."""
    if not share_ids:
        return
    db.session.execute(delete(SharedMessage).where(SharedMessage.share_id.in_(share_ids)))
    db.session.execute(delete(ShareView).where(ShareView.share_id.in_(share_ids)))
    db.session.execute(delete(ConversationShare).where(ConversationShare.id.in_(share_ids)))
    db.session.expire_all()


def forget_conversations(conversation_ids: list[int]) -> None:
    """Chat deletes conversations (by hand, in bulk, by retention): their shares go with them, link and snapshot."""
    share_ids = db.session.scalars(
        select(ConversationShare.id).where(ConversationShare.conversation_id.in_(conversation_ids))
    ).all()
    delete_shares(list(share_ids))
