"""Reading a file's text in a child process with a memory and a time limit, and cutting it into passages.

`extractor.py` does the reading; this module starts it, turns whatever ends it (a limit, a crash) into a sentence,
and splits the text it printed into passages of about `PASSAGE_CHARS` characters that keep their page, row,
paragraph or line numbers. Nothing here touches the database.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from webapp.units import MEGABYTE

log = logging.getLogger("webapp.attachments")

# What reading a file gave (FileText.status): text; no text to read (a scanned PDF); reading it failed.
READY, NO_TEXT, FAILED = "ready", "no_text", "failed"
EXTRACTOR = Path(__file__).with_name("extractor.py")
OUT_OF_MEMORY = 3  # extractor.py's exit status when its memory limit was reached
# About a page of text: small enough that a few answer a question precisely, large enough to keep an argument whole.
PASSAGE_CHARS = 1500
UNITS = {
    "page": ("page", "pages"),
    "row": ("row", "rows"),
    "paragraph": ("paragraph", "paragraphs"),
    "line": ("line", "lines"),
}


@dataclass(frozen=True)
class Limits:
    """How much a child reading one file may take (config.py's CHAT_EXTRACT_* settings)."""

    seconds: float
    memory_mb: int
    max_pages: int
    max_chars: int


@dataclass(frozen=True)
class Passage:
    first: int
    last: int
    text: str


@dataclass
class Extracted:
    status: str
    unit: str = ""
    note: str | None = None
    passages: list[Passage] = field(default_factory=list)

    @property
    def chars(self) -> int:
        return sum(len(passage.text) for passage in self.passages)


def locator(unit: str, first: int, last: int) -> str:
    """Where a passage is, for a person: "page 3", "pages 3–4", "rows 2–41"."""
    one, many = UNITS.get(unit, (unit, unit))
    return f"{one} {first}" if first == last else f"{many} {first}–{last}"


def extract(path: str | Path, content_type: str, limits: Limits) -> Extracted:
    """The text of the file at `path`, in passages; a FAILED or NO_TEXT result carries the sentence that says why."""
    command = [
        sys.executable,
        "-I",  # isolated: no user site, no PYTHON* variables, not the app's folder on the path
        str(EXTRACTOR),
        str(path),
        content_type,
        str(limits.max_pages),
        str(limits.max_chars),
        str(limits.memory_mb * MEGABYTE),
    ]
    try:
        finished = subprocess.run(command, capture_output=True, timeout=limits.seconds, check=False)
    except subprocess.TimeoutExpired:
        return Extracted(FAILED, note=f"Reading this file took longer than {limits.seconds:g} s, so it was left out.")
    if finished.returncode != 0:
        errors = finished.stderr.decode("utf-8", errors="replace")
        log.warning("text extraction failed (%s): %s", finished.returncode, errors[-2000:])
        if finished.returncode == OUT_OF_MEMORY or "MemoryError" in errors or finished.returncode < 0:
            return Extracted(
                FAILED, note=f"Reading this file needed more than {limits.memory_mb} MB of memory, so it was left out."
            )
        return Extracted(FAILED, note="This file could not be read.")
    outcome = json.loads(finished.stdout.decode("utf-8"))
    if outcome["status"] != "ok":
        return Extracted(NO_TEXT if outcome["status"] == "no_text" else FAILED, outcome["unit"], outcome["note"])
    return Extracted(READY, outcome["unit"], outcome["note"], split(outcome["segments"], outcome["unit"]))


def split(segments: list[list], unit: str, size: int = PASSAGE_CHARS) -> list[Passage]:
    """Consecutive segments joined into passages of at most about `size` characters; a longer segment is cut.

    A table's first row (its header) starts every passage, so each one reads as a table on its own.
    """
    header = ""
    if unit == "row" and segments and segments[0][0] == 1:
        header = segments[0][1] + "\n" + "|" + " --- |" * (segments[0][1].count(" | ") + 1)
        segments = segments[1:]
    joiner = "\n" if unit in ("row", "line") else "\n\n"
    passages: list[Passage] = []
    pieces: list[str] = []
    first = last = 0
    used = 0

    def flush() -> None:
        nonlocal pieces, used
        text = joiner.join(pieces).strip("\n")
        if text.strip():
            passages.append(Passage(first, last, f"{header}\n{text}" if header else text))
        pieces, used = [], 0

    for number, text in segments:
        while len(text) > size:
            # One page or paragraph longer than a passage: cut at a line or word break near `size`.
            if pieces:
                flush()
            cut = max(text.rfind("\n", 0, size), text.rfind(" ", 0, size))
            cut = cut if cut > size // 2 else size
            first = last = number
            pieces, used = [text[:cut]], cut
            flush()
            text = text[cut:].lstrip()
        if pieces and used + len(joiner) + len(text) > size:
            flush()
        if not pieces:
            first = number
        pieces.append(text)
        last = number
        used += len(text) + len(joiner)
    if pieces:
        flush()
    return passages
