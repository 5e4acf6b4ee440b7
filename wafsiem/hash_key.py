"""The header-hash key: generated once by ``wafsiem init``, loudly missed when it is not.

Sensitive header values (``Authorization``, ``Cookie`` …) are replaced by an HMAC keyed
with ``parser.hash_key``. The built-in default is a public constant, so anyone could
confirm a guessed cookie against the stored hash: ``wafsiem init`` writes a random key to
``<state_dir>/parser-hash-key`` (mode 0600) when none is set, and the settings read it
from there whenever ``WAFSIEM_PARSER__HASH_KEY`` (or the TOML ``parser.hash_key``) is
not given. ``serve`` and ``ingest`` call :func:`warn_if_default_hash_key` at start.
"""

from __future__ import annotations

import logging
import os
import secrets
import sys
from pathlib import Path
from typing import Literal

from wafsiem.settings import DEFAULT_HASH_KEY, HASH_KEY_FILE, Settings

log = logging.getLogger(__name__)

DEFAULT_KEY_WARNING = (
    "WARNING: the header-hash key is the public default: hashed Authorization/Cookie "
    "values can be confirmed by anyone. Run `wafsiem init` (it generates "
    "<state_dir>/parser-hash-key) or set WAFSIEM_PARSER__HASH_KEY to a random secret."
)


def hash_key_path(settings: Settings) -> Path:
    return settings.state_dir / HASH_KEY_FILE


def uses_default_hash_key(settings: Settings) -> bool:
    return settings.parser.hash_key.get_secret_value() == DEFAULT_HASH_KEY


def _stored(path: Path) -> str:
    return path.read_text(encoding="utf-8").strip() if path.is_file() else ""


def ensure_hash_key(settings: Settings) -> tuple[Literal["created", "exists"], str]:
    """Generate and store a random key unless one is set or stored; (outcome, where)."""
    path = hash_key_path(settings)
    current = settings.parser.hash_key.get_secret_value()
    stored = _stored(path)
    if stored:
        return "exists", str(path) if stored == current else "parser.hash_key (settings)"
    if not uses_default_hash_key(settings):
        return "exists", "parser.hash_key (settings)"
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(secrets.token_urlsafe(32) + "\n")
    try:
        os.link(temp, path)  # never replaces a key another init wrote meanwhile
    except FileExistsError:
        return "exists", str(path)
    finally:
        temp.unlink(missing_ok=True)
    return "created", str(path)


def warn_if_default_hash_key(settings: Settings, where: str) -> str | None:
    """A loud warning when the public default key is in use: logged, and written to
    stderr unless wafsiem's log handler is set up (``serve``, ``--follow``) — one copy
    on stderr either way. Returns it (None: a real key)."""
    if not uses_default_hash_key(settings):
        return None
    if any(getattr(h, "_wafsiem_handler", False) for h in logging.getLogger().handlers):
        log.warning("%s: %s", where, DEFAULT_KEY_WARNING)
    else:  # no log handler of ours (one-shot commands): straight to stderr, once
        sys.stderr.write(f"{where}: {DEFAULT_KEY_WARNING}\n")
    return DEFAULT_KEY_WARNING
