"""The numbers a reply cites its sources with ([1], [2][3]) as links to the sources listed under it."""

from __future__ import annotations

import re
from typing import Any

from markupsafe import Markup

# A tag, or a run of text between tags: only text is looked at, and never inside code.
_PIECES = re.compile(r"(<[^>]*>)")
_CITATION = re.compile(r"\[(\d{1,3})\]")


def link_citations(html: Markup, message: Any) -> Markup:
    """`html` (a reply already rendered and cleaned) with each `[n]` that names one of its sources made a link."""
    sources = getattr(message, "sources", None)
    if not sources:
        return html
    numbers = {source.number for source in sources}

    def link(match: re.Match[str]) -> str:
        number = int(match.group(1))
        if number not in numbers:
            return match.group(0)
        return f'<a href="#source-{message.id}-{number}" class="citation">[{number}]</a>'

    pieces, in_code = [], 0
    for piece in _PIECES.split(str(html)):
        if piece.startswith("<"):
            name = piece.strip("</>").split()[0].lower() if piece.strip("</>") else ""
            if name in ("code", "pre"):
                in_code += -1 if piece.startswith("</") else 1
            pieces.append(piece)
        else:
            pieces.append(piece if in_code > 0 else _CITATION.sub(link, piece))
    return Markup("".join(pieces))
