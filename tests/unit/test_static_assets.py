"""Our own stylesheet stays well-formed: an unclosed block silently drops every rule after it."""

from pathlib import Path

STATIC = Path(__file__).resolve().parents[2] / "static"


def test_app_css_blocks_are_balanced():
    depth = 0
    for number, line in enumerate((STATIC / "css" / "app.css").read_text().splitlines(), start=1):
        depth += line.count("{") - line.count("}")
        assert depth >= 0, f"app.css line {number} closes a block that was never opened"
        if line.startswith("/*") and depth:
            raise AssertionError(f"app.css line {number}: a section starts inside an unclosed block")
    assert depth == 0, "app.css ends inside an unclosed block"
