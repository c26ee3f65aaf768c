"""Text out of one stored file, run as a program of its own: `python extractor.py PATH TYPE PAGES CHARS BYTES`.

Run by `extraction.py` in a child process with a memory limit and a time limit, because the libraries that read
PDFs and Word files hold a whole document in memory and a crafted file (a zip bomb, a PDF with a million pages) can
make them take gigabytes or minutes; a child that overruns is killed and the app names the reason. It imports
nothing from the app (so it starts fast and cannot touch the database) and prints one JSON document:

    {"unit": "page", "segments": [[1, "text of page 1"], ...], "status": "ok", "note": null}

`unit` is what a segment number counts (page, row, paragraph, line); `status` is "ok", "no_text" (a PDF without a
text layer) or "failed" with `note` a sentence for a person; `note` on "ok" says when only the start was read.
"""

from __future__ import annotations

import csv
import io
import json
import sys

PDF, DOCX, CSV = (
    "application/pdf",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "text/csv",
)
# The exit status that says the memory limit was reached.
OUT_OF_MEMORY = 3
# A row of a CSV as a line of a Markdown table: cells that hold "|" or line breaks would break the table.
CELL_LIMIT = 500


class Failed(Exception):
    """A file that cannot be read, with the sentence that says why."""


def result(unit: str, segments: list[list], status: str = "ok", note: str | None = None) -> dict:
    return {"unit": unit, "segments": segments, "status": status, "note": note}


def capped(segments: list[list], max_chars: int) -> tuple[list[list], bool]:
    """The segments up to `max_chars` characters in all; True when some were left out."""
    kept, used = [], 0
    for number, text in segments:
        if used + len(text) > max_chars:
            if max_chars - used > 0:
                kept.append([number, text[: max_chars - used]])
            return kept, True
        kept.append([number, text])
        used += len(text)
    return kept, False


def read_pdf(path: str, max_pages: int, max_chars: int) -> dict:
    from pypdf import PdfReader
    from pypdf.errors import DependencyError, FileNotDecryptedError, PdfReadError

    try:
        reader = PdfReader(path)
        if reader.is_encrypted:
            # Many PDFs are "encrypted" with an empty password only to set permissions; those open as usual.
            try:
                if not reader.decrypt(""):
                    raise Failed("This PDF is protected by a password, so its text cannot be read.")
            except (DependencyError, NotImplementedError):
                raise Failed("This PDF is encrypted, so its text cannot be read.") from None
        pages = reader.pages
        total = len(pages)
        segments, used = [], 0
        for index in range(min(total, max_pages)):
            text = (pages[index].extract_text() or "").strip()
            if text:
                segments.append([index + 1, text])
                used += len(text)
            if used >= max_chars:
                break
    except Failed:
        raise
    except FileNotDecryptedError:
        raise Failed("This PDF is protected by a password, so its text cannot be read.") from None
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, IndexError, OSError) as error:
        raise Failed(f"This PDF could not be read: it looks damaged ({type(error).__name__}).") from None
    if not segments:
        return result(
            "page", [], "no_text", "This PDF has no text layer (it looks like a scan), so the model cannot read it."
        )
    segments, cut = capped(segments, max_chars)
    note = None
    if cut or total > max_pages:
        last = segments[-1][0]
        note = f"Only the first {last} of {total} pages were read."
    return result("page", segments, note=note)


def read_docx(path: str, max_chars: int) -> dict:
    import zipfile

    try:
        from docx import Document

        document = Document(path)
        segments = []
        number = 0
        for paragraph in document.paragraphs:
            number += 1
            text = paragraph.text.strip()
            if text:
                segments.append([number, text])
        for table in document.tables:
            for row in table.rows:
                number += 1
                cells = [" ".join(cell.text.split()) for cell in row.cells]
                if any(cells):
                    segments.append([number, " | ".join(cells)])
    except MemoryError:
        raise
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as error:
        raise Failed(f"This Word document could not be read: it looks damaged ({type(error).__name__}).") from None
    except Exception as error:  # lxml's XMLSyntaxError and python-docx's own errors
        raise Failed(f"This Word document could not be read ({type(error).__name__}).") from None
    if not segments:
        return result("paragraph", [], "no_text", "This Word document has no text.")
    segments, cut = capped(segments, max_chars)
    return result("paragraph", segments, note=f"Only the first {max_chars:,} characters were read." if cut else None)


def table_cell(value: str) -> str:
    value = " ".join(value.split()).replace("|", "\\|")
    return value if len(value) <= CELL_LIMIT else value[: CELL_LIMIT - 1] + "…"


def read_csv(path: str, max_chars: int) -> dict:
    """Rows as Markdown table lines; the first row (the header) is segment 0 and goes with every passage."""
    with open(path, encoding="utf-8-sig", newline="") as handle:
        sample = handle.read(64 * 1024)
        handle.seek(0)
        delimiter = max((",", ";", "\t"), key=sample.count)
        segments, used, cut = [], 0, False
        try:
            for number, row in enumerate(csv.reader(handle, delimiter=delimiter), start=1):
                if not any(cell.strip() for cell in row):
                    continue
                line = "| " + " | ".join(table_cell(cell) for cell in row) + " |"
                if used + len(line) > max_chars:
                    cut = True
                    break
                segments.append([number, line])
                used += len(line) + 1
        except csv.Error as error:
            raise Failed(f"This CSV file could not be read: {error}.") from None
    if not segments:
        return result("row", [], "no_text", "This CSV file has no rows.")
    return result("row", segments, note=f"Only the first {segments[-1][0]:,} rows were read." if cut else None)


def read_text(path: str, max_chars: int) -> dict:
    """Plain text and Markdown: lines, numbered from 1, kept with their neighbours in passages later."""
    segments, used, cut = [], 0, False
    with open(path, encoding="utf-8-sig", errors="replace") as handle:
        for number, line in enumerate(handle, start=1):
            line = line.rstrip("\n").rstrip("\r")
            if used + len(line) + 1 > max_chars:
                cut = True
                break
            segments.append([number, line])
            used += len(line) + 1
    if not any(text.strip() for _, text in segments):
        return result("line", [], "no_text", "This file has no text.")
    return result("line", segments, note=f"Only the first {max_chars:,} characters were read." if cut else None)


def extract(path: str, content_type: str, max_pages: int, max_chars: int) -> dict:
    try:
        if content_type == PDF:
            return read_pdf(path, max_pages, max_chars)
        if content_type == DOCX:
            return read_docx(path, max_chars)
        if content_type == CSV:
            return read_csv(path, max_chars)
        if content_type.startswith("text/"):
            return read_text(path, max_chars)
    except Failed as failure:
        return result("", [], "failed", str(failure))
    return result("", [], "failed", "Text cannot be read from this kind of file.")


def limit_memory(limit: int) -> None:
    """Address space for this process, in bytes: past it an allocation fails (MemoryError) instead of the machine
    swapping."""
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def main(argv: list[str]) -> int:
    path, content_type, max_pages, max_chars = argv[1], argv[2], int(argv[3]), int(argv[4])
    limit_memory(int(argv[5]))
    try:
        outcome = extract(path, content_type, max_pages, max_chars)
    except MemoryError:
        return OUT_OF_MEMORY
    out = io.TextIOWrapper(sys.stdout.buffer, encoding="utf-8")
    json.dump(outcome, out, ensure_ascii=False)
    out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
