"""What the parser yields: documents, rejects, and the per-stream accounting."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, get_args

import orjson

RejectReason = Literal[
    "not_json",
    "not_object",
    "missing_timestamp",
    "missing_action",
    "missing_http_request",
    "invalid_client_ip",
    "invalid_utf8",
    "truncated",
    "oversized",
]
REJECT_REASONS: tuple[RejectReason, ...] = get_args(RejectReason)

_MS_PER_DAY = 86_400_000
_day_suffix_cache: dict[int, str] = {}


def day_suffix(timestamp_ms: int) -> str:
    """``YYYY.MM.DD`` of a UTC epoch-millisecond timestamp (cached per day)."""
    day = timestamp_ms // _MS_PER_DAY
    suffix = _day_suffix_cache.get(day)
    if suffix is None:
        suffix = datetime.fromtimestamp(day * 86_400, UTC).strftime("%Y.%m.%d")
        if len(_day_suffix_cache) > 4096:
            _day_suffix_cache.clear()
        _day_suffix_cache[day] = suffix
    return suffix


_dumps = orjson.dumps
_bulk_heads: dict[tuple[str, int], bytes] = {}


def _bulk_head(prefix: str, day: int) -> bytes:
    """The ``_bulk`` action line of an index prefix and a day, up to the id."""
    head = f'{{"index":{{"_index":"{prefix}-{day_suffix(day * _MS_PER_DAY)}","_id":"'.encode()
    if len(_bulk_heads) > 4096:
        _bulk_heads.clear()
    _bulk_heads[(prefix, day)] = head
    return head


class ParsedDocument:
    """One WAF record turned into a schema document.

    ``doc`` is the nested document as indexed in OpenSearch; ``id`` is ``event.id`` and
    the OpenSearch ``_id``. A document built by the native fast path arrives as its JSON
    bytes (``source``, with ``doc`` None) and becomes a dict only when ``doc`` is read.
    """

    __slots__ = ("_doc", "_source", "id", "offset", "origin", "timestamp_ms")

    def __init__(
        self,
        doc: dict[str, Any] | None,
        doc_id: str,
        timestamp_ms: int,
        origin: str,
        offset: int,
        source: bytes | None = None,
    ) -> None:
        self._doc = doc
        self._source = source  # orjson.dumps(doc) when given
        self.id = doc_id
        self.timestamp_ms = timestamp_ms
        self.origin = origin
        self.offset = offset

    @property
    def doc(self) -> dict[str, Any]:
        doc = self._doc
        if doc is None:  # from then on the dict is the document (callers may change it)
            doc = self._doc = orjson.loads(self._source)  # type: ignore[arg-type]
            self._source = None
        return doc

    def index_name(self, prefix: str = "waf-logs") -> str:
        """The daily hot index by UTC ``@timestamp``: ``<prefix>-YYYY.MM.DD``."""
        return f"{prefix}-{day_suffix(self.timestamp_ms)}"

    def source_bytes(self) -> bytes:
        """The document as JSON (the ``_source`` sent to OpenSearch)."""
        source = self._source
        return _dumps(self._doc) if source is None else source

    def bulk_lines(self, prefix: str = "waf-logs") -> bytes:
        """Action line and source line for the OpenSearch ``_bulk`` API (``index`` op)."""
        day = self.timestamp_ms // _MS_PER_DAY
        head = _bulk_heads.get((prefix, day))
        if head is None:
            head = _bulk_head(prefix, day)
        source = self._source
        if source is None:
            source = _dumps(self._doc)
        return b"".join((head, self.id.encode(), b'"}}\n', source, b"\n"))

    def flat_row(self) -> dict[str, Any]:
        """The flat Arrow/Parquet row (dotted column names)."""
        from wafsiem.schema import flatten_document

        return flatten_document(self.doc)

    def __repr__(self) -> str:
        return f"ParsedDocument(id={self.id!r}, origin={self.origin!r}, offset={self.offset})"


@dataclass(slots=True)
class Reject:
    """A record that could not become a document, with its raw bytes.

    For an ``oversized`` record ``raw`` is only its first bytes; ``size`` and ``sha256``
    then describe the whole record (``None``: ``raw`` is the whole record).
    """

    reason: RejectReason
    detail: str
    origin: str
    offset: int
    raw: bytes
    size: int | None = None
    sha256: str | None = None

    @property
    def record_size(self) -> int:
        return len(self.raw) if self.size is None else self.size

    @property
    def record_sha256(self) -> str:
        return hashlib.sha256(self.raw).hexdigest() if self.sha256 is None else self.sha256

    def to_json_dict(self) -> dict[str, Any]:
        """The line written to a rejects file."""
        return {
            "reason": self.reason,
            "detail": self.detail,
            "source": self.origin,
            "offset": self.offset,
            "raw_base64": base64.b64encode(self.raw).decode("ascii"),
            **({"size": self.size, "sha256": self.sha256} if self.size is not None else {}),
        }

    def deadletter_document(
        self,
        *,
        origin_kind: str = "file",
        request_id: str | None = None,
        now: datetime | None = None,
    ) -> dict[str, Any]:
        """A document for the ``waf-deadletter`` index (see its template)."""
        moment = now or datetime.now(UTC)
        origin: dict[str, Any] = {"kind": origin_kind, "name": self.origin, "offset": self.offset}
        if request_id is not None:
            origin["request_id"] = request_id
        return {
            "@timestamp": moment.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "reason": self.reason,
            "detail": self.detail,
            "origin": origin,
            "raw": {
                "base64": base64.b64encode(self.raw).decode("ascii"),
                "bytes": self.record_size,
                "sha256": self.record_sha256,
                **({"truncated": True} if self.size is not None else {}),
            },
        }


@dataclass(slots=True)
class ParseStats:
    """Accounting for one stream (or, summed, for many).

    Every record in is either parsed or rejected: ``records_in == parsed + rejected``.
    ``truncated`` is set when the stream ended inside a gzip member or was corrupt.
    """

    origin: str = ""
    records_in: int = 0
    parsed: int = 0
    rejected: int = 0
    rejected_by_reason: dict[str, int] = field(default_factory=dict)
    bytes_read: int = 0
    bytes_decoded: int = 0
    compressed: bool = False
    truncated: bool = False
    truncated_detail: str = ""

    def count_reject(self, reason: str) -> None:
        self.records_in += 1
        self.rejected += 1
        self.rejected_by_reason[reason] = self.rejected_by_reason.get(reason, 0) + 1

    def add(self, other: ParseStats) -> None:
        self.records_in += other.records_in
        self.parsed += other.parsed
        self.rejected += other.rejected
        for reason, count in other.rejected_by_reason.items():
            self.rejected_by_reason[reason] = self.rejected_by_reason.get(reason, 0) + count
        self.bytes_read += other.bytes_read
        self.bytes_decoded += other.bytes_decoded
        self.truncated = self.truncated or other.truncated

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "origin": self.origin,
            "records_in": self.records_in,
            "parsed": self.parsed,
            "rejected": self.rejected,
            "rejected_by_reason": dict(sorted(self.rejected_by_reason.items())),
            "bytes_read": self.bytes_read,
            "bytes_decoded": self.bytes_decoded,
            "compressed": self.compressed,
            "truncated": self.truncated,
            "truncated_detail": self.truncated_detail,
        }
