"""Dashboard cards, one per feature.

Each feature registers a builder under its name in `create_app`; the builder returns the card's partial and
context for the signed-in user. A feature with no builder yet shows its plain description card.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flask import Flask, current_app


@dataclass
class Card:
    title: str
    url: str
    description: str
    template: str = "dashboard/_card.html"
    context: dict[str, Any] = field(default_factory=dict)


CardBuilder = Callable[[Any], Card]

FEATURE_CARDS = {
    "chat": Card("Chat", "/chat", "Talk with AI models; every conversation is kept."),
    "history": Card("History", "/history", "Search, export and review your conversations."),
    "files": Card("Files", "/files", "Upload photos and documents and find them again."),
    "faces": Card("Faces", "/faces/compare", "Compare two photos, or analyse the faces in one."),
}


def register_card(app: Flask, name: str, builder: CardBuilder) -> None:
    app.extensions.setdefault("dashboard_cards", {})[name] = builder


def cards_for(user: Any) -> list[Card]:
    builders = current_app.extensions.get("dashboard_cards", {})
    return [builders[name](user) if name in builders else card for name, card in FEATURE_CARDS.items()]
