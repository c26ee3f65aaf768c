"""Workbench: chat with AI models, keep files and photos, compare faces, review the history."""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, flash, redirect, request, url_for
from werkzeug.middleware.proxy_fix import ProxyFix

from config import BASE_DIR, app_settings
from webapp.extensions import (
    create_private_sqlite_file,
    csrf,
    db,
    limiter,
    login_manager,
    migrate,
    release_sessions_safely,
)


def create_app(config_name: str | None = None, overrides: dict[str, Any] | None = None) -> Flask:
    """Build an app for `config_name` (or WORKBENCH_ENV), with `overrides` applied on top (used by tests)."""
    settings = app_settings(config_name, overrides)

    app = Flask(
        __name__,
        template_folder=str(BASE_DIR / "templates"),
        static_folder=str(BASE_DIR / "static"),
        instance_path=str(settings["INSTANCE_DIR"]),
    )
    app.config.update(settings)
    if "MAX_CONTENT_LENGTH" not in (overrides or {}):
        # Every route but the upload ones (see webapp/files/uploads.py) takes at most one file's worth.
        app.config["MAX_CONTENT_LENGTH"] = app.config["MAX_UPLOAD_MB"] * 1024 * 1024
    app.config["WORKBENCH_ENV"] = settings["ENV_NAME"]

    if app.config["TRUSTED_PROXIES"]:
        count = app.config["TRUSTED_PROXIES"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=count, x_proto=count, x_host=count)  # type: ignore[method-assign]

    from webapp.middleware import configure_logging, register_request_hooks

    configure_logging(app)
    # Request hooks first: the request id must exist before any extension (CSRF) can reject the request.
    register_request_hooks(app)
    init_extensions(app)
    init_features(app)
    # Before any blueprint adds its routes: every <int:id> in a URL then stops at what an id column holds.
    from webapp.bounds import DatabaseIdConverter

    app.url_map.converters["int"] = DatabaseIdConverter
    register_blueprints(app)

    from webapp.errors import register_error_handlers

    register_error_handlers(app)
    register_template_helpers(app)
    register_commands(app)
    return app


def init_extensions(app: Flask) -> None:
    import webapp.models
    from webapp.auth import service as auth_service

    # instance/workbench.db holds password hashes and everyone's conversations: the owner's only.
    create_private_sqlite_file(app.config["SQLALCHEMY_DATABASE_URI"])
    db.init_app(app)
    release_sessions_safely(app)
    migrate.init_app(
        app, db, directory=str(BASE_DIR / "migrations"), render_as_batch=True, include_name=webapp.models.include_name
    )
    csrf.init_app(app)
    limiter.init_app(app)

    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = "Please sign in to continue."
    login_manager.login_message_category = "info"
    login_manager.user_loader(auth_service.load_user_from_session)
    login_manager.unauthorized_handler(unauthorized)


def unauthorized() -> Response:
    """No valid session: JSON 401 for the API, the sign-in page (remembering where you were) for browsers."""
    from webapp.errors import error_response, wants_json

    if wants_json():
        response = error_response(401, "A valid API token is required: send 'Authorization: Bearer <token>'.")
        response.headers["WWW-Authenticate"] = 'Bearer realm="workbench"'
        return response
    login_url = url_for("auth.login", next=request.full_path.rstrip("?") if request.method == "GET" else None)
    if request.headers.get("HX-Request"):
        # htmx would swap a redirect's body into the page; ask it to navigate instead.
        response = Response(status=401)
        response.headers["HX-Redirect"] = login_url
        return response
    flash(login_manager.login_message, login_manager.login_message_category)
    return redirect(login_url)


def init_features(app: Flask) -> None:
    """Clients, stores, engines and pages of each feature, built once per app (kept on app.extensions)."""
    from webapp import chat, files
    from webapp.dashboard.activity import register_activity
    from webapp.dashboard.cards import register_card
    from webapp.faces import runtime as faces_runtime
    from webapp.faces import service as faces_service
    from webapp.faces import tasks as faces_tasks
    from webapp.faces import views as faces_views

    files.init_app(app)
    chat.init_app(app)
    faces_runtime.init_app(app)
    faces_tasks.init_app(app)
    register_card(app, "faces", faces_views.dashboard_card)
    register_activity(app, "faces", "Face checks", faces_service.checks_per_day)


def register_blueprints(app: Flask) -> None:
    from webapp.admin import bp as admin_bp
    from webapp.api import bp as api_bp
    from webapp.auth import bp as auth_bp
    from webapp.dashboard import bp as dashboard_bp
    from webapp.faces import bp as faces_bp
    from webapp.files import bp as files_bp

    # The API authenticates with bearer tokens only, never cookies, so CSRF does not apply to it.
    csrf.exempt(api_bp)
    for blueprint in (auth_bp, dashboard_bp, admin_bp, api_bp, files_bp, faces_bp):
        app.register_blueprint(blueprint)


def register_template_helpers(app: Flask) -> None:
    from webapp.templating import register_filters

    register_filters(app)


def register_commands(app: Flask) -> None:
    from webapp.auth.cli import tokens_cli, users_cli

    app.cli.add_command(users_cli)
    app.cli.add_command(tokens_cli)
