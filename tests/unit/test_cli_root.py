"""The one `wafsiem` root: core commands, capability commands, `--json` everywhere."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from wafsiem.cli import build_root
from wafsiem.settings import reset_settings


def _leaf_commands(group: click.Group, prefix: str = "") -> dict[str, click.Command]:
    found: dict[str, click.Command] = {}
    for name, command in group.commands.items():
        path = f"{prefix}{name}"
        if isinstance(command, click.Group):
            found.update(_leaf_commands(command, f"{path} "))
        else:
            found[path] = command
    return found


def test_core_commands_registered() -> None:
    commands = _leaf_commands(build_root())
    for name in ("config show", "init", "stack up", "stack down", "stack status", "stack env"):
        assert name in commands


def test_every_command_has_json() -> None:
    for name, command in _leaf_commands(build_root()).items():
        options = {opt for param in command.params for opt in getattr(param, "opts", [])}
        assert "--json" in options, f"`wafsiem {name}` has no --json"


def test_stack_env_prints_exports(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WAFSIEM_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("WAFSIEM_STACK__S3_PORT", "9555")
    reset_settings()
    result = CliRunner().invoke(build_root(), ["stack", "env"])
    reset_settings()
    assert result.exit_code == 0, result.output
    exports = {}
    for line in result.stdout.splitlines():
        assert line.startswith("export ")
        key, _, value = line.removeprefix("export ").partition("=")
        exports[key] = shlex.split(value)[0]
    assert exports["WAFSIEM_OPENSEARCH__URL"] == "http://127.0.0.1:9200"
    assert exports["WAFSIEM_S3__ENDPOINT_URL"] == "http://127.0.0.1:9555"
    assert exports["WAFSIEM_SQS__ENDPOINT_URL"] == "http://127.0.0.1:9324"
    assert exports["WAFSIEM_WAF__ENDPOINT_URL"] == "http://127.0.0.1:5000"
    assert exports["WAFSIEM_STATE_DIR"] == str(tmp_path)


def test_stack_status_json_when_stopped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WAFSIEM_STATE_DIR", str(tmp_path))
    for i, part in enumerate(("OPENSEARCH", "S3", "SQS", "WAF")):
        monkeypatch.setenv(f"WAFSIEM_STACK__{part}_PORT", str(1 + i))  # nothing listens there
    reset_settings()
    result = CliRunner().invoke(build_root(), ["stack", "status", "--json"])
    reset_settings()
    assert result.exit_code == 3
    parts = json.loads(result.stdout)["parts"]
    assert [p["name"] for p in parts] == ["opensearch", "s3", "sqs", "waf"]
    assert not any(p["running"] for p in parts)
    assert all(p["url"].startswith("http://127.0.0.1:") for p in parts)
