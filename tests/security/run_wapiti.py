"""Start Debian's wapiti 3.0.4 with three changes: run by wapiti's own interpreter (`python3 run_wapiti.py ARGS`).

1. Its exclude patterns work. wapiti builds each --exclude pattern as `...\\Z(?ms)`; since Python 3.11 inline flags
   must come first, so any --exclude crashes it. The same pattern with the flags in front is put in its place.
2. Every line it prints starts with the seconds since it started (`[  12.3 s] `), so the scan can tell how long
   the crawl and each attack module took, and whether a module ran to its end.
3. The blindsql module sends only the time-based payloads of the databases the app runs on: PostgreSQL's
   pg_sleep (SQLite has no sleep at all). MySQL's sleep() and benchmark(), SQL Server's WAITFOR and ODBC tricks and
   a MongoDB script loop are two thirds of its 218 payloads; on PostgreSQL they are syntax errors, which the sql
   module's error-based payloads already probe. Without them the module attacks every parameter in minutes
   instead of being cut short.
"""

import re
import sys
import time

from wapitiCore.attack import mod_blindsql
from wapitiCore.main.wapiti import wapiti_main
from wapitiCore.net import crawler

STARTED = time.monotonic()


def wildcard_translate(pattern: str) -> "re.Pattern[str]":
    """`*` matches anything, everything else literally (as wapiti means it)."""
    return re.compile("(?ms)" + ".*".join(re.escape(part) for part in pattern.split("*")) + r"\Z")


class Timestamped:
    """stdout with the elapsed seconds in front of every line."""

    def __init__(self, stream):
        self.stream = stream
        self.at_line_start = True

    def write(self, text: str) -> int:
        for piece in text.splitlines(keepends=True):
            if self.at_line_start:
                self.stream.write(f"[{time.monotonic() - STARTED:7.1f} s] ")
            self.stream.write(piece)
            self.at_line_start = piece.endswith("\n")
        return len(text)

    def __getattr__(self, name: str):
        return getattr(self.stream, name)


def postgresql_payloads(module) -> list:
    return [payload for payload in BLINDSQL_PAYLOADS.fget(module) if "pg_sleep" in payload[0]]


crawler.wildcard_translate = wildcard_translate
BLINDSQL_PAYLOADS = mod_blindsql.mod_blindsql.payloads
mod_blindsql.mod_blindsql.payloads = property(postgresql_payloads)
sys.stdout = Timestamped(sys.stdout)
sys.argv[0] = "wapiti"
sys.exit(wapiti_main())
