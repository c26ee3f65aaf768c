"""Settings: environments, .env, embedded defaults and refusals."""
import os
import subprocess
import sys
from pathlib import Path

from config import DevelopmentConfig, ProductionConfig, load_config, normalize_database_url

ROOT = Path(__file__).resolve().parents[2]


def run_python(code: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    clean = {key: value for key, value in os.environ.items() if key not in {"SECRET_KEY", "WORKBENCH_ENV", "DATABASE_URL"}}
    clean.update(env)
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=60)


def test_production_refuses_to_start_without_a_secret_key(tmp_path):
    result = run_python("from webapp import create_app; create_app()", {
        "WORKBENCH_ENV": "production", "WORKBENCH_DOTENV": str(tmp_path / "none.env"),
    })
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "SECRET_KEY is not set" in lines[0] and "Traceback" not in result.stderr


def test_production_starts_with_a_secret_key(tmp_path):
    result = run_python("from webapp import create_app; print(create_app().config['WORKBENCH_ENV'])", {
        "WORKBENCH_ENV": "production", "SECRET_KEY": "s" * 64, "INSTANCE_DIR": str(tmp_path),
        "WORKBENCH_DOTENV": str(tmp_path / "none.env"),
    })
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
    assert config.SQLALCHEMY_DATABASE_URI == f"sqlite:///{tmp_path / 'workbench.db'}"
    assert config.UPLOAD_DIR == tmp_path / "uploads"


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
        "from webapp import create_app; a = create_app('testing'); print(a.config['PAGE_SIZE'], a.config['MAX_CONTENT_LENGTH'])",
        {"WORKBENCH_DOTENV": str(dotenv)},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["7", str(3 * 1024 * 1024)]


def test_a_wrong_environment_name_is_refused_in_one_line(tmp_path):
    result = run_python("from webapp import create_app; create_app()", {
        "WORKBENCH_ENV": "staging", "WORKBENCH_DOTENV": str(tmp_path / "none.env"),
    })
    assert result.returncode != 0 and "WORKBENCH_ENV must be one of" in result.stderr
