"""`make scan`: wapiti and sqlmap against a throwaway instance of the app, signed in; fails on medium or worse.

    python -m tests.security.scan [--output test-results/scan] [--database-url URL] [--budget SECONDS]

1. The app runs with production settings over HTTPS on a free port (tests/security/target.py), with data made
   through its own API so that pages with ids exist (seed.py).
2. A small crawl signed in as the staff scanner finds the endpoints only htmx reaches; the app serves them to
   wapiti as a page of links and forms (htmx.py).
3. Two wapiti runs crawl and attack at the same time, one signed in as a staff member, one as an admin (so the
   admin pages are attacked too); each session comes from a real sign-in through the form, and /logout and the
   forms that would end another run's session are excluded. The modules test XSS, SQL injection, command
   execution, file handling, CRLF, open redirects, CSRF, headers, CSP and cookies, each to its end.
   Meanwhile sqlmap tests the JSON API's query parameters with a bearer token.
4. Findings come from wapiti's reports, sqlmap's results and the app's own log (a 5xx other than 503, an
   unhandled exception). Medium, high or critical fails; so does a scan that signed out, or never reached a
   seeded page or an htmx endpoint, or a query parameter sqlmap could not test, or missed a planted flaw
   (canary.py), or an attack module cut short by --budget. Reports go to --output.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

from flask import Flask

from tests.security import canary
from tests.security import findings as found
from tests.security.browser import Browser
from tests.security.htmx import SEED_PATH, Endpoint, discover, serve_seed_page
from tests.security.seed import conversation_actions, create_account, seed_library, seed_waiting_reply
from tests.security.target import (
    ADMIN_SCANNER_EMAIL,
    API_EMAIL,
    BYSTANDER_EMAIL,
    SCANNER_EMAIL,
    RequestLog,
    build_app,
    https_server,
    record_requests,
    scan_database,
)
from tests.support.servers.openai_server import OpenAIServer
from tests.support.web import PASSWORD
from webapp.errors import CSRF_MESSAGE

ROOT = Path(__file__).resolve().parents[2]
WAPITI_AGENT = "workbench-scan/wapiti"
ADMIN_WAPITI_AGENT = "workbench-scan/wapiti-admin"
SQLMAP_AGENT = "workbench-scan/sqlmap"
CRAWLER_AGENT = "workbench-scan/htmx-discovery"
# ssrf and xxe need an endpoint on the internet; backup, buster and nikto guess file names (no files are served
# from the document root); wapp only fingerprints.
WAPITI_MODULES = "xss,permanentxss,sql,blindsql,exec,file,crlf,redirect,csrf,http_headers,cookieflags,csp"
# Every line of wapiti's output starts with its elapsed seconds (run_wapiti.py).
TIMED_LINE = re.compile(r"^\[\s*(\d+(?:\.\d+)?) s\] (.*)$")
CUT_SHORT = "Max attack time was reached for module "
# The JSON API's query parameters, with values that return rows (the seeded data).
API_QUERIES: dict[str, dict[str, str]] = {
    "/api/files": {"q": "photo", "kind": "image", "page": "1", "per_page": "10"},
    "/api/conversations": {
        "q": "Hello",
        "model": "gpt-4o-mini",
        "from": "2020-01-01",
        "to": "2100-01-01",
        "page": "1",
        "per_page": "10",
    },
}


@dataclass(frozen=True)
class Run:
    """One wapiti run, signed in as one account."""

    name: str  # its reports: NAME.json and NAME.log
    agent: str
    cookie_file: Path  # its signed-in session
    pages: list[str]  # seeded pages it must reach (its crawl starts there too)
    replayer: Browser  # signed in as the same account, for replaying claims
    # URL patterns it leaves alone: forms that would end another run's session, and what only repeats what it
    # attacks anyway (another object of the same kind, or for the admin the staff pages the staff run attacks).
    excluded: list[str]


@dataclass(frozen=True)
class Prepared:
    runs: list[Run]  # the staff member's first
    endpoints: list[Endpoint]  # reached only by htmx
    api_token: str  # sqlmap's


@dataclass(frozen=True)
class ModuleTime:
    run: str
    module: str  # "crawl" for the crawl
    seconds: float
    cut_short: bool


def require_tools() -> None:
    missing = [tool for tool in ("wapiti", "sqlmap") if shutil.which(tool) is None]
    if missing:
        sys.exit(f"{' and '.join(missing)} not found: `make scan` installs Debian's wapiti and sqlmap.")


def run(command: list[str], log: Path, timeout: float) -> str:
    """Run a scanner, its output kept in `log`; returns the output."""
    print("$", " ".join(command[:3]), "...", flush=True)
    started = time.monotonic()
    with log.open("w") as output:
        result = subprocess.run(
            command, stdout=output, stderr=subprocess.STDOUT, timeout=timeout, cwd=log.parent, stdin=subprocess.DEVNULL
        )
    print(f"  exit {result.returncode} after {time.monotonic() - started:.0f} s; output in {log}", flush=True)
    return log.read_text(errors="replace")


def excluded(base_url: str, patterns_of_run: list[str]) -> list[str]:
    """Not crawled: static files, and forms that would end a session or delete the seeded data before the
    attacks reach it (wapiti's crawl submits every form it finds, CSRF token included)."""
    patterns = ["/logout", "/static/*", "/*/delete", "/*/revoke", *patterns_of_run]
    return [argument for pattern in patterns for argument in ("--exclude", base_url + pattern)]


def wapiti_command() -> list[str]:
    """wapiti, through run_wapiti.py, with the interpreter wapiti itself names (Debian's python3)."""
    executable = Path(shutil.which("wapiti") or "wapiti")
    interpreter = executable.read_text(errors="replace").splitlines()[0].removeprefix("#!").split()
    return [*interpreter, str(Path(__file__).with_name("run_wapiti.py"))]


def wapiti(
    name: str, arguments: list[str], output: Path, workdir: Path, timeout: float, agent: str = WAPITI_AGENT
) -> list[found.Finding]:
    """One wapiti run; its report is output/NAME.json, its output NAME.log."""
    report = output / f"{name}.json"
    report.unlink(missing_ok=True)
    command = [
        *wapiti_command(),
        *arguments,
        "--flush-session",
        "--store-session",
        str(workdir / f"{name}-session"),
        "--timeout",
        "20",
        "--user-agent",
        agent,
        "--no-bugreport",
        "--verbose",
        "1",
        "--format",
        "json",
        "--output",
        str(report),
    ]
    run(command, output / f"{name}.log", timeout=timeout)
    if not report.exists():
        raise RuntimeError(f"wapiti wrote no report; see {output / f'{name}.log'}")
    return found.wapiti_findings(json.loads(report.read_text()))


def module_times(run_name: str, log_text: str) -> list[ModuleTime]:
    """How long wapiti's crawl and each attack module took, from its timestamped output, and which were cut
    short by --max-attack-time."""
    lines = [(float(match[1]), match[2]) for match in map(TIMED_LINE.match, log_text.splitlines()) if match]
    starts = [
        (seconds, text.split("Launching module", 1)[1].strip()) for seconds, text in lines if "Launching module" in text
    ]
    if not lines or not starts:
        return []
    times = [ModuleTime(run_name, "crawl", starts[0][0], False)]
    ends = [seconds for seconds, _ in starts[1:]] + [lines[-1][0]]
    for (started, module), ended in zip(starts, ends, strict=True):
        cut = any(text.startswith(CUT_SHORT + module + ",") for _, text in lines)
        times.append(ModuleTime(run_name, module, ended - started, cut))
    return times


def cut_short(times: list[ModuleTime], budget: float) -> list[found.Finding]:
    """An attack module stopped by the time limit left parameters untested: the scan does not pass on that."""
    return [
        found.Finding(
            "scan",
            found.MEDIUM,
            "attack cut short",
            f"{entry.run}: module {entry.module}",
            f"stopped after {entry.seconds:.0f} s (--budget {budget:.0f}); give it more time",
        )
        for entry in times
        if entry.cut_short
    ]


def scan_pages(
    base_url: str, run: Run, output: Path, workdir: Path, budget: float, modules: str
) -> tuple[list[found.Finding], list[ModuleTime]]:
    """One wapiti run over the whole site, signed in; its findings (claims replayed) and how long each part took."""
    arguments = [
        "--url",
        base_url + "/",
        "--scope",
        "folder",
        "--module",
        modules,
        "--cookie",
        str(run.cookie_file),
        *excluded(base_url, run.excluded),
        # The CSRF token must stay valid while the other fields are attacked (the csrf module still checks it).
        "--skip",
        "csrf_token",
        # Limits that only stop a scan that went wrong: a module stopped by its limit fails the scan.
        "--max-scan-time",
        str(round(budget)),
        "--max-attack-time",
        str(round(budget)),
        # One URL per query-string pattern is enough to attack the code behind it (the library's filters and
        # pages would otherwise make hundreds of variants of /files/).
        "--scan-force",
        "paranoid",
    ]
    for url in run.pages:
        arguments += ["--start", base_url + url]
    modules_attacking = len(modules.split(","))
    results = wapiti(
        run.name, arguments, output, workdir, timeout=budget * (modules_attacking + 1) + 60, agent=run.agent
    )
    times = module_times(run.name, (output / f"{run.name}.log").read_text(errors="replace"))
    return judge_csrf(results, run.replayer) + cut_short(times, budget), times


def sqlmap(
    name: str, urls: list[str], parameters: list[str], arguments: list[str], output: Path, timeout: float
) -> list[found.Finding]:
    """One sqlmap run over `urls`; a parameter in `parameters` it gave no verdict on is a finding too."""
    targets = output / f"{name}-targets.txt"
    targets.write_text("".join(f"{url}\n" for url in urls))
    results = output / f"{name}-results.csv"
    results.unlink(missing_ok=True)
    command = [
        "sqlmap",
        "-m",
        str(targets),
        "--batch",
        *arguments,
        "--user-agent",
        SQLMAP_AGENT,
        "--timeout",
        "15",
        "--retries",
        "1",
        "--threads",
        "4",
        "--flush-session",
        "--disable-coloring",
        "--output-dir",
        str(output / name),
        "--results-file",
        str(results),
    ]
    text = run(command, output / f"{name}.log", timeout=timeout)
    problems = [
        found.Finding("scan", found.HIGH, "not tested by sqlmap", parameter, f"no verdict in {name}.log")
        for parameter in found.untested_parameters(text, parameters)
    ]
    return found.sqlmap_findings(results, text) + problems


def scan_api(base_url: str, token: str, output: Path, workdir: Path, budget: float) -> list[found.Finding]:
    """sqlmap over the API's query parameters; then the planted flaws, each scanned on its own (sqlmap skips
    the rest of a host once it found an injection there)."""
    urls = [f"{base_url}{path}?{urlencode(query)}" for path, query in API_QUERIES.items()]
    parameters = [name for query in API_QUERIES.values() for name in query]
    results = sqlmap(
        "sqlmap",
        urls,
        parameters,
        ["--header", f"Authorization: Bearer {token}", "--level", "1", "--risk", "1", "--time-sec", "2"],
        output,
        timeout=budget,
    )
    results += sqlmap(
        "sqlmap-canary", [base_url + canary.SQL_URL], ["email"], ["--technique", "B"], output, timeout=budget
    )
    results += wapiti(
        "wapiti-canary",
        ["--url", base_url + canary.XSS_URL, "--scope", "page", "--module", "xss"],
        output,
        workdir,
        timeout=budget,
    )
    return results


def judge_csrf(results: list[found.Finding], browser: Browser) -> list[found.Finding]:
    """wapiti says a CSRF token is "not properly checked" when a wrong token gets the same answer as the
    original request. Its multipart requests send the token as a file part, so both are refused alike. Replay
    each such claim as a browser would (the token a form field): a wrong token refused with the CSRF message
    and the page's own token accepted is a false positive, kept as info; anything else keeps failing."""
    judged = []
    for finding in results:
        method, _, path = finding.where.partition(" ")
        if finding.source == "wapiti" and "not properly checked" in finding.detail and method == "POST":
            path = path.split(" [")[0]
            wrong = browser.request(path, {"csrf_token": "wapiti"}, {"Referer": browser.absolute(path)})
            right = browser.post_form(path, {}, page=path)
            if wrong.status == 400 and CSRF_MESSAGE in wrong.text and CSRF_MESSAGE not in right.text:
                finding = found.Finding(
                    finding.source,
                    0,
                    finding.category,
                    finding.where,
                    "false positive: replayed as a form, a wrong token gets the CSRF refusal "
                    f"(400) and the page's own token passes (answer {right.status})",
                )
        judged.append(finding)
    return judged


def signed_in_run(
    name: str, agent: str, base_url: str, email: str, pages: list[str], excluded_patterns: list[str], workdir: Path
) -> Run:
    """A run's session (signed in through the form, handed to wapiti as a cookie file) and its replaying browser."""
    scanner = Browser(base_url, agent)
    scanner.sign_in(email, PASSWORD)
    cookie_file = workdir / f"{name}-cookies.json"
    cookie_file.write_text(json.dumps(scanner.wapiti_cookie_file()))
    replayer = Browser(base_url, CRAWLER_AGENT)
    replayer.sign_in(email, PASSWORD)
    return Run(name, agent, cookie_file, pages, replayer, excluded_patterns)


def prepare(app: Flask, base_url: str, model_server: OpenAIServer, workdir: Path) -> Prepared:
    """Accounts, seed data, the htmx endpoints (served from then on by the seed page) and the two runs' sessions."""
    scanner = create_account(app, SCANNER_EMAIL, "Scan Staff")
    api_account = create_account(app, API_EMAIL, "API Scan Staff")
    admin = create_account(app, ADMIN_SCANNER_EMAIL, "Scan Admin", role="admin")
    bystander = create_account(app, BYSTANDER_EMAIL, "Scan Bystander")
    library = seed_library(app, scanner.token, model_server)
    seed_library(app, api_account.token, model_server)
    crawler = Browser(base_url, CRAWLER_AGENT)
    crawler.sign_in(SCANNER_EMAIL, PASSWORD)
    waiting = seed_waiting_reply(crawler)
    pages = [*library.pages, waiting]
    repeats = [*library.repeats, *conversation_actions(int(waiting.removeprefix("/chat/")))]
    endpoints, seen = discover(crawler, ["/", *pages])
    print(f"htmx endpoints found on {len(seen)} pages:", flush=True)
    for endpoint in endpoints:
        print(f"  {endpoint.method} {endpoint.path} {dict(endpoint.fields) or ''}")
    conversation = next(page for page in pages if page.startswith("/chat/")).removeprefix("/chat/")
    admin_pages = [
        "/admin/users",
        f"/admin/users/{bystander.id}",
        "/admin/audit",
        "/admin/files",
        "/admin/history",
        f"/admin/history/{conversation}",
        "/faces/history",
    ]
    # The admin's run may change the bystander's account, never those the runs and sqlmap are signed in as.
    protected = [f"/admin/users/{account.id}/*" for account in (scanner, api_account, admin)]
    # It also leaves the staff pages (the same code as the staff run's, with an empty library) to the staff run.
    staff_pages = ["/chat*", "/history*", "/files/*", "/account*", "/faces/compare", "/faces/analyze"]
    admin_excluded = [*protected, *staff_pages]
    runs = [
        signed_in_run("wapiti", WAPITI_AGENT, base_url, SCANNER_EMAIL, [SEED_PATH, *pages], repeats, workdir),
        signed_in_run(
            "wapiti-admin", ADMIN_WAPITI_AGENT, base_url, ADMIN_SCANNER_EMAIL, admin_pages, admin_excluded, workdir
        ),
    ]
    return Prepared(runs, endpoints, api_account.token)


def coverage(log: RequestLog, prepared: Prepared) -> list[found.Finding]:
    """From the app's own log: server errors, a signed-out scanner, pages and endpoints a run never reached."""
    scannable = [e.path for e in prepared.endpoints if e.method in ("GET", "POST")]
    results = found.server_errors(log.served, log.errors)
    for index, run in enumerate(prepared.runs):
        results += found.lost_session(log.served, run.agent)
        results += found.unreached(log.served, run.agent, run.pages + (scannable if index == 0 else []))
    results += [
        found.Finding(
            "scan", found.MEDIUM, "not scannable by wapiti", f"{e.method} {e.path}", "HTML forms send only GET and POST"
        )
        for e in prepared.endpoints
        if e.method not in ("GET", "POST")
    ]
    return results


def scan(output: Path, database_url: str | None, budget: float, modules: str) -> list[found.Finding]:
    log = RequestLog()
    served_endpoints: list[Endpoint] = []
    with (
        tempfile.TemporaryDirectory(prefix="workbench-scan-") as temp,
        OpenAIServer(models=["gpt-4o-mini", "gpt-4o"]) as model_server,
    ):
        workdir = Path(temp)
        with scan_database(workdir, database_url) as database:
            app = build_app(workdir, database, model_server)
            record_requests(app, log)
            serve_seed_page(app, served_endpoints)
            canary.plant(app)
            with https_server(app) as base_url:
                print(f"App under scan: {base_url} ({database.split(':')[0]})", flush=True)
                prepared = prepare(app, base_url, model_server, workdir)
                served_endpoints.extend(prepared.endpoints)
                staff, admin = prepared.runs
                # sqlmap (the API, a token) and the two wapiti runs (the pages, a session each) do not meet: all
                # three run side by side.
                with ThreadPoolExecutor(max_workers=2) as pool:
                    api_results = pool.submit(scan_api, base_url, prepared.api_token, output, workdir, budget)
                    admin_scan = pool.submit(scan_pages, base_url, admin, output, workdir, budget, modules)
                    results, times = scan_pages(base_url, staff, output, workdir, budget, modules)
                    admin_results, admin_times = admin_scan.result()
                    results += admin_results + api_results.result()
                results += coverage(log, prepared)
                print_times(times + admin_times)
                for run in prepared.runs:
                    print(f"Requests answered to {run.name}: {len(log.by_agent(run.agent))}", flush=True)
                print(f"Requests answered to sqlmap: {len(log.by_agent(SQLMAP_AGENT))}", flush=True)
                write_logs(output, log)
    return results


def print_times(times: list[ModuleTime]) -> None:
    """Seconds per part of each wapiti run: the crawl, then each attack module, in the order they ran."""
    for run in dict.fromkeys(entry.run for entry in times):
        parts = [entry for entry in times if entry.run == run]
        listed = ", ".join(f"{e.module} {e.seconds:.0f} s{' (cut short)' if e.cut_short else ''}" for e in parts)
        print(f"{run}: {sum(e.seconds for e in parts):.0f} s: {listed}", flush=True)


def write_logs(output: Path, log: RequestLog) -> None:
    """Every request the app answered (requests.tsv), and the tracebacks of unhandled exceptions."""
    lines = (
        f"{e.user_agent}\t{e.method}\t{e.status}\t{'signed-in' if e.signed_in else '-'}\t{e.url}" for e in log.served
    )
    (output / "requests.tsv").write_text("\n".join(lines) + "\n")
    (output / "tracebacks.txt").unlink(missing_ok=True)
    if log.errors:
        (output / "tracebacks.txt").write_text("\n".join(f"{line}\n{trace}" for line, trace in log.errors))


def report(results: list[found.Finding]) -> int:
    """Print the findings; 1 if any is medium or worse (a planted flaw missed counts), else 0."""
    results, planted = canary.set_aside(results)
    if planted:
        print(f"\nPlanted flaws found, as they must be ({len(planted)} finding(s), set aside):")
        for finding in sorted({(f.source, f.category, f.where.split("?")[0]) for f in planted}):
            print("  " + " / ".join(finding))
    failing = sorted((f for f in results if f.fails), key=lambda f: -f.level)
    lower = sorted((f for f in results if not f.fails), key=lambda f: -f.level)
    if lower:
        print(f"\n{len(lower)} finding(s) below medium (printed, not failing):")
        for finding in lower:
            print("  " + finding.line())
    if failing:
        print(f"\nSCAN FAILED: {len(failing)} finding(s) of medium severity or worse:")
        for finding in failing:
            print("  " + finding.line())
        return 1
    print("\nScan passed: no finding of medium severity or worse.")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--output",
        type=Path,
        default=ROOT / "test-results" / "scan",
        help="folder for the reports (default: test-results/scan, ignored by git)",
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get("TEST_DATABASE_URL"),
        help="a PostgreSQL server to make the scan's own database on (default: TEST_DATABASE_URL; "
        "unset: a temporary SQLite file)",
    )
    parser.add_argument("--modules", default=WAPITI_MODULES, help=f"wapiti's modules (default: {WAPITI_MODULES})")
    parser.add_argument(
        "--budget",
        type=float,
        default=900,
        help="seconds wapiti's crawl and each of its attack modules may take at most; a module stopped by it "
        "fails the scan (the limit only stops a scan that went wrong)",
    )
    arguments = parser.parse_args(argv)
    require_tools()
    arguments.output.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    results = scan(arguments.output.resolve(), arguments.database_url, arguments.budget, arguments.modules)
    print(f"Scan took {time.monotonic() - started:.0f} s")
    return report(results)


if __name__ == "__main__":
    sys.exit(main())
