from __future__ import annotations

from flask import current_app, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required, login_user, logout_user

from webapp.auth import bp, oidc, service
from webapp.auth.forms import ConfirmForm, LoginForm, PasswordForm, ProfileForm, TokenForm
from webapp.auth.throttle import form_refused, password_guesses, sign_in_failed
from webapp.errors import NotFound, Refused, show_beside_field
from webapp.security import safe_next_url

PASSWORD_LOGIN_OFF = "Password sign-in is turned off here: sign in with your company account."


@bp.route("/login", methods=["GET", "POST"])
@password_guesses("auth.login", sign_in_failed, per_address=True)
def login():
    next_url = safe_next_url(request.args.get("next"))
    if current_user.is_authenticated:
        return redirect(next_url or url_for("dashboard.index"))
    form = LoginForm()
    failed = False
    if request.method == "POST" and not current_app.config["PASSWORD_LOGIN"]:
        raise Refused(PASSWORD_LOGIN_OFF, status=403)
    if form.validate_on_submit():
        user = service.authenticate(form.email.data, form.password.data)
        if user is not None:
            # A fresh session: nothing from before sign-in (or planted by someone else) carries over.
            session.clear()
            login_user(user, remember=form.remember.data)
            return redirect(next_url or url_for("dashboard.index"))
        failed = True
    return render_template(
        "auth/login.html", form=form, failed=failed, next_url=next_url, company_sign_in=oidc.is_enabled()
    )


@bp.get("/login/company")
def company_login():
    """Off to the company's sign-in page (OpenID Connect); it sends the browser back to the callback."""
    if not oidc.is_enabled():
        raise NotFound("Company sign-in is not set up here.")
    session["company_next"] = safe_next_url(request.args.get("next"))
    return oidc.start()


@bp.get("/login/company/callback")
def company_callback():
    if not oidc.is_enabled():
        raise NotFound("Company sign-in is not set up here.")
    claims = oidc.finish()
    user = service.sign_in_with_company_account(
        str(claims["sub"]),
        claims.get("email"),
        claims.get("name"),
        oidc.groups_of(claims),
        claims.get("email_verified"),
    )
    next_url = safe_next_url(session.get("company_next"))
    # A fresh session, as for a password sign-in.
    session.clear()
    login_user(user)
    return redirect(next_url or url_for("dashboard.index"))


@bp.post("/logout")
@login_required
def logout():
    form = ConfirmForm()
    if form.validate_on_submit():
        service.record_logout(current_user._get_current_object())
        logout_user()
        session.clear()
        flash("You are signed out.", "info")
    return redirect(url_for("auth.login"))


@bp.get("/account")
@login_required
def account():
    return render_template(
        "auth/account.html",
        profile_form=ProfileForm(name=current_user.name),
        password_form=PasswordForm(),
    )


@bp.post("/account")
@login_required
def update_profile():
    profile_form = ProfileForm()
    if profile_form.validate_on_submit():
        service.update_profile(current_user._get_current_object(), profile_form.name.data)
        flash("Your name is saved.", "success")
        return redirect(url_for("auth.account"))
    return render_template("auth/account.html", profile_form=profile_form, password_form=PasswordForm()), 400


@bp.post("/account/password")
@login_required
@password_guesses("auth.change_password", form_refused)
def change_password():
    if not current_app.config["PASSWORD_LOGIN"]:
        raise Refused(PASSWORD_LOGIN_OFF, status=403)
    password_form = PasswordForm()
    if password_form.validate_on_submit():
        user = current_user._get_current_object()
        try:
            service.change_password(user, password_form.current_password.data, password_form.new_password.data)
        except Refused as refusal:
            show_beside_field(password_form, refusal)
        else:
            # The version bump ended every session, this one included: sign this one back in.
            remember = current_app.config.get("REMEMBER_COOKIE_NAME", "remember_token") in request.cookies
            login_user(user, remember=remember)
            flash(
                "Your password is changed. You were signed out everywhere else and your API tokens are revoked.",
                "success",
            )
            return redirect(url_for("auth.account"))
    profile_form = ProfileForm(name=current_user.name)
    return render_template("auth/account.html", profile_form=profile_form, password_form=password_form), 400


@bp.get("/account/tokens")
@login_required
def tokens():
    return render_template(
        "auth/tokens.html", form=TokenForm(), revoke_form=ConfirmForm(), tokens=service.list_tokens(current_user)
    )


@bp.post("/account/tokens")
@login_required
@password_guesses("auth.create_token", form_refused)
def create_token():
    form = TokenForm()
    new_token = None
    status = 400
    if form.validate_on_submit():
        try:
            _, new_token = service.create_own_token(
                current_user,
                form.name.data,
                form.current_password.data,
                scopes=form.scopes.data,
                keep_history=form.keep_history.data,
            )
        except Refused as refusal:
            show_beside_field(form, refusal)
        else:
            form = TokenForm(formdata=None)
            status = 201
    return (
        render_template(
            "auth/tokens.html",
            form=form,
            revoke_form=ConfirmForm(),
            tokens=service.list_tokens(current_user),
            new_token=new_token,
        ),
        status,
    )


@bp.post("/account/tokens/<int:token_id>/revoke")
@login_required
def revoke_token(token_id: int):
    if ConfirmForm().validate_on_submit():
        token = service.revoke_token(current_user, token_id)
        flash(f"The token “{token.name}” is revoked.", "success")
    return redirect(url_for("auth.tokens"))
