"""What the scan found, from wapiti's JSON report, sqlmap's results and the app's own request log, on one
severity scale (wapiti's levels). Medium or worse fails the scan; lower findings are printed."""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.security.target import Served

LEVELS = ("info", "low", "medium", "high", "critical")
MEDIUM, HIGH = 2, 3


@dataclass(frozen=True)
class Finding:
    source: str  # wapiti, sqlmap, app
    level: int
    category: str
    where: str
    detail: str = ""

    @property
    def fails(self) -> bool:
        return self.level >= MEDIUM

    def line(self) -> str:
        text = f"[{LEVELS[self.level].upper()}] {self.source}: {self.category}: {self.where}"
        return f"{text}\n      {self.detail}" if self.detail else text


def wapiti_findings(report: dict[str, Any]) -> list[Finding]:
    """Vulnerabilities and anomalies (server errors, timeouts) of a wapiti JSON report."""
    findings = []
    for section in ("vulnerabilities", "anomalies"):
        for category, entries in (report.get(section) or {}).items():
            for entry in entries:
                where = f"{entry.get('method', '?')} {entry.get('path', '?')}"
                if entry.get("parameter"):
                    where += f" [{entry['parameter']}]"
                detail = entry.get("info", "")
                if entry.get("curl_command"):
                    detail += f"\n      {entry['curl_command']}"
                findings.append(Finding("wapiti", int(entry.get("level", 0)), category, where, detail))
    return findings


SQLMAP_INJECTABLE = re.compile(r"(\w+) parameter '([^']+)' (?:is|appears to be) '?([^'\n]*)'? injectable", re.I)


def sqlmap_findings(results_csv: Path, output: str) -> list[Finding]:
    """Injection points from sqlmap's --results-file, and any it announced on its output but did not list."""
    findings, listed = [], set()
    if results_csv.exists():
        with results_csv.open(newline="") as handle:
            for row in csv.DictReader(handle):
                place, parameter = row.get("Place", "?"), row.get("Parameter", "?")
                listed.add((place, parameter))
                findings.append(
                    Finding(
                        "sqlmap",
                        HIGH,
                        "SQL injection",
                        f"{row.get('Target URL', '?')} [{place} {parameter}]",
                        f"techniques: {row.get('Technique(s)', '')}",
                    )
                )
    for place, parameter, technique in SQLMAP_INJECTABLE.findall(output):
        if (place, parameter) not in listed and "not" not in technique.split():
            listed.add((place, parameter))
            findings.append(
                Finding(
                    "sqlmap",
                    HIGH,
                    "SQL injection",
                    f"{place} parameter {parameter}",
                    f"{technique or 'injectable'} (see sqlmap.log)",
                )
            )
    return findings


def untested_parameters(output: str, parameters: Iterable[str]) -> list[str]:
    """Parameters sqlmap never reported a verdict on (unreachable target, refused request...)."""
    verdicts = set(re.findall(r"parameter '([^']+)' (?:does not seem to be|is|appears to be|might be)", output))
    return [name for name in parameters if name not in verdicts]


def server_errors(served: Iterable[Served], tracebacks: list[tuple[str, str]]) -> list[Finding]:
    """Every 5xx but 503 (the app's clean "unavailable") is a defect: bad input must get a 4xx."""
    findings = [
        Finding("app", HIGH, f"HTTP {entry.status}", f"{entry.method} {entry.url}", f"from {entry.user_agent}")
        for entry in served
        if entry.status >= 500 and entry.status != 503
    ]
    findings += [
        Finding("app", HIGH, "unhandled exception", request_line, exception_line(trace))
        for request_line, trace in tracebacks
    ]
    return findings


def exception_line(trace: str) -> str:
    """The line of a traceback that names the exception (SQLAlchemy ends with a link to its docs)."""
    lines = [line for line in trace.strip().splitlines() if line and not line.startswith("(Background on")]
    return lines[-1] if lines else trace


def lost_session(served: Iterable[Served], agent: str) -> list[Finding]:
    """Requests of the signed-in scanner sent to the sign-in page: the scan went on signed out."""
    return [
        Finding("scan", HIGH, "scanner signed out", f"{entry.method} {entry.url}", "redirected to the sign-in page")
        for entry in served
        if entry.user_agent == agent and entry.status in (301, 302, 303) and "/login" in entry.location
    ]


def unreached(served: Iterable[Served], agent: str, paths: Iterable[str]) -> list[Finding]:
    """Pages the scanner was meant to scan but never requested (a crawl cut short, a seed not followed)."""
    requested = {entry.url.split("?")[0] for entry in served if entry.user_agent == agent}
    return [
        Finding("scan", HIGH, "not scanned", path, "wapiti never requested it")
        for path in paths
        if path not in requested
    ]
