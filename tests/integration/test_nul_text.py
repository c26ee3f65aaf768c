"""Text with a NUL character (found by the security scan: `/files/?q=%00` answered 500 on PostgreSQL, which
can neither store nor compare such text) is refused with a 400 that says why, on every route and database."""
from __future__ import annotations

import io

import pytest

from tests.helpers import bearer, post_form
from tests.samples import jpeg
from webapp.security import NUL_MESSAGE

pytestmark = pytest.mark.both_databases


@pytest.mark.parametrize("url", ["/files/?q=a%00b", "/history?q=a%00b", "/history?model=x%00"])
def test_a_search_with_nul_is_refused_not_a_server_error(staff_client, url):
    response = staff_client.get(url)
    assert response.status_code == 400
    assert NUL_MESSAGE in response.get_data(as_text=True)


def test_form_fields_and_api_json_with_nul_are_refused_and_nothing_is_saved(staff_client, client, staff_token):
    assert post_form(staff_client, "/account", {"name": "Sam\x00"}, page="/account").status_code == 400
    assert "Sam\x00" not in staff_client.get("/account").get_data(as_text=True)
    response = client.post("/api/chat", json={"message": "hi\x00"}, headers=bearer(staff_token))
    assert response.status_code == 400 and response.get_json()["error"] == NUL_MESSAGE
    assert client.get("/api/conversations?q=%00", headers=bearer(staff_token)).status_code == 400
    assert client.get("/api/conversations", headers=bearer(staff_token)).get_json()["conversations"] == []


def test_uploaded_files_may_hold_nul_bytes(client, staff_token):
    """Only text fields are looked at: a photo's bytes are full of NULs and upload as usual."""
    photo = jpeg()
    assert b"\x00" in photo
    response = client.post("/api/upload", data={"file": (io.BytesIO(photo), "photo.jpg")},
                           headers=bearer(staff_token), content_type="multipart/form-data")
    assert response.status_code == 201
