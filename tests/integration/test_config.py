"""Settings: environments, .env, embedded defaults and refusals."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from config import (
    TESTING_SECRET_KEY,
    ConfigError,
    DevelopmentConfig,
    ProductionConfig,
    load_config,
    normalize_database_url,
)
from tests.support.settings import PRODUCTION_CHECKED, PRODUCTION_DATABASE_URL, production_environment

ROOT = Path(__file__).resolve().parents[2]


def run_python(code: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    clean = {
        key: value
        for key, value in os.environ.items()
        if key not in {"SECRET_KEY", "WORKBENCH_ENV", "DATABASE_URL", *PRODUCTION_CHECKED}
    }
    clean.update(env)
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=60)


def test_production_refuses_to_start_without_a_secret_key(tmp_path):
    result = run_python(
        "from webapp import create_app; create_app()",
        {
            "WORKBENCH_ENV": "production",
            "WORKBENCH_DOTENV": str(tmp_path / "none.env"),
        },
    )
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "SECRET_KEY is not set" in lines[0] and "Traceback" not in result.stderr
    # Every problem in the same line: the default SQLite database is refused too.
    assert "set DATABASE_URL=postgresql://" in lines[0]


def test_production_starts_with_a_secret_key_and_postgresql(tmp_path):
    # Building the app opens no connection, so the database need not exist.
    result = run_python(
        "from webapp import create_app; print(create_app().config['WORKBENCH_ENV'])",
        {
            "WORKBENCH_ENV": "production",
            "SECRET_KEY": "s" * 64,
            "INSTANCE_DIR": str(tmp_path),
            "DATABASE_URL": PRODUCTION_DATABASE_URL,
            "WORKBENCH_DOTENV": str(tmp_path / "none.env"),
        },
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "production"


def test_development_generates_a_secret_key_once_and_keeps_it(tmp_path, monkeypatch):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.setenv("INSTANCE_DIR", str(tmp_path))
    first = DevelopmentConfig().SECRET_KEY
    second = DevelopmentConfig().SECRET_KEY
    assert len(first) == 64 and first == second
    assert (tmp_path / "secret_key").read_text().strip() == first
    assert (tmp_path / "secret_key").stat().st_mode & 0o777 == 0o600


def test_embedded_defaults_use_sqlite_and_local_uploads_in_instance(tmp_path, monkeypatch):
    for name in ("DATABASE_URL", "UPLOAD_DIR", "WORKBENCH_ENV"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("INSTANCE_DIR", str(tmp_path))
    config = load_config()
    assert config.ENV_NAME == "development"
    assert f"sqlite:///{tmp_path / 'workbench.db'}" == config.SQLALCHEMY_DATABASE_URI
    assert tmp_path / "uploads" == config.UPLOAD_DIR


def test_database_url_switches_to_postgresql(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgres://app@db.internal:5432/workbench")
    monkeypatch.setenv("SECRET_KEY", "x")
    config = ProductionConfig()
    assert config.SQLALCHEMY_DATABASE_URI == "postgresql+psycopg://app@db.internal:5432/workbench"
    assert normalize_database_url("postgresql://a@b/c") == "postgresql+psycopg://a@b/c"


def test_values_come_from_a_dotenv_file(tmp_path):
    dotenv = tmp_path / "test.env"
    dotenv.write_text("PAGE_SIZE=7\nMAX_UPLOAD_MB=3\n")
    result = run_python(
        "from webapp import create_app; a = create_app('testing'); "
        "print(a.config['PAGE_SIZE'], a.config['MAX_CONTENT_LENGTH'])",
        {"WORKBENCH_DOTENV": str(dotenv)},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["7", str(3 * 1024 * 1024)]


def test_a_wrong_environment_name_is_refused_in_one_line(tmp_path):
    result = run_python(
        "from webapp import create_app; create_app()",
        {
            "WORKBENCH_ENV": "staging",
            "WORKBENCH_DOTENV": str(tmp_path / "none.env"),
        },
    )
    assert result.returncode != 0 and "WORKBENCH_ENV must be one of" in result.stderr


def refusal(monkeypatch: pytest.MonkeyPatch, **env: str) -> str:
    """The one-line message production refuses to start with, under the production environment plus `env`."""
    production_environment(monkeypatch, **env)
    with pytest.raises(ConfigError) as refused:
        load_config("production")
    message = str(refused.value.code)
    assert "\n" not in message
    return message


def test_production_with_every_setting_right_starts(monkeypatch):
    production_environment(monkeypatch)
    config = load_config("production")
    assert config.SQLALCHEMY_DATABASE_URI.startswith("postgresql+psycopg://") and config.WORKBENCH_SERVERS == 1


def test_production_refuses_sqlite_and_says_to_set_a_postgresql_url(monkeypatch, tmp_path):
    message = refusal(monkeypatch, DATABASE_URL=f"sqlite:///{tmp_path / 'app.db'}")
    assert message == (
        "workbench: production refuses to start: DATABASE_URL is SQLite (the default); "
        "set DATABASE_URL=postgresql://USER:PASSWORD@HOST/DATABASE"
    )


def test_production_refuses_the_default_sqlite_database_when_database_url_is_unset(monkeypatch):
    production_environment(monkeypatch)
    monkeypatch.delenv("DATABASE_URL")
    with pytest.raises(ConfigError, match="DATABASE_URL is SQLite"):
        load_config("production")


def test_sqlite_said_out_loud_runs_one_server_but_never_several(monkeypatch, tmp_path):
    sqlite = {"DATABASE_URL": f"sqlite:///{tmp_path / 'app.db'}", "ALLOW_SQLITE_IN_PRODUCTION": "1"}
    production_environment(monkeypatch, **sqlite)
    assert load_config("production").SQLALCHEMY_DATABASE_URI.startswith("sqlite")
    message = refusal(
        monkeypatch,
        **sqlite,
        WORKBENCH_SERVERS="2",
        STORAGE_BACKEND="s3",
        S3_BUCKET_NAME="files",
        RATELIMIT_STORAGE_URI="redis://cache:6379/0",
    )
    assert "DATABASE_URL is SQLite, a file only one server can use, with WORKBENCH_SERVERS=2" in message
    assert message.endswith("set DATABASE_URL=postgresql://USER:PASSWORD@HOST/DATABASE")


@pytest.mark.parametrize("secret", [TESTING_SECRET_KEY, "change-me", "CHANGEME"])
def test_production_refuses_a_known_default_secret(monkeypatch, secret):
    message = refusal(monkeypatch, SECRET_KEY=secret)
    assert "SECRET_KEY is a known default or placeholder; set it to a random value" in message
    assert "secrets.token_hex(32)" in message


def test_production_refuses_a_short_secret(monkeypatch):
    message = refusal(monkeypatch, SECRET_KEY="k3y-Of-20-characters")
    assert "SECRET_KEY is 20 characters long; set at least 32 random characters" in message


def test_production_refuses_local_storage_with_several_servers(monkeypatch):
    message = refusal(
        monkeypatch, WORKBENCH_SERVERS="2", STORAGE_BACKEND="local", RATELIMIT_STORAGE_URI="redis://cache:6379/0"
    )
    assert message == (
        "workbench: production refuses to start: STORAGE_BACKEND is local with WORKBENCH_SERVERS=2, "
        "so each server would see only its own uploads; set STORAGE_BACKEND=s3 and S3_BUCKET_NAME"
    )


def test_production_refuses_sign_in_throttle_in_memory_with_several_servers(monkeypatch):
    message = refusal(monkeypatch, WORKBENCH_SERVERS="3", STORAGE_BACKEND="s3", S3_BUCKET_NAME="files")
    assert "RATELIMIT_STORAGE_URI is memory:// with WORKBENCH_SERVERS=3" in message
    assert message.endswith("set RATELIMIT_STORAGE_URI=redis://HOST:6379/0")


def test_production_refuses_sign_in_throttle_in_memory_with_several_workers(monkeypatch):
    message = refusal(monkeypatch, WEB_CONCURRENCY="2")
    assert message == (
        "workbench: production refuses to start: RATELIMIT_STORAGE_URI is memory:// with WEB_CONCURRENCY=2 "
        "gunicorn workers, so each worker counts wrong passwords apart; set RATELIMIT_STORAGE_URI=redis://HOST:6379/0 "
        "(or run one worker)"
    )


def test_one_worker_counts_in_memory_and_several_workers_in_redis(monkeypatch):
    production_environment(monkeypatch)
    assert load_config("production").WEB_CONCURRENCY == 1
    production_environment(monkeypatch, WEB_CONCURRENCY="4", RATELIMIT_STORAGE_URI="redis://cache:6379/0")
    assert load_config("production").WEB_CONCURRENCY == 4


def test_several_servers_start_with_postgresql_s3_and_redis(monkeypatch):
    production_environment(
        monkeypatch,
        WORKBENCH_SERVERS="2",
        STORAGE_BACKEND="s3",
        S3_BUCKET_NAME="files",
        RATELIMIT_STORAGE_URI="redis://cache:6379/0",
    )
    assert load_config("production").WORKBENCH_SERVERS == 2


def test_local_storage_stays_fine_for_one_server(monkeypatch):
    production_environment(monkeypatch, STORAGE_BACKEND="local")
    assert load_config("production").STORAGE_BACKEND == "local"


@pytest.mark.parametrize(
    "servers, expected",
    [("0", "WORKBENCH_SERVERS must be 1 or more"), ("two", "WORKBENCH_SERVERS must be a whole number")],
)
def test_a_wrong_server_count_is_refused(monkeypatch, servers, expected):
    production_environment(monkeypatch, WORKBENCH_SERVERS=servers)
    with pytest.raises(ConfigError, match=expected):
        load_config("production")


def test_every_refusal_of_a_misconfigured_cluster_comes_in_one_line(tmp_path):
    result = run_python(
        "from webapp import create_app; create_app()",
        {
            "WORKBENCH_ENV": "production",
            "SECRET_KEY": "short",
            "WORKBENCH_SERVERS": "2",
            "STORAGE_BACKEND": "local",
            "INSTANCE_DIR": str(tmp_path),
            "WORKBENCH_DOTENV": str(tmp_path / "none.env"),
        },
    )
    assert result.returncode != 0 and "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for problem in (
        "SECRET_KEY is 5 characters long",
        "DATABASE_URL is SQLite, a file only one server can use",
        "STORAGE_BACKEND is local with WORKBENCH_SERVERS=2",
        "RATELIMIT_STORAGE_URI is memory://",
    ):
        assert problem in lines[0]
