"""`flask users ...` and `flask tokens ...` through Flask's CLI runner."""

from tests.support.web import bearer
from webapp.auth import service as users


def test_users_create_and_list(app):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["users", "create", "Lee@Example.com", "--name", "Lee", "--password", "long enough pw"])
    assert result.exit_code == 0, result.output
    assert "Created staff lee@example.com" in result.output
    result = runner.invoke(
        args=["users", "create", "boss@example.com", "--name", "Boss", "--password", "long enough pw", "--admin"]
    )
    assert "Created admin" in result.output
    listing = runner.invoke(args=["users", "list"]).output
    assert "lee@example.com\tLee\tstaff\tactive" in listing and "boss@example.com\tBoss\tadmin\tactive" in listing


def test_users_create_refuses_a_duplicate_with_a_message(app, staff):
    result = app.test_cli_runner().invoke(
        args=["users", "create", staff.email, "--name", "X", "--password", "long enough pw"]
    )
    assert result.exit_code != 0 and "already exists" in result.output


def test_tokens_create_prints_a_working_token_once(app, staff):
    result = app.test_cli_runner().invoke(args=["tokens", "create", staff.email, "--name", "backup script"])
    assert result.exit_code == 0, result.output
    token = result.output.strip()
    assert app.test_client().get("/api/me", headers=bearer(token)).get_json()["email"] == staff.email


def test_ensure_admin_creates_the_first_admin_with_a_printed_password_only_once(app):
    runner = app.test_cli_runner()
    app.config["ADMIN_PASSWORD"] = ""
    result = runner.invoke(args=["users", "ensure-admin"])
    assert "Created the first admin: admin@example.com" in result.output
    password = result.output.split("shown only this once): ")[1].strip()
    with app.app_context():
        assert users.authenticate("admin@example.com", password).role == "admin"
    again = runner.invoke(args=["users", "ensure-admin"])
    assert again.exit_code == 0 and again.output == ""


def test_ensure_admin_uses_the_configured_email_and_password(app):
    app.config.update(ADMIN_EMAIL="chief@example.com", ADMIN_PASSWORD="configured password")
    result = app.test_cli_runner().invoke(args=["users", "ensure-admin"])
    assert "chief@example.com" in result.output and "shown only this once" not in result.output
    with app.app_context():
        assert users.authenticate("chief@example.com", "configured password") is not None
