"""Things said once in webapp/: the ownership refusal (webapp.security) and the size of a megabyte (webapp.units)."""

from __future__ import annotations

import re

from config import BASE_DIR

WEBAPP = BASE_DIR / "webapp"

# `if row.user_id != user.id ...:` followed by `raise NotFound(...)`: an ownership check written out by hand.
HAND_ROLLED_OWNERSHIP = re.compile(r"!=\s*\w+\.id\b[^\n]*:\n\s+raise NotFound\b")
MEGABYTE_SPELLED_OUT = re.compile(r"1024\s*\*\s*1024")


def places(pattern: re.Pattern[str], allowed: str) -> list[str]:
    return [
        str(path.relative_to(BASE_DIR))
        for path in sorted(WEBAPP.rglob("*.py"))
        if path.relative_to(WEBAPP).as_posix() != allowed and pattern.search(path.read_text())
    ]


def test_ownership_is_refused_by_the_one_helper():
    assert places(HAND_ROLLED_OWNERSHIP, "security.py") == []


def test_the_ownership_check_finds_one_written_out():
    assert HAND_ROLLED_OWNERSHIP.search(
        "    if token is None or token.user_id != user.id:\n        raise NotFound('There is no such token.')\n"
    )
    assert not HAND_ROLLED_OWNERSHIP.search("    if audit_review and row.user_id != user.id:\n        audit.record()\n")


def test_a_megabyte_is_defined_once():
    assert places(MEGABYTE_SPELLED_OUT, "units.py") == []
