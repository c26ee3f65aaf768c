from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, PasswordField, SelectMultipleField, StringField, SubmitField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, EqualTo, Length
from wtforms.widgets import CheckboxInput, ListWidget

from webapp.auth.models import FULL_ACCESS, SCOPE_LABELS


class LoginForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired(), Length(max=254)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=1024)])
    remember = BooleanField("Keep me signed in on this device")
    submit = SubmitField("Sign in")


class ProfileForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=120)])
    submit = SubmitField("Save name")


class PasswordForm(FlaskForm):
    current_password = PasswordField("Current password", validators=[DataRequired()])
    new_password = PasswordField("New password", validators=[DataRequired(), Length(max=1024)])
    confirm_password = PasswordField(
        "New password again", validators=[DataRequired(), EqualTo("new_password", message="The two passwords differ.")]
    )
    submit = SubmitField("Change password")


class CheckboxesField(SelectMultipleField):
    """Several choices as a list of checkboxes (the service says when none is ticked)."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()

    def pre_validate(self, form) -> None:
        """Unknown values are the service's to refuse, with a sentence beside the field."""


class TokenForm(FlaskForm):
    name = StringField("Token name", validators=[DataRequired(), Length(max=80)])
    scopes = CheckboxesField(
        "What may it do?",
        choices=[SelectChoice(scope, label) for scope, label in SCOPE_LABELS.items()],
        default=list(FULL_ACCESS),
    )
    keep_history = BooleanField("Keep the calls this token makes through the /v1 gateway in my history", default=True)
    # Required by the service for an account with a password (a company account signs in again instead).
    current_password = PasswordField("Your password", validators=[Length(max=1024)])
    submit = SubmitField("Create token")


class ConfirmForm(FlaskForm):
    """An empty form: a button that posts with a CSRF token."""

    submit = SubmitField("Confirm")
