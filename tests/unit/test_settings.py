"""Settings: env nesting, the TOML file, precedence, masking, nothing built at import."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from wafsiem.cli import build_root
from wafsiem.settings import Settings, get_settings, masked, reset_settings


@pytest.fixture(autouse=True)
def _fresh_settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in list(__import__("os").environ):
        if name.startswith("WAFSIEM_"):
            monkeypatch.delenv(name)
    reset_settings()
    yield
    reset_settings()


def test_nested_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WAFSIEM_OPENSEARCH__URL", "http://os.example:9200")
    monkeypatch.setenv("WAFSIEM_TIERING__HOT_DAYS", "3")
    monkeypatch.setenv("WAFSIEM_DETECTOR__PROTECTED_RULES", '["AWS-AWSManagedRulesSQLiRuleSet"]')
    settings = Settings()
    assert settings.opensearch.url == "http://os.example:9200"
    assert settings.tiering.hot_days == 3
    assert settings.detector.protected_rules == ["AWS-AWSManagedRulesSQLiRuleSet"]
    assert settings.detector.apply is False


def test_api_keys_are_validated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "WAFSIEM_API__KEYS", json.dumps([{"name": "ci", "sha256": "not-hex", "scopes": ["read"]}])
    )
    with pytest.raises(ValueError, match="sha256"):
        Settings()
    monkeypatch.setenv(
        "WAFSIEM_API__KEYS", json.dumps([{"name": "ci", "sha256": "a" * 64, "scopes": ["root"]}])
    )
    with pytest.raises(ValueError, match="scopes"):
        Settings()


def test_toml_file_under_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "wafsiem.toml"
    config.write_text(
        '[opensearch]\nurl = "http://from-file:9200"\n[tiering]\nhot_days = 14\n'
        '[firehose]\naccess_key = "file-secret"\n'
    )
    monkeypatch.setenv("WAFSIEM_CONFIG", str(config))
    monkeypatch.setenv("WAFSIEM_TIERING__HOT_DAYS", "2")
    settings = Settings()
    assert settings.opensearch.url == "http://from-file:9200"
    assert settings.tiering.hot_days == 2  # the environment wins over the file
    assert settings.firehose.access_key is not None
    assert settings.firehose.access_key.get_secret_value() == "file-secret"


def test_missing_config_file_is_an_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("WAFSIEM_CONFIG", str(tmp_path / "absent.toml"))
    with pytest.raises(FileNotFoundError, match=r"absent\.toml"):
        Settings()


def test_secrets_are_masked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WAFSIEM_FIREHOSE__ACCESS_KEY", "hunter2")
    monkeypatch.setenv("WAFSIEM_OPENSEARCH__PASSWORD", "os-pass")
    data = masked(Settings())
    text = json.dumps(data)
    assert "hunter2" not in text and "os-pass" not in text
    assert data["firehose"]["access_key"] == "**********"


def test_config_show_masks_and_reads_config_flag(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text('[s3]\nbucket = "from-flag"\nsecret_access_key = "s3-secret"\n')
    runner = CliRunner()
    result = runner.invoke(build_root(), ["--config", str(config), "config", "show", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["s3"]["bucket"] == "from-flag"
    assert data["s3"]["secret_access_key"] == "**********"
    assert "s3-secret" not in result.output

    text = runner.invoke(build_root(), ["--config", str(config), "config", "show"])
    assert "s3.bucket = 'from-flag'" in text.stdout
    assert "s3-secret" not in text.stdout


def test_settings_built_on_first_use_only() -> None:
    code = (
        "import wafsiem, wafsiem.cli, wafsiem.settings, wafsiem.clients, wafsiem.stack.service\n"
        "assert wafsiem.settings.get_settings.cache_info().currsize == 0\n"
        "print('ok')"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert result.stdout.strip() == "ok", result.stderr
    assert get_settings() is get_settings()
