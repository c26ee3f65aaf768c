from flask import render_template
from flask_login import current_user, login_required

from webapp.dashboard import bp
from webapp.dashboard.activity import activity_for
from webapp.dashboard.cards import cards_for


@bp.get("/")
@login_required
def index():
    return render_template("dashboard/index.html", cards=cards_for(current_user), activity=activity_for(current_user))
