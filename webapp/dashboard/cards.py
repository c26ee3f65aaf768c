"""Dashboard cards, one or more per feature.

Each feature registers a builder under its name in its `init_app`; the builder returns the card's partial and
context for the signed-in user. Cards are shown in the order the features registered them (create_app's order).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flask import Flask, current_app, url_for


@dataclass
class Card:
    title: str
    endpoint: str  # where the card's title leads, e.g. "files.index"
    description: str
    template: str = "dashboard/_card.html"
    context: dict[str, Any] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return url_for(self.endpoint)


CardBuilder = Callable[[Any], Card]


def register_card(app: Flask, name: str, builder: CardBuilder) -> None:
    app.extensions.setdefault("dashboard_cards", {})[name] = builder


def cards_for(user: Any) -> list[Card]:
    builders: dict[str, CardBuilder] = current_app.extensions.get("dashboard_cards", {})
    return [build(user) for build in builders.values()]
