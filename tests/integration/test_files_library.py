"""The library: finding files again, previews, downloads, rename, delete, admin review, and owner isolation."""

from __future__ import annotations

import re
import urllib.request
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask
from sqlalchemy import select

from tests.support.apps import build_app
from tests.support.files import (  # noqa: F401  (fixtures)
    app_overrides,
    backend,
    both_backends,
    bucket,
    read_object,
    row_count,
    rows,
    stored_keys,
    upload,
)
from tests.support.processes import closed_port
from tests.support.samples import jpeg, minimal_pdf, sideways_jpeg
from tests.support.settings import s3_settings
from tests.support.web import bearer, give_reason, login, post_form
from webapp.audit.models import AuditEvent
from webapp.extensions import db
from webapp.files import service
from webapp.files.models import StoredFile


def upload_one(client, name: str, content: bytes) -> int:
    response = upload(client, (name, content), htmx=True)
    assert response.status_code == 201, response.get_data(as_text=True)
    return int(re.search(r'id="file-(\d+)"', response.get_data(as_text=True)).group(1))


def text(response) -> str:
    return re.sub(r"\s+", " ", response.get_data(as_text=True))


# --- the library page ---


@pytest.mark.parametrize("app_overrides", [{"FILES_PAGE_SIZE": 2}], indirect=True)
def test_library_grid_list_search_filter_and_pages(app, staff_client):
    photo = upload_one(staff_client, "beach.jpg", jpeg())
    upload_one(staff_client, "budget.csv", b"a,b\n1,2\n")
    upload_one(staff_client, "beach-notes.txt", b"sand\n")

    grid = staff_client.get("/files/")
    assert grid.status_code == 200
    assert "3 files" in text(grid)
    # Newest first, two per page; the photo (oldest) is on page 2 with its thumbnail.
    assert "beach-notes.txt" in text(grid) and "budget.csv" in text(grid) and "beach.jpg" not in text(grid)
    second = staff_client.get("/files/?page=2")
    assert f'src="/files/{photo}/thumbnail"' in second.get_data(as_text=True)

    listing = staff_client.get("/files/?view=list")
    assert "<table>" in listing.get_data(as_text=True) and "Uploaded" in text(listing)

    found = staff_client.get("/files/?q=BEACH")
    assert "beach.jpg" in text(found) and "beach-notes.txt" in text(found) and "budget.csv" not in text(found)
    images = staff_client.get("/files/?kind=image")
    assert "beach.jpg" in text(images) and "beach-notes.txt" not in text(images)
    documents = staff_client.get("/files/?kind=document&q=beach")
    assert "beach-notes.txt" in text(documents) and "beach.jpg" not in text(documents)
    # LIKE wildcards in a search are plain characters.
    assert "No files match." in text(staff_client.get("/files/?q=%25"))


def test_detail_previews_image_pdf_and_escaped_text(app, staff_client):
    photo = upload_one(staff_client, "me.jpg", jpeg())
    pdf = upload_one(staff_client, "paper.pdf", minimal_pdf())
    notes = upload_one(staff_client, "notes.txt", b"1 < 2 & <b>bold</b> stays text\n")

    page = staff_client.get(f"/files/{photo}").get_data(as_text=True)
    assert f'<img src="/files/{photo}/preview"' in page
    assert f'href="/files/{photo}/download?attachment=1"' in page
    assert 'data-confirm="Delete “me.jpg”? This cannot be undone."' in page

    page = staff_client.get(f"/files/{pdf}").get_data(as_text=True)
    assert f'<iframe src="/files/{pdf}/preview"' in page
    embedded = staff_client.get(f"/files/{pdf}/preview")
    assert embedded.status_code == 200 and embedded.mimetype == "application/pdf"
    # Only this response may be framed, and only by our own pages.
    assert "frame-ancestors 'self'" in embedded.headers["Content-Security-Policy"]
    assert embedded.headers["X-Frame-Options"] == "SAMEORIGIN"
    assert staff_client.get(f"/files/{pdf}").headers["X-Frame-Options"] == "DENY"

    page = staff_client.get(f"/files/{notes}").get_data(as_text=True)
    assert "1 &lt; 2 &amp; &lt;b&gt;bold&lt;/b&gt; stays text" in page
    assert "<b>bold</b>" not in page
    assert staff_client.get(f"/files/{notes}/preview").status_code == 404  # text is never served inline


# --- downloads ---


def test_local_download_streams_with_safe_headers_and_ranges(app, staff_client):
    photo_bytes = sideways_jpeg()
    photo = upload_one(staff_client, "été photo.jpg", photo_bytes)
    notes = upload_one(staff_client, "notes.txt", b"hello\n")

    inline = staff_client.get(f"/files/{photo}/download")
    assert inline.status_code == 200 and inline.data == photo_bytes
    assert inline.headers["Content-Type"] == "image/jpeg"
    assert inline.headers["Content-Disposition"] == (
        "inline; filename=\"ete photo.jpg\"; filename*=UTF-8''%C3%A9t%C3%A9%20photo.jpg"
    )
    assert inline.headers["X-Content-Type-Options"] == "nosniff"

    saved = staff_client.get(f"/files/{photo}/download?attachment=1")
    assert saved.headers["Content-Disposition"].startswith("attachment;")

    text_file = staff_client.get(f"/files/{notes}/download")
    assert text_file.headers["Content-Disposition"] == 'attachment; filename="notes.txt"'
    assert text_file.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert text_file.headers["X-Content-Type-Options"] == "nosniff"

    partial = staff_client.get(f"/files/{photo}/download", headers={"Range": "bytes=0-9"})
    assert partial.status_code == 206 and partial.data == photo_bytes[:10]
    etag = inline.headers["ETag"]
    assert staff_client.get(f"/files/{photo}/download", headers={"If-None-Match": etag}).status_code == 304


@pytest.mark.parametrize("backend", ["s3"], indirect=True)
def test_s3_download_redirects_to_a_short_lived_presigned_url(app, staff_client):
    photo_bytes = jpeg()
    photo = upload_one(staff_client, "été.jpg", photo_bytes)

    response = staff_client.get(f"/files/{photo}/download?attachment=1")

    assert response.status_code == 302
    location = response.headers["Location"]
    query = parse_qs(urlsplit(location).query)
    assert query["X-Amz-Expires"] == ["300"]
    assert query["response-content-disposition"] == [
        "attachment; filename=\"ete.jpg\"; filename*=UTF-8''%C3%A9t%C3%A9.jpg"
    ]
    with urllib.request.urlopen(location, timeout=10) as fetched:
        assert fetched.read() == photo_bytes
        assert fetched.headers["Content-Type"] == "image/jpeg"
    # Thumbnails and previews still come through the app, so the page's CSP stays 'self'.
    assert staff_client.get(f"/files/{photo}/thumbnail").mimetype == "image/webp"
    assert staff_client.get(f"/files/{photo}/preview").data == photo_bytes


# --- rename and delete ---


def test_rename_keeps_the_file_and_refuses_bad_names(app, staff_client):
    photo = upload_one(staff_client, "IMG_0001.jpg", jpeg())

    renamed = post_form(
        staff_client,
        f"/files/{photo}/rename",
        {"name": "  Summer/../beach.jpg  "},
        page=f"/files/{photo}",
        follow_redirects=True,
    )
    assert "Renamed to “beach.jpg”." in text(renamed)
    assert rows(app)[0].original_name == "beach.jpg"

    empty = post_form(staff_client, f"/files/{photo}/rename", {"name": ""}, page=f"/files/{photo}")
    assert empty.status_code == 400 and "Give the file a name." in text(empty)
    too_long = post_form(staff_client, f"/files/{photo}/rename", {"name": "x" * 300}, page=f"/files/{photo}")
    assert too_long.status_code == 400 and "A file name can be at most 255 characters." in text(too_long)
    only_controls = post_form(staff_client, f"/files/{photo}/rename", {"name": "\x01\x02"}, page=f"/files/{photo}")
    assert only_controls.status_code == 400 and "Give the file a name." in text(only_controls)
    assert rows(app)[0].original_name == "beach.jpg"


@pytest.mark.both_databases
@both_backends
def test_delete_removes_object_thumbnail_and_row(app, staff_client):
    photo = upload_one(staff_client, "gone.jpg", jpeg())
    assert len(stored_keys(app)) == 2

    response = post_form(staff_client, f"/files/{photo}/delete", page=f"/files/{photo}", follow_redirects=True)

    assert "Deleted “gone.jpg”." in text(response)
    assert row_count(app) == 0 and stored_keys(app) == set()
    assert staff_client.get(f"/files/{photo}").status_code == 404


@both_backends
def test_same_content_from_two_people_is_kept_twice_and_deleted_separately(app, staff_client, other_client):
    content = jpeg()
    mine = upload_one(staff_client, "team.jpg", content)
    theirs = upload_one(other_client, "team.jpg", content)
    first, second = rows(app)
    assert first.sha256 == second.sha256 and first.storage_key != second.storage_key

    post_form(staff_client, f"/files/{mine}/delete", page=f"/files/{mine}")

    assert other_client.get(f"/files/{theirs}/preview").data == content
    assert read_object(app, second.storage_key) == content
    assert stored_keys(app) == {second.storage_key, second.thumbnail_key}


def test_delete_when_the_store_is_down_hides_the_file_and_cleanup_finishes(
    app, tmp_path, database_url, moto_endpoint, staff
):
    # The app as usual, on S3 through moto…
    settings = s3_settings(moto_endpoint)
    working = build_app(tmp_path, database_url, settings)
    working.extensions["storage"].ensure_bucket()
    client = working.test_client()
    login(client, staff.email, staff.password)
    photo = upload_one(client, "keep-or-go.jpg", jpeg())
    keys = stored_keys(working)
    # …and the same app when S3 does not answer.
    broken = build_app(tmp_path, database_url, {**settings, "S3_ENDPOINT_URL": f"http://127.0.0.1:{closed_port()}"})
    broken_client = broken.test_client()
    login(broken_client, staff.email, staff.password)

    response = post_form(broken_client, f"/files/{photo}/delete", page=f"/files/{photo}")

    assert response.status_code == 503
    assert (
        "The file store is unavailable right now. The file is removed from your library, and its contents "
        "will be deleted as soon as the store is back."
    ) in text(response)
    # The row is hidden but still records the objects, which are intact: nothing points nowhere.
    assert client.get(f"/files/{photo}").status_code == 404
    assert "keep-or-go.jpg" not in text(client.get("/files/"))
    (hidden,) = rows(working)
    assert hidden.deleted_at is not None and stored_keys(working) == keys

    result = working.test_cli_runner().invoke(args=["files", "cleanup"])

    assert "Deleted files purged: 1; still pending (store unavailable): 0." in result.output
    assert row_count(working) == 0 and stored_keys(working) == set()
    for built in (working, broken):
        with built.app_context():
            db.engine.dispose()


# --- who sees what ---


def test_every_file_route_answers_404_to_another_user(app, staff_client, other_client, staff_token, other_token):
    photo = upload_one(staff_client, "private.jpg", jpeg())

    pages = [
        f"/files/{photo}",
        f"/files/{photo}/thumbnail",
        f"/files/{photo}/preview",
        f"/files/{photo}/download",
        f"/files/{photo}/download?attachment=1",
    ]
    for url in pages:
        response = other_client.get(url)
        assert response.status_code == 404, url
        assert "private.jpg" not in response.get_data(as_text=True)
    for url, data in [(f"/files/{photo}/rename", {"name": "mine now"}), (f"/files/{photo}/delete", {})]:
        assert post_form(other_client, url, data, page="/files/").status_code == 404, url
    for method, url in [
        ("GET", f"/api/files/{photo}"),
        ("GET", f"/api/files/{photo}/url"),
        ("DELETE", f"/api/files/{photo}"),
    ]:
        response = other_client.open(url, method=method, headers=bearer(other_token))
        assert response.status_code == 404, url
        assert response.get_json()["error"] == "There is no such file, or it is not yours."
    assert "private.jpg" not in text(other_client.get("/files/"))
    assert other_client.get("/api/files", headers=bearer(other_token)).get_json()["total"] == 0
    # Still there, unchanged, for its owner.
    assert rows(app)[0].original_name == "private.jpg"
    assert staff_client.get(f"/files/{photo}/download").status_code == 200


def test_admins_review_everyones_files_with_an_owner_filter(
    app, admin_client, staff_client, other_client, staff, other_staff
):
    mine = upload_one(staff_client, "sam.jpg", jpeg())
    upload_one(other_client, "olga.txt", b"olga\n")

    everyone = admin_client.get("/admin/files")
    assert everyone.status_code == 200
    assert "sam.jpg" in text(everyone) and "olga.txt" in text(everyone)
    assert f'src="/admin/files/{mine}/thumbnail"' in everyone.get_data(as_text=True)
    only_sam = admin_client.get(f"/admin/files?owner={staff.id}")
    assert "sam.jpg" in text(only_sam) and "olga.txt" not in text(only_sam)
    assert admin_client.get(f"/admin/files/{mine}/thumbnail").mimetype == "image/webp"

    assert admin_client.get(f"/admin/files/{mine}/download").status_code == 302  # why? (test_admin_review.py)
    give_reason(admin_client, "file", mine)
    download = admin_client.get(f"/admin/files/{mine}/download")
    assert download.status_code == 200 and download.headers["Content-Disposition"].startswith("attachment;")
    assert "file.admin_download" in text(admin_client.get("/admin/audit"))

    assert staff_client.get("/admin/files").status_code == 403
    assert staff_client.get(f"/admin/files/{mine}/download").status_code == 403
    assert "Everyone's files" in admin_client.get("/").get_data(as_text=True)


def admin_views(app: Flask) -> list[tuple[int, str]]:
    with app.app_context():
        return [
            (event.user_id, event.target_id)
            for event in db.session.scalars(select(AuditEvent).where(AuditEvent.action == "file.admin_view"))
        ]


def test_every_admin_look_at_someone_elses_thumbnail_is_audited_once_a_minute(
    app, admin_client, staff_client, admin, staff
):
    theirs = upload_one(staff_client, "sam.jpg", jpeg())
    own = upload_one(admin_client, "ada.jpg", jpeg())

    for _ in range(3):  # the list page shown again and again, each time loading the thumbnail
        assert admin_client.get(f"/admin/files/{theirs}/thumbnail").status_code == 200
    assert admin_client.get(f"/admin/files/{own}/thumbnail").status_code == 200

    assert admin_views(app) == [(admin.id, str(theirs))]
    # A minute later the same look is a new row.
    with app.app_context():
        for event in db.session.scalars(select(AuditEvent)):
            event.created_at -= timedelta(minutes=2)
        db.session.commit()
    admin_client.get(f"/admin/files/{theirs}/thumbnail")
    assert admin_views(app) == [(admin.id, str(theirs))] * 2


def test_dashboard_card_shows_count_size_and_latest_thumbnails(app, staff_client):
    photo = upload_one(staff_client, "a.jpg", jpeg())
    upload_one(staff_client, "b.txt", b"12345\n")
    total = sum(row.size for row in rows(app))

    dashboard = staff_client.get("/")

    assert "2 files" in text(dashboard)
    assert f"{total / 1024:.1f} KB" in text(dashboard)
    assert f'src="/files/{photo}/thumbnail"' in dashboard.get_data(as_text=True)


def test_photo_picker_lists_only_my_images_with_named_radios(app, staff_client, other_client):
    photo = upload_one(staff_client, "face.jpg", jpeg())
    upload_one(staff_client, "doc.txt", b"not a photo\n")
    theirs = upload_one(other_client, "theirs.jpg", jpeg())

    fragment = staff_client.get(f"/files/picker?name=photo_a&selected={photo}").get_data(as_text=True)

    assert f'<input type="radio" name="photo_a" id="photo_a-{photo}" value="{photo}"' in fragment
    assert "checked" in fragment and f'src="/files/{photo}/thumbnail"' in fragment
    assert "doc.txt" not in fragment and f'value="{theirs}"' not in fragment
    assert staff_client.get('/files/picker?name="><script>').status_code == 400


def test_picker_partial_renders_from_a_template_with_a_field_name(app, staff_client, staff):
    upload_one(staff_client, "face.jpg", jpeg())
    with app.test_request_context():
        from flask import render_template

        from webapp.auth import service as users

        images = service.list_images(users.get_user(staff.id))
        html = render_template("files/_picker.html", field_name="photo_b", images=images, selected_id=None)
    assert 'name="photo_b"' in html and "face.jpg" in html


def test_api_link_for_local_files_works_without_a_token_until_tampered(app, staff_client, staff_token, client):
    content = b"shared notes\n"
    notes = upload_one(staff_client, "notes.txt", content)
    link = staff_client.get(f"/api/files/{notes}/url", headers=bearer(staff_token)).get_json()

    assert link["expires_in"] == 300
    path = urlsplit(link["url"]).path
    fetched = client.get(path)  # a client with no session and no token
    assert fetched.status_code == 200 and fetched.data == content
    assert fetched.headers["Content-Disposition"] == 'attachment; filename="notes.txt"'
    assert client.get(path[:-3] + "abc").status_code == 404


def test_service_api_for_other_features(app, staff, other_staff):
    """What Faces calls: store a photo, fetch it back as its owner only, read the original bytes."""
    import io

    from werkzeug.datastructures import FileStorage

    from webapp.auth import service as users
    from webapp.errors import NotFound

    content = jpeg()
    with app.test_request_context():
        owner = users.get_user(staff.id)
        stored = service.store_upload(owner, FileStorage(io.BytesIO(content), "face.jpg"))
        assert isinstance(stored, StoredFile) and stored.kind == "image"
        assert service.get_owned(owner, stored.id) is stored
        with service.open_original(stored) as stream:
            assert stream.read() == content
        assert service.open_thumbnail(stored).read()[:4] == b"RIFF"
        with pytest.raises(NotFound):
            service.get_owned(users.get_user(other_staff.id), stored.id)
        named = service.store_upload(owner, FileStorage(io.BytesIO(content)), name="../crop of face.jpg")
        assert named.original_name == "crop of face.jpg" and named.storage_key != stored.storage_key


def test_flask_files_create_bucket_is_for_s3_only(app: Flask):
    result = app.test_cli_runner().invoke(args=["files", "create-bucket"])
    assert result.exit_code != 0 and "STORAGE_BACKEND is not s3" in result.output
