"""One owner for every setting: config.py alone reads the environment, declares every variable it reads, and the
README's settings table lists exactly those; AWS regions follow the documented chain down to the presigned URL."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import pytest

import config
from config import SETTINGS, ConfigError, app_settings
from webapp import create_app
from webapp.chat.providers import ProviderSettings, build_providers
from webapp.files.storage import new_key

ROOT = Path(__file__).resolve().parents[2]
REGION_VARIABLES = ("S3_REGION", "BEDROCK_REGION", "AWS_REGION", "AWS_DEFAULT_REGION")


# --- the AWS region chain: the service's own setting, AWS_REGION, AWS_DEFAULT_REGION, then boto3's chain --------

REGION_CHAIN = [
    pytest.param({}, None, id="nothing set: boto3's own chain"),
    pytest.param({"AWS_DEFAULT_REGION": "eu-west-1"}, "eu-west-1", id="AWS_DEFAULT_REGION alone"),
    pytest.param({"AWS_REGION": "eu-central-1", "AWS_DEFAULT_REGION": "eu-west-1"}, "eu-central-1", id="AWS_REGION"),
]


def region_environment(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> None:
    for name in REGION_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)


@pytest.mark.parametrize(("env", "expected"), REGION_CHAIN)
def test_each_aws_service_falls_back_to_aws_region_then_aws_default_region(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], expected: str | None
) -> None:
    region_environment(monkeypatch, env)
    settings = app_settings("testing")
    assert (settings["S3_REGION"], settings["BEDROCK_REGION"]) == (expected, expected)


def test_a_service_region_of_its_own_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    region_environment(
        monkeypatch, {"S3_REGION": "ap-south-1", "BEDROCK_REGION": "us-west-2", "AWS_REGION": "eu-central-1"}
    )
    settings = app_settings("testing")
    assert (settings["S3_REGION"], settings["BEDROCK_REGION"]) == ("ap-south-1", "us-west-2")


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        *REGION_CHAIN[1:],
        pytest.param({}, "us-east-1", id="nothing set: boto3 chooses us-east-1 for S3"),
        pytest.param({"S3_REGION": "ap-south-1", "AWS_REGION": "eu-central-1"}, "ap-south-1", id="S3_REGION"),
    ],
)
def test_a_presigned_s3_link_is_signed_for_the_region_the_chain_chose(
    moto_endpoint: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, env: dict[str, str], expected: str
) -> None:
    region_environment(monkeypatch, env)
    app = create_app(
        "testing",
        {
            "STORAGE_BACKEND": "s3",
            "S3_BUCKET_NAME": "region-chain",
            "S3_ENDPOINT_URL": moto_endpoint,
            "UPLOAD_TEMP_DIR": tmp_path / "spool",
        },
    )
    link = app.extensions["storage"].download_url(new_key(".txt"), "a.txt", "text/plain", inline=False)
    # X-Amz-Credential=<key>/<date>/<region>/s3/aws4_request
    assert re.search(r"X-Amz-Credential=[^&]*%2F([a-z0-9-]+)%2Fs3%2Faws4_request", link).group(1) == expected


@pytest.mark.parametrize(("env", "expected"), REGION_CHAIN[1:])
def test_bedrock_is_reached_in_the_region_the_chain_chose(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], expected: str
) -> None:
    region_environment(monkeypatch, env)
    providers = build_providers(ProviderSettings.from_config(app_settings("testing", {"BEDROCK_MODELS": "m"})))
    assert providers["bedrock"].endpoint_url == f"https://bedrock-runtime.{expected}.amazonaws.com"


def test_bedrock_without_any_region_stops_the_start_with_what_to_set(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    region_environment(monkeypatch, {})
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))  # nor in ~/.aws/config
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # nor from an instance's metadata
    with pytest.raises(ConfigError, match="set BEDROCK_REGION or AWS_REGION"):
        create_app("testing", {"BEDROCK_MODELS": "m"})


# --- values are parsed and checked once, in config.py ------------------------------------------------------------


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("CHAT_CONNECT_TIMEOUT", "0", "CHAT_CONNECT_TIMEOUT must be more than 0, not '0'"),
        ("CHAT_READ_TIMEOUT", "inf", "CHAT_READ_TIMEOUT must be a finite number, not 'inf'"),
        ("CHAT_MAX_RETRIES", "-1", "CHAT_MAX_RETRIES must be 0 or more, not '-1'"),
        ("S3_PRESIGN_SECONDS", "soon", "S3_PRESIGN_SECONDS must be a whole number, not 'soon'"),
        ("MAX_IMAGE_PIXELS", "0", "MAX_IMAGE_PIXELS must be 1 or more, not '0'"),
        ("DASHBOARD_DAYS", "400", "DASHBOARD_DAYS must be between 1 and 366, not '400'"),
        ("STORAGE_BACKEND", "ftp", "STORAGE_BACKEND must be 'local' or 's3', not 'ftp'"),
    ],
)
def test_a_wrong_value_stops_the_start_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, message: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as refused:
        app_settings("testing")
    assert str(refused.value.code) == f"workbench: {message}"


def test_text_overrides_are_read_as_the_environment_would_be() -> None:
    settings = app_settings("testing", {"OPENAI_MODELS": "a, b,,a", "CHAT_READ_TIMEOUT": "2.5", "OPENAI_API_KEY": "k"})
    assert (settings["OPENAI_MODELS"], settings["CHAT_READ_TIMEOUT"]) == (("a", "b"), 2.5)
    assert app_settings("testing", {"OPENAI_MODELS": ""})["OPENAI_MODELS"] == SETTINGS["OPENAI_MODELS"].default


def test_reading_a_variable_nobody_declared_is_a_mistake_found_at_once() -> None:
    with pytest.raises(KeyError, match="not declared in config.SETTINGS"):
        config.read("WORKBENCH_SOMETHING_NEW")


# --- config.py is the only reader of the environment -------------------------------------------------------------

ENVIRONMENT_NAMES = {"environ", "environb", "getenv", "getenvb"}


def environment_reads(source: str, filename: str = "<source>") -> list[str]:
    """Where `source` reads the environment: os.getenv, or os.environ used any way but to set a variable for a
    library that only reads the environment (`os.environ[name] = value`, `os.environ.setdefault(...)` alone)."""
    tree = ast.parse(source, filename)
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "os":
            imported = sorted({alias.name for alias in node.names} & ENVIRONMENT_NAMES)
            if imported:
                found.append(f"{filename}:{node.lineno}: from os import {', '.join(imported)}")
        elif (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id == "os"
            and node.attr in ENVIRONMENT_NAMES
            and not sets_a_variable(node, parents)
        ):
            found.append(f"{filename}:{node.lineno}: os.{node.attr}")
    return found


def sets_a_variable(node: ast.Attribute, parents: dict[ast.AST, ast.AST]) -> bool:
    parent = parents.get(node)
    if node.attr != "environ":
        return False
    if isinstance(parent, ast.Subscript) and isinstance(parent.ctx, ast.Store):
        return True
    if isinstance(parent, ast.Attribute) and parent.attr == "setdefault":
        call = parents.get(parent)
        return isinstance(call, ast.Call) and isinstance(parents.get(call), ast.Expr)
    return False


@pytest.mark.parametrize(
    ("source", "reads"),
    [
        ("import os\nos.environ.get('X')", 1),
        ("import os\nos.getenv('X')", 1),
        ("import os\nx = os.environ['X']", 1),
        ("import os\nx = 'X' in os.environ", 1),
        ("import os\nx = os.environ.setdefault('X', '1')", 1),
        ("from os import environ", 1),
        ("from os import getenv as read", 1),
        ("import os\nos.environ['X'] = '1'", 0),
        ("import os\nos.environ.setdefault('X', '1')", 0),
        ("import os\nos.path.join('a')", 0),
    ],
)
def test_the_environment_reader_check_tells_reads_from_writes(source: str, reads: int) -> None:
    assert len(environment_reads(source)) == reads


def test_no_module_of_the_app_but_config_reads_the_environment() -> None:
    modules = [*sorted((ROOT / "webapp").rglob("*.py")), ROOT / "wsgi.py", ROOT / "gunicorn.conf.py"]
    assert len(modules) > 50  # the walk found the package
    reads = [read for path in modules for read in environment_reads(path.read_text(), str(path.relative_to(ROOT)))]
    assert reads == [], "read these through config.py (declare them in config.SETTINGS):\n" + "\n".join(reads)


# --- the README's settings table is exactly config.SETTINGS ------------------------------------------------------

TABLE_HEADER = "| Setting | Default | What it does |"


def readme_settings_section() -> list[str]:
    lines = (ROOT / "README.md").read_text().splitlines()
    section = lines[lines.index("## Settings") + 1 :]
    return section[: next(index for index, line in enumerate(section) if line.startswith("## "))]


def readme_settings_table() -> tuple[list[str], list[str]]:
    """The table's rows (up to the first line that is not a row: Markdown ends the table there), and any row-like
    lines left after it in the section, which would not render as part of the table."""
    section = readme_settings_section()
    start = section.index(TABLE_HEADER) + 2  # the header, then the |---| line
    rows: list[str] = []
    for line in section[start:]:
        if not line.startswith("|"):
            break
        rows.append(line)
    stray = [line for line in section[start + len(rows) :] if line.startswith("|")]
    return rows, stray


def test_the_settings_table_is_one_unbroken_table() -> None:
    rows, stray = readme_settings_table()
    assert len(rows) > 50
    assert stray == [], "rows after a blank line do not render as part of the table"


def test_the_settings_table_has_one_row_per_setting_of_config() -> None:
    rows, _ = readme_settings_table()
    names = []
    for row in rows:
        cells = [cell.strip() for cell in row.strip("|").split(" | ")]
        assert len(cells) == 3, f"a row of three cells: {row}"
        name = re.fullmatch(r"`([A-Z][A-Z0-9_]*)`", cells[0])
        assert name, f"one setting per row, named in backticks: {row}"
        names.append(name.group(1))
    duplicates = sorted({name for name in names if names.count(name) > 1})
    assert duplicates == []
    assert sorted(set(names) - set(SETTINGS)) == [], "in the README but not read by config.py"
    assert sorted(set(SETTINGS) - set(names)) == [], "read by config.py but not in the README"


def test_every_declared_setting_is_read_by_some_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    read_names: set[str] = set()
    real_read = config.read

    def recording_read(name: str) -> Any:
        read_names.add(name)
        return real_read(name)

    monkeypatch.setattr(config, "read", recording_read)
    monkeypatch.setenv("INSTANCE_DIR", str(tmp_path))  # development writes its secret key there
    monkeypatch.setenv("WORKBENCH_ENV", "testing")
    config.load_config()  # .env, WORKBENCH_ENV, then the testing settings
    for settings_class in config.CONFIGS.values():
        settings_class()
    assert sorted(set(SETTINGS) - read_names) == [], "declared in config.SETTINGS but never read"
