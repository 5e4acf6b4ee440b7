"""The parser's public entry points: bytes in, documents and rejects out.

``parse_stream(chunks, origin=..., options=...)`` yields :class:`ParsedDocument` or
:class:`Reject` for every record, in stream order; :class:`StreamParser` does the same
and keeps the :class:`ParseStats` of the stream (``.stats``, including ``truncated``).
Every record in is accounted for: ``records_in == parsed + rejected``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

from ingest.parser.fastpath import FastContext, build_fast
from ingest.parser.framing import NOT_PARSED, Frame, Oversized, RecordFramer, decoded_chunks
from ingest.parser.models import ParsedDocument, ParseStats, Reject
from ingest.parser.native import native_builder
from ingest.parser.options import ParserOptions
from ingest.parser.transform import RecordError, build_document

ParseResult = ParsedDocument | Reject
Chunks = Iterable[bytes] | bytes | bytearray | memoryview


class StreamParser:
    """Parses one stream (a file, an S3 object, a Firehose request body)."""

    def __init__(self, *, origin: str, options: ParserOptions, stats: ParseStats | None = None):
        self.origin = origin
        self.options = options
        self.stats = stats if stats is not None else ParseStats(origin=origin)
        if not self.stats.origin:
            self.stats.origin = origin
        self._fast = FastContext(options)
        self._native = native_builder(options)

    def parse(self, chunks: Chunks) -> Iterator[ParseResult]:
        stats = self.stats
        framer = RecordFramer(
            prebuild=self._native,
            max_record_bytes=self.options.max_record_bytes,
            prefix_bytes=self.options.oversized_prefix_bytes,
        )
        record = self._record
        fast = self._fast
        origin = self.origin
        for data in decoded_chunks(_as_chunks(chunks, self.options.chunk_size), stats):
            stats.bytes_decoded += len(data)
            for frame in framer.iter_feed(data):
                value = frame[2]
                if value.__class__ is tuple:  # built by the native fast path
                    stats.records_in += 1
                    stats.parsed += 1
                    yield ParsedDocument(None, value[0], value[1], origin, frame[0], value[2])
                    continue
                if value.__class__ is dict:  # the common case, inline
                    built = build_fast(value, frame[1], fast)
                    if built is not None:
                        stats.records_in += 1
                        stats.parsed += 1
                        yield ParsedDocument(built[2], built[0], built[1], origin, frame[0])
                        continue
                yield record(frame, cut_short=False)
        tail = framer.finish()
        for index, frame in enumerate(tail):
            yield record(frame, cut_short=stats.truncated and index == len(tail) - 1)

    def _record(self, frame: Frame, *, cut_short: bool) -> ParseResult:
        offset, raw, value = frame
        stats = self.stats
        if value is NOT_PARSED:
            return self._reject(_unparsed_reason(raw, cut_short), raw, offset)
        if value.__class__ is Oversized:
            reject = self._reject(
                (
                    "oversized",
                    f"record of {value.size} bytes exceeds the limit of "
                    f"{self.options.max_record_bytes} bytes (parser.max_record_bytes); "
                    f"raw holds its first {len(raw)} bytes",
                ),
                raw,
                offset,
            )
            reject.size, reject.sha256 = value.size, value.sha256
            return reject
        if value.__class__ is tuple:  # built by the native fast path
            stats.records_in += 1
            stats.parsed += 1
            return ParsedDocument(None, value[0], value[1], self.origin, offset, value[2])
        if not isinstance(value, dict):
            return self._reject(
                ("not_object", f"JSON {type(value).__name__}, not an object"), raw, offset
            )
        try:
            doc_id, timestamp, doc = build_document(value, raw, self.options)
        except RecordError as exc:
            return self._reject((exc.reason, exc.detail), raw, offset)
        stats.records_in += 1
        stats.parsed += 1
        return ParsedDocument(doc, doc_id, timestamp, self.origin, offset)

    def _reject(self, reason_detail: tuple[str, str], raw: bytes, offset: int) -> Reject:
        reason, detail = reason_detail
        self.stats.count_reject(reason)
        return Reject(reason, detail, self.origin, offset, raw)  # type: ignore[arg-type]


def _unparsed_reason(raw: bytes, cut_short: bool) -> tuple[str, str]:
    if cut_short:
        return "truncated", "record cut short by the end of a truncated stream"
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return "invalid_utf8", f"invalid UTF-8 at byte {exc.start}"
    return "not_json", "not a JSON value"


def _as_chunks(chunks: Chunks, size: int) -> Iterable[bytes]:
    if isinstance(chunks, bytes | bytearray | memoryview):
        data = bytes(chunks)
        return (data[i : i + size] for i in range(0, len(data), size)) if data else ()
    return chunks


def parse_stream(
    chunks: Chunks,
    *,
    origin: str,
    options: ParserOptions,
    stats: ParseStats | None = None,
) -> Iterator[ParseResult]:
    """Documents and rejects of one stream, in order. Pass ``stats`` to read the
    stream's accounting (``truncated`` included) once the iterator is exhausted."""
    return StreamParser(origin=origin, options=options, stats=stats).parse(chunks)


def read_chunks(path: Path, size: int = 1 << 20) -> Iterator[bytes]:
    """A file's bytes in chunks of ``size``."""
    with path.open("rb") as handle:
        while chunk := handle.read(size):
            yield chunk


def parse_file(
    path: Path, *, options: ParserOptions, stats: ParseStats | None = None
) -> Iterator[ParseResult]:
    """Documents and rejects of one file (plain or gzip, whatever its name)."""
    return parse_stream(
        read_chunks(path, options.chunk_size), origin=str(path), options=options, stats=stats
    )


def expand_paths(paths: Iterable[Path]) -> list[Path]:
    """Files named, and every file under directories named (recursive, sorted)."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(p for p in path.rglob("*") if p.is_file()))
        elif path.exists():
            files.append(path)
        else:
            raise FileNotFoundError(f"no such file or directory: {path}")
    return files
