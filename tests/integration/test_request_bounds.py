"""Ids in query strings and forms that no id column can hold (on PostgreSQL past 2**31 - 1 the database itself
refuses them) are treated as no such object or no filter: a page or a 404, never a 500. The URL and API bodies
are covered by test_api_contract; these are the page filters and the faces form."""

from __future__ import annotations

import pytest

from tests.support.faces import compare, upload

pytestmark = pytest.mark.both_databases

TOO_LARGE = str(2**40)


@pytest.mark.parametrize(
    "url", ["/admin/audit?user=", "/admin/files?owner=", "/admin/history?user=", "/faces/history?owner="]
)
def test_admin_filters_ignore_an_id_no_column_holds(admin_client, url):
    response = admin_client.get(url + TOO_LARGE)
    assert response.status_code == 200, response.get_data(as_text=True)[-500:]


def test_a_picked_photo_with_an_id_no_column_holds_is_no_such_file(staff_client):
    response = compare(staff_client, 2**40, upload("obama.jpg"))
    assert response.status_code == 404
    assert "no such file" in response.get_data(as_text=True).lower()


def test_a_face_history_page_past_any_offset_is_an_empty_page(staff_client):
    # Like every other list (test_api_contract): the page number is capped, so OFFSET cannot overflow.
    response = staff_client.get(f"/faces/history?page={10**20}")
    assert response.status_code == 200
    assert 'class="history-row"' not in response.get_data(as_text=True)
