"""Files in chat, reading: a document's text is read once when it is stored (or on first use), kept in passages
with their page, row, paragraph or line numbers, and a file that cannot be read says why."""

from __future__ import annotations

import io
import zipfile

import pytest
from sqlalchemy import delete, select

from tests.support.documents import csv_text, docx, encrypted_pdf, pdf_with_text, pdf_without_text
from tests.support.factories import make_file
from tests.support.files import upload
from webapp.attachments import service as attachments
from webapp.attachments.extraction import FAILED, NO_TEXT, READY, split
from webapp.attachments.models import FilePassage, FileText
from webapp.extensions import db
from webapp.files.inspection import DOCX
from webapp.files.models import StoredFile


def text_and_passages(app, file_id: int) -> tuple[FileText, list[FilePassage]]:
    with app.app_context():
        text = db.session.get(FileText, file_id)
        passages = list(
            db.session.scalars(select(FilePassage).where(FilePassage.file_id == file_id).order_by(FilePassage.position))
        )
        db.session.expunge_all()
        return text, passages


def test_a_pdf_with_a_text_layer_is_read_when_stored_page_by_page(app, staff):
    pages = [f"Page {n} of the report. " + ("The otters of the river count {n}. " * 30).format(n=n) for n in (1, 2, 3)]
    stored = make_file(app, staff, name="report.pdf", content=pdf_with_text(pages))

    text, passages = text_and_passages(app, stored.id)

    assert text.status == READY and text.unit == "page" and text.note is None
    assert text.passages == len(passages) >= 3
    assert passages[0].first == 1 and passages[-1].last == 3
    assert "Page 2 of the report." in " ".join(p.text for p in passages if p.first == 2)


def test_a_scanned_pdf_without_a_text_layer_is_said_so_not_kept_empty(app, staff):
    stored = make_file(app, staff, name="scan.pdf", content=pdf_without_text(2))

    text, passages = text_and_passages(app, stored.id)

    assert text.status == NO_TEXT and passages == []
    assert text.note == "This PDF has no text layer (it looks like a scan), so the model cannot read it."


def test_an_encrypted_pdf_is_kept_in_the_library_with_a_clear_message(app, staff):
    stored = make_file(app, staff, name="locked.pdf", content=encrypted_pdf(["Top secret figures"]))

    text, passages = text_and_passages(app, stored.id)

    assert text.status == FAILED and passages == []
    assert text.note == "This PDF is protected by a password, so its text cannot be read."


def test_a_damaged_pdf_gets_a_clear_message(app, staff):
    stored = make_file(app, staff, name="broken.pdf", content=b"%PDF-1.4\n1 0 obj garbage\n%%EOF\n")

    text, _ = text_and_passages(app, stored.id)

    assert text.status == FAILED and text.note.startswith("This PDF could not be read: it looks damaged")


def test_a_word_document_is_accepted_and_its_paragraphs_and_tables_read(app, staff_client, staff):
    content = docx(["Minutes of the board.", "The budget was approved."], [["Item", "Cost"], ["Boat", "300"]])

    response = upload(staff_client, ("minutes.docx", content))

    assert response.status_code == 201
    with app.app_context():
        stored = db.session.scalars(select(StoredFile)).one()
        assert stored.content_type == DOCX and stored.kind == "document"
        file_id = stored.id
    text, passages = text_and_passages(app, file_id)
    assert text.status == READY and text.unit == "paragraph"
    assert passages[0].text == "Minutes of the board.\n\nThe budget was approved.\n\nItem | Cost\n\nBoat | 300"


def test_a_zip_archive_that_is_not_a_word_document_is_still_refused(app, staff_client):
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as out:
        out.writestr("hello.txt", "hi")

    response = upload(staff_client, ("archive.docx", archive.getvalue()))

    assert response.status_code == 422
    assert "ZIP archive" in response.get_data(as_text=True)


def test_a_csv_is_read_as_a_table_whose_header_starts_every_passage(app, staff):
    content = csv_text(["city", "rainfall_mm"], [[f"Town{n}", n * 3] for n in range(1, 301)])
    stored = make_file(app, staff, name="rain.csv", content=content)

    text, passages = text_and_passages(app, stored.id)

    assert text.status == READY and text.unit == "row" and len(passages) > 1
    assert passages[0].first == 2  # row 1 is the header
    for passage in passages:
        assert passage.text.startswith("| city | rainfall_mm |\n| --- | --- |\n")
    assert "| Town300 | 900 |" in passages[-1].text and passages[-1].last == 301


def test_markdown_is_read_as_lines(app, staff):
    content = b"# Trip notes\n\n- pack the tent\n- check the tide tables\n"
    stored = make_file(app, staff, name="trip.md", content=content)

    text, passages = text_and_passages(app, stored.id)

    assert text.status == READY and text.unit == "line"
    assert passages[0].text == "# Trip notes\n\n- pack the tent\n- check the tide tables"
    assert (passages[0].first, passages[0].last) == (1, 4)


def test_photos_have_no_text_to_read(app, staff):
    stored = make_file(app, staff, photo=True)

    text, _ = text_and_passages(app, stored.id)

    assert text is None


@pytest.mark.parametrize("app_overrides", [{"CHAT_EXTRACT_SECONDS": 0.05}], indirect=False)
def test_reading_that_takes_too_long_is_stopped_and_said_so(app, staff, app_overrides):
    stored = make_file(app, staff, name="report.pdf", content=pdf_with_text(["Some text"]))

    text, _ = text_and_passages(app, stored.id)

    assert text.status == FAILED
    assert text.note == "Reading this file took longer than 0.05 s, so it was left out."


@pytest.mark.parametrize("app_overrides", [{"CHAT_EXTRACT_MEMORY_MB": 200}], indirect=False)
def test_a_word_bomb_is_stopped_by_the_memory_limit_and_said_so(app, staff, app_overrides):
    # A real document whose text is 150 MB of one letter: a few hundred kilobytes zipped.
    original = zipfile.ZipFile(io.BytesIO(docx(["placeholder"])))
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as out:
        for item in original.infolist():
            data = original.read(item.filename)
            if item.filename == "word/document.xml":
                data = data.replace(b"placeholder", b"A" * 150_000_000)
            out.writestr(item, data, zipfile.ZIP_DEFLATED)
    stored = make_file(app, staff, name="bomb.docx", content=bomb.getvalue())

    text, _ = text_and_passages(app, stored.id)

    assert text.status == FAILED
    assert text.note == "Reading this file needed more than 200 MB of memory, so it was left out."


def test_a_file_stored_before_is_read_on_first_use_and_kept(app, staff):
    stored = make_file(app, staff, name="old.txt", content=b"Kept from before the feature existed.\n")
    with app.app_context():
        db.session.execute(delete(FilePassage))
        db.session.execute(delete(FileText))
        db.session.commit()

        text = attachments.text_of(db.session.get(StoredFile, stored.id))

        assert text.status == READY and text.chars > 0
        assert db.session.get(FileText, stored.id) is not None


def test_deleting_a_file_forgets_its_text(app, staff_client, staff):
    stored = make_file(app, staff, name="notes.txt", content=b"Private notes\n")

    response = staff_client.post(
        f"/files/{stored.id}/delete", data={"csrf_token": _token(staff_client, stored.id)}, follow_redirects=False
    )

    assert response.status_code == 302
    text, passages = text_and_passages(app, stored.id)
    assert text is None and passages == []


def _token(client, file_id: int) -> str:
    from tests.support.web import csrf_token

    return csrf_token(client, f"/files/{file_id}")


def test_passages_keep_their_numbers_and_split_long_pages():
    segments = [[1, "short page"], [2, "x" * 4000], [3, "another"]]

    passages = split(segments, "page", size=1500)

    # The end of the long page shares a passage with the next one.
    assert [(p.first, p.last) for p in passages] == [(1, 1), (2, 2), (2, 2), (2, 3)]
    assert all(len(p.text) <= 1500 for p in passages)
