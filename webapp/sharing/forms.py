"""The share page's forms. The service enforces the rules (SHARE_MAX_DAYS), so the API shares them; the forms give
the page its labels and ids, and Flask-WTF's CSRF check covers every POST."""

from flask_wtf import FlaskForm
from wtforms import IntegerField, SubmitField
from wtforms.validators import Optional


class ShareForm(FlaskForm):
    days = IntegerField(
        "Days the link works",
        validators=[Optional()],
        render_kw={"min": 1, "inputmode": "numeric"},
    )
    submit = SubmitField("Create link")


class ConfirmForm(FlaskForm):
    submit = SubmitField("Confirm")
