"""Sharing a conversation over the JSON API: the same service as the share page."""

from __future__ import annotations

from webapp.api import bp
from webapp.api.auth import api_user
from webapp.api.spec import operation
from webapp.sharing import service
from webapp.sharing.schemas import ShareLink, ShareRequest


@bp.post("/conversations/<int:conversation_id>/share")
@operation(
    "chat",
    (201, ShareLink, "Shared: the link, and when it stops working."),
    (400, "`days` is not a whole number from 1 to SHARE_MAX_DAYS."),
    404,
    json=ShareRequest,
)
def share_conversation(conversation_id: int, json: ShareRequest):
    """Share a conversation (a read-only snapshot)

    The link shows the conversation as it is now, to anyone signed in to this Workbench, until it expires. Sharing
    a conversation that is shared already takes a new snapshot and sets a new expiry; the link stays the same."""
    share = service.share_conversation(api_user(), conversation_id, json.days)
    return ShareLink(url=service.share_url(share), expires_at=share.expires_at), 201


@bp.delete("/conversations/<int:conversation_id>/share")
@operation("chat", (204, "No longer shared: the link answers 404."), (404, "No such conversation, or not shared."))
def unshare_conversation(conversation_id: int):
    """Stop sharing a conversation"""
    service.revoke(api_user(), conversation_id)
    return "", 204
