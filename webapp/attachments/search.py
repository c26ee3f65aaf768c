"""Choosing passages for a question: full-text ranking in the database, offline (no embedding service).

PostgreSQL ranks with `ts_rank` over each passage's stored `tsvector` (found through its GIN index); SQLite with
FTS5's `bm25`. A question's words are OR-ed: a passage that has some of them still counts, ranked below one that
has more, so a question phrased unlike the file still finds something. Words found nearly everywhere are left out
first (see COMMON_SHARE): ranking every passage of a large library for them would take seconds and tell nothing.
When every word of the question is that common, the passages with its rarest word are ranked by its two rarest.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Sequence

from sqlalchemy import Integer, any_, bindparam, func, literal_column, select, text
from sqlalchemy.dialects.postgresql import ARRAY

from webapp.attachments.models import SEARCH_CONFIG, SQLITE_PASSAGE_TABLE, FilePassage, FileText
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


def rank(file_ids: Sequence[int], question: str, limit: int, passages: int | None = None) -> list[int]:
    """Ids of the passages of `file_ids` that match `question` best, best first (at most `limit`).

    `passages` is how many passages those files have (added up from their FileText rows when not given): past
    FILTER_FROM, the question's common words are left out.
    """
    words = terms(question)
    if not words or not file_ids or limit <= 0:
        return []
    if passages is None:
        passages = db.session.scalar(select(func.sum(FileText.passages)).where(among(FileText.file_id, file_ids))) or 0
    filtering = passages >= FILTER_FROM
    if db.session.get_bind().dialect.name == "postgresql":
        return _rank_postgresql(list(file_ids), words, limit, filtering)
    return _rank_sqlite(list(file_ids), words, limit, filtering)


def among(column, ids: Sequence[int]):
    """`column IN ids` with the ids as one parameter (a PostgreSQL array, a JSON list on SQLite): a library's
    thousand file ids as a thousand bound parameters took longer to render and parse than the ranking took."""
    if db.session.get_bind().dialect.name == "postgresql":
        return column == any_(bindparam(None, list(ids), type_=ARRAY(Integer)))
    return column.in_(select(literal_column("value")).select_from(func.json_each(json.dumps(list(ids)))))


# A lexeme in more than this share of all passages says little about which passage answers (the made-up words of
# bench/retrieval.py's commonest ranks, "data" in a data team's files): left out of the query, unless every word
# of the question is that common. Ranking then reads a few thousand passages at most, not every one.
COMMON_SHARE = 0.02
# Only for this many passages or more: ranking fewer takes milliseconds whatever the words, and a word common in
# everyone's files may be the very one that tells a person's few files apart.
FILTER_FROM = 2_000
# How long a process keeps PostgreSQL's statistics of the passages' lexemes (they change with ANALYZE only).
STATISTICS_SECONDS = 300.0
_statistics: dict[str, object] = {"at": -STATISTICS_SECONDS, "shares": {}}
_LEXEMES = text("SELECT unnest(tsvector_to_array(to_tsvector(CAST(:config AS regconfig), :words)))")
_SHARES = text(
    "SELECT most_common_elems::text::text[], most_common_elem_freqs FROM pg_stats "
    "WHERE tablename = 'file_passages' AND attname = 'search_vector'"
)


def _lexeme_shares() -> dict[str, float]:
    """The share of passages each common lexeme is in, from the statistics ANALYZE keeps (autovacuum runs it):
    one small query every few minutes per process, instead of counting for every question."""
    if time.monotonic() - float(_statistics["at"]) < STATISTICS_SECONDS:  # type: ignore[arg-type]
        return _statistics["shares"]  # type: ignore[return-value]
    row = db.session.execute(_SHARES).first()
    shares = dict(zip(row[0], row[1], strict=False)) if row and row[0] else {}
    _statistics.update(at=time.monotonic(), shares=shares)
    return shares


def _telling(lexemes: list[str]) -> tuple[list[str], list[str]]:
    """The lexemes that tell passages apart, as (those a passage must have one of, those it is ranked by): the rare
    ones for both; when every one is common, the passages with the rarest, ranked by the two rarest."""
    shares = _lexeme_shares()
    rare = [lexeme for lexeme in lexemes if shares.get(lexeme, 0.0) <= COMMON_SHARE]
    if rare:
        return rare, rare
    rarest = sorted(lexemes, key=lambda lexeme: shares.get(lexeme, 0.0))[:2]
    # ts_rank (no normalization, no weights) gives a passage with both of two lexemes at least 2 x 0.061 / 2, and
    # one with a single lexeme at most 0.1 / 2 however often it has it: the passages with both come first, so
    # leaving out those with only the commoner one changes the order only past them, and reads far fewer
    # passages (the commoner one was in 17,015 passages of bench/retrieval.py's 41,746, the rarer in 2,912).
    return rarest[:1], rarest


def _or_query(lexemes: list[str]):
    # Lexemes are letters and digits (the words were): quoted, each is one term of an OR query. Written into the
    # statement, not bound: psycopg prepares a statement run five times, and PostgreSQL's generic plan for a
    # tsquery it cannot see ranked the whole table (a second a question instead of 20 ms).
    terms = " | ".join("'" + lexeme.replace("'", "''") + "'" for lexeme in lexemes)
    return func.to_tsquery(literal_column("'simple'::regconfig"), bindparam(None, terms, literal_execute=True))


def _rank_postgresql(file_ids: list[int], words: list[str], limit: int, filtering: bool) -> list[int]:
    lexemes = list(db.session.scalars(_LEXEMES, {"config": SEARCH_CONFIG, "words": " ".join(words)}))
    if not lexemes:
        return []
    matched, ranked = _telling(lexemes) if filtering else (lexemes, lexemes)
    statement = (
        select(FilePassage.id)
        .where(among(FilePassage.file_id, file_ids), FilePassage.search_vector.op("@@")(_or_query(matched)))
        .order_by(func.ts_rank(FilePassage.search_vector, _or_query(ranked)).desc(), FilePassage.id)
        .limit(limit)
    )
    return list(db.session.scalars(statement))


_SQLITE_RANK = text(
    f"SELECT p.id FROM {SQLITE_PASSAGE_TABLE} JOIN file_passages AS p ON p.id = {SQLITE_PASSAGE_TABLE}.rowid "
    f"WHERE {SQLITE_PASSAGE_TABLE} MATCH :match AND p.file_id IN (SELECT value FROM json_each(:file_ids)) "
    f"ORDER BY bm25({SQLITE_PASSAGE_TABLE}), p.id LIMIT :limit"
)


_SQLITE_PASSAGES = text("SELECT count(*) FROM file_passages")
_SQLITE_COUNT = text(
    f"SELECT count(*) FROM (SELECT 1 FROM {SQLITE_PASSAGE_TABLE} WHERE {SQLITE_PASSAGE_TABLE} MATCH :match LIMIT :cap)"
)
_sqlite_total: dict[str, float] = {"at": -STATISTICS_SECONDS, "passages": 0}


def _sqlite_passages() -> int:
    """How many passages there are, counted again every few minutes per process."""
    if time.monotonic() - _sqlite_total["at"] >= STATISTICS_SECONDS:
        _sqlite_total.update(at=time.monotonic(), passages=db.session.scalar(_SQLITE_PASSAGES) or 0)
    return int(_sqlite_total["passages"])


def _rank_sqlite(file_ids: list[int], words: list[str], limit: int, filtering: bool) -> list[int]:
    # Each word quoted: FTS5 then reads it as a plain token, whatever it is ("near", "*", a column name).
    quoted = [f'"{word}"' for word in words]
    match = " OR ".join(quoted)
    if filtering:
        # As on PostgreSQL, the words in more than COMMON_SHARE of the passages are left out: each is counted up to
        # that share only (FTS5 walks its list of passages for the word, and stops there).
        passages = _sqlite_passages()
        cap = max(2, int(passages * COMMON_SHARE))
        counts = {term: _sqlite_count(term, cap) for term in quoted}
        rare = [term for term in quoted if counts[term] < cap]
        if rare:
            match = " OR ".join(rare)
        else:
            # Every word is common: as on PostgreSQL, the passages with the rarest, ranked by the two rarest (counted
            # in full now, a millisecond each). Each of the two written twice, so that bm25, which adds up every
            # phrase of the query, ranks those passages exactly as it would for "rarest OR second".
            counts = {term: _sqlite_count(term, passages + 1) for term in quoted}
            rarest = sorted(quoted, key=counts.__getitem__)[:2]
            match = f"({rarest[0]} NOT {rarest[1]}) OR ({rarest[0]} AND {rarest[1]})" if len(rarest) == 2 else rarest[0]
    found = db.session.scalars(_SQLITE_RANK, {"match": match, "file_ids": json.dumps(file_ids), "limit": limit})
    return list(found)


def _sqlite_count(term: str, cap: int) -> int:
    return db.session.scalar(_SQLITE_COUNT, {"match": term, "cap": cap}) or 0
