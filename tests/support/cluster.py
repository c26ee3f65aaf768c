"""Workbench as a company would run it when one box is not enough: what `make cluster` starts.

Two gunicorn app servers (gthread) on two ports and one Celery worker, all with production settings and one
SECRET_KEY, sharing PostgreSQL (a database of the cluster's own), Redis (Celery's broker, the sign-in throttle)
and an S3 API (moto's server). Chat goes to the local OpenAI-protocol server of tests/support/servers/. Migrations run
once, before any server starts. Ctrl-C stops every part.

The app servers speak HTTPS with a throwaway self-signed certificate (gunicorn's own TLS), so production's
Secure cookies and its other defaults stay as they are: nothing is relaxed for the cluster. Clients trust the
certificate file (`Cluster.certificate`); a browser shows a warning for it once.

Each part has its own start function returning a `Part` (stop it with `part.stop()`), and `running_cluster()`
starts them all and stops them on the way out: the cluster test, `make cluster` (bench/cluster.py) and `make load`
use it.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import secrets
import signal
import ssl
import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.databases import create_database
from tests.support.photos import deepface_home
from tests.support.processes import BIN, ROOT, free_port, start_moto, wait_until_up

DEFAULT_SERVER_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
DEFAULT_DATABASE = "workbench_cluster"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
MODEL = "cluster-model"
BUCKET = "workbench-cluster"
STOP_SECONDS = 15  # how long a part may take to stop after SIGTERM before it is killed


@dataclass
class Part:
    """One process of the cluster, in a process group of its own (so stopping it stops its children too)."""

    name: str
    process: subprocess.Popen
    log: Path
    url: str = ""

    def running(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout: float = STOP_SECONDS) -> None:
        """SIGTERM to the group (gunicorn and Celery finish what they are doing), SIGKILL after `timeout`."""
        if not self.running():
            return
        self.signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def signal(self, number: int) -> None:
        with suppress(ProcessLookupError):
            os.killpg(self.process.pid, number)

    def log_tail(self, lines: int = 20) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


@dataclass
class ClusterOptions:
    """Where the shared services are and how the parts are sized; `make cluster`'s defaults."""

    workdir: Path
    server_url: str = DEFAULT_SERVER_URL  # any database on the PostgreSQL server; the cluster makes its own
    database: str = DEFAULT_DATABASE
    redis_url: str = DEFAULT_REDIS_URL
    ports: tuple[int, ...] = (0, 0)  # one per app server; 0 picks a free port
    workers: int = 2  # gunicorn workers per app server
    threads: int = 16  # threads per gunicorn worker: each streaming reply or upload holds one
    face_queue: str = "workbench-cluster-faces"
    first_token_delay: float = 0.25  # the local model server's pacing
    token_rate: float = 50.0
    extra_env: dict[str, str] = field(default_factory=dict)


@dataclass
class Cluster:
    app_urls: list[str]
    database_url: str
    s3_endpoint: str
    model_url: str
    certificate: Path  # the app servers' certificate: what clients verify against
    env: dict[str, str]  # the settings every app server and the worker run with
    parts: list[Part]

    def part(self, name: str) -> Part:
        return next(part for part in self.parts if part.name == name)


def make_certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and localhost, valid for a day; returns (certificate, key)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "workbench cluster")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        # What strict verifiers (urllib3 2) ask of a certificate that is its own authority.
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    certificate_path, key_path = folder / "cluster-cert.pem", folder / "cluster-key.pem"
    certificate_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    key_path.chmod(0o600)
    return certificate_path, key_path


def cluster_environment(
    options: ClusterOptions, database: str, s3_endpoint: str, model_url: str, secret_key: str
) -> dict[str, str]:
    """Production settings shared by every app server and the worker (the same SECRET_KEY above all)."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("AWS_", "S3_", "OPENAI_", "BEDROCK_", "CELERY_", "FACE_"))
    }
    env.update(
        WORKBENCH_ENV="production",
        WORKBENCH_SERVERS=str(len(options.ports)),
        SECRET_KEY=secret_key,
        DATABASE_URL=database,
        INSTANCE_DIR=str(options.workdir),
        WORKBENCH_DOTENV=str(options.workdir / "no.env"),  # the cluster's settings are all here, not in .env
        STORAGE_BACKEND="s3",
        S3_BUCKET_NAME=BUCKET,
        S3_ENDPOINT_URL=s3_endpoint,
        AWS_REGION="us-east-1",
        AWS_ACCESS_KEY_ID="cluster",  # moto takes any key; dummies keep boto3 away from real credentials
        AWS_SECRET_ACCESS_KEY="cluster",
        AWS_EC2_METADATA_DISABLED="true",
        CELERY_BROKER_URL=options.redis_url,
        FACE_QUEUE=options.face_queue,
        RATELIMIT_STORAGE_URI=options.redis_url,
        OPENAI_BASE_URL=model_url,
        OPENAI_API_KEY="cluster",
        OPENAI_MODELS=MODEL,
        DEEPFACE_HOME=str(deepface_home()),
        LOG_LEVEL="WARNING",
    )
    env.update(options.extra_env)
    return env


def flask_command(env: dict[str, str], *args: str) -> str:
    """Run `flask --app wsgi ARGS` with the cluster's settings; its output, or an error naming what it said."""
    result = subprocess.run(
        [str(BIN / "flask"), "--app", "wsgi", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=180
    )
    if result.returncode != 0:
        raise RuntimeError(f"flask {' '.join(args)} failed: {result.stderr.strip() or result.stdout.strip()}")
    return result.stdout


def prepare(env: dict[str, str]) -> None:
    """Migrations once, before any server starts (never one per server), and the bucket."""
    flask_command(env, "db", "upgrade")
    flask_command(env, "files", "create-bucket")


def start_process(name: str, command: list[str], env: dict[str, str], logs: Path) -> Part:
    log = logs / f"{name}.log"
    with open(log, "ab") as log_file:
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True
        )
    return Part(name, process, log)


def start_s3(logs: Path, port: int = 0) -> Part:
    process, endpoint = start_moto(logs, port)
    return Part("s3", process, logs / "moto.log", endpoint)


def start_model_server(logs: Path, first_token_delay: float, token_rate: float, port: int = 0) -> Part:
    port = port or free_port()
    part = start_process(
        "model",
        [
            str(BIN / "python"),
            "-m",
            "tests.support.servers.openai_server",
            "--port",
            str(port),
            "--first-token-delay",
            str(first_token_delay),
            "--token-rate",
            str(token_rate),
        ],
        dict(os.environ),
        logs,
    )
    part.url = f"http://127.0.0.1:{port}/v1"
    wait_until_up(part.url + "/models")
    return part


def start_app_server(
    name: str,
    env: dict[str, str],
    logs: Path,
    certificate: tuple[Path, Path],
    port: int = 0,
    workers: int = 2,
    threads: int = 16,
    wait: bool = True,
) -> Part:
    """One app server: gunicorn with gthread workers, serving HTTPS itself (what a TLS proxy would do).
    `wait=False` returns at once; `wait_for_app_server` then waits (servers start side by side)."""
    port = port or free_port()
    command = [
        str(BIN / "gunicorn"),
        "--bind",
        f"127.0.0.1:{port}",
        "--worker-class",
        "gthread",
        "--workers",
        str(workers),
        "--threads",
        str(threads),
        "--graceful-timeout",
        "10",
        # Clients connect straight to these servers (no proxy keeping upstream connections open): keep
        # theirs open between a person's clicks rather than a TLS handshake each time.
        "--keep-alive",
        "30",
        "--certfile",
        str(certificate[0]),
        "--keyfile",
        str(certificate[1]),
        "--access-logfile",
        str(logs / f"{name}-access.log"),
        "--error-logfile",
        "-",
        "wsgi:app",
    ]
    part = start_process(name, command, env, logs)
    part.url = f"https://127.0.0.1:{port}"
    if wait:
        wait_for_app_server(part, certificate[0])
    return part


def wait_for_app_server(part: Part, certificate: Path, timeout: float = 90.0) -> None:
    try:
        wait_until_up(part.url + "/api/health", timeout, context=ssl.create_default_context(cafile=certificate))
    except RuntimeError:
        part.stop()
        raise RuntimeError(f"{part.name} did not come up; its log ends with:\n{part.log_tail()}") from None


def start_worker(env: dict[str, str], logs: Path, queue: str, wait: bool = True) -> Part:
    """One Celery worker process for face jobs (as `make worker`; its models load as it starts)."""
    command = [
        str(BIN / "celery"),
        "--app",
        "webapp.faces.worker:celery",
        "worker",
        "--loglevel",
        "INFO",
        "--concurrency",
        "1",
        "--queues",
        queue,
        "--without-gossip",
        "--without-mingle",
    ]
    part = start_process("worker", command, {**env, "FACE_WARMUP": "1"}, logs)
    if wait:
        wait_for_worker(part)
    return part


def wait_for_worker(part: Part, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while " ready." not in part.log.read_text(errors="replace"):
        if not part.running() or time.monotonic() > deadline:
            part.stop()
            raise RuntimeError(f"the Celery worker did not start; its log ends with:\n{part.log_tail()}")
        time.sleep(0.2)


def create_staff(env: dict[str, str], emails: list[str], password: str) -> None:
    """Create staff accounts through the auth service (those that exist are kept), in one process."""
    code = (
        "import sys; from tests.support.cluster import create_staff_here; create_staff_here(sys.argv[1], sys.argv[2:])"
    )
    result = subprocess.run(
        [str(BIN / "python"), "-c", code, password, *emails],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if result.returncode != 0:
        raise RuntimeError(f"creating staff failed: {result.stderr.strip()}")


def create_staff_here(password: str, emails: list[str]) -> None:
    from webapp import create_app
    from webapp.auth import service
    from webapp.extensions import db

    app = create_app()
    with app.app_context():
        for email in emails:
            if service.find_user_by_email(email) is None:
                service.create_user(email, email.split("@")[0].replace(".", " ").title(), password)
        db.session.commit()


@contextmanager
def running_cluster(options: ClusterOptions, fresh_database: bool = False) -> Iterator[Cluster]:
    """Start every part (S3, model server, migrations, app servers, worker); stop them all on the way out."""
    logs = options.workdir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    database = create_database(options.server_url, options.database, fresh=fresh_database)
    certificate = make_certificate(options.workdir)
    with ExitStack() as stack:
        parts: list[Part] = []

        def started(part: Part) -> Part:
            parts.append(part)
            stack.callback(part.stop)
            return part

        s3 = started(start_s3(logs))
        model = started(start_model_server(logs, options.first_token_delay, options.token_rate))
        env = cluster_environment(options, database, s3.url, model.url, secrets.token_hex(32))
        prepare(env)
        # The servers and the worker start side by side: each takes seconds to import the app.
        servers = [
            started(
                start_app_server(
                    f"app{index}", env, logs, certificate, port, options.workers, options.threads, wait=False
                )
            )
            for index, port in enumerate(options.ports, start=1)
        ]
        worker = started(start_worker(env, logs, options.face_queue, wait=False))
        for server in servers:
            wait_for_app_server(server, certificate[0])
        wait_for_worker(worker)
        yield Cluster([server.url for server in servers], database, s3.url, model.url, certificate[0], env, parts)
