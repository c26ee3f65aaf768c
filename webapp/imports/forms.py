"""The import page's form: one file; what it holds is judged by the service."""

from flask_wtf import FlaskForm
from wtforms import FileField, SubmitField


class ImportForm(FlaskForm):
    file = FileField("Export file")
    submit = SubmitField("Import")
