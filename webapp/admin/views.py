from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user

from webapp.admin import bp
from webapp.admin.forms import CreateUserForm, ResetPasswordForm, RoleForm
from webapp.audit import service as audit
from webapp.auth import service as users
from webapp.auth.forms import ConfirmForm
from webapp.bounds import database_id
from webapp.errors import Refused, show_beside_field
from webapp.security import admin_required


@bp.get("/users")
@admin_required
def user_list():
    return render_template("admin/users.html", users=users.list_users(), form=CreateUserForm())


@bp.post("/users")
@admin_required
def create_user():
    form = CreateUserForm()
    if form.validate_on_submit():
        try:
            user = users.create_user(
                form.email.data, form.name.data, form.password.data, form.role.data, actor=current_user
            )
        except Refused as refusal:
            show_beside_field(form, refusal)
        else:
            flash(f"{user.name} ({user.email}) can now sign in.", "success")
            return redirect(url_for("admin.user_list"))
    return render_template("admin/users.html", users=users.list_users(), form=form), 400


def render_user(user, status: int = 200, role_form=None, password_form=None):
    return (
        render_template(
            "admin/user.html",
            user=user,
            tokens=users.list_tokens(user),
            role_form=role_form or RoleForm(role=user.role),
            password_form=password_form or ResetPasswordForm(),
            confirm_form=ConfirmForm(),
        ),
        status,
    )


@bp.get("/users/<int:user_id>")
@admin_required
def user_detail(user_id: int):
    return render_user(users.get_user(user_id))


@bp.post("/users/<int:user_id>/role")
@admin_required
def change_role(user_id: int):
    user = users.get_user(user_id)
    form = RoleForm()
    if form.validate_on_submit():
        users.set_role(user, form.role.data, actor=current_user)
        flash(f"{user.name} is now {user.role}.", "success")
        return redirect(url_for("admin.user_detail", user_id=user.id))
    return render_user(user, 400, role_form=form)


@bp.post("/users/<int:user_id>/deactivate")
@admin_required
def deactivate(user_id: int):
    return set_active(user_id, False, "is deactivated and signed out everywhere.")


@bp.post("/users/<int:user_id>/reactivate")
@admin_required
def reactivate(user_id: int):
    return set_active(user_id, True, "can sign in again.")


def set_active(user_id: int, active: bool, outcome: str):
    user = users.get_user(user_id)
    users.set_active(user, active, actor=current_user)
    flash(f"{user.name} {outcome}", "success")
    return redirect(url_for("admin.user_detail", user_id=user.id))


@bp.post("/users/<int:user_id>/password")
@admin_required
def reset_password(user_id: int):
    user = users.get_user(user_id)
    form = ResetPasswordForm()
    if form.validate_on_submit():
        try:
            users.reset_password(user, form.new_password.data, actor=current_user)
        except Refused as refusal:
            show_beside_field(form, refusal)
        else:
            flash(f"{user.name}'s password is reset; their sessions ended.", "success")
            return redirect(url_for("admin.user_detail", user_id=user.id))
    return render_user(user, 400, password_form=form)


@bp.post("/tokens/<int:token_id>/revoke")
@admin_required
def revoke_token(token_id: int):
    token = users.get_token(token_id)
    if ConfirmForm().validate_on_submit():
        users.revoke_token(token.user, token.id, actor=current_user)
        flash(f"{token.user.name}'s token “{token.name}” is revoked.", "success")
    return redirect(url_for("admin.user_detail", user_id=token.user_id))


@bp.get("/audit")
@admin_required
def audit_log():
    user_id = request.args.get("user", type=database_id)
    page = request.args.get("page", 1, type=int)
    events = audit.list_events(user_id=user_id, page=page)
    return render_template("admin/audit.html", events=events, users=users.list_users(), selected_user=user_id)
