"""The security scan's verdict (tests/security/): what fails it and what is only printed, and how it finds the
endpoints only htmx reaches. The scan itself runs with `make scan` (a step of .ci/run)."""

from __future__ import annotations

from pathlib import Path

from tests.security import canary
from tests.security.findings import (
    Finding,
    lost_session,
    server_errors,
    sqlmap_findings,
    unreached,
    untested_parameters,
    wapiti_findings,
)
from tests.security.htmx import Endpoint, PageReader
from tests.security.scan import cut_short, module_times, report
from tests.security.target import Served

# The shape of wapiti 3.0.4's JSON report (trimmed from a real run).
WAPITI_REPORT = {
    "classifications": {},
    "vulnerabilities": {
        "Cross Site Scripting": [
            {
                "method": "GET",
                "path": "/files/",
                "info": "XSS vulnerability found via injection",
                "level": "2",
                "parameter": "q",
                "http_request": "",
                "curl_command": "curl ...",
            }
        ],
        "HTTP Secure Headers": [
            {
                "method": "GET",
                "path": "/",
                "info": "X-XSS-Protection is not set",
                "level": "1",
                "parameter": "",
                "http_request": "",
                "curl_command": "",
            }
        ],
    },
    "anomalies": {
        "Internal Server Error": [
            {
                "method": "POST",
                "path": "/chat",
                "info": "The server responded with a 500",
                "level": "3",
                "parameter": "model",
                "http_request": "",
                "curl_command": "",
            }
        ],
    },
    "additionals": {},
    "infos": {},
}

SQLMAP_CLEAN = """
[04:17:41] [WARNING] GET parameter 'q' does not seem to be injectable
[04:17:50] [WARNING] GET parameter 'kind' does not seem to be injectable
"""
SQLMAP_INJECTABLE = """
[04:20:02] [INFO] GET parameter 'q' is 'AND boolean-based blind - WHERE or HAVING clause' injectable
[04:20:03] [WARNING] GET parameter 'kind' does not seem to be injectable
"""


def served(status: int, url: str = "/files/", agent: str = "wapiti", location: str = "") -> Served:
    return Served("GET", url, status, agent, signed_in=True, location=location)


def test_wapiti_medium_and_worse_fail_lower_levels_are_printed_only() -> None:
    findings = {finding.category: finding for finding in wapiti_findings(WAPITI_REPORT)}
    assert findings["Cross Site Scripting"].fails and findings["Cross Site Scripting"].where == "GET /files/ [q]"
    assert findings["Internal Server Error"].fails  # anomalies count too: a 500 is a defect
    assert not findings["HTTP Secure Headers"].fails


def test_sqlmap_injection_fails_whether_listed_in_results_or_only_announced(tmp_path: Path) -> None:
    results = tmp_path / "results.csv"
    assert sqlmap_findings(results, SQLMAP_CLEAN) == []
    announced = sqlmap_findings(results, SQLMAP_INJECTABLE)
    assert [(f.where, f.fails) for f in announced] == [("GET parameter q", True)]
    results.write_text("Target URL,Place,Parameter,Technique(s),Note(s)\nhttps://127.0.0.1:1/api/files?q=x,GET,q,B,\n")
    listed = sqlmap_findings(results, SQLMAP_INJECTABLE)
    assert [f.where for f in listed] == ["https://127.0.0.1:1/api/files?q=x [GET q]"]


def test_a_parameter_sqlmap_gave_no_verdict_on_is_reported() -> None:
    assert untested_parameters(SQLMAP_CLEAN, ["q", "kind", "page"]) == ["page"]


def test_server_errors_fail_except_the_clean_503() -> None:
    trace = "Traceback ...\nsqlalchemy.exc.DataError: NUL\n(Background on this error at: https://sqlalche.me/e/21/9h9h)"
    findings = server_errors([served(500), served(503), served(400)], [("POST /chat", trace)])
    assert [(f.category, f.fails) for f in findings] == [("HTTP 500", True), ("unhandled exception", True)]
    assert findings[1].detail == "sqlalchemy.exc.DataError: NUL"


def test_a_scanner_sent_to_the_sign_in_page_has_lost_its_session() -> None:
    log = [
        served(302, location="/login?next=%2Ffiles%2F"),
        served(302, location="/files/1"),
        served(302, agent="other", location="/login"),
    ]
    assert [f.where for f in lost_session(log, "wapiti")] == ["GET /files/"]


def test_pages_the_scanner_never_requested_fail_the_scan() -> None:
    log = [served(200, "/files/1?x=1"), served(200, "/chat/2", agent="other")]
    assert [f.where for f in unreached(log, "wapiti", ["/files/1", "/chat/2"])] == ["/chat/2"]


def test_htmx_requests_are_found_with_the_fields_htmx_would_send() -> None:
    reader = PageReader("https://127.0.0.1:1/chat/7")
    reader.feed("""
      <form method="post" action="/chat/7/settings" hx-post="/chat/7/settings"><input name="title"></form>
      <form id="pick"><input type="hidden" name="csrf_token" value="t"><input type="radio" name="size" value="s">
        <input type="radio" name="size" value="m" checked>
        <button type="button" hx-post="/faces/comparisons/3/faces" hx-vals='{"face_a": 1}'>Use</button></form>
      <button hx-post="messages/9/stop">Stop</button>
      <div sse-connect="/chat/messages/9/stream"></div>
      <a href="/history">History</a>
    """)
    assert reader.endpoints() == [
        Endpoint("POST", "/faces/comparisons/3/faces", (("csrf_token", "t"), ("size", "m"), ("face_a", "1"))),
        Endpoint("POST", "/chat/messages/9/stop"),
        Endpoint("GET", "/chat/messages/9/stream"),
    ]
    assert reader.links == ["https://127.0.0.1:1/history"]


def test_the_verdict_fails_on_medium_and_when_a_planted_flaw_is_missed(capsys) -> None:
    planted = [
        Finding("wapiti", 2, "Cross Site Scripting", f"GET {canary.XSS_PATH} [q]"),
        Finding("sqlmap", 3, "SQL injection", f"https://h{canary.SQL_URL} [GET email]"),
    ]
    low = Finding("wapiti", 1, "HTTP Secure Headers", "GET /", "X-XSS-Protection is not set")
    assert report([*planted, low]) == 0
    assert "X-XSS-Protection is not set" in capsys.readouterr().out
    assert report([*planted, low, Finding("wapiti", 2, "Cross Site Scripting", "GET /files/ [q]")]) == 1
    assert report([planted[1], low]) == 1
    assert "planted reflected XSS not found" in capsys.readouterr().out


# wapiti's output as run_wapiti.py prints it: elapsed seconds in front of every line (trimmed from a real run).
WAPITI_TIMED_LOG = """[    0.0 s] [*] Saving scan state, please wait...
[   41.5 s] [*] Wapiti found 111 URLs and forms during the scan
[   42.0 s] [*] Launching module crlf
[   44.0 s] [+] GET https://127.0.0.1:1/files/?q=x
[   45.0 s] [*] Launching module blindsql
[  345.0 s] Max attack time was reached for module blindsql, stopping.
[  345.5 s] [*] Launching module xss
[  400.5 s] [*] Generating report
"""


def test_each_attack_module_is_timed_and_one_cut_short_fails_the_scan() -> None:
    times = module_times("wapiti-admin", WAPITI_TIMED_LOG)
    assert [(t.module, round(t.seconds), t.cut_short) for t in times] == [
        ("crawl", 42, False),
        ("crlf", 3, False),
        ("blindsql", 300, True),
        ("xss", 55, False),
    ]
    findings = cut_short(times, budget=300)
    assert [(f.where, f.fails) for f in findings] == [("wapiti-admin: module blindsql", True)]
