"""Settings classes for Workbench.

Values come from the environment (and `.env`, loaded by `create_app` through python-dotenv) and fall back to
embedded defaults that need nothing installed: SQLite under `instance/`, uploads on local disk.
Each class reads the environment when it is instantiated, never at import time, so tests and tools can set
variables before building an app. Every setting is listed in the README's settings table.
"""

from __future__ import annotations

import os
import secrets
from datetime import timedelta
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent
INSTANCE_DIR = BASE_DIR / "instance"


# What uploads may be, by content (see webapp/files/inspection.py); HEIC/HEIF only where pillow-heif decodes them.
DEFAULT_UPLOAD_TYPES = (
    "image/jpeg",
    "image/png",
    "image/webp",
    "image/gif",
    "image/heic",
    "image/heif",
    "application/pdf",
    "text/plain",
    "text/csv",
)


# The key the testing settings fall back to, and placeholders people paste from examples: never a production key.
TESTING_SECRET_KEY = "testing-secret-key-not-for-production"
KNOWN_DEFAULT_SECRETS = frozenset(
    {
        TESTING_SECRET_KEY,
        "secret",
        "secret-key",
        "secret_key",
        "change-me",
        "changeme",
        "change-this",
        "dev",
        "development",
        "your-secret-key",
        "please-change-me",
    }
)
# The longest an API token may be made for: ten years.
MAX_API_TOKEN_DAYS = 3650
# Shortest SECRET_KEY production accepts: 32 characters (the suggested generator prints 64 hex digits).
MIN_SECRET_KEY_LENGTH = 32
GENERATE_SECRET_HINT = "generate one with: python -c 'import secrets; print(secrets.token_hex(32))'"


class ConfigError(SystemExit):
    """A setting is missing or wrong: the app refuses to start with a one-line message (no traceback)."""

    def __init__(self, message: str) -> None:
        super().__init__(f"workbench: {message}")


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default).strip()


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, not {raw!r}") from None


def env_optional_int(name: str) -> int | None:
    """A whole number, or None when the variable is unset or blank."""
    if not os.environ.get(name, "").strip():
        return None
    return env_int(name, 0)


def env_float(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, not {raw!r}") from None


def env_list(name: str, default: tuple[str, ...]) -> tuple[str, ...]:
    """A comma-separated list ("image/jpeg, image/png"); empty or unset gives `default`."""
    raw = os.environ.get(name, "")
    items = tuple(item.strip().lower() for item in raw.split(",") if item.strip())
    return items or default


def env_optional_float(name: str) -> float | None:
    """A number when the variable is set, None when it is empty or unset."""
    raw = os.environ.get(name, "").strip()
    return env_float(name, 0.0) if raw else None


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name, "").strip().lower()
    if not raw:
        return default
    return raw in {"1", "true", "yes", "on"}


def normalize_database_url(url: str) -> str:
    """Accept the `postgres://` and `postgresql://` forms hosting providers hand out; use psycopg 3."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def development_secret_key(instance_dir: Path) -> str:
    """Generate a secret key once and keep it in `instance/secret_key`, so sessions survive restarts."""
    path = instance_dir / "secret_key"
    if not path.exists():
        instance_dir.mkdir(parents=True, exist_ok=True)
        try:
            # O_EXCL: two workers starting at once must not each write a different key.
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_hex(32))
    return path.read_text().strip()


class BaseConfig:
    """Settings shared by every environment."""

    ENV_NAME = "base"
    DEBUG = False
    TESTING = False

    def __init__(self) -> None:
        self.INSTANCE_DIR = Path(env_str("INSTANCE_DIR") or INSTANCE_DIR)
        self.SECRET_KEY = env_str("SECRET_KEY")

        # Persistence: SQLite in instance/ unless DATABASE_URL points elsewhere (PostgreSQL in production).
        default_db = f"sqlite:///{self.INSTANCE_DIR / 'workbench.db'}"
        self.SQLALCHEMY_DATABASE_URI = normalize_database_url(env_str("DATABASE_URL") or default_db)
        self.SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True}
        self.DATABASE_CONNECT_TIMEOUT = env_int("DATABASE_CONNECT_TIMEOUT", 5)
        if self.SQLALCHEMY_DATABASE_URI.startswith("postgresql"):
            self.SQLALCHEMY_ENGINE_OPTIONS["connect_args"] = {"connect_timeout": self.DATABASE_CONNECT_TIMEOUT}

        # Files: where they are kept (local disk or S3), what is accepted, how large.
        self.STORAGE_BACKEND = env_str("STORAGE_BACKEND", "local").lower()
        self.UPLOAD_DIR = Path(env_str("UPLOAD_DIR") or self.INSTANCE_DIR / "uploads")
        # S3 only: where uploads are spooled before going to the bucket (not /tmp, often memory-backed).
        self.UPLOAD_TEMP_DIR = Path(env_str("UPLOAD_TEMP_DIR") or self.INSTANCE_DIR / "upload-tmp")
        self.S3_BUCKET_NAME = env_str("S3_BUCKET_NAME")
        self.AWS_REGION = env_str("AWS_REGION") or env_str("AWS_DEFAULT_REGION") or "us-east-1"
        self.S3_ENDPOINT_URL = env_str("S3_ENDPOINT_URL")
        self.S3_PRESIGN_SECONDS = env_int("S3_PRESIGN_SECONDS", 300)
        self.S3_MULTIPART_THRESHOLD_MB = env_int("S3_MULTIPART_THRESHOLD_MB", 8)
        self.S3_CONNECT_TIMEOUT = env_float("S3_CONNECT_TIMEOUT", 5)
        self.S3_READ_TIMEOUT = env_float("S3_READ_TIMEOUT", 30)
        self.S3_MAX_ATTEMPTS = env_int("S3_MAX_ATTEMPTS", 3)
        self.MAX_UPLOAD_MB = env_int("MAX_UPLOAD_MB", 50)  # per file
        self.MAX_FILES_PER_UPLOAD = env_int("MAX_FILES_PER_UPLOAD", 10)  # per request (a plain form post)
        self.ALLOWED_UPLOAD_TYPES = env_list("ALLOWED_UPLOAD_TYPES", DEFAULT_UPLOAD_TYPES)
        # Decompression bombs: an image with more pixels is refused from its header, before decoding.
        # 50 megapixels takes any phone or camera photo (48 MP sensors) and caps decoding memory near 200 MB.
        self.MAX_IMAGE_PIXELS = env_int("MAX_IMAGE_PIXELS", 50_000_000)
        self.THUMBNAIL_SIZE = env_int("THUMBNAIL_SIZE", 320)
        self.FILES_PAGE_SIZE = env_int("FILES_PAGE_SIZE", 24)

        # Faces: DeepFace offline (see bench/FACES_NOTES.md for how the defaults were measured).
        self.FACE_MODEL = env_str("FACE_MODEL", "Dlib")
        self.FACE_DETECTOR = env_str("FACE_DETECTOR", "dlib")
        self.FACE_MAX_SIDE = env_int("FACE_MAX_SIDE", 640)
        self.FACE_THRESHOLD = env_optional_float("FACE_THRESHOLD")
        self.FACE_ANALYZER = env_str("FACE_ANALYZER", "offline").lower()
        self.DEEPFACE_HOME = Path(env_str("DEEPFACE_HOME") or self.INSTANCE_DIR / "deepface")
        self.FACE_WARMUP = env_bool("FACE_WARMUP", False)
        # A queued job not finished after this many seconds is marked failed (its worker may have died).
        self.FACE_JOB_TIMEOUT = env_int("FACE_JOB_TIMEOUT", 300)
        self.FACE_PICKER_SIZE = env_int("FACE_PICKER_SIZE", 24)
        # Celery: unset runs face jobs inline in the request; set (redis://...) sends them to `make worker`.
        self.CELERY_BROKER_URL = env_str("CELERY_BROKER_URL")
        self.FACE_QUEUE = env_str("FACE_QUEUE", "faces")

        # Sign-in and sessions
        self.SESSION_COOKIE_HTTPONLY = True
        self.SESSION_COOKIE_SAMESITE = "Lax"
        self.SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", False)
        self.REMEMBER_COOKIE_HTTPONLY = True
        self.REMEMBER_COOKIE_SAMESITE = "Lax"
        self.REMEMBER_COOKIE_SECURE = self.SESSION_COOKIE_SECURE
        # Both cookies belong to this host only: no Domain, Path=/ (what a __Host- name requires, see production).
        self.SESSION_COOKIE_DOMAIN = None
        self.SESSION_COOKIE_PATH = "/"
        self.REMEMBER_COOKIE_DOMAIN = None
        self.REMEMBER_COOKIE_PATH = "/"
        # Strict-Transport-Security max-age in seconds; 0 sends no header (production turns it on).
        self.HSTS_SECONDS = env_int("HSTS_SECONDS", 0)
        self.REMEMBER_COOKIE_DURATION = timedelta(days=env_int("REMEMBER_DAYS", 14))
        self.PERMANENT_SESSION_LIFETIME = timedelta(hours=env_int("SESSION_HOURS", 12))
        # scrypt never truncates a password (unlike bcrypt's 72 bytes). Werkzeug's default cost is used.
        self.PASSWORD_HASH_METHOD = env_str("PASSWORD_HASH_METHOD", "scrypt")
        self.PASSWORD_MIN_LENGTH = env_int("PASSWORD_MIN_LENGTH", 10)
        # API tokens stop working this many days after they are made (the CLI's --days chooses per token).
        self.API_TOKEN_DAYS = env_int("API_TOKEN_DAYS", 90)
        if not 1 <= self.API_TOKEN_DAYS <= MAX_API_TOKEN_DAYS:
            raise ConfigError(f"API_TOKEN_DAYS must be between 1 and {MAX_API_TOKEN_DAYS}, not {self.API_TOKEN_DAYS}")
        self.ADMIN_EMAIL = env_str("ADMIN_EMAIL", "admin@example.com")
        self.ADMIN_PASSWORD = env_str("ADMIN_PASSWORD")

        # Throttling of wrong passwords (sign-in, password change, token creation; Flask-Limiter): per address and
        # per (email, address) at the first limit, per email at the looser second, so one address cannot lock
        # out a colleague.
        self.LOGIN_FAILURE_LIMIT = env_str("LOGIN_FAILURE_LIMIT", "10 per minute")
        self.LOGIN_EMAIL_FAILURE_LIMIT = env_str("LOGIN_EMAIL_FAILURE_LIMIT", "100 per hour")
        self.RATELIMIT_STORAGE_URI = env_str("RATELIMIT_STORAGE_URI", "memory://")
        self.RATELIMIT_HEADERS_ENABLED = True
        # gunicorn workers of this server: gunicorn's own setting (its default when --workers is not given), and
        # gunicorn.conf.py sets it to the number actually started. memory:// counts apart in each of them.
        self.WEB_CONCURRENCY = env_int("WEB_CONCURRENCY", 1)
        self.TRUSTED_PROXIES = env_int("TRUSTED_PROXIES", 0)

        # Scale-out: how many app servers (machines or gunicorn masters behind one load balancer) share this
        # database and file store. Production refuses what only works on one server when it is more than 1.
        self.WORKBENCH_SERVERS = env_int("WORKBENCH_SERVERS", 1)
        # A single-server trial or benchmark on SQLite in production settings, said out loud (never with servers > 1).
        self.ALLOW_SQLITE_IN_PRODUCTION = env_bool("ALLOW_SQLITE_IN_PRODUCTION", False)

        # CSRF tokens live as long as the session, so a page left open for hours still submits.
        self.WTF_CSRF_TIME_LIMIT = None
        self.WTF_CSRF_SSL_STRICT = True

        # Chat: model services. Nothing set means no provider, and the chat page says how to configure one.
        self.OPENAI_API_KEY = env_str("OPENAI_API_KEY")
        # Any OpenAI-compatible server: Ollama (http://127.0.0.1:11434/v1), llama.cpp's server, vLLM, LiteLLM.
        self.OPENAI_BASE_URL = env_str("OPENAI_BASE_URL")
        self.OPENAI_MODELS = env_str("OPENAI_MODELS")
        self.OPENAI_PROVIDER_LABEL = env_str("OPENAI_PROVIDER_LABEL")
        self.BEDROCK_MODELS = env_str("BEDROCK_MODELS")
        self.AWS_REGION = env_str("AWS_REGION")
        self.BEDROCK_ENDPOINT_URL = env_str("BEDROCK_ENDPOINT_URL")
        self.CHAT_CONNECT_TIMEOUT = env_float("CHAT_CONNECT_TIMEOUT", 10.0)
        self.CHAT_READ_TIMEOUT = env_float("CHAT_READ_TIMEOUT", 60.0)
        self.CHAT_MAX_RETRIES = env_int("CHAT_MAX_RETRIES", 2)
        # A pending reply silent for longer than its model timeouts plus this many seconds is taken for dead (its
        # worker was killed) and shown interrupted when next read.
        self.CHAT_STALE_GRACE_SECONDS = env_float("CHAT_STALE_GRACE_SECONDS", 60.0)
        # What is sent to the model: the system prompt plus the newest turns that fit in this many characters.
        self.CHAT_CONTEXT_CHARS = env_int("CHAT_CONTEXT_CHARS", 60_000)
        self.CHAT_MAX_MESSAGE_CHARS = env_int("CHAT_MAX_MESSAGE_CHARS", 200_000)
        # Unset keeps conversations forever; `flask chat purge` deletes those idle for longer.
        self.CHAT_RETENTION_DAYS = env_optional_int("CHAT_RETENTION_DAYS")

        # Pages
        self.PAGE_SIZE = env_int("PAGE_SIZE", 50)
        # The dashboard's activity chart: this many UTC days, today included.
        self.DASHBOARD_DAYS = env_int("DASHBOARD_DAYS", 30)
        if not 1 <= self.DASHBOARD_DAYS <= 366:
            raise ConfigError(f"DASHBOARD_DAYS must be between 1 and 366, not {self.DASHBOARD_DAYS}")
        self.LOG_LEVEL = env_str("LOG_LEVEL", "INFO").upper()
        self.CONTENT_SECURITY_POLICY = {
            "default-src": "'self'",
            "script-src": "'self'",
            "style-src": "'self'",
            "img-src": "'self' data: blob:",
            "connect-src": "'self'",
            "frame-src": "'self'",
            "object-src": "'none'",  # no plugins; the PDF preview response allows its own viewer
            "form-action": "'self'",
            "base-uri": "'self'",
            "frame-ancestors": "'none'",
        }

    def validate(self) -> None:
        """Refuse settings that would make the app unsafe or broken; subclasses add their own rules."""


class DevelopmentConfig(BaseConfig):
    ENV_NAME = "development"
    DEBUG = True

    def __init__(self) -> None:
        super().__init__()
        if not self.SECRET_KEY:
            self.SECRET_KEY = development_secret_key(self.INSTANCE_DIR)


class TestingConfig(BaseConfig):
    ENV_NAME = "testing"
    TESTING = True

    def __init__(self) -> None:
        super().__init__()
        self.SECRET_KEY = self.SECRET_KEY or TESTING_SECRET_KEY
        self.SQLALCHEMY_DATABASE_URI = "sqlite://"
        # Same algorithm, lower cost: hundreds of test users are hashed per run.
        self.PASSWORD_HASH_METHOD = "scrypt:1024:8:1"
        self.RATELIMIT_STORAGE_URI = "memory://"
        # Tests choose their model services through overrides, never from the developer's environment.
        for name in (
            "OPENAI_API_KEY",
            "OPENAI_BASE_URL",
            "OPENAI_MODELS",
            "OPENAI_PROVIDER_LABEL",
            "BEDROCK_MODELS",
            "BEDROCK_ENDPOINT_URL",
        ):
            setattr(self, name, "")
        self.CHAT_RETENTION_DAYS = None


class ProductionConfig(BaseConfig):
    ENV_NAME = "production"

    def __init__(self) -> None:
        super().__init__()
        self.SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", True)
        self.REMEMBER_COOKIE_SECURE = self.SESSION_COOKIE_SECURE
        self.PREFERRED_URL_SCHEME = "https"
        if self.SESSION_COOKIE_SECURE:
            # Browsers keep a __Host- cookie only if it is Secure, Path=/ and has no Domain, so neither a
            # sibling subdomain nor plain http can set or overwrite it. Without Secure the prefix would be refused.
            self.SESSION_COOKIE_NAME = "__Host-session"
            self.REMEMBER_COOKIE_NAME = "__Host-remember_token"
        # HTTPS only for a year once a browser has seen the site over HTTPS (meaningless without it).
        self.HSTS_SECONDS = env_int("HSTS_SECONDS", 31_536_000 if self.SESSION_COOKIE_SECURE else 0)

    def validate(self) -> None:
        """Refuse to start with settings that only work on a developer's machine, saying what to set instead.

        Every problem found goes into the one line, so a deployment is fixed in one round."""
        problems = [problem for problem in (self.secret_key_problem(), *self.scale_out_problems()) if problem]
        if problems:
            raise ConfigError("production refuses to start: " + "; ".join(problems))

    def secret_key_problem(self) -> str | None:
        if not self.SECRET_KEY:
            return f"SECRET_KEY is not set; set it to a long random value ({GENERATE_SECRET_HINT})"
        if self.SECRET_KEY.lower() in KNOWN_DEFAULT_SECRETS:
            return f"SECRET_KEY is a known default or placeholder; set it to a random value ({GENERATE_SECRET_HINT})"
        if len(self.SECRET_KEY) < MIN_SECRET_KEY_LENGTH:
            return (
                f"SECRET_KEY is {len(self.SECRET_KEY)} characters long; set at least {MIN_SECRET_KEY_LENGTH} "
                f"random characters ({GENERATE_SECRET_HINT})"
            )
        return None

    def scale_out_problems(self) -> list[str]:
        servers = self.WORKBENCH_SERVERS
        if servers < 1:
            return [f"WORKBENCH_SERVERS must be 1 or more (the number of app servers), not {servers}"]
        problems = []
        if self.SQLALCHEMY_DATABASE_URI.startswith("sqlite"):
            if servers > 1:
                problems.append(
                    f"DATABASE_URL is SQLite, a file only one server can use, with WORKBENCH_SERVERS="
                    f"{servers}; set DATABASE_URL=postgresql://USER:PASSWORD@HOST/DATABASE"
                )
            elif not self.ALLOW_SQLITE_IN_PRODUCTION:
                problems.append(
                    "DATABASE_URL is SQLite (the default); set DATABASE_URL=postgresql://USER:PASSWORD@HOST/DATABASE"
                )
        if servers > 1 and self.STORAGE_BACKEND == "local":
            problems.append(
                f"STORAGE_BACKEND is local with WORKBENCH_SERVERS={servers}, so each server would "
                "see only its own uploads; set STORAGE_BACKEND=s3 and S3_BUCKET_NAME"
            )
        if servers > 1 and self.RATELIMIT_STORAGE_URI.startswith("memory"):
            problems.append(
                f"RATELIMIT_STORAGE_URI is memory:// with WORKBENCH_SERVERS={servers}, so each "
                "server counts failed sign-ins apart; set RATELIMIT_STORAGE_URI=redis://HOST:6379/0"
            )
        elif self.WEB_CONCURRENCY > 1 and self.RATELIMIT_STORAGE_URI.startswith("memory"):
            problems.append(
                f"RATELIMIT_STORAGE_URI is memory:// with WEB_CONCURRENCY={self.WEB_CONCURRENCY} gunicorn workers, "
                "so each worker counts wrong passwords apart; set RATELIMIT_STORAGE_URI=redis://HOST:6379/0 "
                "(or run one worker)"
            )
        return problems


CONFIGS: dict[str, type[BaseConfig]] = {
    "development": DevelopmentConfig,
    "testing": TestingConfig,
    "production": ProductionConfig,
}


def load_config(name: str | None = None) -> BaseConfig:
    """Build the settings object named by `name` or `WORKBENCH_ENV` (default: development)."""
    name = (name or env_str("WORKBENCH_ENV") or "development").lower()
    if name not in CONFIGS:
        raise ConfigError(f"WORKBENCH_ENV must be one of {', '.join(CONFIGS)}, not {name!r}")
    config = CONFIGS[name]()
    config.validate()
    return config
