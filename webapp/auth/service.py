"""Users, passwords, sessions and API tokens: the rules, in one place for views, the API and the CLI."""

from __future__ import annotations

import functools
import hashlib
import secrets
import time
from collections.abc import Iterable
from datetime import timedelta

from flask import current_app
from sqlalchemy import func, select, update
from sqlalchemy.orm import joinedload
from werkzeug.security import check_password_hash, generate_password_hash

from config import MAX_API_TOKEN_DAYS
from webapp.audit import service as audit
from webapp.auth.models import FULL_ACCESS, NO_PASSWORD, ROLES, SCOPES, ApiToken, User
from webapp.bounds import without_nul
from webapp.errors import NotFound, Refused
from webapp.extensions import db
from webapp.security import owned_or_404
from webapp.timeutil import as_utc, utcnow

TOKEN_PREFIX = "wb_"
# An account without a password (company sign-in) makes a token only this soon after signing in.
RECENT_SIGN_IN = timedelta(minutes=10)


@functools.cache
def _dummy_hash(method: str) -> str:
    """A hash to check against when the email is unknown, so both paths cost one hash check. Built once per
    method and process: building it costs a hash too, which would make unknown emails twice as slow."""
    return generate_password_hash("not-a-password", method=method)


def normalize_email(email: str) -> str:
    """The form an email is stored and looked up in (no NUL: PostgreSQL refuses it even in a lookup)."""
    return without_nul(email or "").strip().lower()


def hash_password(password: str) -> str:
    return generate_password_hash(password, method=current_app.config["PASSWORD_HASH_METHOD"])


def check_password_rules(password: str, field: str = "password") -> None:
    minimum = current_app.config["PASSWORD_MIN_LENGTH"]
    if len(password) < minimum:
        raise Refused(f"The password must be at least {minimum} characters long.", field=field)


def find_user_by_email(email: str) -> User | None:
    return db.session.scalar(select(User).where(User.email == normalize_email(email)))


def get_user(user_id: int) -> User:
    user = db.session.get(User, user_id)
    if user is None:
        raise NotFound("There is no such user.")
    return user


def load_user_from_session(session_id: str) -> User | None:
    """Flask-Login's user loader, for the session and the remember cookie alike (see `User.get_id`): the value must
    carry the user's current session version and a sign-in time less than REMEMBER_DAYS ago, the user be active.
    Values without a sign-in time (issued before it was added) are refused: their owners sign in once more."""
    parts = session_id.split(":")
    if len(parts) != 3 or not all(part.isdigit() for part in parts):
        return None
    user_id, version, signed_in_ms = (int(part) for part in parts)
    lifetime = current_app.config["REMEMBER_COOKIE_DURATION"]
    if time.time() * 1000 - signed_in_ms > lifetime.total_seconds() * 1000:
        return None
    user = db.session.get(User, user_id)
    if user is None or not user.is_active or user.session_version != version:
        return None
    user.signed_in_ms = signed_in_ms
    return user


def authenticate(email: str, password: str) -> User | None:
    """Return the user when the email and password match an active account; audit failures."""
    user = find_user_by_email(email)
    if user is None:
        check_password_hash(_dummy_hash(current_app.config["PASSWORD_HASH_METHOD"]), password or "")
        audit.record("auth.login_failed", detail=f"unknown email {normalize_email(email)}"[:200])
        db.session.commit()
        return None
    if not check_password_hash(user.password_hash, password or ""):
        audit.record("auth.login_failed", user=user, target=user, detail="wrong password")
        db.session.commit()
        return None
    if not user.is_active:
        audit.record("auth.login_failed", user=user, target=user, detail="account deactivated")
        db.session.commit()
        return None
    user.last_login_at = utcnow()
    audit.record("auth.login", user=user, target=user)
    db.session.commit()
    return user


def sign_in_with_company_account(
    subject: str, email: str | None, name: str | None, groups: list[str], email_verified: bool | None = None
) -> User:
    """The Workbench user a company sign-in (OpenID Connect) stands for.

    Found by the provider's `sub`; else an account with the same (verified) email is linked to it; else the first
    sign-in creates the user, with no password. When OIDC_ADMIN_GROUP is set the role follows it at every sign-in
    (the last active admin is kept, as on the admin pages). A deactivated user stays out (403)."""
    config = current_app.config
    subject = without_nul(subject)[:255]
    user = db.session.scalar(select(User).where(User.oidc_subject == subject))
    if user is None:
        email = normalize_email(email or "")
        if "@" not in email:
            raise Refused("Your company account has no email address, which Workbench needs. Ask IT to add one.", 403)
        user = find_user_by_email(email)
        if user is not None:
            if email_verified is False:
                raise Refused(f"Your company account's email {email} is not verified, so it cannot be linked.", 403)
            if user.oidc_subject is not None:
                raise Refused(f"{email} is already linked to another company account.", 403)
            user.oidc_subject = subject
            audit.record("user.company_account_linked", user=user, target=user)
        else:
            user = User(email=email, name=without_nul(name or "").strip()[:120] or email, password_hash=NO_PASSWORD)
            user.oidc_subject = subject
            user.role = "admin" if config["OIDC_ADMIN_GROUP"] in groups and config["OIDC_ADMIN_GROUP"] else "staff"
            db.session.add(user)
            db.session.flush()
            audit.record("user.created", target=user, detail=f"{email} as {user.role}, first company sign-in")
            if config["OIDC_DEFAULT_GROUP"]:
                join_default_group(user, config["OIDC_DEFAULT_GROUP"])
    if not user.is_active:
        audit.record("auth.login_failed", user=user, target=user, detail="account deactivated (company sign-in)")
        db.session.commit()
        raise Refused("This account is deactivated. Ask an administrator if you need it again.", 403)
    if config["OIDC_ADMIN_GROUP"]:
        role = "admin" if config["OIDC_ADMIN_GROUP"] in groups else "staff"
        if role != user.role and not (role == "staff" and user.is_admin and count_active_admins(excluding=user) == 0):
            user.role = role
            audit.record("user.role_changed", target=user, detail=f"now {role}, from the company groups")
    user.last_login_at = utcnow()
    audit.record("auth.login", user=user, target=user, detail="company sign-in")
    db.session.commit()
    return user


def join_default_group(user: User, name: str) -> None:
    """A new company account joins OIDC_DEFAULT_GROUP, in the caller's transaction; the group is made when it does
    not exist yet, so an admin can then give it models and limits."""
    from webapp.governance.models import Group  # governance builds on accounts: imported where it is used

    group = db.session.scalar(select(Group).where(Group.name == name))
    if group is None:
        group = Group(name=name, created_at=utcnow())
        db.session.add(group)
        db.session.flush()
        audit.record("group.created", target=group, detail=f"{name}, for company sign-ins")
    group.members.append(user)
    audit.record("group.member_added", target=group, detail=f"{user.email} to {name}, first company sign-in")


def end_all_sessions(user: User) -> None:
    """Invalidate every session and remember cookie the user has (they carry the old version)."""
    user.session_version = (user.session_version or 1) + 1


def record_logout(user: User) -> None:
    end_all_sessions(user)
    audit.record("auth.logout", user=user, target=user)
    db.session.commit()


def create_user(email: str, name: str, password: str, role: str = "staff", actor: User | None = None) -> User:
    email = normalize_email(email)
    if "@" not in email:
        raise Refused("Enter a valid email address.", field="email")
    if role not in ROLES:
        raise Refused(f"The role must be one of: {', '.join(ROLES)}.", field="role")
    if find_user_by_email(email) is not None:
        raise Refused(f"A user with the email {email} already exists.", status=409, field="email")
    check_password_rules(password)
    user = User(email=email, name=without_nul(name).strip() or email, password_hash=hash_password(password), role=role)
    db.session.add(user)
    db.session.flush()
    audit.record("user.created", user=actor, target=user, detail=f"{email} as {role}")
    db.session.commit()
    return user


def list_users() -> list[User]:
    return list(db.session.scalars(select(User).order_by(User.name, User.email)))


def count_active_admins(excluding: User | None = None) -> int:
    query = select(func.count(User.id)).where(User.role == "admin", User.is_active.is_(True))
    if excluding is not None:
        query = query.where(User.id != excluding.id)
    return db.session.scalar(query) or 0


def _refuse_if_last_admin(user: User, what: str) -> None:
    if user.role == "admin" and user.is_active and count_active_admins(excluding=user) == 0:
        raise Refused(f"{user.name} is the last active admin and cannot be {what}. Make someone else an admin first.")


def set_role(user: User, role: str, actor: User) -> User:
    if role not in ROLES:
        raise Refused(f"The role must be one of: {', '.join(ROLES)}.", field="role")
    if role == user.role:
        return user
    if role != "admin":
        _refuse_if_last_admin(user, "demoted")
    user.role = role
    audit.record("user.role_changed", user=actor, target=user, detail=f"now {role}")
    db.session.commit()
    return user


def set_active(user: User, active: bool, actor: User) -> User:
    if active == user.is_active:
        return user
    if not active:
        _refuse_if_last_admin(user, "deactivated")
        end_all_sessions(user)
        # Revoked, not only refused while inactive: reactivating must not bring old tokens back.
        revoke_all_tokens(user, actor, "account deactivated")
    user.is_active = active
    audit.record("user.reactivated" if active else "user.deactivated", user=actor, target=user)
    db.session.commit()
    return user


def update_profile(user: User, name: str) -> User:
    name = without_nul(name).strip()
    if not name:
        raise Refused("The name cannot be empty.", field="name")
    if name != user.name:
        user.name = name
        audit.record("user.renamed", user=user, target=user)
        db.session.commit()
    return user


def check_current_password(user: User, password: str) -> None:
    """Proof that the person at the keyboard knows the password, before a change that matters."""
    if not check_password_hash(user.password_hash, password or ""):
        raise Refused("The current password is not right.", field="current_password")


def change_password(user: User, current_password: str, new_password: str) -> User:
    """Change the user's own password, end their other sessions and revoke their API tokens (the caller re-signs
    this session in)."""
    check_current_password(user, current_password)
    return _set_password(user, new_password, "auth.password_changed", actor=user, why="password changed")


def reset_password(user: User, new_password: str, actor: User) -> User:
    """An admin sets a new password; all of the user's sessions end and their API tokens are revoked."""
    return _set_password(user, new_password, "user.password_reset", actor=actor, why="password reset by an admin")


def _set_password(user: User, new_password: str, action: str, actor: User, why: str) -> User:
    """A new password ends every session the user has and revokes their tokens; `action` names it in the audit log."""
    check_password_rules(new_password, field="new_password")
    user.password_hash = hash_password(new_password)
    end_all_sessions(user)
    revoke_all_tokens(user, actor, why)
    audit.record(action, user=actor, target=user)
    db.session.commit()
    return user


def ensure_first_admin(email: str, password: str | None) -> tuple[User | None, str | None]:
    """Create the first admin when there is no user at all. Returns (user, generated password or None)."""
    if db.session.scalar(select(func.count(User.id))):
        return None, None
    generated = None
    if not password:
        generated = password = secrets.token_urlsafe(12)
    user = create_user(email, "Administrator", password, role="admin")
    return user, generated


# --- API tokens -------------------------------------------------------------------------------


def _token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def clean_scopes(scopes: Iterable[str] | None) -> str:
    """The scopes as stored ("chat,files", in SCOPES order); None means full access, an empty choice is refused."""
    if scopes is None:
        return ",".join(FULL_ACCESS)
    chosen = {without_nul(scope).strip().lower() for scope in scopes}
    unknown = sorted(chosen - set(SCOPES))
    if unknown:
        raise Refused(
            f"There is no scope {', '.join(map(repr, unknown))}; choose from: {', '.join(SCOPES)}.", field="scopes"
        )
    if not chosen:
        raise Refused("Choose at least one scope: what may scripts with this token do?", field="scopes")
    return ",".join(scope for scope in SCOPES if scope in chosen)


def create_token(
    user: User,
    name: str,
    days: int | None = None,
    scopes: Iterable[str] | None = None,
    keep_history: bool = True,
) -> tuple[ApiToken, str]:
    """Make a token for scripts, valid `days` (default API_TOKEN_DAYS), for `scopes` (default: full access). The
    plain token is returned once and never stored. The pages ask for the password first (`create_own_token`); the
    CLI runs as the machine's operator."""
    name = without_nul(name).strip()
    if not name:
        raise Refused("Give the token a name, so you can recognise it later.", field="name")
    scope_text = clean_scopes(scopes)
    days = current_app.config["API_TOKEN_DAYS"] if days is None else days
    if not 1 <= days <= MAX_API_TOKEN_DAYS:
        raise Refused(f"A token lasts from 1 to {MAX_API_TOKEN_DAYS} days, not {days}.", field="days")
    plain = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        user_id=user.id,
        name=name[:80],
        token_hash=_token_digest(plain),
        prefix=plain[:10],
        expires_at=utcnow() + timedelta(days=days),
        scopes=scope_text,
        keep_history=keep_history,
    )
    db.session.add(token)
    db.session.flush()
    history = "" if keep_history else ", gateway calls not kept"
    audit.record(
        "token.created", user=user, target=token, detail=f"{name[:80]}, {days} days, scopes {scope_text}{history}"
    )
    db.session.commit()
    return token, plain


def create_own_token(
    user: User, name: str, current_password: str, scopes: Iterable[str] | None = None, keep_history: bool = True
) -> tuple[ApiToken, str]:
    """A token made from the tokens page: a stolen session alone must not be enough to mint one. The password
    proves it is the person; an account without one (company sign-in) must have signed in moments ago."""
    if user.has_password:
        check_current_password(user, current_password)
    else:
        signed_in_ms = getattr(user, "signed_in_ms", None) or 0
        if time.time() * 1000 - signed_in_ms > RECENT_SIGN_IN.total_seconds() * 1000:
            minutes = int(RECENT_SIGN_IN.total_seconds() // 60)
            raise Refused(
                f"Sign out and in again with your company account: a token is made within {minutes} minutes "
                "of signing in.",
                field="current_password",
            )
    return create_token(user, name, scopes=scopes, keep_history=keep_history)


def list_tokens(user: User) -> list[ApiToken]:
    return list(
        db.session.scalars(select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.created_at.desc()))
    )


def revoke_token(owner: User, token_id: int, actor: User | None = None) -> ApiToken:
    """Revoke one of `owner`'s tokens: by the owner, or by an admin (`actor`) from the user's page."""
    token = owned_or_404(ApiToken, token_id, owner, "There is no such token.")
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        detail = token.name if actor is None or actor.id == owner.id else f"{token.name} of {owner.email}"
        audit.record("token.revoked", user=actor or owner, target=token, detail=detail)
        db.session.commit()
    return token


def get_token(token_id: int) -> ApiToken:
    token = db.session.get(ApiToken, token_id)
    if token is None:
        raise NotFound("There is no such token.")
    return token


def revoke_all_tokens(user: User, actor: User | None, reason: str) -> int:
    """Revoke every token of `user` still usable, in the caller's transaction; one audit row says why."""
    now = utcnow()
    revoked = db.session.execute(
        update(ApiToken)
        .where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None), ApiToken.expires_at > now)
        .values(revoked_at=now)
        .execution_options(synchronize_session="fetch")
    ).rowcount
    if revoked:
        audit.record("token.revoked_all", user=actor, target=user, detail=f"{revoked} token(s): {reason}")
    return revoked


def user_for_token(plain: str) -> User | None:
    """The active user owning this token, when it is neither revoked nor expired; else None."""
    token = token_for(plain)
    return token.user if token is not None else None


def token_for(plain: str) -> ApiToken | None:
    """The token, when it is neither revoked nor expired and its owner is active; else None. Notes its use."""
    if not plain.startswith(TOKEN_PREFIX):
        return None
    token = db.session.scalar(
        select(ApiToken).options(joinedload(ApiToken.user)).where(ApiToken.token_hash == _token_digest(plain))
    )
    if token is None or not token.is_usable or not token.user.is_active:
        return None
    now = utcnow()
    last = token.last_used_at
    # One write a minute at most: scripts may call the API many times a second.
    if last is None or (now - as_utc(last)) > timedelta(minutes=1):
        token.last_used_at = now
        db.session.commit()
    return token
