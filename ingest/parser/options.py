"""What the parser needs from the settings, resolved once per run."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from wafsiem.settings import ParserSettings, Settings

DEFAULT_SENSITIVE_HEADERS = ("authorization", "cookie", "set-cookie", "x-api-key")


@dataclass(frozen=True, slots=True)
class ParserOptions:
    """Parser behaviour.

    ``sensitive_headers``: lower-cased header names whose values are replaced by
    ``hmac-sha256:<32 hex>`` (HMAC-SHA256 keyed with ``hash_key``).
    ``keep_original``: put ``event.original`` in documents.
    ``chunk_size``: bytes of decompressed data handed to the framer at a time.
    ``native``: use the native fast path (the optional ``wafsiem-native`` package) when
    it is installed; it gives the same documents, faster (see ``ingest.parser.native``).
    ``max_record_bytes``: a longer record is rejected as ``oversized`` without ever being
    held whole; its first ``oversized_prefix_bytes`` are kept for the dead letter.
    """

    hash_key: bytes = field(repr=False, default=b"wafsiem-default-header-hash-key")
    sensitive_headers: frozenset[str] = frozenset(DEFAULT_SENSITIVE_HEADERS)
    keep_original: bool = True
    chunk_size: int = 1 << 20
    native: bool = True
    max_record_bytes: int = 1 << 20
    oversized_prefix_bytes: int = 64 << 10

    @classmethod
    def from_settings(cls, settings: Settings | ParserSettings) -> ParserOptions:
        from wafsiem.settings import ParserSettings

        parser = settings if isinstance(settings, ParserSettings) else settings.parser
        return cls(
            hash_key=parser.hash_key.get_secret_value().encode("utf-8"),
            sensitive_headers=frozenset(name.lower() for name in parser.sensitive_headers),
            native=parser.native,
            max_record_bytes=parser.max_record_bytes,
        )
