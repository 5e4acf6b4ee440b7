"""The header-hash key: `wafsiem init` generates one, settings read it, serve/ingest warn
loudly while the public default is in use."""

from __future__ import annotations

import logging
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner

from ingest.parser import ParserOptions
from wafsiem.hash_key import (
    DEFAULT_KEY_WARNING,
    ensure_hash_key,
    hash_key_path,
    uses_default_hash_key,
    warn_if_default_hash_key,
)
from wafsiem.settings import DEFAULT_HASH_KEY, Settings


@pytest.fixture(autouse=True)
def _no_key_in_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WAFSIEM_PARSER__HASH_KEY", raising=False)
    monkeypatch.delenv("WAFSIEM_CONFIG", raising=False)


def test_init_generates_a_random_key_once_and_settings_read_it(tmp_path: Path) -> None:
    before = Settings(state_dir=tmp_path)
    assert uses_default_hash_key(before)
    assert ensure_hash_key(before) == ("created", str(tmp_path / "parser-hash-key"))
    path = hash_key_path(before)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    key = path.read_text().strip()
    assert len(key) >= 40 and key != DEFAULT_HASH_KEY

    after = Settings(state_dir=tmp_path)
    assert after.parser.hash_key.get_secret_value() == key
    assert not uses_default_hash_key(after)
    assert ParserOptions.from_settings(after).hash_key == key.encode()
    assert ensure_hash_key(after) == ("exists", str(path))  # idempotent: never replaced
    assert path.read_text().strip() == key

    other = tmp_path / "other"
    ensure_hash_key(Settings(state_dir=other))
    assert (other / "parser-hash-key").read_text().strip() != key  # random per install


def test_a_key_from_the_settings_wins_and_is_not_replaced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WAFSIEM_PARSER__HASH_KEY", "operator-chosen-key")
    settings = Settings(state_dir=tmp_path)
    assert ensure_hash_key(settings) == ("exists", "parser.hash_key (settings)")
    assert not hash_key_path(settings).exists()
    assert warn_if_default_hash_key(settings, "wafsiem ingest") is None


def test_default_key_warns_loudly_on_stderr(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = Settings(state_dir=tmp_path)
    assert warn_if_default_hash_key(settings, "wafsiem ingest") == DEFAULT_KEY_WARNING
    err = capsys.readouterr().err
    assert "wafsiem ingest: WARNING: the header-hash key is the public default" in err
    assert err.count("public default") == 1


def test_ingest_command_warns_with_the_default_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from wafsiem.cli import build_root
    from wafsiem.settings import reset_settings

    monkeypatch.setenv("WAFSIEM_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("WAFSIEM_OPENSEARCH__URL", "http://127.0.0.1:9")
    (tmp_path / "empty").mkdir()
    reset_settings()
    try:
        result = CliRunner().invoke(build_root(), ["ingest", "files", str(tmp_path / "empty")])
        assert "header-hash key is the public default" in result.stderr
        (tmp_path / "parser-hash-key").write_text("a-generated-key\n")
        reset_settings()
        result = CliRunner().invoke(build_root(), ["ingest", "files", str(tmp_path / "empty")])
        assert "public default" not in result.stderr
    finally:
        reset_settings()


def test_serve_warns_with_the_default_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn

    from wafsiem.cli import build_root
    from wafsiem.settings import reset_settings

    monkeypatch.setenv("WAFSIEM_STATE_DIR", str(tmp_path))
    monkeypatch.setattr(uvicorn, "run", lambda *a, **kw: None)
    reset_settings()
    root = logging.getLogger()
    saved = root.handlers[:]
    try:
        result = CliRunner().invoke(build_root(), ["serve", "--json", "--port", "1"])
        assert result.exit_code == 0, result.output
        assert "header-hash key is the public default" in result.stderr
        assert result.stderr.count("public default") == 1  # one copy: the log line
    finally:
        root.handlers[:] = saved
        reset_settings()
