"""Forms of the files pages. The upload itself is checked by the service (content, size, name)."""

from flask_wtf import FlaskForm
from wtforms import MultipleFileField, SearchField, SelectField, StringField, SubmitField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length

from webapp.files.service import MAX_NAME_LENGTH


class UploadForm(FlaskForm):
    file = MultipleFileField("Choose files")
    submit = SubmitField("Upload")


class RenameForm(FlaskForm):
    name = StringField(
        "Name",
        validators=[
            DataRequired(message="Give the file a name."),
            Length(max=MAX_NAME_LENGTH, message=f"A file name can be at most {MAX_NAME_LENGTH} characters."),
        ],
    )
    submit = SubmitField("Rename")


class LibraryFilterForm(FlaskForm):
    """GET filters of the library: no CSRF (nothing changes), values come from the query string."""

    class Meta:
        csrf = False

    q = SearchField("Search by name", validators=[Length(max=200)])
    kind = SelectField(
        "Show",
        choices=[SelectChoice("", "All files"), SelectChoice("image", "Images"), SelectChoice("document", "Documents")],
    )
