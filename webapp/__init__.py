"""Workbench: chat with AI models, keep files and photos, compare faces, review the history."""

from __future__ import annotations

from importlib import import_module
from typing import Any

from flask import Flask, Response, flash, redirect, request, url_for
from sqlalchemy.engine import make_url
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
from webapp.units import MEGABYTE

# Every feature package, in order: each wires itself in its `init_app(app)` (blueprints, dashboard card, activity
# source, CLI group, template filters, adapters). The order is the order of the dashboard's cards and chart.
FEATURES = (
    "auth",
    "dashboard",
    "admin",
    "chat",
    "projects",
    "prompts",
    "sharing",
    "files",
    "attachments",
    "faces",
    "people",
    "imports",
    "api",
    "review",
    "gateway",
    "governance",
    "usage",
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
        app.config["MAX_CONTENT_LENGTH"] = app.config["MAX_UPLOAD_MB"] * MEGABYTE
    app.config["WORKBENCH_ENV"] = settings["ENV_NAME"]

    if app.config["TRUSTED_PROXIES"]:
        count = app.config["TRUSTED_PROXIES"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=count, x_proto=count, x_host=count)  # type: ignore[method-assign]

    from webapp.middleware import configure_logging, register_request_hooks

    configure_logging(app)
    # Request hooks first: the request id must exist before any extension (CSRF) can reject the request.
    register_request_hooks(app)
    init_extensions(app)
    # Before any feature registers its blueprints: every <int:id> in a URL then stops at what an id column holds.
    from webapp.bounds import DatabaseIdConverter

    app.url_map.converters["int"] = DatabaseIdConverter

    from webapp.errors import register_error_handlers
    from webapp.templating import register_filters

    register_error_handlers(app)
    register_filters(app)
    init_features(app)
    return app


def init_extensions(app: Flask) -> None:
    import webapp.models
    from webapp.auth import service as auth_service

    # instance/workbench.db holds password hashes and everyone's conversations: the owner's only.
    create_private_sqlite_file(app.config["SQLALCHEMY_DATABASE_URI"])
    db.init_app(app)
    release_sessions_safely(app)
    migrate.init_app(
        app,
        db,
        directory=str(BASE_DIR / "migrations"),
        render_as_batch=True,
        include_name=webapp.models.include_name,
        include_object=webapp.models.include_object_on(
            make_url(app.config["SQLALCHEMY_DATABASE_URI"]).get_backend_name()
        ),
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
    for name in FEATURES:
        import_module(f"webapp.{name}").init_app(app)
