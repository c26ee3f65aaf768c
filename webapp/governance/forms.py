from flask_wtf import FlaskForm
from wtforms import EmailField, RadioField, StringField, SubmitField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length

from webapp.governance.service import MAX_GROUP_NAME

ACCESS_CHOICES = [
    SelectChoice("any", "No restriction from this group"),
    SelectChoice("all", "Every configured model (also for admins)"),
    SelectChoice("some", "Only the models ticked below"),
]


class GroupForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=MAX_GROUP_NAME)])
    submit = SubmitField("Create group")


class MemberForm(FlaskForm):
    email = EmailField("Email of a user", validators=[DataRequired(), Length(max=254)])
    submit = SubmitField("Add to the group")


class ModelsForm(FlaskForm):
    access = RadioField("Models the members may use", choices=ACCESS_CHOICES, default="any")
    submit = SubmitField("Save models")


class LimitsForm(FlaskForm):
    # Text, not IntegerField: the service reads "1,000,000" and says what is wrong with anything else.
    monthly_tokens = StringField("Monthly tokens", validators=[Length(max=32)])
    monthly_requests = StringField("Monthly requests", validators=[Length(max=32)])
    submit = SubmitField("Save limits")


class UserLimitForm(LimitsForm):
    email = EmailField("Email of a user", validators=[DataRequired(), Length(max=254)])
    submit = SubmitField("Set the user's limit")
