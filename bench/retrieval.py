"""Files in chat: choosing passages for a question over 1,000 documents (50 MB of text), and the time to a reply's
first streamed byte with a 300-page PDF attached against the same message without it.

1. Seeds a database of its own (PostgreSQL on the server of `--database-url` or TEST_DATABASE_URL, and SQLite in a
   temporary folder) with 1,000 documents of 50 kB of generated text each, through the app's own write path
   (`attachments.service.keep`: passages of ~1,500 characters, PostgreSQL's tsvector column, SQLite's FTS5 index).
   Text is drawn from a vocabulary of 20,000 made-up words with Zipf-like frequencies, as ordinary prose is.
   Then p50/p95 of `build_context` over all 1,000 documents (load what was read, rank with ts_rank / bm25, take the
   passages that fit CHAT_CONTEXT_CHARS' share) for 200 questions of 8 words each, and of the ranking query alone.
2. Starts the local OpenAI-compatible server (instant replies), stores a real 300-page PDF through the files
   service (its text is read then, as on upload), and alternates 30 times: start a conversation with the PDF
   attached, then the same message without it, each time timing the reply stream from the request to its first
   `delta` event (Flask's test client, in process). Prints p50/p95 of both and the overhead.

Usage: python bench/retrieval.py [--database-url postgresql+psycopg://…] [--database-name NAME] [--reuse]
[--skip-sqlite|--skip-postgresql] [--skip-first-byte]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.apps import build_app
from tests.support.databases import create_database, drop_database
from tests.support.documents import pdf_with_text
from tests.support.servers.openai_server import OpenAIServer

DOCUMENTS, DOCUMENT_CHARS, QUESTIONS, QUESTION_WORDS = 1_000, 50_000, 200, 8
VOCABULARY = 20_000
FIRST_BYTE_ROUNDS = 30
SYLLABLES = ["ka", "lo", "mi", "ne", "pu", "ra", "si", "to", "vu", "ze", "ba", "de", "fi", "go", "hu", "ja"]


def made_up_word(number: int) -> str:
    letters = []
    while True:
        letters.append(SYLLABLES[number % len(SYLLABLES)])
        number //= len(SYLLABLES)
        if number == 0:
            break
    return "".join(letters) + "n"


WORDS = [made_up_word(n + 17) for n in range(VOCABULARY)]
# Zipf-like: word n is drawn with weight 1/(n+1).
WEIGHTS = [1 / (n + 1) for n in range(VOCABULARY)]


def document_text(rng: random.Random) -> str:
    words = rng.choices(WORDS, WEIGHTS, k=DOCUMENT_CHARS // 6)
    lines, line = [], []
    for index, word in enumerate(words, start=1):
        line.append(word)
        if index % 12 == 0:
            lines.append(" ".join(line) + ".")
            line = []
    return "\n".join(lines)


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]


def seeded(app) -> list[int]:
    """The documents of an earlier run (`--reuse`), or none."""
    from sqlalchemy import select

    from webapp.extensions import db
    from webapp.files.models import StoredFile

    with app.app_context():
        return list(db.session.scalars(select(StoredFile.id).order_by(StoredFile.id)))


def seed(app, rng: random.Random) -> list[int]:
    from webapp.attachments.extraction import READY, Extracted, split
    from webapp.attachments.service import keep
    from webapp.auth.models import User
    from webapp.extensions import db
    from webapp.files.models import StoredFile

    with app.app_context():
        user = User(email="retrieval@example.com", name="Retrieval Bench", role="staff", password_hash="x")
        db.session.add(user)
        db.session.commit()
        ids = []
        started = time.perf_counter()
        for number in range(DOCUMENTS):
            stored = StoredFile(
                user_id=user.id,
                original_name=f"document-{number}.txt",
                storage_backend="local",
                storage_key=f"bench/{number}.txt",
                content_type="text/plain",
                kind="document",
                size=DOCUMENT_CHARS,
                sha256="0" * 64,
            )
            db.session.add(stored)
            db.session.commit()
            lines = document_text(rng).split("\n")
            segments = [[index, line] for index, line in enumerate(lines, start=1)]
            keep(stored.id, Extracted(READY, "line", None, split(segments, "line")))
            ids.append(stored.id)
        print(
            f"  seeded {DOCUMENTS:,} documents ({DOCUMENTS * DOCUMENT_CHARS / 1e6:.0f} MB of text) in "
            f"{time.perf_counter() - started:.0f} s"
        )
        return ids


def measure_choosing(app, ids: list[int], rng: random.Random) -> None:
    from sqlalchemy import func, select, text

    from webapp.attachments.models import FilePassage
    from webapp.attachments.search import rank
    from webapp.attachments.service import FILES_SHARE, build_context
    from webapp.extensions import db
    from webapp.files.models import StoredFile

    with app.app_context():
        if db.engine.dialect.name == "postgresql":
            # As autovacuum does after a bulk load: the ranking reads which lexemes are common from these statistics.
            with db.engine.connect() as connection:
                connection.execution_options(isolation_level="AUTOCOMMIT").execute(text("ANALYZE file_passages"))
        passages = db.session.scalar(select(func.count(FilePassage.id)))
        documents = list(db.session.scalars(select(StoredFile).where(StoredFile.id.in_(ids)).order_by(StoredFile.id)))
        budget = int(app.config["CHAT_CONTEXT_CHARS"] * FILES_SHARE)
        questions = [" ".join(rng.choices(WORDS, WEIGHTS, k=QUESTION_WORDS)) for _ in range(QUESTIONS)]
        build_context(documents, questions[0], budget)  # warm the caches once
        choose, ranking, chosen = [], [], []
        for question in questions:
            started = time.perf_counter()
            context = build_context(documents, question, budget)
            choose.append((time.perf_counter() - started) * 1000)
            chosen.append(len(context.sources))
            started = time.perf_counter()
            rank(ids, question, limit=budget // 500)
            ranking.append((time.perf_counter() - started) * 1000)
            # Let go of the passages loaded (a request would end here), keeping the documents as a request has them.
            for passage in db.session.identity_map.values():
                if isinstance(passage, FilePassage):
                    db.session.expunge(passage)
        p50, p95 = percentiles(choose)
        r50, r95 = percentiles(ranking)
        print(f"  {passages:,} passages; {QUESTIONS} questions of {QUESTION_WORDS} words; budget {budget:,} characters")
        print(
            f"  choosing passages (build_context): p50 {p50:.1f} ms, p95 {p95:.1f} ms "
            f"(aim: p95 < 100 ms) -> {statistics.median(chosen):.0f} passages a question"
        )
        print(f"  ranking query alone:              p50 {r50:.1f} ms, p95 {r95:.1f} ms")


def measure_first_byte(folder: Path) -> None:
    from tests.support.factories import make_file, make_user
    from tests.support.web import csrf_token, login

    with OpenAIServer(models=["gpt-4o-mini"]) as server:
        settings = {
            "OPENAI_API_KEY": "bench",
            "OPENAI_BASE_URL": server.base_url,
            "OPENAI_MODELS": "gpt-4o-mini",
            "CHAT_MAX_RETRIES": 0,
        }
        app = build_app(folder, f"sqlite:///{folder / 'first-byte.db'}", {**settings, "LOG_LEVEL": "WARNING"})
        from webapp.extensions import db

        with app.app_context():
            db.create_all()
        account = make_user(app, email="firstbyte@example.com", name="First Byte")
        pages = [f"Page {n}. " + " ".join(WORDS[(n * 37 + k) % 3000] for k in range(330)) for n in range(1, 301)]
        content = pdf_with_text(pages)
        started = time.perf_counter()
        pdf = make_file(app, account, name="manual.pdf", content=content)
        print(f"  300-page PDF ({len(content) / 1e6:.1f} MB) stored and read in {time.perf_counter() - started:.1f} s")
        client = app.test_client()
        login(client, account.email, account.password)
        token = csrf_token(client, "/chat")
        question = f"What does the manual say about {WORDS[40]} and {WORDS[1200]}?"

        def first_byte(file_ids: list[int]) -> float:
            data = {"message": question, "file_ids": [str(file_id) for file_id in file_ids]}
            response = client.post("/chat", data=data, headers={"X-CSRFToken": token, "HX-Request": "true"})
            assert response.status_code == 201, response.get_data(as_text=True)
            body = response.get_data(as_text=True)
            reply_id = int(body.rsplit('sse-connect="/chat/messages/', 1)[1].split("/", 1)[0])
            started = time.perf_counter()
            stream = client.get(f"/chat/messages/{reply_id}/stream", buffered=False)
            elapsed = None
            for chunk in stream.response:
                if elapsed is None and b"event: delta" in chunk:
                    elapsed = (time.perf_counter() - started) * 1000
            stream.close()
            assert elapsed is not None
            return elapsed

        first_byte([pdf.id])
        first_byte([])  # warm both paths
        with_pdf, without = [], []
        for _ in range(FIRST_BYTE_ROUNDS):
            with_pdf.append(first_byte([pdf.id]))
            without.append(first_byte([]))
        w50, w95 = percentiles(with_pdf)
        n50, n95 = percentiles(without)
        print(f"  first streamed byte without a file: p50 {n50:.1f} ms, p95 {n95:.1f} ms ({FIRST_BYTE_ROUNDS} replies)")
        print(f"  first streamed byte with the PDF:   p50 {w50:.1f} ms, p95 {w95:.1f} ms")
        print(f"  overhead of the PDF: p50 {w50 - n50:+.1f} ms, p95 {w95 - n95:+.1f} ms (aim: < 300 ms)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=os.environ.get("TEST_DATABASE_URL", ""))
    parser.add_argument("--skip-sqlite", action="store_true")
    parser.add_argument("--skip-postgresql", action="store_true")
    parser.add_argument("--skip-first-byte", action="store_true")
    parser.add_argument("--database-name", default="workbench_retrieval", help="the PostgreSQL database it makes")
    parser.add_argument("--reuse", action="store_true", help="keep the PostgreSQL database seeded by an earlier run")
    arguments = parser.parse_args()
    print(f"bench/retrieval.py on {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory(prefix="retrieval-") as temp:
        folder = Path(temp)
        targets = []
        if not arguments.skip_postgresql and arguments.database_url:
            targets.append(("PostgreSQL", "postgresql"))
        if not arguments.skip_sqlite:
            targets.append(("SQLite", "sqlite"))
        for label, kind in targets:
            print(f"{label}:")
            if kind == "postgresql":
                from config import normalize_database_url

                server = normalize_database_url(arguments.database_url)
                name = arguments.database_name
                if not arguments.reuse:
                    drop_database(server, name)
                url = create_database(server, name)
            else:
                url = f"sqlite:///{folder / 'retrieval.db'}"
            app = build_app(folder / kind, url, {"LOG_LEVEL": "WARNING"})
            from webapp.extensions import db

            with app.app_context():
                db.create_all()
            rng = random.Random(13)
            ids = (seeded(app) if arguments.reuse else []) or seed(app, rng)
            measure_choosing(app, ids, rng)
            with app.app_context():
                db.session.remove()
                db.engine.dispose()
            if kind == "postgresql" and not arguments.reuse:
                drop_database(server, name)
        if not arguments.skip_first_byte:
            print("First streamed byte (SQLite, local model server answering at once):")
            measure_first_byte(folder)
    print(f"load average at the end {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
