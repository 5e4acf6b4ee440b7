"""Logging for long-running commands (``wafsiem serve``, ``ingest … --follow``, ``tier run``).

Two formats, chosen by ``settings.log.format`` (``WAFSIEM_LOG__FORMAT``):

- ``json``: one JSON object a line — ``ts`` (UTC, ISO 8601, ms), ``level``, ``logger``,
  ``message``, then every ``extra={...}`` field of the call, and ``exception`` with the
  traceback. Values are data: ``json.dumps`` escapes quotes, newlines, control characters
  and anything outside ASCII, so a logged WAF path can never forge a line or a field.
- ``text``: ``ts level logger: message key=value …`` for people, with control characters
  shown as escapes (``\\n``, ``\\x1b``) for the same reason.
- ``auto`` (default): ``text`` when the stream is a terminal, else ``json``.

:func:`setup_logging` configures the root logger once per call (replacing handlers it
installed before); uvicorn's loggers propagate to it when uvicorn runs with
``log_config=None``.
"""

from __future__ import annotations

import json
import logging
import sys
import traceback
from datetime import UTC, datetime
from typing import IO, Any

from wafsiem.settings import LogSettings

__all__ = ["JsonFormatter", "TextFormatter", "resolve_format", "setup_logging"]

# attributes every LogRecord has: anything else on a record came from ``extra=``
_STANDARD = frozenset(vars(logging.LogRecord("x", logging.INFO, "x", 0, "x", None, None))) | {
    "message",
    "asctime",
    "taskName",
}
_DROPPED = frozenset({"color_message"})  # uvicorn's copy of the message with ANSI colours
# client libraries that log every request at INFO: WARNING unless the level is DEBUG
_CHATTY = ("opensearch", "urllib3", "botocore", "boto3", "s3transfer")
_MARK = "_wafsiem_handler"
_CONTROL = {c: f"\\x{c:02x}" for c in [*range(0x20), 0x7F]} | {
    ord("\n"): "\\n",
    ord("\r"): "\\r",
    ord("\t"): "\\t",
}


def _ts(record: logging.LogRecord) -> str:
    moment = datetime.fromtimestamp(record.created, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def extra_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The ``extra=`` fields of a record; uvicorn's access line as fields too."""
    fields = {
        k: v
        for k, v in vars(record).items()
        if k not in _STANDARD and k not in _DROPPED and not k.startswith("_")
    }
    args = record.args
    if record.name == "uvicorn.access" and isinstance(args, tuple) and len(args) == 5:
        client, method, path, version, status = args
        fields.update(client=client, method=method, path=path, http_version=version, status=status)
    return fields


def _exception(record: logging.LogRecord) -> str | None:
    if record.exc_info and record.exc_info[0] is not None:
        return "".join(traceback.format_exception(*record.exc_info)).rstrip()
    if record.exc_text:
        return record.exc_text
    return None


class JsonFormatter(logging.Formatter):
    """One JSON object per record (see the module docstring)."""

    def format(self, record: logging.LogRecord) -> str:
        body: dict[str, Any] = {
            "ts": _ts(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in extra_fields(record).items():
            body.setdefault(key, value)
        error = _exception(record)
        if error:
            body["exception"] = error
        if record.stack_info:
            body["stack"] = record.stack_info
        return json.dumps(body, ensure_ascii=True, default=str, separators=(",", ":"))


def inert(text: str) -> str:
    """``text`` with control characters shown as escapes (one line, no terminal codes)."""
    return text.translate(_CONTROL)


class TextFormatter(logging.Formatter):
    """``ts level logger: message key=value``, control characters escaped."""

    def format(self, record: logging.LogRecord) -> str:
        line = f"{_ts(record)} {record.levelname} {record.name}: {record.getMessage()}"
        fields = extra_fields(record)
        if fields and record.name != "uvicorn.access":
            line += " " + " ".join(f"{k}={v!r}" for k, v in fields.items())
        error = _exception(record)
        out = inert(line)
        if error:  # a traceback keeps its lines; its text is still made inert line by line
            out += "\n" + "\n".join(inert(part) for part in error.splitlines())
        return out


def resolve_format(fmt: str, stream: IO[str]) -> str:
    if fmt != "auto":
        return fmt
    isatty = getattr(stream, "isatty", None)
    return "text" if isatty is not None and isatty() else "json"


def setup_logging(
    cfg: LogSettings, *, level: str | None = None, stream: IO[str] | None = None
) -> logging.Handler:
    """Send every log record to ``stream`` (default stderr) in the configured format.

    ``level`` (e.g. from ``--log-level``) wins over ``cfg.level``. Returns the handler.
    """
    stream = stream if stream is not None else sys.stderr
    handler = logging.StreamHandler(stream)
    handler.setFormatter(
        JsonFormatter() if resolve_format(cfg.format, stream) == "json" else TextFormatter()
    )
    setattr(handler, _MARK, True)
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _MARK, False)]:
        root.removeHandler(old)
    root.addHandler(handler)
    chosen = (level or cfg.level).upper()
    root.setLevel(chosen)
    for name in _CHATTY:
        logging.getLogger(name).setLevel(logging.NOTSET if chosen == "DEBUG" else logging.WARNING)
    # uvicorn's own loggers: through the root handler, never a second copy
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
        logger.setLevel(logging.NOTSET)  # uvicorn's own config may have set one
        logger.disabled = False
    return handler
