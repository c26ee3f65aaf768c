"""Forms of the Faces pages: each photo is either uploaded now or picked from the user's files."""

from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import IntegerField
from wtforms.validators import NumberRange, Optional


class CompareForm(FlaskForm):
    photo_a = FileField("Upload the first photo")
    file_a = IntegerField("Or pick it from your files", validators=[Optional()])
    photo_b = FileField("Upload the second photo")
    file_b = IntegerField("Or pick it from your files", validators=[Optional()])


class AnalyzeForm(FlaskForm):
    photo = FileField("Upload a photo")
    file = IntegerField("Or pick it from your files", validators=[Optional()])


class ChooseFacesForm(FlaskForm):
    face_a = IntegerField(validators=[Optional(), NumberRange(min=0)])
    face_b = IntegerField(validators=[Optional(), NumberRange(min=0)])
