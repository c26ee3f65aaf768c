"""Settings for Workbench: the one module that reads the environment.

Values come from the environment (and `.env`, which `load_config` reads through python-dotenv) and fall back to
embedded defaults that need nothing installed: SQLite under `instance/`, uploads on local disk. Every variable is
declared once in `SETTINGS` (its parser and default), and the README's settings table lists exactly those.
Each class reads the environment when it is instantiated, never at import time, so tests and tools can set
variables before building an app. The features turn the settings into typed objects for their adapters (chat
providers, file storage, the face engine), which never read the environment or default a value themselves.
"""

from __future__ import annotations

import math
import os
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from dotenv import load_dotenv

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
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
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


# --- how a setting's text becomes a value ---------------------------------------------------------------------
# Each parser takes the stripped, non-empty text of a variable and returns its value, or raises ValueError with
# what the value must be ("must be a whole number"); `Setting.read` turns that into a one-line ConfigError.

Parser = Callable[[str], Any]


def text(raw: str) -> str:
    return raw


def lowered(raw: str) -> str:
    return raw.lower()


def uppered(raw: str) -> str:
    return raw.upper()


def path(raw: str) -> Path:
    return Path(raw)


def flag(raw: str) -> bool:
    return raw.lower() in {"1", "true", "yes", "on"}


def on_off(raw: str) -> bool:
    """A switch written on or off (true/false, yes/no, 1/0 too); anything else is refused, not read as off."""
    value = raw.lower()
    if value in {"on", "true", "yes", "1"}:
        return True
    if value in {"off", "false", "no", "0"}:
        return False
    raise ValueError("must be 'on' or 'off'")


def whole(minimum: int | None = None, maximum: int | None = None) -> Parser:
    def parse(raw: str) -> int:
        try:
            value = int(raw)
        except ValueError:
            raise ValueError("must be a whole number") from None
        if minimum is not None and maximum is not None and not minimum <= value <= maximum:
            raise ValueError(f"must be between {minimum} and {maximum}")
        if minimum is not None and value < minimum:
            raise ValueError(f"must be {minimum} or more")
        return value

    return parse


def number(above: float | None = None) -> Parser:
    """A finite number, more than `above` when given (a timeout of 0 s would fail every request)."""

    def parse(raw: str) -> float:
        try:
            value = float(raw)
        except ValueError:
            raise ValueError("must be a number") from None
        if not math.isfinite(value):
            raise ValueError("must be a finite number")
        if above is not None and value <= above:
            raise ValueError(f"must be more than {above:g}")
        return value

    return parse


def choice(*options: str) -> Parser:
    def parse(raw: str) -> str:
        value = raw.lower()
        if value not in options:
            raise ValueError("must be " + " or ".join(repr(option) for option in options))
        return value

    return parse


def names(raw: str) -> tuple[str, ...]:
    """A comma-separated list of names ("gpt-4o-mini, gpt-4o"), blanks and repeats dropped, order kept."""
    return tuple(dict.fromkeys(item.strip() for item in raw.split(",") if item.strip()))


def content_types(raw: str) -> tuple[str, ...]:
    """A comma-separated list of content types ("image/jpeg, image/png"), lower case."""
    return tuple(item.strip().lower() for item in raw.split(",") if item.strip())


def normalize_database_url(url: str) -> str:
    """Accept the `postgres://` and `postgresql://` forms hosting providers hand out; use psycopg 3."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


@dataclass(frozen=True)
class Setting:
    """One environment variable Workbench reads: how its text becomes a value, and the value when it is unset.

    A default of None means "worked out in BaseConfig" (from another setting) or "none" where None is a value."""

    name: str
    parse: Parser
    default: Any = None

    def read(self, raw: str | None) -> Any:
        """The value of `raw` (the variable's text), the default when it is unset or blank."""
        raw = (raw or "").strip()
        if not raw:
            return self.default
        try:
            return self.parse(raw)
        except ValueError as error:
            raise ConfigError(f"{self.name} {error}, not {raw!r}") from None


# Every environment variable the app reads, declared once: `read` refuses a name missing here, and the README's
# settings table is checked against this list (tests/integration/test_settings_table.py).
SETTINGS: dict[str, Setting] = {
    setting.name: setting
    for setting in (
        Setting("WORKBENCH_ENV", lowered, "development"),
        Setting("WORKBENCH_DOTENV", path, BASE_DIR / ".env"),
        Setting("SECRET_KEY", text, ""),
        Setting("WORKBENCH_SERVERS", whole(), 1),
        Setting("ALLOW_SQLITE_IN_PRODUCTION", flag, False),
        Setting("INSTANCE_DIR", path, INSTANCE_DIR),
        Setting("DATABASE_URL", normalize_database_url),  # None: SQLite in INSTANCE_DIR
        Setting("DATABASE_CONNECT_TIMEOUT", whole(), 5),
        # Files
        Setting("STORAGE_BACKEND", choice("local", "s3"), "local"),
        Setting("UPLOAD_DIR", path),  # None: INSTANCE_DIR/uploads
        Setting("UPLOAD_TEMP_DIR", path),  # None: INSTANCE_DIR/upload-tmp
        Setting("MAX_UPLOAD_MB", whole(), 50),
        Setting("MAX_FILES_PER_UPLOAD", whole(), 10),
        Setting("ALLOWED_UPLOAD_TYPES", content_types, DEFAULT_UPLOAD_TYPES),
        Setting("MAX_IMAGE_PIXELS", whole(minimum=1), 50_000_000),
        Setting("IMAGE_DECODE_CONCURRENCY", whole(minimum=1), 2),
        Setting("IMAGE_DECODE_WAIT_SECONDS", number(above=0), 60.0),
        Setting("THUMBNAIL_SIZE", whole(), 320),
        Setting("FILES_PAGE_SIZE", whole(), 24),
        Setting("S3_BUCKET_NAME", text, ""),
        Setting("S3_REGION", text),  # None: AWS_REGION, then AWS_DEFAULT_REGION, then boto3's own chain
        Setting("S3_ENDPOINT_URL", text, ""),
        Setting("S3_PRESIGN_SECONDS", whole(minimum=1), 300),
        Setting("S3_MULTIPART_THRESHOLD_MB", whole(minimum=1), 8),
        Setting("S3_CONNECT_TIMEOUT", number(above=0), 5.0),
        Setting("S3_READ_TIMEOUT", number(above=0), 30.0),
        Setting("S3_MAX_ATTEMPTS", whole(minimum=1), 3),
        # The region both AWS services fall back to, as the AWS tools read it.
        Setting("AWS_REGION", text),
        Setting("AWS_DEFAULT_REGION", text),
        # Faces
        Setting("FACE_MODEL", text, "Dlib"),
        Setting("FACE_DETECTOR", text, "dlib"),
        Setting("FACE_MAX_SIDE", whole(), 640),  # 0: full size
        Setting("FACE_THRESHOLD", number()),  # None: DeepFace's own for the model
        Setting("FACE_ANALYZER", lowered, "offline"),
        Setting("DEEPFACE_HOME", path),  # None: INSTANCE_DIR/deepface
        Setting("DEEPFACE_BACKEND_ENGINE", lowered, "onnx"),
        Setting("FACE_WARMUP", flag, False),
        Setting("FACE_JOB_TIMEOUT", whole(), 300),
        Setting("FACE_PICKER_SIZE", whole(), 24),
        Setting("CELERY_BROKER_URL", text, ""),
        Setting("FACE_QUEUE", text, "faces"),
        Setting("FACE_INDEX_ON_UPLOAD", flag, True),
        Setting("FACE_EMBEDDING_RETENTION_DAYS", whole()),  # None: keep face embeddings
        # Sign-in and sessions
        Setting("SESSION_COOKIE_SECURE", flag),  # None: off, on in production
        Setting("HSTS_SECONDS", whole()),  # None: 0, a year in production with secure cookies
        Setting("REMEMBER_DAYS", whole(), 14),
        Setting("SESSION_HOURS", whole(), 12),
        Setting("PASSWORD_HASH_METHOD", text, "scrypt"),
        Setting("PASSWORD_MIN_LENGTH", whole(), 10),
        Setting("API_TOKEN_DAYS", whole(minimum=1, maximum=MAX_API_TOKEN_DAYS), 90),
        Setting("ADMIN_REVIEW_NOTIFY", flag, True),
        Setting("PASSWORD_LOGIN", on_off, True),
        Setting("OIDC_ISSUER", text, ""),  # empty: no company sign-in
        Setting("OIDC_CLIENT_ID", text, ""),
        Setting("OIDC_CLIENT_SECRET", text, ""),
        Setting("OIDC_SCOPES", text, "openid email profile"),
        Setting("OIDC_GROUPS_CLAIM", text, "groups"),
        Setting("OIDC_ADMIN_GROUP", text, ""),  # empty: roles are managed in Workbench
        Setting("OIDC_DEFAULT_GROUP", text, ""),  # empty: new company accounts join no group
        Setting("ADMIN_EMAIL", text, "admin@example.com"),
        Setting("ADMIN_PASSWORD", text, ""),
        Setting("LOGIN_FAILURE_LIMIT", text, "10 per minute"),
        Setting("LOGIN_EMAIL_FAILURE_LIMIT", text, "100 per hour"),
        Setting("RATELIMIT_STORAGE_URI", text, "memory://"),
        Setting("WEB_CONCURRENCY", whole(minimum=1), 1),
        Setting("TRUSTED_PROXIES", whole(), 0),
        # Chat
        Setting("OPENAI_API_KEY", text, ""),
        Setting("OPENAI_BASE_URL", text, ""),  # empty: OpenAI's own
        Setting("OPENAI_MODELS", names, ("gpt-4o-mini",)),
        Setting("OPENAI_PROVIDER_LABEL", text, ""),  # empty: "Local" for a server on this machine, else "OpenAI"
        Setting("BEDROCK_MODELS", names, ()),
        Setting("BEDROCK_REGION", text),  # None: AWS_REGION, then AWS_DEFAULT_REGION, then boto3's own chain
        Setting("BEDROCK_ENDPOINT_URL", text, ""),
        Setting("CHAT_CONNECT_TIMEOUT", number(above=0), 10.0),
        Setting("CHAT_READ_TIMEOUT", number(above=0), 60.0),
        Setting("CHAT_MAX_RETRIES", whole(minimum=0), 2),
        Setting("CHAT_STALE_GRACE_SECONDS", number(), 60.0),
        Setting("CHAT_CONTEXT_CHARS", whole(), 60_000),
        Setting("CHAT_MAX_MESSAGE_CHARS", whole(), 200_000),
        Setting("CHAT_RETENTION_DAYS", whole()),  # None: keep conversations forever
        Setting("CHAT_EXTRACT_SECONDS", number(above=0), 60.0),
        Setting("CHAT_EXTRACT_MEMORY_MB", whole(minimum=64), 1024),
        Setting("CHAT_EXTRACT_MAX_PAGES", whole(minimum=1), 2000),
        Setting("CHAT_EXTRACT_MAX_CHARS", whole(minimum=1), 5_000_000),
        Setting("CHAT_IMAGE_MAX_SIDE", whole(minimum=64), 1568),
        Setting("OPENAI_VISION_MODELS", names, ("gpt-4o-mini", "gpt-4o")),
        Setting("BEDROCK_VISION_MODELS", names, ()),
        Setting("SHARE_DEFAULT_DAYS", whole(minimum=1), 30),
        Setting("SHARE_MAX_DAYS", whole(minimum=1), 365),
        Setting("CHAT_TEMPORARY_ALLOWED", flag, True),
        Setting("CHAT_IMPORT_MAX_MB", whole(minimum=1), 256),
        # Pages
        Setting("PAGE_SIZE", whole(), 50),
        Setting("DASHBOARD_DAYS", whole(minimum=1, maximum=366), 30),
        Setting("LOG_LEVEL", uppered, "INFO"),
    )
}


def read(name: str) -> Any:
    """The value of the environment variable `name`, parsed as SETTINGS declares (its default when unset)."""
    setting = SETTINGS.get(name)
    if setting is None:
        raise KeyError(f"{name} is not declared in config.SETTINGS; declare it there and add it to the README")
    return setting.read(os.environ.get(name))


def announce_worker_count(workers: int) -> None:
    """gunicorn.conf.py, in gunicorn's master before it forks: the workers then read WEB_CONCURRENCY as the number
    actually started, whatever chose it (--workers, WEB_CONCURRENCY, a config file)."""
    os.environ["WEB_CONCURRENCY"] = str(workers)


def read_dotenv() -> None:
    """Fill in, from the `.env` file (WORKBENCH_DOTENV), variables the environment does not already set.

    gunicorn and Celery do not read `.env` by themselves, so every app reads it before its settings."""
    load_dotenv(read("WORKBENCH_DOTENV"), override=False)


def region(service_setting: str) -> str | None:
    """An AWS service's region: its own setting, else AWS_REGION, else AWS_DEFAULT_REGION, else None (then boto3
    looks in its own chain: ~/.aws/config, the instance's metadata)."""
    return read(service_setting) or read("AWS_REGION") or read("AWS_DEFAULT_REGION") or None


def deepface_home(instance_dir: Path) -> Path:
    """DeepFace's home (weights in its .deepface/weights/): DEEPFACE_HOME, else INSTANCE_DIR/deepface."""
    return read("DEEPFACE_HOME") or instance_dir / "deepface"


def development_secret_key(instance_dir: Path) -> str:
    """Generate a secret key once and keep it in `instance/secret_key`, so sessions survive restarts."""
    path = instance_dir / "secret_key"
    if not path.exists():
        instance_dir.mkdir(mode=0o700, parents=True, exist_ok=True)  # the secret key and the database: owner only
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
        self.INSTANCE_DIR: Path = read("INSTANCE_DIR")
        self.SECRET_KEY = read("SECRET_KEY")

        # Persistence: SQLite in instance/ unless DATABASE_URL points elsewhere (PostgreSQL in production).
        default_db = f"sqlite:///{self.INSTANCE_DIR / 'workbench.db'}"
        self.SQLALCHEMY_DATABASE_URI = read("DATABASE_URL") or default_db
        self.SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True}
        self.DATABASE_CONNECT_TIMEOUT = read("DATABASE_CONNECT_TIMEOUT")
        if self.SQLALCHEMY_DATABASE_URI.startswith("postgresql"):
            self.SQLALCHEMY_ENGINE_OPTIONS["connect_args"] = {"connect_timeout": self.DATABASE_CONNECT_TIMEOUT}

        # Files: where they are kept (local disk or S3), what is accepted, how large.
        self.STORAGE_BACKEND = read("STORAGE_BACKEND")
        self.UPLOAD_DIR = read("UPLOAD_DIR") or self.INSTANCE_DIR / "uploads"
        # S3 only: where uploads are spooled before going to the bucket (not /tmp, often memory-backed).
        self.UPLOAD_TEMP_DIR = read("UPLOAD_TEMP_DIR") or self.INSTANCE_DIR / "upload-tmp"
        self.S3_BUCKET_NAME = read("S3_BUCKET_NAME")
        # None lets boto3 find the region itself (~/.aws/config); "us-east-1" is then its choice for S3.
        self.S3_REGION = region("S3_REGION")
        self.S3_ENDPOINT_URL = read("S3_ENDPOINT_URL")
        self.S3_PRESIGN_SECONDS = read("S3_PRESIGN_SECONDS")
        self.S3_MULTIPART_THRESHOLD_MB = read("S3_MULTIPART_THRESHOLD_MB")
        self.S3_CONNECT_TIMEOUT = read("S3_CONNECT_TIMEOUT")
        self.S3_READ_TIMEOUT = read("S3_READ_TIMEOUT")
        self.S3_MAX_ATTEMPTS = read("S3_MAX_ATTEMPTS")
        self.MAX_UPLOAD_MB = read("MAX_UPLOAD_MB")  # per file
        self.MAX_FILES_PER_UPLOAD = read("MAX_FILES_PER_UPLOAD")  # per request (a plain form post)
        self.ALLOWED_UPLOAD_TYPES = read("ALLOWED_UPLOAD_TYPES")
        # Decompression bombs: an image with more pixels is refused from its header, before decoding.
        # 50 megapixels takes any phone or camera photo (48 MP sensors) and caps decoding memory near 200 MB.
        self.MAX_IMAGE_PIXELS = read("MAX_IMAGE_PIXELS")
        # Full image decodes at once per process (uploads' checks and thumbnails, face jobs): memory follows the
        # pixels, about 400 MB for one 7000 x 7000 picture (bench/decode_pressure.py measures the default).
        self.IMAGE_DECODE_CONCURRENCY = read("IMAGE_DECODE_CONCURRENCY")
        # How long a decode waits for its turn before the request is answered 503 with Retry-After.
        self.IMAGE_DECODE_WAIT_SECONDS = read("IMAGE_DECODE_WAIT_SECONDS")
        self.THUMBNAIL_SIZE = read("THUMBNAIL_SIZE")
        self.FILES_PAGE_SIZE = read("FILES_PAGE_SIZE")

        # Faces: DeepFace offline (see bench/FACES_NOTES.md for how the defaults were measured).
        self.FACE_MODEL = read("FACE_MODEL")
        self.FACE_DETECTOR = read("FACE_DETECTOR")
        self.FACE_MAX_SIDE = read("FACE_MAX_SIDE")
        self.FACE_THRESHOLD = read("FACE_THRESHOLD")
        self.FACE_ANALYZER = read("FACE_ANALYZER")
        self.DEEPFACE_HOME = deepface_home(self.INSTANCE_DIR)
        # DeepFace picks TensorFlow or torch when another package installed them, and would then want other weight
        # files: the engine pins this backend for its process.
        self.DEEPFACE_BACKEND_ENGINE = read("DEEPFACE_BACKEND_ENGINE")
        self.FACE_WARMUP = read("FACE_WARMUP")
        # A queued job not finished after this many seconds is marked failed (its worker may have died).
        self.FACE_JOB_TIMEOUT = read("FACE_JOB_TIMEOUT")
        self.FACE_PICKER_SIZE = read("FACE_PICKER_SIZE")
        # Celery: unset runs face jobs inline in the request; set (redis://...) sends them to `make worker`.
        self.CELERY_BROKER_URL = read("CELERY_BROKER_URL")
        self.FACE_QUEUE = read("FACE_QUEUE")
        # People: every photo stored is indexed (its faces found and embedded) in the background, on the worker
        # with a broker; off leaves new photos pending for `flask faces index`.
        self.FACE_INDEX_ON_UPLOAD = read("FACE_INDEX_ON_UPLOAD")
        # Unset keeps face embeddings; `flask faces purge` deletes those older than this many days.
        self.FACE_EMBEDDING_RETENTION_DAYS = read("FACE_EMBEDDING_RETENTION_DAYS")

        # Sign-in and sessions
        self.SESSION_COOKIE_HTTPONLY = True
        self.SESSION_COOKIE_SAMESITE = "Lax"
        self.SESSION_COOKIE_SECURE = bool(read("SESSION_COOKIE_SECURE"))
        self.REMEMBER_COOKIE_HTTPONLY = True
        self.REMEMBER_COOKIE_SAMESITE = "Lax"
        self.REMEMBER_COOKIE_SECURE = self.SESSION_COOKIE_SECURE
        # Both cookies belong to this host only: no Domain, Path=/ (what a __Host- name requires, see production).
        self.SESSION_COOKIE_DOMAIN = None
        self.SESSION_COOKIE_PATH = "/"
        self.REMEMBER_COOKIE_DOMAIN = None
        self.REMEMBER_COOKIE_PATH = "/"
        # Strict-Transport-Security max-age in seconds; 0 sends no header (production turns it on).
        self.HSTS_SECONDS = read("HSTS_SECONDS") or 0
        self.REMEMBER_COOKIE_DURATION = timedelta(days=read("REMEMBER_DAYS"))
        self.PERMANENT_SESSION_LIFETIME = timedelta(hours=read("SESSION_HOURS"))
        # scrypt never truncates a password (unlike bcrypt's 72 bytes). Werkzeug's default cost is used.
        self.PASSWORD_HASH_METHOD = read("PASSWORD_HASH_METHOD")
        self.PASSWORD_MIN_LENGTH = read("PASSWORD_MIN_LENGTH")
        # API tokens stop working this many days after they are made (the CLI's --days chooses per token).
        self.API_TOKEN_DAYS = read("API_TOKEN_DAYS")
        # An admin opening someone's conversation, file or face result gives a reason first; with this on, the owner
        # sees on their history page that an administrator opened it, when and why (the audit log keeps it anyway).
        self.ADMIN_REVIEW_NOTIFY = read("ADMIN_REVIEW_NOTIFY")
        # Company sign-in (OpenID Connect, webapp/auth/oidc.py) next to passwords, or instead of them.
        self.PASSWORD_LOGIN = read("PASSWORD_LOGIN")
        self.OIDC_ISSUER = read("OIDC_ISSUER").rstrip("/")
        self.OIDC_CLIENT_ID = read("OIDC_CLIENT_ID")
        self.OIDC_CLIENT_SECRET = read("OIDC_CLIENT_SECRET")
        self.OIDC_SCOPES = read("OIDC_SCOPES")
        # The claim (ID token or userinfo) listing the person's groups; members of OIDC_ADMIN_GROUP are admins.
        self.OIDC_GROUPS_CLAIM = read("OIDC_GROUPS_CLAIM")
        self.OIDC_ADMIN_GROUP = read("OIDC_ADMIN_GROUP")
        # The Workbench group (webapp/governance: model access, budgets) a first company sign-in joins.
        self.OIDC_DEFAULT_GROUP = read("OIDC_DEFAULT_GROUP")
        self.ADMIN_EMAIL = read("ADMIN_EMAIL")
        self.ADMIN_PASSWORD = read("ADMIN_PASSWORD")

        # Throttling of wrong passwords (sign-in, password change, token creation; Flask-Limiter): per address and
        # per (email, address) at the first limit, per email at the looser second, so one address cannot lock
        # out a colleague.
        self.LOGIN_FAILURE_LIMIT = read("LOGIN_FAILURE_LIMIT")
        self.LOGIN_EMAIL_FAILURE_LIMIT = read("LOGIN_EMAIL_FAILURE_LIMIT")
        self.RATELIMIT_STORAGE_URI = read("RATELIMIT_STORAGE_URI")
        self.RATELIMIT_HEADERS_ENABLED = True
        # gunicorn workers of this server: gunicorn's own setting (its default when --workers is not given), and
        # gunicorn.conf.py sets it to the number actually started. memory:// counts apart in each of them.
        self.WEB_CONCURRENCY = read("WEB_CONCURRENCY")
        self.TRUSTED_PROXIES = read("TRUSTED_PROXIES")

        # Scale-out: how many app servers (machines or gunicorn masters behind one load balancer) share this
        # database and file store. Production refuses what only works on one server when it is more than 1.
        self.WORKBENCH_SERVERS = read("WORKBENCH_SERVERS")
        # A single-server trial or benchmark on SQLite in production settings, said out loud (never with servers > 1).
        self.ALLOW_SQLITE_IN_PRODUCTION = read("ALLOW_SQLITE_IN_PRODUCTION")

        # CSRF tokens live as long as the session, so a page left open for hours still submits.
        self.WTF_CSRF_TIME_LIMIT = None
        self.WTF_CSRF_SSL_STRICT = True

        # Chat: model services. Nothing set means no provider, and the chat page says how to configure one.
        self.OPENAI_API_KEY = read("OPENAI_API_KEY")
        # Any OpenAI-compatible server: Ollama (http://127.0.0.1:11434/v1), llama.cpp's server, vLLM, LiteLLM.
        self.OPENAI_BASE_URL = read("OPENAI_BASE_URL")
        self.OPENAI_MODELS = read("OPENAI_MODELS")
        self.OPENAI_PROVIDER_LABEL = read("OPENAI_PROVIDER_LABEL")
        self.BEDROCK_MODELS = read("BEDROCK_MODELS")
        self.BEDROCK_REGION = region("BEDROCK_REGION")
        self.BEDROCK_ENDPOINT_URL = read("BEDROCK_ENDPOINT_URL")
        self.CHAT_CONNECT_TIMEOUT = read("CHAT_CONNECT_TIMEOUT")
        self.CHAT_READ_TIMEOUT = read("CHAT_READ_TIMEOUT")
        self.CHAT_MAX_RETRIES = read("CHAT_MAX_RETRIES")
        # A pending reply silent for longer than its model timeouts plus this many seconds is taken for dead (its
        # worker was killed) and shown interrupted when next read.
        self.CHAT_STALE_GRACE_SECONDS = read("CHAT_STALE_GRACE_SECONDS")
        # What is sent to the model: the system prompt plus the newest turns that fit in this many characters.
        self.CHAT_CONTEXT_CHARS = read("CHAT_CONTEXT_CHARS")
        self.CHAT_MAX_MESSAGE_CHARS = read("CHAT_MAX_MESSAGE_CHARS")
        # Unset keeps conversations forever; `flask chat purge` deletes those idle for longer.
        self.CHAT_RETENTION_DAYS = read("CHAT_RETENTION_DAYS")
        # Files in chat: a document's text is read once, in a child process that may take this long and this much
        # memory (a crafted PDF or Word file cannot take the server with it), up to this many pages and characters.
        self.CHAT_EXTRACT_SECONDS = read("CHAT_EXTRACT_SECONDS")
        self.CHAT_EXTRACT_MEMORY_MB = read("CHAT_EXTRACT_MEMORY_MB")
        self.CHAT_EXTRACT_MAX_PAGES = read("CHAT_EXTRACT_MAX_PAGES")
        self.CHAT_EXTRACT_MAX_CHARS = read("CHAT_EXTRACT_MAX_CHARS")
        # Photos go to the models that accept images (per provider), no longer than this on either side.
        self.CHAT_IMAGE_MAX_SIDE = read("CHAT_IMAGE_MAX_SIDE")
        self.OPENAI_VISION_MODELS = read("OPENAI_VISION_MODELS")
        self.BEDROCK_VISION_MODELS = read("BEDROCK_VISION_MODELS")
        # Shared conversations: a link works this many days unless its owner asks for another number, up to the max.
        self.SHARE_DEFAULT_DAYS = read("SHARE_DEFAULT_DAYS")
        self.SHARE_MAX_DAYS = read("SHARE_MAX_DAYS")
        # Temporary chats (never stored, never logged; only their token counts are kept) may be turned off.
        self.CHAT_TEMPORARY_ALLOWED = read("CHAT_TEMPORARY_ALLOWED")
        # Largest export file an import takes (and largest conversations.json inside ChatGPT's .zip); it is
        # streamed to disk and read a conversation at a time, so this bounds disk and time, not memory.
        self.CHAT_IMPORT_MAX_MB = read("CHAT_IMPORT_MAX_MB")

        # Pages
        self.PAGE_SIZE = read("PAGE_SIZE")
        # The dashboard's activity chart: this many UTC days, today included.
        self.DASHBOARD_DAYS = read("DASHBOARD_DAYS")
        self.LOG_LEVEL = read("LOG_LEVEL")
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

    def apply(self, overrides: Mapping[str, Any]) -> None:
        """Put `overrides` on top (tests, tools). Text given for a declared setting is read as the environment's
        would be, so {"OPENAI_MODELS": "a,b"} becomes ("a", "b") and a wrong value stops the start the same way."""
        for name, value in overrides.items():
            setting = SETTINGS.get(name)
            setattr(self, name, setting.read(value) if setting is not None and isinstance(value, str) else value)

    def check(self) -> None:
        """Rules between settings an app needs before it builds its adapters, in every environment."""
        if self.STORAGE_BACKEND == "s3" and not self.S3_BUCKET_NAME:
            raise ConfigError("S3_BUCKET_NAME must be set when STORAGE_BACKEND is s3")
        if self.OIDC_ISSUER and not (self.OIDC_CLIENT_ID and self.OIDC_CLIENT_SECRET):
            raise ConfigError("OIDC_CLIENT_ID and OIDC_CLIENT_SECRET must be set when OIDC_ISSUER is")
        if not self.PASSWORD_LOGIN and not self.OIDC_ISSUER:
            raise ConfigError("PASSWORD_LOGIN is off but OIDC_ISSUER is not set, so nobody could sign in")

    def as_dict(self) -> dict[str, Any]:
        """Every setting by name, as Flask's `app.config.from_object` would take them."""
        return {name: getattr(self, name) for name in dir(self) if name.isupper()}


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
            "CHAT_RETENTION_DAYS",
            "FACE_EMBEDDING_RETENTION_DAYS",
            "PASSWORD_LOGIN",
            "OIDC_ISSUER",
            "OIDC_CLIENT_ID",
            "OIDC_CLIENT_SECRET",
            "OIDC_ADMIN_GROUP",
            "OIDC_DEFAULT_GROUP",
        ):
            setattr(self, name, SETTINGS[name].default)
        # Each photo a test uploads would otherwise be embedded in the background (about a second of a shared
        # core each); the People tests turn it on.
        self.FACE_INDEX_ON_UPLOAD = False


class ProductionConfig(BaseConfig):
    ENV_NAME = "production"

    def __init__(self) -> None:
        super().__init__()
        secure = read("SESSION_COOKIE_SECURE")
        self.SESSION_COOKIE_SECURE = True if secure is None else secure
        self.REMEMBER_COOKIE_SECURE = self.SESSION_COOKIE_SECURE
        self.PREFERRED_URL_SCHEME = "https"
        if self.SESSION_COOKIE_SECURE:
            # Browsers keep a __Host- cookie only if it is Secure, Path=/ and has no Domain, so neither a
            # sibling subdomain nor plain http can set or overwrite it. Without Secure the prefix would be refused.
            self.SESSION_COOKIE_NAME = "__Host-session"
            self.REMEMBER_COOKIE_NAME = "__Host-remember_token"
        # HTTPS only for a year once a browser has seen the site over HTTPS (meaningless without it).
        hsts_seconds = read("HSTS_SECONDS")
        if hsts_seconds is None:
            hsts_seconds = 31_536_000 if self.SESSION_COOKIE_SECURE else 0
        self.HSTS_SECONDS = hsts_seconds

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


def load_config(name: str | None = None, overrides: Mapping[str, Any] | None = None) -> BaseConfig:
    """Build the settings object named by `name` or `WORKBENCH_ENV` (default: development), `overrides` on top.

    Production's rules judge what the environment says (a test may then override, say, the database)."""
    read_dotenv()
    name = (name or read("WORKBENCH_ENV")).lower()
    if name not in CONFIGS:
        raise ConfigError(f"WORKBENCH_ENV must be one of {', '.join(CONFIGS)}, not {name!r}")
    config = CONFIGS[name]()
    config.validate()
    if overrides:
        config.apply(overrides)
    return config


def app_settings(name: str | None = None, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Every setting an app is built with, by name: `load_config(name, overrides)`, checked as a whole.

    What `create_app` puts on app.config, and what the features build their adapters' typed settings from."""
    config = load_config(name, overrides)
    config.check()
    return config.as_dict()
