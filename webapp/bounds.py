"""Bounds on values that come from requests: a number too large for the database is a 404, a 400 or an empty
page, and text the database cannot hold is cleaned, never an error inside the query (a 500)."""

from __future__ import annotations

from typing import Any

from werkzeug.exceptions import NotFound
from werkzeug.routing import IntegerConverter

# Ids are INTEGER columns: 32-bit on PostgreSQL ("integer out of range" past this), 64-bit on SQLite.
MAX_DATABASE_ID = 2**31 - 1
# Past the end of every list a page is empty anyway; this keeps OFFSET (page × per_page) far inside 64 bits.
MAX_PAGE = 1_000_000


def page_number(page: int) -> int:
    """A requested page number, between 1 and MAX_PAGE."""
    return min(max(page, 1), MAX_PAGE)


def without_nul(text: str) -> str:
    """Text without NUL characters: PostgreSQL refuses them in text columns and queries, and in a message, a
    title or a search they mean nothing a person typed."""
    return text.replace("\x00", "")


def is_database_id(value: Any) -> bool:
    """A whole number (not a bool) that an id column can hold."""
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_DATABASE_ID


def database_id(value: str) -> int:
    """`request.args.get(..., type=database_id)`: an id that a column can hold; anything else raises ValueError,
    which werkzeug turns into the default (no filter), never a query the database refuses."""
    number = int(value)
    if not is_database_id(number):
        raise ValueError(f"{value!r} is not an id")
    return number


class DatabaseIdConverter(IntegerConverter):
    """`<int:...>` for ids: a number longer than an id column holds is no such object (404).

    Not werkzeug's `max`: its ValidationError makes the router answer 405 to any method but the first rule's.
    """

    def to_python(self, value: str) -> int:
        number = super().to_python(value)
        if number > MAX_DATABASE_ID:
            raise NotFound()
        return number
