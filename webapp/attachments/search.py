"""Choosing passages for a question: full-text ranking in the database, offline (no embedding service).

PostgreSQL ranks with `ts_rank` over each passage's stored `tsvector` (found through its GIN index); SQLite with
FTS5's `bm25`. A question's words are OR-ed: a passage that has some of them still counts, ranked below one that
has more, so a question phrased unlike the file still finds something.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from sqlalchemy import bindparam, func, select, text

from webapp.attachments.models import SEARCH_CONFIG, SQLITE_PASSAGE_TABLE, FilePassage
from webapp.extensions import db

# A question's first words are enough to rank by; more only slows the query.
MAX_TERMS = 32
_WORD = re.compile(r"\w+", re.UNICODE)
# Words that are operators in websearch_to_tsquery (and in FTS5 queries when unquoted), and the commonest English
# words: in nearly every passage, they would make every passage match (PostgreSQL's English configuration drops
# them itself; FTS5 has no stop words).
_SKIPPED = frozenset(
    _WORD.findall(
        "or and not the a an of to in on at by for with from as is are was were be been being it its this that these "
        "those what which who whom how why when where do does did has have had can could would should will shall may "
        "might must i you he she we they me him her us them my your his our their there here than then so if but no "
        "about into over under up down out all any some such only also very just"
    )
)


def terms(question: str) -> list[str]:
    """The question's distinct words (letters and digits, two or more), in order, at most MAX_TERMS."""
    seen: dict[str, None] = {}
    for word in _WORD.findall(question.lower()):
        if len(word) >= 2 and word not in _SKIPPED and word not in seen:
            seen[word] = None
            if len(seen) == MAX_TERMS:
                break
    return list(seen)


def rank(file_ids: Sequence[int], question: str, limit: int) -> list[int]:
    """Ids of the passages of `file_ids` that match `question` best, best first (at most `limit`)."""
    words = terms(question)
    if not words or not file_ids or limit <= 0:
        return []
    if db.session.get_bind().dialect.name == "postgresql":
        return _rank_postgresql(list(file_ids), words, limit)
    return _rank_sqlite(list(file_ids), words, limit)


def _rank_postgresql(file_ids: list[int], words: list[str], limit: int) -> list[int]:
    query = func.websearch_to_tsquery(SEARCH_CONFIG, bindparam("words", " or ".join(words)))
    statement = (
        select(FilePassage.id)
        .where(FilePassage.file_id.in_(file_ids), FilePassage.search_vector.op("@@")(query))
        .order_by(func.ts_rank(FilePassage.search_vector, query).desc(), FilePassage.id)
        .limit(limit)
    )
    return list(db.session.scalars(statement))


_SQLITE_RANK = text(
    f"SELECT p.id FROM {SQLITE_PASSAGE_TABLE} JOIN file_passages AS p ON p.id = {SQLITE_PASSAGE_TABLE}.rowid "
    f"WHERE {SQLITE_PASSAGE_TABLE} MATCH :match AND p.file_id IN :file_ids "
    f"ORDER BY bm25({SQLITE_PASSAGE_TABLE}), p.id LIMIT :limit"
).bindparams(bindparam("file_ids", expanding=True))


def _rank_sqlite(file_ids: list[int], words: list[str], limit: int) -> list[int]:
    # Each word quoted: FTS5 then reads it as a plain token, whatever it is ("near", "*", a column name).
    match = " OR ".join(f'"{word}"' for word in words)
    return list(db.session.scalars(_SQLITE_RANK, {"match": match, "file_ids": file_ids, "limit": limit}))
