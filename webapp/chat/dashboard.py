"""Chat on the dashboard: two cards (counts; where you left off) and the messages line of the activity chart."""

from __future__ import annotations

from typing import Any

from flask import Flask

from webapp.chat import history, service
from webapp.dashboard.activity import register_activity
from webapp.dashboard.cards import FEATURE_CARDS, Card, register_card


def chat_card(user: Any) -> Card:
    base = FEATURE_CARDS["chat"]
    return Card(
        base.title,
        base.url,
        base.description,
        template="chat/_card_chat.html",
        context={
            "stats": history.stats(user),
            "configured": service.is_configured(),
            "default_model": service.model_choices()[0] if service.is_configured() else None,
        },
    )


def history_card(user: Any) -> Card:
    base = FEATURE_CARDS["history"]
    return Card(
        base.title,
        base.url,
        base.description,
        template="chat/_card_history.html",
        context={"latest": service.recent_conversations(user, limit=5)},
    )


def register_cards(app: Flask) -> None:
    register_card(app, "chat", chat_card)
    register_card(app, "history", history_card)
    register_activity(app, "chat", "Chat messages", history.messages_per_day)
