"""wafsiem.logs: JSON lines (ts, level, logger, message, extra fields) whose values are
data, inert text lines, the auto format, and the log settings from the environment."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from datetime import datetime

import pytest

from wafsiem.logs import JsonFormatter, TextFormatter, resolve_format, setup_logging
from wafsiem.settings import LogSettings, Settings

HOSTILE = 'GET /"}\n{"level":"critical","forged":true}\x1b[31mred\u2028\ud800'


def record(message: str, *args: object, **extra: object) -> logging.LogRecord:
    rec = logging.getLogger("wafsiem.test").makeRecord(
        "wafsiem.test", logging.WARNING, __file__, 1, message, args, None, extra=extra
    )
    return rec


def test_json_line_has_the_fields_and_extras() -> None:
    line = JsonFormatter().format(record("blocked %d", 3, rule="SQLi", count=3))
    assert "\n" not in line
    body = json.loads(line)
    assert body["level"] == "warning"
    assert body["logger"] == "wafsiem.test"
    assert body["message"] == "blocked 3"
    assert body["rule"] == "SQLi" and body["count"] == 3
    ts = datetime.fromisoformat(body["ts"])
    assert ts.utcoffset() is not None and ts.utcoffset().total_seconds() == 0  # type: ignore[union-attr]
    assert body["ts"].endswith("Z")


def test_hostile_values_stay_data_in_json() -> None:
    line = JsonFormatter().format(record("path %s", HOSTILE, path=HOSTILE))
    assert "\n" not in line and "\x1b" not in line and "\u2028" not in line
    assert line.isascii()
    body = json.loads(line)
    assert body["message"] == f"path {HOSTILE}"
    assert body["path"] == HOSTILE
    assert "forged" not in body and body["level"] == "warning"


def test_extra_cannot_replace_the_standard_fields() -> None:
    body = json.loads(JsonFormatter().format(record("m", ts="fake", logger="fake")))
    assert body["ts"] != "fake" and body["logger"] == "wafsiem.test"


def test_exception_and_unserialisable_values() -> None:
    try:
        raise ValueError("boom\nsecond line")
    except ValueError:
        rec = logging.getLogger("x").makeRecord(
            "x", logging.ERROR, __file__, 1, "failed", (), __import__("sys").exc_info()
        )
    rec.when = datetime(2026, 1, 1)  # not JSON: rendered with str()
    body = json.loads(JsonFormatter().format(rec))
    assert "ValueError: boom" in body["exception"] and "Traceback" in body["exception"]
    assert body["when"] == "2026-01-01 00:00:00"


def test_text_lines_are_inert() -> None:
    line = TextFormatter().format(record("path %s", HOSTILE, rule="a\nb"))
    assert "\n" not in line and "\x1b" not in line
    assert "\\n" in line and "\\x1b" in line
    assert "WARNING wafsiem.test: path GET" in line


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_auto_is_text_on_a_terminal_json_elsewhere() -> None:
    assert resolve_format("auto", Tty()) == "text"
    assert resolve_format("auto", io.StringIO()) == "json"
    assert resolve_format("json", Tty()) == "json"
    assert resolve_format("text", io.StringIO()) == "text"


@pytest.fixture
def restore_root() -> Iterator[None]:
    root, chatty = logging.getLogger(), logging.getLogger("opensearch")
    handlers, level, chatty_level = list(root.handlers), root.level, chatty.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    chatty.setLevel(chatty_level)


@pytest.mark.usefixtures("restore_root")
def test_setup_logging_once_with_level() -> None:
    stream = io.StringIO()
    setup_logging(LogSettings(format="json", level="info"), stream=stream)
    handler = setup_logging(LogSettings(format="json", level="info"), stream=stream)
    assert sum(h is handler for h in logging.getLogger().handlers) == 1
    logging.getLogger("wafsiem.a").debug("hidden")
    logging.getLogger("wafsiem.a").info("shown", extra={"day": "2026-11-24"})
    logging.getLogger("opensearch").info("GET /_cluster/health")  # client chatter: quiet
    logging.getLogger("uvicorn.access").info(
        '%s - "%s %s HTTP/%s" %d', "127.0.0.1:5", "GET", "/healthz", "1.1", 200
    )
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert len(lines) == 2 and lines[0]["message"] == "shown"
    assert lines[0]["day"] == "2026-11-24"
    assert lines[1]["path"] == "/healthz" and lines[1]["status"] == 200


@pytest.mark.usefixtures("restore_root")
def test_level_argument_wins() -> None:
    stream = io.StringIO()
    setup_logging(LogSettings(format="text", level="error"), level="debug", stream=stream)
    logging.getLogger("wafsiem.b").debug("now visible")
    assert "DEBUG wafsiem.b: now visible" in stream.getvalue()


def test_log_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WAFSIEM_LOG__FORMAT", "JSON")
    monkeypatch.setenv("WAFSIEM_LOG__LEVEL", "Warning")
    settings = Settings()
    assert settings.log.format == "json" and settings.log.level == "warning"
    monkeypatch.setenv("WAFSIEM_LOG__FORMAT", "xml")
    with pytest.raises(ValueError, match="format"):
        Settings()
