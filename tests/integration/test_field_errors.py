"""Errors name their field: a service says which input it refuses (`Refused("…", field="email")`), and the page
shows the sentence beside that field, whatever the sentence says."""

from __future__ import annotations

import pytest
from flask import Flask
from flask_wtf import FlaskForm
from wtforms import StringField

from tests.support.factories import make_user
from tests.support.web import post_form
from webapp.errors import Refused, show_beside_field


def field_error(html: str, field: str) -> str | None:
    """The error text shown beside `field` (the forms macro's <small id="FIELD-error">), or None."""
    start = html.find(f'id="{field}-error"')
    if start == -1:
        return None
    return html[html.index(">", start) + 1 : html.index("</small>", start)]


def test_a_taken_email_with_password_in_it_is_shown_beside_the_email(app: Flask, admin_client):
    # Searching the sentence for "password" used to put this one beside the password field.
    make_user(app, "staff", email="password.keeper@example.com", name="Keeper")
    response = post_form(
        admin_client,
        "/admin/users",
        {"email": "password.keeper@example.com", "name": "Copy", "password": "first password 1", "role": "staff"},
        page="/admin/users",
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "already exists" in (field_error(html, "email") or "")
    assert field_error(html, "password") is None


def test_a_short_initial_password_is_shown_beside_the_password(admin_client):
    response = post_form(
        admin_client,
        "/admin/users",
        {"email": "new@example.com", "name": "New", "password": "short", "role": "staff"},
        page="/admin/users",
    )
    html = response.get_data(as_text=True)
    assert "at least" in (field_error(html, "password") or "")
    assert field_error(html, "email") is None


@pytest.mark.parametrize(
    ("current", "new", "field", "words"),
    [
        ("not the password", "a long new password", "current_password", "not right"),
        (None, "short", "new_password", "at least"),
    ],
)
def test_a_refused_password_change_is_shown_beside_its_field(staff_client, staff, current, new, field, words):
    response = post_form(
        staff_client,
        "/account/password",
        {"current_password": current or staff.password, "new_password": new, "confirm_password": new},
        page="/account",
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert words in (field_error(html, field) or "")
    other = "new_password" if field == "current_password" else "current_password"
    assert field_error(html, other) is None


def test_an_admins_short_reset_password_is_shown_beside_the_new_password(admin_client, staff):
    response = post_form(
        admin_client, f"/admin/users/{staff.id}/password", {"new_password": "short"}, page="/admin/users"
    )
    assert response.status_code == 400
    assert "at least" in (field_error(response.get_data(as_text=True), "new_password") or "")


class NameForm(FlaskForm):
    name = StringField("Name")


def test_a_refusal_that_names_no_field_of_the_form_goes_to_the_error_pipeline(app: Flask):
    with app.test_request_context("/account", method="POST"):
        form = NameForm(meta={"csrf": False})
        show_beside_field(form, Refused("That name is taken.", field="name"))
        assert form.name.errors == ["That name is taken."]
        for refusal in (Refused("No field named."), Refused("Another form's field.", field="password")):
            with pytest.raises(Refused) as raised:
                show_beside_field(form, refusal)
            assert raised.value is refusal


def test_the_field_stays_out_of_json_error_bodies(app: Flask):
    # The body keeps its shape ({"error", "status"} and any details a service adds); the field is for pages.
    with app.test_request_context("/api/me"):
        refusal = Refused("The name cannot be empty.", field="name")
        response = app.handle_user_exception(refusal)
        assert response.get_json() == {"error": "The name cannot be empty.", "status": 400}
