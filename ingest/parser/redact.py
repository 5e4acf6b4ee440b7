"""Best-effort redaction of sensitive header values in raw bytes (dead letters).

A dead letter keeps a record's raw bytes because the record could not be parsed — so the
parser never got to replace its sensitive header values. :func:`redact_raw` does it on
the bytes themselves, textually, so that it works on malformed JSON too: every
``"name": "<sensitive>", "value": "<v>"`` pair (either order, any case, any whitespace,
JSON escapes in the name understood) gets ``<v>`` replaced by exactly what the parser
would have put there: ``hmac-sha256:<32 hex>`` of the decoded value, keyed with the
header-hash key. This covers ``httpRequest.headers`` and the HEADER custom values of
rate-based rules. A value cut off by the end of the bytes (a truncated record, the
prefix of an oversized one) is replaced up to the end.

Limits (documented in docs/hostile-input.md): only the ``name``/``value`` JSON layout is
recognised — a pair with another member between ``name`` and ``value``, a name or value
that is not a JSON string, text that is not JSON-like, or bytes that are themselves
encoded (a Firehose record that is not valid base64 or gzip is kept as received) pass
through unchanged; and a secret copied into another field (a URI, ``matchedData``) is not
found. The SHA-256 of the original bytes is kept beside the redacted ones.
"""

from __future__ import annotations

import re
from typing import Final

import orjson

from ingest.parser.options import ParserOptions
from ingest.parser.transform import header_hasher

_STRING: Final = rb'"((?:[^"\\]|\\.)*)'  # a JSON string's body (the closing quote follows)
_SEP: Final = rb"\s*,\s*"
_NAME_FIRST: Final = re.compile(
    rb'"name"\s*:\s*' + _STRING + rb'"' + _SEP + rb'"value"\s*:\s*' + _STRING + rb'("|\\?\Z)',
    re.DOTALL,
)
_VALUE_FIRST: Final = re.compile(
    rb'"value"\s*:\s*' + _STRING + rb'"' + _SEP + rb'"name"\s*:\s*' + _STRING + rb'"',
    re.DOTALL,
)
_HASHED: Final = re.compile(rb"hmac-sha256:[0-9a-f]{32}")


def _decode(body: bytes) -> str:
    """A JSON string body as text (undecodable escapes/UTF-8 tolerated)."""
    if b"\\" in body:
        try:
            text = orjson.loads(b'"' + body + b'"')
            if isinstance(text, str):
                return text
        except orjson.JSONDecodeError:
            pass
    return body.decode("utf-8", "surrogateescape")


def redact_raw(raw: bytes, options: ParserOptions) -> tuple[bytes, int]:
    """``raw`` with sensitive header values replaced, and how many were replaced."""
    names = options.sensitive_headers
    if not names or b'"name"' not in raw:
        return raw, 0
    if b"\\u" not in raw:  # cheap pre-check: no escaped name, so some name must show
        lower = raw.lower()
        if not any(name.encode("utf-8") in lower for name in names):
            return raw, 0
    hasher = header_hasher(options)
    count = 0

    def hidden(value: bytes) -> bytes:
        if _HASHED.fullmatch(value):  # already the parser's (a rejected document's source)
            return value
        return hasher.hash_value(_decode(value)).encode("ascii")

    def name_first(match: re.Match[bytes]) -> bytes:
        nonlocal count
        if _decode(match.group(1)).lower() not in names:
            return match.group(0)
        count += 1
        whole, start = match.group(0), match.start()
        closing = b'"' if match.group(3) == b'"' else b""  # else cut off by the end
        return whole[: match.start(2) - start] + hidden(match.group(2)) + closing

    def value_first(match: re.Match[bytes]) -> bytes:
        nonlocal count
        if _decode(match.group(2)).lower() not in names:
            return match.group(0)
        count += 1
        whole, start = match.group(0), match.start()
        value_start, value_end = match.span(1)
        return whole[: value_start - start] + hidden(match.group(1)) + whole[value_end - start :]

    redacted = _NAME_FIRST.sub(name_first, raw)
    redacted = _VALUE_FIRST.sub(value_first, redacted)
    return redacted, count
