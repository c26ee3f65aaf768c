"""Files settings: read from the environment, and refused at startup with one line when wrong."""

from __future__ import annotations

import pytest

from config import ConfigError, load_config
from webapp import create_app


def test_upload_types_come_from_a_comma_separated_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALLOWED_UPLOAD_TYPES", " image/JPEG, application/pdf ,")
    monkeypatch.setenv("STORAGE_BACKEND", "S3")
    settings = load_config("testing")
    assert settings.ALLOWED_UPLOAD_TYPES == ("image/jpeg", "application/pdf")
    assert settings.STORAGE_BACKEND == "s3"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"STORAGE_BACKEND": "s3", "S3_BUCKET_NAME": ""}, "S3_BUCKET_NAME must be set when STORAGE_BACKEND is s3"),
        ({"STORAGE_BACKEND": "ftp"}, "STORAGE_BACKEND must be 'local' or 's3', not 'ftp'"),
        (
            {"ALLOWED_UPLOAD_TYPES": ("image/jpeg", "image/svg+xml")},
            "ALLOWED_UPLOAD_TYPES has types this app cannot check: image/svg+xml",
        ),
    ],
)
def test_wrong_storage_settings_stop_the_app_with_a_sentence(tmp_path, overrides: dict, message: str) -> None:
    with pytest.raises(ConfigError) as stopped:
        create_app("testing", {"UPLOAD_DIR": tmp_path / "uploads", **overrides})
    assert message in str(stopped.value)


def test_only_upload_routes_take_more_than_one_file_worth(tmp_path) -> None:
    app = create_app("testing", {"UPLOAD_DIR": tmp_path / "uploads", "MAX_UPLOAD_MB": 2, "MAX_FILES_PER_UPLOAD": 3})
    assert app.config["MAX_CONTENT_LENGTH"] == 2 * 1024 * 1024
    assert app.config["MAX_UPLOAD_REQUEST_BYTES"] == 7 * 1024 * 1024
    client = app.test_client()
    # 3 MB to the sign-in form: over the 2 MB every other route accepts.
    response = client.post("/login", data={"email": "x" * (3 * 1024 * 1024)})
    assert response.status_code == 413
    assert "What you sent is larger than this server accepts (2 MB)." in response.get_data(as_text=True)
