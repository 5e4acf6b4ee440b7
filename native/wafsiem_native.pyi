"""Types of the native fast path of the wafsiem parser (see native/README.md)."""

from collections.abc import Iterable

class Transformer:
    """One record's bytes -> (event id, @timestamp ms, document JSON), or None."""

    def __init__(
        self, hash_key: bytes, sensitive_headers: Iterable[str], keep_original: bool
    ) -> None: ...
    def build(self, raw: bytes) -> tuple[str, int, bytes] | None:
        """``(event_id, timestamp_ms, source)`` of one record, or None when the Python
        paths must decide."""
