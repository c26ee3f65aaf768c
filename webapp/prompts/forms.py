"""The library's form. The service enforces the rules (command, lengths, who may share), so the API shares them;
the form gives the page its labels and ids, and Flask-WTF's CSRF check covers every POST."""

from flask_wtf import FlaskForm
from wtforms import BooleanField, StringField, SubmitField, TextAreaField

from webapp.prompts.models import COMMAND_LENGTH, TITLE_LENGTH


class PromptForm(FlaskForm):
    command = StringField(
        "Command", render_kw={"maxlength": COMMAND_LENGTH + 1, "autocomplete": "off", "spellcheck": "false"}
    )
    title = StringField("Title", render_kw={"maxlength": TITLE_LENGTH})
    text = TextAreaField("Text", render_kw={"rows": 6})
    shared = BooleanField("Share with everyone (every user's message box offers it)")
    submit = SubmitField("Save prompt")


class DeleteForm(FlaskForm):
    submit = SubmitField("Delete")
