"""Real documents made on the spot for the files-in-chat tests and benchmarks: PDFs with and without a text layer
(a small PDF writer: Helvetica text, one page per string), an encrypted PDF (pypdf), Word files (python-docx),
CSV and Markdown text.
"""

from __future__ import annotations

import io
from collections.abc import Sequence


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def pdf_with_text(pages: Sequence[str], *, line_chars: int = 90) -> bytes:
    """A PDF whose pages hold `pages` as real text (a text layer), in Helvetica, lines wrapped at `line_chars`."""
    contents = []
    for page in pages:
        lines: list[str] = []
        for paragraph in page.split("\n"):
            words, line = paragraph.split(), ""
            for word in words:
                if line and len(line) + 1 + len(word) > line_chars:
                    lines.append(line)
                    line = word
                else:
                    line = f"{line} {word}" if line else word
            lines.append(line)
        body = "BT /F1 10 Tf 12 TL 40 800 Td " + " ".join(f"({_escape(line)}) Tj T*" for line in lines) + " ET"
        contents.append(body.encode("latin-1", errors="replace"))
    return _pdf(contents, font=True)


def pdf_without_text(page_count: int = 1) -> bytes:
    """A PDF of pages with only drawing on them, as a scan without OCR looks to a text reader."""
    return _pdf([b"0.2 g 40 40 500 700 re f 1 g 60 60 200 100 re f"] * page_count, font=False)


def _pdf(contents: Sequence[bytes], *, font: bool) -> bytes:
    objects: list[bytes] = []  # object n is objects[n - 1]
    count = len(contents)
    first_page = 4
    kids = " ".join(f"{first_page + 2 * index} 0 R" for index in range(count))
    objects.append(b"<< /Type /Catalog /Pages 2 0 R >>")
    objects.append(f"<< /Type /Pages /Kids [{kids}] /Count {count} >>".encode())
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>")
    resources = "/Resources << /Font << /F1 3 0 R >> >>" if font else "/Resources << >>"
    for index, content in enumerate(contents):
        stream_number = first_page + 2 * index + 1
        page = f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] {resources} /Contents {stream_number} 0 R >>"
        objects.append(page.encode())
        objects.append(b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream")
    output = io.BytesIO()
    output.write(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(output.tell())
        output.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
    xref = output.tell()
    output.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for offset in offsets:
        output.write(b"%010d 00000 n \n" % offset)
    output.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref))
    return output.getvalue()


def encrypted_pdf(pages: Sequence[str], password: str = "secret") -> bytes:
    """A PDF with a text layer that opens only with `password`."""
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf_with_text(pages))))
    writer.encrypt(user_password=password, owner_password=password, algorithm="RC4-128")
    output = io.BytesIO()
    writer.write(output)
    return output.getvalue()


def docx(paragraphs: Sequence[str], table: Sequence[Sequence[str]] = ()) -> bytes:
    """A Word document with these paragraphs (and a table, if given)."""
    from docx import Document

    document = Document()
    for paragraph in paragraphs:
        document.add_paragraph(paragraph)
    if table:
        grid = document.add_table(rows=len(table), cols=len(table[0]))
        for row, values in zip(grid.rows, table, strict=True):
            for cell, value in zip(row.cells, values, strict=True):
                cell.text = value
    output = io.BytesIO()
    document.save(output)
    return output.getvalue()


def csv_text(header: Sequence[str], rows: Sequence[Sequence[object]]) -> bytes:
    lines = [",".join(header)] + [",".join(str(value) for value in row) for row in rows]
    return ("\n".join(lines) + "\n").encode()
