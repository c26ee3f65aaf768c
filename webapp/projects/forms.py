"""Forms of the project pages. The service enforces the rules (names, lengths, models), so the API shares them;
the forms give the pages their labels and ids, and Flask-WTF's CSRF check covers every POST."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import SelectField, StringField, SubmitField, TextAreaField

from webapp.chat import service as chat


class ProjectForm(FlaskForm):
    name = StringField("Name", render_kw={"maxlength": 200, "required": True})
    instructions = TextAreaField(
        "Instructions (optional)",
        render_kw={"rows": 5, "placeholder": "e.g. You help with our grant proposal. Answer in British English."},
    )
    # Choices are the configured models; an unknown value is refused by the service with the list.
    model = SelectField("Default model", validate_choice=False)
    submit = SubmitField("Create project")

    def offer_models(self) -> ProjectForm:
        """The picker's choices: the app's default, then every configured model."""
        self.model.choices = [("", "The app's default")] + [
            (choice.value, choice.label) for choice in chat.model_choices()
        ]
        return self
