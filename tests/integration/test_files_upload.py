"""Uploading: what lands (on local disk and on S3), what is refused and why, and that nothing is left behind."""

from __future__ import annotations

import hashlib
import io
import re
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import text

from tests.support.apps import build_app
from tests.support.files import (  # noqa: F401  (fixtures)
    app_overrides,
    assert_nothing_written,
    backend,
    both_backends,
    bucket,
    read_object,
    row_count,
    rows,
    stored_keys,
    temp_files,
    upload,
)
from tests.support.processes import closed_port
from tests.support.samples import (
    EXECUTABLE,
    HTML_PAGE,
    SVG_DRAWING,
    jpeg,
    minimal_pdf,
    png_header_only_bomb,
    sideways_jpeg,
)
from tests.support.settings import s3_settings
from tests.support.web import login
from webapp.extensions import db

CSV = b"name,age\nAda,36\nGrace,45\n"


def page_text(response) -> str:
    return re.sub(r"\s+", " ", response.get_data(as_text=True))


@both_backends
def test_photos_and_documents_land_with_hashes_thumbnails_and_sizes(app, staff_client, staff):
    photo, pdf = sideways_jpeg(), minimal_pdf()

    response = upload(staff_client, ("holiday.jpg", photo), ("report.pdf", pdf), ("people.csv", CSV))

    assert response.status_code == 201
    assert "was not uploaded" not in page_text(response)
    image_row, pdf_row, csv_row = rows(app)
    assert (image_row.user_id, image_row.original_name, image_row.content_type, image_row.kind) == (
        staff.id,
        "holiday.jpg",
        "image/jpeg",
        "image",
    )
    # Stored sideways with EXIF orientation 6: recorded as it is displayed, upright.
    assert (image_row.width, image_row.height) == (20, 40)
    assert image_row.size == len(photo) and image_row.sha256 == hashlib.sha256(photo).hexdigest()
    assert (pdf_row.content_type, pdf_row.kind, pdf_row.thumbnail_key) == ("application/pdf", "document", None)
    assert (csv_row.content_type, csv_row.sha256) == ("text/csv", hashlib.sha256(CSV).hexdigest())
    assert {row.storage_backend for row in (image_row, pdf_row, csv_row)} == {app.extensions["storage"].name}
    # The original bytes are kept exactly; the thumbnail beside them is an upright WebP.
    assert read_object(app, image_row.storage_key) == photo
    assert read_object(app, pdf_row.storage_key) == pdf
    thumbnail = Image.open(io.BytesIO(read_object(app, image_row.thumbnail_key)))
    assert thumbnail.format == "WEBP" and thumbnail.size == (20, 40)
    assert stored_keys(app) == {
        image_row.storage_key,
        image_row.thumbnail_key,
        pdf_row.storage_key,
        csv_row.storage_key,
    }
    # Keys are generated, never the file's name, and no temp file is left.
    assert not any("holiday" in key or "report" in key for key in stored_keys(app))
    assert temp_files(app) == []


def test_htmx_upload_answers_with_the_new_files_card(app, staff_client):
    response = upload(staff_client, ("cat.png", jpeg()), htmx=True)

    assert response.status_code == 201
    (stored,) = rows(app)
    html = response.get_data(as_text=True)
    assert "<html" not in html  # a fragment for the list, not a page
    assert f'src="/files/{stored.id}/thumbnail"' in html
    assert "cat.png" in html and 'class="upload-item upload-done"' in html


def test_one_bad_file_does_not_stop_the_others(app, staff_client):
    response = upload(staff_client, ("first.jpg", jpeg()), ("setup.jpg", EXECUTABLE), ("notes.txt", b"keep me\n"))

    assert response.status_code == 200  # some landed, one did not
    text_shown = page_text(response)
    assert (
        "setup.jpg was not uploaded. This file is not an allowed type (it looks like a Windows executable)."
        in text_shown.replace("<strong>", "").replace("</strong>", "")
    )
    assert [row.original_name for row in rows(app)] == ["first.jpg", "notes.txt"]
    assert len(stored_keys(app)) == 3  # two originals and one thumbnail
    assert temp_files(app) == []


# --- bad input: a clear message, the right status, and nothing written ---


def refused_message(response) -> str:
    html = response.get_data(as_text=True)
    match = re.search(r'<div class="error-message" role="alert">(.*?)</div>', html, re.S)
    assert match, html
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", match.group(1))).strip()


@pytest.mark.parametrize(
    ("name", "content", "status", "message"),
    [
        ("../", b"only a folder", 400, "(no name) was not uploaded. The file has no name. Choose a file to upload."),
        ("empty.txt", b"", 400, "empty.txt was not uploaded. This file is empty (0 bytes); there is nothing to keep."),
        (
            "photo.jpg",
            EXECUTABLE,
            422,
            "photo.jpg was not uploaded. This file is not an allowed type (it looks "
            "like a Windows executable). Allowed: JPEG, PNG, WebP, GIF, HEIC, HEIF, PDF, plain text, CSV, Word.",
        ),
        (
            "photo.jpg",
            HTML_PAGE,
            422,
            "photo.jpg was not uploaded. This file is not an allowed type (it looks "
            "like a web page (HTML)). Allowed: JPEG, PNG, WebP, GIF, HEIC, HEIF, PDF, plain text, CSV, Word.",
        ),
        (
            "logo.svg",
            SVG_DRAWING,
            422,
            "logo.svg was not uploaded. This file is not an allowed type (it looks "
            "like an SVG drawing). Allowed: JPEG, PNG, WebP, GIF, HEIC, HEIF, PDF, plain text, CSV, Word.",
        ),
        ("cut.jpg", jpeg((200, 150))[:1500], 422, "cut.jpg was not uploaded. This image is damaged or incomplete."),
        (
            "bomb.png",
            png_header_only_bomb(20_000, 20_000),
            413,
            "bomb.png was not uploaded. This image is too large (20000 × 20000 pixels; the limit is 50 megapixels).",
        ),
    ],
    ids=["only-a-folder", "zero-bytes", "exe-as-jpg", "html-as-jpg", "svg", "truncated-jpeg", "png-bomb"],
)
def test_bad_file_is_refused_with_a_message_and_nothing_written(app, staff_client, name, content, status, message):
    response = upload(staff_client, (name, content))

    assert response.status_code == status
    assert refused_message(response) == message
    assert_nothing_written(app)


def test_no_file_part_is_refused_on_the_upload_page(app, staff_client):
    response = upload(staff_client)
    assert response.status_code == 400
    assert "<h1>Upload files</h1>" in response.get_data(as_text=True)
    assert "Nothing uploaded. No file was sent. Choose a file to upload." in page_text(response).replace(
        "<strong>", ""
    ).replace("</strong>", "")
    assert_nothing_written(app)


def test_form_sent_without_choosing_a_file_is_refused_on_the_upload_page(app, staff_client):
    # What a browser sends for an empty file input: one part, no name, no bytes.
    response = upload(staff_client, ("", b""))
    assert response.status_code == 400
    assert "No file was sent. Choose a file to upload." in page_text(response)
    assert_nothing_written(app)


@pytest.mark.parametrize("app_overrides", [{"MAX_UPLOAD_MB": 1}], indirect=True)
def test_file_over_the_size_limit_is_refused_and_the_others_kept(app, staff_client):
    big = b"%PDF-1.4\n" + b"0" * (1024 * 1024) + b"\n%%EOF\n"

    response = upload(staff_client, ("scan.pdf", big))
    assert response.status_code == 413
    assert refused_message(response) == "scan.pdf was not uploaded. This file is larger than the 1 MB limit."
    assert_nothing_written(app)

    response = upload(staff_client, ("scan.pdf", big), ("small.txt", b"fine\n"))
    assert response.status_code == 200
    assert [row.original_name for row in rows(app)] == ["small.txt"]
    assert temp_files(app) == []


@pytest.mark.parametrize("app_overrides", [{"MAX_UPLOAD_MB": 1, "MAX_FILES_PER_UPLOAD": 1}], indirect=True)
def test_request_over_the_limit_is_413_in_the_page_where_the_upload_was_made(app, staff_client):
    body = b"x" * (3 * 1024 * 1024)  # over one file's worth (1 MB) plus the form's allowance

    page = upload(staff_client, ("huge.txt", body))
    assert page.status_code == 413
    assert "<h1>Upload files</h1>" in page.get_data(as_text=True)  # the upload page itself, with the message
    assert "This upload is too large: each file can be up to 1 MB" in page_text(page)

    fragment = upload(staff_client, ("huge.txt", body), htmx=True)
    assert fragment.status_code == 413
    assert "<html" not in fragment.get_data(as_text=True)
    assert "This upload is too large: each file can be up to 1 MB" in page_text(fragment)
    assert_nothing_written(app)


def test_names_are_cleaned_and_never_reach_the_disk(app, staff_client, tmp_path: Path):
    long_name = "a" * 296 + ".txt"  # 300 characters
    response = upload(
        staff_client,
        ("../../etc/passwd.txt", b"one\n"),
        ("/home/sam/notes.txt", b"two\n"),
        ("bad\x00na\x1bme\u202egpj.txt", b"three\n"),
        (long_name, b"four\n"),
    )

    assert response.status_code == 201
    names = [row.original_name for row in rows(app)]
    assert names[:3] == ["passwd.txt", "notes.txt", "badnamegpj.txt"]
    assert len(names[3]) == 255 and names[3].endswith("….txt") and names[3].startswith("aaaa")
    # Nothing was written outside the store, and no key carries the names.
    assert not (tmp_path / "etc").exists() and not Path("/etc/passwd.txt").exists()
    assert all(re.fullmatch(r"[0-9a-f]{2}/[0-9a-f]{2}/[0-9a-f]{32}\.txt", key) for key in stored_keys(app))


@pytest.fixture
def unreachable_s3_app(tmp_path, database_url, aws_environment):
    return build_app(tmp_path, database_url, s3_settings(f"http://127.0.0.1:{closed_port()}"))


def test_unreachable_s3_is_a_503_with_nothing_kept(unreachable_s3_app, staff):
    app = unreachable_s3_app
    with app.app_context():
        db.create_all()
    client = app.test_client()
    login(client, staff.email, staff.password)

    response = upload(client, ("photo.jpg", jpeg()))

    assert response.status_code == 503
    assert refused_message(response) == (
        "photo.jpg was not uploaded. The file store is unavailable right now; nothing was saved. Try again in a minute."
    )
    assert row_count(app) == 0 and temp_files(app) == []


def break_inserts(app) -> None:
    """Make the database refuse new file rows, as a full disk or a lost connection would."""
    with app.app_context():
        if db.engine.dialect.name == "postgresql":
            db.session.execute(
                text(
                    "CREATE OR REPLACE FUNCTION refuse_insert() RETURNS trigger AS $$ "
                    "BEGIN RAISE EXCEPTION 'disk full'; END; $$ LANGUAGE plpgsql"
                )
            )
            db.session.execute(
                text(
                    "CREATE TRIGGER refuse BEFORE INSERT ON stored_files FOR EACH ROW EXECUTE FUNCTION refuse_insert()"
                )
            )
        else:
            db.session.execute(
                text("CREATE TRIGGER refuse BEFORE INSERT ON stored_files BEGIN SELECT RAISE(ABORT, 'disk full'); END")
            )
        db.session.commit()


@pytest.mark.both_databases
@both_backends
def test_objects_are_removed_when_the_row_cannot_be_saved(app, staff_client):
    break_inserts(app)

    response = upload(staff_client, ("photo.jpg", jpeg()), htmx=True)

    assert response.status_code == 503
    assert "The database is unavailable right now; nothing was saved. Try again in a minute." in page_text(response)
    assert_nothing_written(app)  # neither the photo nor its thumbnail remains in the store


@pytest.mark.parametrize("app_overrides", [{"MAX_FILES_PER_UPLOAD": 2}], indirect=True)
def test_files_beyond_the_per_request_count_are_refused_by_name(app, staff_client):
    response = upload(staff_client, ("one.txt", b"1\n"), ("two.txt", b"2\n"), ("three.txt", b"3\n"))

    assert response.status_code == 200
    assert "three.txt was not uploaded. Only 2 files can be uploaded at once; upload this one again." in (
        page_text(response).replace("<strong>", "").replace("</strong>", "")
    )
    assert [row.original_name for row in rows(app)] == ["one.txt", "two.txt"]
    assert temp_files(app) == []
