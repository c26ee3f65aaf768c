"""Forms of the chat pages. The service enforces the rules (lengths, models), so the API shares them;
these forms give the pages their labels and ids, and Flask-WTF's CSRF check covers every POST."""

from flask_wtf import FlaskForm
from wtforms import HiddenField, SelectField, StringField, SubmitField, TextAreaField


class MessageForm(FlaskForm):
    message = TextAreaField(
        "Message", render_kw={"rows": 3, "placeholder": "Ask anything…", "data-enter-sends": "true", "autofocus": True}
    )
    # Choices are the configured models; an unknown value is refused by the service with the list.
    model = SelectField("Model", validate_choice=False)
    system_prompt = TextAreaField("System prompt (optional)", render_kw={"rows": 3})
    # The project a new conversation starts in (webapp/projects); blank for none.
    project_id = HiddenField()
    submit = SubmitField("Send")


class SettingsForm(FlaskForm):
    title = StringField("Title")
    system_prompt = TextAreaField("System prompt (optional)", render_kw={"rows": 3})
    submit = SubmitField("Save")


class RenameForm(FlaskForm):
    title = StringField("New title")
    submit = SubmitField("Rename")
