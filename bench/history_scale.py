"""History at scale: the chat pages a person opens, against 100,000 conversations and 1,000,000 messages.

Seeds a PostgreSQL database of its own (created on the server of `--database-url`, or TEST_DATABASE_URL) with
200 users, 100,000 conversations and 1,000,000 messages in bulk (INSERT … SELECT generate_series, no ORM rows):
one user, the bench user, holds 20,000 of the messages (1,950 conversations of 10 and one of 500). Message text is
drawn from a vocabulary of 2,000 made-up words, so every word is in about 1.5% of the messages, as an ordinary
search word would be; replies carry some Markdown (bold, a list, code).

Then measures through the real app, in process (Flask's test client against create_app() with production
settings, signed in through the login form as the bench user or an admin), p50/p95 of: the history page (first
page; last page as ?page=N and as reached by the Older link, which carries a keyset), a search that hits and one
that misses, opening the 500-message conversation, the chat page (its sidebar of recent conversations), the
dashboard, the admin history filtered by user and searched; and the full JSON export (time, and the peak of
Python allocations while it streams, measured by tracemalloc in a separate run). Each line also gives the median
CPU time of the app's process (on a shared machine the wall-clock figures include waiting for a core) and the
SQL statements one request runs.

`--reuse` keeps an already-seeded database (migrations are still applied, so a branch's new indexes are built on
it); otherwise the database is dropped and seeded again (a few minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.databases import create_database
from tests.support.processes import app_environment

DATABASE = "workbench_history_scale"
EMAIL, ADMIN_EMAIL, PASSWORD = "history@example.com", "history-admin@example.com", "bench password 123"
CONVERSATIONS, MESSAGES, OTHER_USERS = 100_000, 1_000_000, 198
LONG_CONVERSATION_MESSAGES, OWN_SHORT_CONVERSATIONS, SHORT_LENGTH = 500, 1_950, 10
OWN_CONVERSATIONS = 1 + OWN_SHORT_CONVERSATIONS
OWN_MESSAGES = LONG_CONVERSATION_MESSAGES + OWN_SHORT_CONVERSATIONS * SHORT_LENGTH  # 20,000
MODELS = ("gpt-4o-mini", "gpt-4o", "llama3.2", "anthropic.claude-3-haiku-20240307-v1:0")
# The made-up vocabulary: word n is FIRST[n % 20] + MIDDLE[n / 20 % 10] + LAST[n / 200 % 10].
FIRST = [
    "ka",
    "lo",
    "mi",
    "ne",
    "pu",
    "ra",
    "si",
    "to",
    "vu",
    "ze",
    "ba",
    "de",
    "fi",
    "go",
    "hu",
    "ja",
    "ke",
    "li",
    "mo",
    "nu",
]
MIDDLE = ["ran", "tel", "vos", "mik", "dul", "sor", "pen", "gat", "lix", "bor"]
LAST = ["a", "o", "en", "is", "um", "ar", "et", "ix", "on", "us"]
FRAGMENTS = 30_011  # a prime: the fragment numbers below spread evenly
MISSING_WORD = "quasarblorp"


def word(number: int) -> str:
    return FIRST[number % 20] + MIDDLE[number // 20 % 10] + LAST[number // 200 % 10]


HIT_WORD = word(777)


# -- seeding -----------------------------------------------------------------------------------------------------


def _array(words: list[str]) -> str:
    return "ARRAY[" + ",".join(f"'{item}'" for item in words) + "]"


def seed(connection) -> None:
    """Bulk-insert the users, conversations and messages; the indexes are built after the rows, then ANALYZE."""
    from sqlalchemy import text

    def run(sql: str, **parameters) -> None:
        started = time.perf_counter()
        connection.execute(text(sql), parameters)
        print(f"  {sql.split(chr(10))[0][:70]:<70} {time.perf_counter() - started:6.1f} s", flush=True)

    run(
        f"""CREATE OR REPLACE FUNCTION bench_word(n bigint) RETURNS text LANGUAGE sql IMMUTABLE AS $$
        SELECT ({_array(FIRST)})[1 + n % 20] || ({_array(MIDDLE)})[1 + n / 20 % 10]
            || ({_array(LAST)})[1 + n / 200 % 10] $$"""
    )
    # Text is made of fragments of 6 random words: drawing words for each of a million rows is slow (minutes),
    # joining a few of 30,000 fragments by number is not. Every word still lands in about 1.5% of the messages.
    run(
        f"""CREATE TEMPORARY TABLE bench_fragments AS
        SELECT g AS id, (SELECT string_agg(bench_word(floor(random() * 2000)::bigint), ' ')
                         FROM generate_series(1, 6) WHERE g >= 0) AS words
        FROM generate_series(0, {FRAGMENTS - 1}) g"""
    )
    run("ALTER TABLE bench_fragments ADD PRIMARY KEY (id)")
    indexes = connection.execute(
        text(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename IN ('conversations', 'messages') "
            "AND indexname NOT IN (SELECT conname FROM pg_constraint)"
        )
    ).all()
    for name, _definition in indexes:
        run(f'DROP INDEX "{name}"')
    run(
        "INSERT INTO users (email, name, password_hash, role, is_active, session_version, created_at) "
        "SELECT 'user' || g || '@example.com', 'User ' || g, '!', 'staff', true, 1, now() "
        f"FROM generate_series(1, {OTHER_USERS}) g"
    )
    bench_user = connection.execute(text("SELECT id FROM users WHERE email = :e"), {"e": EMAIL}).scalar_one()
    first_other = connection.execute(text("SELECT min(id) FROM users WHERE password_hash = '!'")).scalar_one()
    models = _array(list(MODELS))
    # Conversation 1 is the bench user's long one (recent); 2..1951 are its others; the rest belong to the others.
    run(
        f"""INSERT INTO conversations
            (id, user_id, title, provider, model, system_prompt, pinned, origin, created_at, updated_at)
        SELECT g,
               CASE WHEN g <= {OWN_CONVERSATIONS} THEN {bench_user} ELSE {first_other} + g % {OTHER_USERS} END,
               initcap(f.words),
               CASE WHEN g % 4 = 3 THEN 'bedrock' ELSE 'openai' END,
               ({models})[1 + g % 4],
               NULL,
               g % 97 = 5,
               'chat',
               moment - interval '2 hours', moment
        FROM (SELECT g, CASE WHEN g = 1 THEN now() - interval '1 hour'
                             ELSE now() - random() * interval '365 days' END AS moment
              FROM generate_series(1, {CONVERSATIONS}) g) AS planned
        JOIN bench_fragments f ON f.id = g * 7919 % {FRAGMENTS}"""
    )
    others = CONVERSATIONS - OWN_CONVERSATIONS
    run(
        f"""INSERT INTO messages (id, conversation_id, parent_id, role, content, status, error, provider, model,
                                 prompt_tokens, completion_tokens, latency_ms, finish_reason, stop_requested,
                                 created_at, completed_at)
        SELECT p.id, p.conversation_id, p.parent_id,
               CASE WHEN p.position % 2 = 0 THEN 'user' ELSE 'assistant' END,
               CASE WHEN p.position % 2 = 0 THEN a.words || ' ' || b.words || '?'
                    ELSE 'Here is **' || a.words || '**, in short:' || chr(10) || chr(10) || '- ' || b.words
                         || chr(10) || '- ' || c2.words || chr(10) || chr(10) || '`' || d.words || '` ' || e.words
                         || '. ' || a.words || ' ' || c2.words || '.'
               END,
               'complete', NULL,
               CASE WHEN p.position % 2 = 1 THEN c.provider END, CASE WHEN p.position % 2 = 1 THEN c.model END,
               CASE WHEN p.position % 2 = 1 THEN 40 + p.id % 300 END,
               CASE WHEN p.position % 2 = 1 THEN 100 + p.id % 500 END,
               CASE WHEN p.position % 2 = 1 THEN 800 + p.id % 4000 END,
               CASE WHEN p.position % 2 = 1 THEN 'stop' END,
               false,
               c.created_at + p.position * interval '10 seconds',
               c.created_at + p.position * interval '10 seconds'
        FROM (SELECT g AS id,
                     CASE WHEN g <= {LONG_CONVERSATION_MESSAGES} THEN 1
                          WHEN g <= {OWN_MESSAGES} THEN 2 + (g - {LONG_CONVERSATION_MESSAGES + 1}) / {SHORT_LENGTH}
                          ELSE {OWN_CONVERSATIONS + 1} + (g - {OWN_MESSAGES + 1}) % {others} END AS conversation_id,
                     CASE WHEN g <= {LONG_CONVERSATION_MESSAGES} THEN g - 1
                          WHEN g <= {OWN_MESSAGES} THEN (g - {LONG_CONVERSATION_MESSAGES + 1}) % {SHORT_LENGTH}
                          ELSE (g - {OWN_MESSAGES + 1}) / {others} END AS position,
                     -- each message follows the one before it in its conversation (one branch each)
                     CASE WHEN g = 1 OR (g > {LONG_CONVERSATION_MESSAGES} AND g <= {OWN_MESSAGES}
                                         AND (g - {LONG_CONVERSATION_MESSAGES + 1}) % {SHORT_LENGTH} = 0)
                               OR (g > {OWN_MESSAGES} AND g - {others} <= {OWN_MESSAGES}) THEN NULL
                          WHEN g <= {OWN_MESSAGES} THEN g - 1
                          ELSE g - {others} END AS parent_id
              FROM generate_series(1, {MESSAGES}) g) AS p
        JOIN conversations c ON c.id = p.conversation_id
        JOIN bench_fragments a ON a.id = p.id::bigint * 7919 % {FRAGMENTS}
        JOIN bench_fragments b ON b.id = p.id::bigint * 104729 % {FRAGMENTS}
        JOIN bench_fragments c2  ON c2.id = p.id::bigint * 15485863 % {FRAGMENTS}
        JOIN bench_fragments d ON d.id = p.id::bigint * 32452843 % {FRAGMENTS}
        JOIN bench_fragments e ON e.id = p.id::bigint * 49979687 % {FRAGMENTS}"""
    )
    run(
        "UPDATE conversations SET current_message_id = latest.id FROM (SELECT conversation_id, max(id) AS id "
        "FROM messages GROUP BY conversation_id) AS latest WHERE conversations.id = latest.conversation_id"
    )
    run("SELECT setval(pg_get_serial_sequence('conversations', 'id'), (SELECT max(id) FROM conversations))")
    run("SELECT setval(pg_get_serial_sequence('messages', 'id'), (SELECT max(id) FROM messages))")
    run("SET maintenance_work_mem = '256MB'")
    for _name, definition in indexes:
        run(definition)
    run("DROP TABLE bench_fragments")
    run("DROP FUNCTION bench_word(bigint)")


def prepare_database(server_url: str, reuse: bool, database: str = DATABASE) -> str:
    """The seeded database's URL: reused when asked and already seeded, else made anew; migrations applied."""
    from flask_migrate import upgrade
    from sqlalchemy import create_engine, inspect, text

    url = create_database(server_url, database, fresh=not reuse)
    app = bench_app(url)
    with app.app_context():
        from webapp.extensions import db

        versioned = inspect(db.engine).has_table("alembic_version")
        before = db.session.execute(text("SELECT version_num FROM alembic_version")).scalar() if versioned else None
        upgrade()
        after = db.session.execute(text("SELECT version_num FROM alembic_version")).scalar()
        db.session.commit()
        seeded = inspect(db.engine).has_table("messages") and (
            db.session.execute(text("SELECT count(*) FROM (SELECT 1 FROM messages LIMIT 10) m")).scalar() == 10
        )
        if not seeded:
            print(f"seeding {database}: {CONVERSATIONS:,} conversations, {MESSAGES:,} messages", flush=True)
            from webapp.auth import service as users

            users.create_user(EMAIL, "History Bench", PASSWORD)
            users.create_user(ADMIN_EMAIL, "History Admin", PASSWORD, role="admin")
            with db.engine.begin() as connection:
                seed(connection)
        elif before == after:
            print(f"reusing {database} (schema {after})")
            return url
        else:
            print(f"reusing {database}; migrated {before} -> {after}")
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        started = time.perf_counter()
        connection.execute(text("VACUUM ANALYZE"))
        print(f"  VACUUM ANALYZE {time.perf_counter() - started:.1f} s")
    engine.dispose()
    return url


# -- measuring ---------------------------------------------------------------------------------------------------


_workdir = tempfile.TemporaryDirectory(prefix="wb-history-scale-")


def bench_app(database_url: str):
    """The real app, production settings, on the seeded database (the environment is set as gunicorn would get it)."""
    from webapp import create_app

    os.environ.update(app_environment(Path(_workdir.name), DATABASE_URL=database_url, LOG_LEVEL="WARNING"))
    return create_app()


# Production settings expect https (a proxy in front terminates TLS); the CSRF check then wants a same-site Referer.
BASE = "https://localhost"


def sign_in(app, email: str):
    """A test client signed in through the login form."""
    client = app.test_client()
    page = client.get("/login", base_url=BASE).get_data(as_text=True)
    token = re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)
    response = client.post(
        "/login",
        data={"email": email, "password": PASSWORD, "csrf_token": token},
        base_url=BASE,
        headers={"Referer": BASE + "/login"},
    )
    assert response.status_code in (302, 303), f"sign-in as {email} failed ({response.status_code})"
    return client


@dataclass
class Figure:
    name: str
    p50_ms: float
    p95_ms: float
    cpu_ms: float
    queries: int


class QueryCounter:
    def __init__(self, engine) -> None:
        from sqlalchemy import event

        self.count = 0
        event.listen(engine, "before_cursor_execute", self._count)

    def _count(self, *_args) -> None:
        self.count += 1


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def measure(name: str, request: Callable[[], object], counter: QueryCounter, runs: int) -> Figure:
    """Wall-clock p50/p95 of `runs` requests, the median CPU time of this process (the app's own work, which a
    busy machine does not inflate as much), and the SQL statements one request runs."""
    request()  # warm-up: templates compiled, statements cached, pages in PostgreSQL's cache
    before = counter.count
    request()
    queries = counter.count - before
    samples, cpu = [], []
    for _ in range(runs):
        started, started_cpu = time.perf_counter(), time.process_time()
        request()
        samples.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - started_cpu) * 1000)
    figure = Figure(name, statistics.median(samples), percentile(samples, 0.95), statistics.median(cpu), queries)
    print(
        f"{name:<44} p50 {figure.p50_ms:7.1f} ms  p95 {figure.p95_ms:7.1f} ms  "
        f"(app CPU {figure.cpu_ms:5.1f} ms)  {queries:3d} queries",
        flush=True,
    )
    return figure


def page(client, url: str, must_contain: str = "") -> Callable[[], str]:
    def get() -> str:
        response = client.get(url, base_url=BASE)
        body = response.get_data(as_text=True)
        assert response.status_code == 200, f"{url} answered {response.status_code}"
        assert must_contain in body, f"{url} does not show {must_contain!r}"
        return body

    return get


def export(client) -> int:
    response = client.get("/history/export.json", base_url=BASE, buffered=False)
    assert response.status_code == 200
    size = sum(len(chunk) for chunk in response.response)
    response.close()
    return size


def run_benchmarks(url: str, runs: int, export_runs: int) -> None:
    app = bench_app(url)
    with app.app_context():
        from sqlalchemy import select

        from webapp.auth.models import User
        from webapp.extensions import db

        counter = QueryCounter(db.engine)
        bench_user_id = db.session.scalar(select(User.id).where(User.email == EMAIL))
    user, admin = sign_in(app, EMAIL), sign_in(app, ADMIN_EMAIL)
    last_page = -(-OWN_CONVERSATIONS // app.config["PAGE_SIZE"])
    print(
        f"in process (Flask test client, production settings, PostgreSQL); {runs} requests each after a warm-up; "
        f"the user has {OWN_CONVERSATIONS:,} conversations, {OWN_MESSAGES:,} messages"
    )
    measure("history, first page", page(user, "/history", "Page 1 of"), counter, runs)
    measure(f"history, last page (?page={last_page})", page(user, f"/history?page={last_page}"), counter, runs)
    # The same page as a person reaches it: the Older link of the page before carries its last row (a keyset).
    older = re.search(r'<a href="([^"]+)" rel="next">', page(user, f"/history?page={last_page - 1}")())
    if older and "after=" in older.group(1):
        url = older.group(1).replace("&amp;", "&")
        measure("history, last page by its Older link", page(user, url), counter, runs)
    measure(f"search that hits (q={HIT_WORD})", page(user, f"/history?q={HIT_WORD}", "matching"), counter, runs)
    measure("search that misses", page(user, f"/history?q={MISSING_WORD}", "No conversation matches"), counter, runs)
    measure("500-message conversation (/chat/1)", page(user, "/chat/1", 'id="message-500"'), counter, runs)
    measure("chat page and its sidebar (/chat)", page(user, "/chat"), counter, runs)
    measure("dashboard (/)", page(user, "/", "Hello,"), counter, runs)
    measure(
        "admin history, filtered by user",
        page(admin, f"/admin/history?user={bench_user_id}", "history@example.com"),
        counter,
        runs,
    )
    measure(f"admin history, search (q={HIT_WORD})", page(admin, f"/admin/history?q={HIT_WORD}"), counter, runs)

    before = counter.count
    size = export(user)
    queries = counter.count - before
    timings = []
    for _ in range(export_runs):
        started = time.perf_counter()
        export(user)
        timings.append(time.perf_counter() - started)
    tracemalloc.start()
    export(user)
    _current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(
        f"{'full export (/history/export.json)':<44} median {statistics.median(timings):6.2f} s of {export_runs}, "
        f"{size / 1e6:.1f} MB, {queries} queries, peak Python memory while streaming {peak / 1e6:.1f} MB"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--database-url",
        default=os.environ.get("BENCH_DATABASE_URL") or os.environ.get("TEST_DATABASE_URL"),
        help="a PostgreSQL server URL (its database part is replaced by the bench's own); "
        "default: BENCH_DATABASE_URL or TEST_DATABASE_URL",
    )
    parser.add_argument(
        "--database-name",
        default=DATABASE,
        help=f"the database to seed on that server (default {DATABASE}; give runs in parallel names of their own)",
    )
    parser.add_argument("--reuse", action="store_true", help="keep the seeded database if it is there")
    parser.add_argument("--seed-only", action="store_true", help="seed (or migrate) and stop")
    parser.add_argument("--runs", type=int, default=20, help="timed requests per page (default 20)")
    parser.add_argument("--export-runs", type=int, default=3)
    args = parser.parse_args()
    if not args.database_url or not args.database_url.startswith("postgresql"):
        parser.error("give a PostgreSQL URL: --database-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    url = prepare_database(args.database_url, args.reuse, args.database_name)
    if not args.seed_only:
        run_benchmarks(url, args.runs, args.export_runs)


if __name__ == "__main__":
    main()
