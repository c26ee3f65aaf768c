"""Chat on the dashboard: two cards (counts; where you left off). `init_app` registers them."""

from __future__ import annotations

from typing import Any

from webapp.chat import history, service
from webapp.dashboard.cards import Card


def chat_card(user: Any) -> Card:
    return Card(
        "Chat",
        "chat.new_conversation",
        "Talk with AI models; every conversation is kept.",
        template="chat/_card_chat.html",
        context={
            "stats": history.stats(user),
            "configured": service.is_configured(),
            "default_model": service.model_choices()[0] if service.is_configured() else None,
        },
    )


def history_card(user: Any) -> Card:
    return Card(
        "History",
        "history.index",
        "Search, export and review your conversations.",
        template="chat/_card_history.html",
        context={"latest": service.recent_conversations(user, limit=5)},
    )
