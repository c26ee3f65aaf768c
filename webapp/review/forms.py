from flask_wtf import FlaskForm
from wtforms import HiddenField, IntegerField, SubmitField, TextAreaField
from wtforms.validators import DataRequired, Length

from webapp.review.service import MAX_REASON_CHARS


class ReasonForm(FlaskForm):
    kind = HiddenField(validators=[DataRequired()])
    id = IntegerField(validators=[DataRequired()])
    next = HiddenField()
    # The service judges the length, with a sentence beside the field; this only bounds what is parsed.
    reason = TextAreaField("Why are you opening it?", validators=[Length(max=4 * MAX_REASON_CHARS)])
    submit = SubmitField("Open it")
