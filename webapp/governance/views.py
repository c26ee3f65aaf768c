"""/admin/groups and /admin/limits: groups, their members, models and limits, and users' own limits."""

from __future__ import annotations

from collections.abc import Callable

from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user

from webapp.errors import Refused, ServiceError, show_beside_field
from webapp.governance import bp, service
from webapp.governance.forms import GroupForm, LimitsForm, MemberForm, ModelsForm, UserLimitForm
from webapp.governance.models import ALL_MODELS
from webapp.security import admin_required


def budget_warning():
    """For the chat page: the signed-in user's month once 80% of a limit is used (`.warning`), else None."""
    if not current_user.is_authenticated:
        return None
    status = service.budget_status(current_user)
    return status if status.warning is not None else None


def save_limits(
    form: LimitsForm,
    save: Callable[[str | None, str | None], str],
    then: str,
    page: Callable[[], tuple[str, int]],
    refused: type[ServiceError] = Refused,
):
    """A post of monthly limits, a group's or a user's: `save(tokens, requests)` calls the service and returns what
    to flash, then the browser goes on to `then` (303); a refusal of the kind `refused` is shown beside its field
    on `page()` (400), as is an invalid form."""
    if form.validate_on_submit():
        try:
            message = save(form.monthly_tokens.data, form.monthly_requests.data)
        except refused as refusal:
            show_beside_field(form, refusal)
        else:
            flash(message, "success")
            return redirect(then, 303)
    return page()


# -- groups ------------------------------------------------------------------------------------------------------


def render_groups(form: GroupForm | None = None, status: int = 200):
    return render_template("governance/groups.html", groups=service.list_groups(), form=form or GroupForm()), status


@bp.get("/groups")
@admin_required
def groups():
    return render_groups()


@bp.post("/groups")
@admin_required
def create_group():
    form = GroupForm()
    if form.validate_on_submit():
        try:
            group = service.create_group(form.name.data, actor=current_user)
        except Refused as refusal:
            show_beside_field(form, refusal)
        else:
            flash(f"The group {group.name!r} is created; add its members below.", "success")
            return redirect(url_for("governance.group", group_id=group.id), 303)
    return render_groups(form, 400)


def render_group(group, status: int = 200, **forms):
    entries = group.model_list
    access = "any" if entries is None else "all" if ALL_MODELS in entries else "some"
    choices = service.configured_choices()
    ticked = {choice.value for choice in choices if entries and (choice.value in entries or choice.model in entries)}
    return (
        render_template(
            "governance/group.html",
            group=group,
            choices=choices,
            ticked=ticked,
            unknown=[entry for entry in entries or [] if entry != ALL_MODELS and not _configured(entry, choices)],
            member_form=forms.get("member_form") or MemberForm(formdata=None),
            models_form=forms.get("models_form") or ModelsForm(formdata=None, access=access),
            limits_form=forms.get("limits_form")
            or LimitsForm(formdata=None, monthly_tokens=group.monthly_tokens, monthly_requests=group.monthly_requests),
        ),
        status,
    )


def _configured(entry: str, choices) -> bool:
    return any(entry in (choice.value, choice.model) for choice in choices)


@bp.get("/groups/<int:group_id>")
@admin_required
def group(group_id: int):
    return render_group(service.get_group(group_id))


@bp.post("/groups/<int:group_id>/members")
@admin_required
def add_member(group_id: int):
    group = service.get_group(group_id)
    form = MemberForm()
    if form.validate_on_submit():
        try:
            user = service.add_member(group, form.email.data, actor=current_user)
        except ServiceError as refusal:
            show_beside_field(form, refusal)
        else:
            flash(f"{user.name} ({user.email}) is in {group.name}.", "success")
            return redirect(url_for("governance.group", group_id=group.id), 303)
    return render_group(group, 400, member_form=form)


@bp.post("/groups/<int:group_id>/members/remove")
@admin_required
def remove_member(group_id: int):
    group = service.get_group(group_id)
    form = MemberForm()
    if form.validate_on_submit():
        user = service.user_by_email(form.email.data)
        service.remove_member(group, user, actor=current_user)
        flash(f"{user.name} ({user.email}) is no longer in {group.name}.", "success")
        return redirect(url_for("governance.group", group_id=group.id), 303)
    raise Refused("Say which member to remove (their email).", field="email")


@bp.post("/groups/<int:group_id>/models")
@admin_required
def set_models(group_id: int):
    group = service.get_group(group_id)
    form = ModelsForm()
    if form.validate_on_submit():
        access = form.access.data
        models = None if access == "any" else [ALL_MODELS] if access == "all" else request.form.getlist("models")
        try:
            service.set_group_models(group, models, actor=current_user)
        except Refused as refusal:
            form.access.errors = [*form.access.errors, refusal.message]
        else:
            flash(f"The models of {group.name} are saved.", "success")
            return redirect(url_for("governance.group", group_id=group.id), 303)
    return render_group(group, 400, models_form=form)


@bp.post("/groups/<int:group_id>/limits")
@admin_required
def set_group_limits(group_id: int):
    group = service.get_group(group_id)
    form = LimitsForm()

    def save(tokens: str | None, requests: str | None) -> str:
        service.set_group_limits(group, tokens, requests, actor=current_user)
        return f"The limits of {group.name}: {service.describe_limits(group)}."

    return save_limits(
        form,
        save,
        url_for("governance.group", group_id=group.id),
        lambda: render_group(group, 400, limits_form=form),
    )


@bp.post("/groups/<int:group_id>/delete")
@admin_required
def delete_group(group_id: int):
    group = service.get_group(group_id)
    name = group.name  # CSRFProtect has checked the form's token, as for every POST
    service.delete_group(group, actor=current_user)
    flash(f"The group {name!r} is deleted; its members keep their own limits.", "success")
    return redirect(url_for("governance.groups"), 303)


# -- users' own limits -------------------------------------------------------------------------------------------


def render_limits(form: UserLimitForm | None = None, status: int = 200):
    return (
        render_template("governance/limits.html", limits=service.list_user_limits(), form=form or UserLimitForm()),
        status,
    )


@bp.get("/limits")
@admin_required
def limits():
    return render_limits(UserLimitForm(formdata=None, email=request.args.get("email", "")))


@bp.post("/limits")
@admin_required
def set_user_limit():
    form = UserLimitForm()

    def save(tokens: str | None, requests: str | None) -> str:
        user = service.user_by_email(form.email.data)
        limit = service.set_user_limit(user, tokens, requests, actor=current_user)
        return f"{user.email}: {service.describe_limits(limit) if limit else 'no own limit'}."

    # A user who is not there is a refusal too, beside the email field.
    return save_limits(form, save, url_for("governance.limits"), lambda: render_limits(form, 400), refused=ServiceError)
