"""Forms of the People pages."""

from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import BooleanField, IntegerField
from wtforms.validators import NumberRange, Optional


class SearchForm(FlaskForm):
    photo = FileField("Upload a photo")
    file = IntegerField("Or pick it from your files", validators=[Optional()])
    face = IntegerField(validators=[Optional(), NumberRange(min=0)])
    all = BooleanField("Also list faces beyond the threshold")
    everyone = BooleanField("Search everyone's photos")
