"""The caller's token usage over the JSON API: the same figures as the "My usage" page."""

from __future__ import annotations

from webapp.api import bp
from webapp.api.auth import api_user
from webapp.api.spec import operation
from webapp.governance import service as governance
from webapp.usage import reports
from webapp.usage.schemas import UsageReport


@bp.get("/usage")
@operation("account", (200, UsageReport, "This month's usage and limits."))
def usage() -> UsageReport:
    """Your usage this month

    Tokens and requests this UTC month, against every limit that applies to you (your own and your groups'), with
    the figures per model and per day. Limits reset at 00:00 UTC on the 1st."""
    user = api_user()
    status = governance.budget_status(user)
    return UsageReport.of(status, report=reports.user_report(reports.month_filter(user.id, status.month)))
