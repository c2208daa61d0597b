from __future__ import annotations

import re
from pathlib import Path

import pytest

from app.config import Settings
from tests.checkout import CHECKOUT


def test_every_setting_is_documented() -> None:
    doc = (CHECKOUT / "docs" / "configuration.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"`(EYEBALL_[A-Z0-9_]+)`", doc))
    expected = {f"EYEBALL_{name.upper()}" for name in Settings.model_fields}
    assert expected - documented == set(), "document these settings in docs/configuration.md"
    assert documented - expected == set(), "docs/configuration.md names settings that do not exist"


def test_defaults_put_everything_in_the_data_folder(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    assert settings.database_url == f"sqlite:///{(tmp_path / 'eyeball.db').resolve()}"
    assert settings.media_path == tmp_path / "media"


def test_settings_come_from_eyeball_environment_variables(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EYEBALL_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("EYEBALL_PORT", "9001")
    monkeypatch.setenv("EYEBALL_DATABASE_URL", "postgresql+psycopg://u@h/db")
    settings = Settings()
    assert settings.port == 9001
    assert settings.database_url == "postgresql+psycopg://u@h/db"


def test_a_secret_key_is_generated_once_and_kept(tmp_path: Path) -> None:
    first = Settings(data_dir=tmp_path).resolved_secret_key()
    second = Settings(data_dir=tmp_path).resolved_secret_key()
    assert first == second
    assert len(first) >= 40
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0
    assert Settings(data_dir=tmp_path, secret_key="given").resolved_secret_key() == "given"


def test_the_s3_backend_needs_a_bucket(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="EYEBALL_MEDIA_BACKEND=s3 needs EYEBALL_S3_BUCKET"):
        Settings(data_dir=tmp_path, media_backend="s3")
    assert Settings(data_dir=tmp_path, media_backend="s3", s3_bucket="b").s3_bucket == "b"
