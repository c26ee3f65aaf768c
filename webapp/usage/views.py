"""/usage ("My usage") and /admin/usage (everyone's, with filters and a CSV export)."""

from __future__ import annotations

from datetime import date, timedelta

from flask import Response, render_template, request, stream_with_context
from flask_login import current_user, login_required

from webapp.audit import service as audit
from webapp.auth import service as users
from webapp.bounds import without_nul
from webapp.errors import Refused
from webapp.extensions import db
from webapp.governance import service as governance
from webapp.security import admin_required
from webapp.timeutil import utcnow
from webapp.usage import bp, reports
from webapp.usage.service import month_start


@bp.get("/usage")
@login_required
def my_usage():
    status = governance.budget_status(current_user)
    report = reports.user_report(reports.month_filter(current_user.id, status.month))
    return render_template("usage/mine.html", status=status, report=report)


def filters_from_request() -> reports.ReportFilter:
    """The admin report's filters from the query string; by default this UTC month up to today."""
    today = utcnow().date()
    date_from = _day(request.args.get("from"), "from") or month_start(today.strftime("%Y-%m")).date()
    date_to = _day(request.args.get("to"), "to") or today
    if date_to < date_from:
        raise Refused("The end date is before the start date.", field="to")
    if (date_to - date_from).days >= reports.MAX_REPORT_DAYS:
        raise Refused(f"Choose at most {reports.MAX_REPORT_DAYS} days at once.", field="from")
    user_id = group_id = None
    email = _text("user")
    if email:
        user_id = governance.user_by_email(email).id
    group = _text("group")
    if group:
        group_id = governance.find_group(group).id
    model = _text("model") or None
    return reports.ReportFilter(date_from, date_to, user_id=user_id, group_id=group_id, model=model)


def _text(name: str) -> str:
    """A text filter as typed, without NUL characters (PostgreSQL refuses them in a query: a 500, not a 400)."""
    return without_nul(request.args.get(name) or "").strip()


def _day(value: str | None, field: str) -> date | None:
    value = (value or "").strip()
    if not value:
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise Refused(f"{value[:40]!r} is not a date: write it as YYYY-MM-DD.", field=field) from None
    if not date(2000, 1, 1) <= day <= utcnow().date() + timedelta(days=1):
        raise Refused("Choose a date between 2000 and today.", field=field)
    return day


@bp.get("/admin/usage")
@admin_required
def admin_report():
    filters = filters_from_request()
    report = reports.admin_report(filters)
    if filters.user_id is not None and filters.user_id != current_user.id:
        # Someone's own use, looked at by an admin: kept in the audit log (one row per admin, user and minute).
        audit.record_view("usage.admin_view", current_user, users.get_user(filters.user_id), detail="usage report")
        db.session.commit()
    return render_template(
        "usage/admin.html",
        report=report,
        args=request.args,
        groups=governance.list_groups(),
        models=reports.models_used(),
    )


@bp.get("/admin/usage.csv")
@admin_required
def admin_csv():
    filters = filters_from_request()
    # Everyone's usage leaving the app: who exported what is kept in the audit log.
    audit.record("usage.exported", user=current_user, detail=request.query_string.decode(errors="replace")[:500])
    db.session.commit()
    name = f"usage-{filters.date_from.isoformat()}-to-{filters.date_to.isoformat()}.csv"
    return Response(
        stream_with_context(reports.csv_rows(filters)),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
