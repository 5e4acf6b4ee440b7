"""WAF log parser: raw bytes (plain or gzip; NDJSON or concatenated JSON) -> schema
documents or rejects. Public API: :func:`parse_stream`, :class:`StreamParser`,
:class:`ParserOptions`, :class:`ParsedDocument`, :class:`Reject`, :class:`ParseStats`."""

from __future__ import annotations

from ingest.parser.models import REJECT_REASONS, ParsedDocument, ParseStats, Reject, RejectReason
from ingest.parser.options import ParserOptions
from ingest.parser.service import (
    ParseResult,
    StreamParser,
    expand_paths,
    parse_file,
    parse_stream,
    read_chunks,
)

__all__ = [
    "REJECT_REASONS",
    "ParseResult",
    "ParseStats",
    "ParsedDocument",
    "ParserOptions",
    "Reject",
    "RejectReason",
    "StreamParser",
    "expand_paths",
    "parse_file",
    "parse_stream",
    "read_chunks",
]
