"""Two flaws planted on purpose in the throwaway instance under scan (never in the app): a reflected XSS for
wapiti and a string-built SQL query for sqlmap. Every scan must find both, which proves on each run that a real
finding reaches the verdict and fails it; the planted ones are then set aside. A scan that could not find them
would pass whatever the app did."""

from __future__ import annotations

from flask import Flask, jsonify, request
from flask.typing import ResponseReturnValue

from tests.security.findings import Finding
from webapp.extensions import db

XSS_PATH = "/scan/canary/echo"
SQL_PATH = "/scan/canary/lookup"
XSS_URL = XSS_PATH + "?q=hello"
SQL_URL = SQL_PATH + "?email=scanner%40example.com"


def echo() -> ResponseReturnValue:
    # Planted flaw: the query string goes into the page unescaped.
    return f"<!doctype html><title>echo</title><p>You searched for {request.args.get('q', '')}</p>"


def lookup() -> ResponseReturnValue:
    # Planted flaw: the query is built from the request's text.
    email = request.args.get("email", "")
    with db.engine.connect() as connection:
        rows = connection.exec_driver_sql(f"SELECT id FROM users WHERE email = '{email}'").all()
    return jsonify(found=len(rows))


def plant(app: Flask) -> None:
    """Add the planted routes (before the app's first request)."""
    app.add_url_rule(XSS_PATH, "scan_canary_echo", echo)
    app.add_url_rule(SQL_PATH, "scan_canary_lookup", lookup)


def is_planted(finding: Finding) -> bool:
    return XSS_PATH in finding.where or SQL_PATH in finding.where


def set_aside(results: list[Finding]) -> tuple[list[Finding], list[Finding]]:
    """(the app's findings, the planted ones); a planted flaw not found is itself a failing finding."""
    planted = [finding for finding in results if is_planted(finding)]
    app_findings = [finding for finding in results if not is_planted(finding)]
    for source, path, flaw in (("wapiti", XSS_PATH, "reflected XSS"), ("sqlmap", SQL_PATH, "SQL injection")):
        if not any(finding.source == source and path in finding.where and finding.fails for finding in planted):
            app_findings.append(
                Finding(
                    "scan",
                    3,
                    f"planted {flaw} not found",
                    path,
                    f"{source} missed a flaw planted to prove the scan can fail",
                )
            )
    return app_findings, planted
