"""Ingest one stream: parse, bulk-index documents, dead-letter what cannot be indexed.

:func:`ingest_stream` returns only once every record of the stream is in OpenSearch —
indexed, found to be a duplicate (same ``event.id``), or written to the dead-letter index
with its raw bytes and the reason. Callers acknowledge upstream (SQS delete, Firehose 200,
checkpoint) only after it returns; when OpenSearch is unavailable it raises
:class:`ingest.bulk.BulkUnavailable` and nothing may be acknowledged.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from botocore.exceptions import BotoCoreError, ClientError

from ingest.bulk import BulkIndexer, BulkItem, BulkRejected
from ingest.models import IngestReport, OriginKind, StreamReport
from ingest.parser import ParsedDocument, ParserOptions, ParseStats, parse_stream
from ingest.parser.redact import redact_raw
from ingest.parser.service import read_chunks
from ingest.pipeline import BulkPipeline, StreamTicket
from wafsiem.settings import Settings

log = logging.getLogger(__name__)

DEFAULT_DEADLETTER_RAW_BYTES = 1 << 20


@dataclass(frozen=True)
class IngestTarget:
    """Where documents go: the daily-index prefix and the dead-letter index.

    ``deadletter_raw_bytes``: at most this many raw bytes are stored in a dead letter
    (so no dead letter approaches OpenSearch's ``http.max_content_length``).
    """

    index_prefix: str = "waf-logs"
    deadletter_index: str = "waf-deadletter"
    deadletter_raw_bytes: int = DEFAULT_DEADLETTER_RAW_BYTES

    @classmethod
    def from_settings(cls, settings: Settings) -> IngestTarget:
        return cls(
            settings.opensearch.index_prefix,
            settings.opensearch.deadletter_index,
            settings.ingest.deadletter_raw_bytes,
        )


def _deadletter_id(origin: str, offset: int, raw: bytes) -> str:
    """Stable per record, so a replayed dead letter overwrites itself instead of piling up."""
    digest = hashlib.blake2b(digest_size=16)
    digest.update(origin.encode("utf-8", "surrogateescape"))
    digest.update(offset.to_bytes(8, "big", signed=True))
    digest.update(raw)
    return digest.hexdigest()


def deadletter_raw(
    raw: bytes,
    *,
    options: ParserOptions,
    max_bytes: int = DEFAULT_DEADLETTER_RAW_BYTES,
    size: int | None = None,
    sha256: str | None = None,
) -> dict[str, Any]:
    """The ``raw`` part of a dead letter: at most ``max_bytes`` of the record, with its
    sensitive header values redacted (:func:`ingest.parser.redact.redact_raw`).

    ``bytes`` and ``sha256`` always describe the record as received (pass ``size`` and
    ``sha256`` when ``raw`` is already only a prefix of it), so it stays identifiable;
    ``truncated`` / ``redacted`` (present only when true) and ``stored_bytes`` say that
    ``base64`` holds something else than the original bytes.
    """
    truncated = len(raw) > max_bytes or (size is not None and size > len(raw))
    digest = sha256 or hashlib.sha256(raw).hexdigest()
    total = len(raw) if size is None else size
    stored, redacted = redact_raw(raw[:max_bytes], options)
    doc: dict[str, Any] = {
        "base64": base64.b64encode(stored).decode("ascii"),
        "bytes": total,
        "sha256": digest,
    }
    if truncated or redacted:
        doc["stored_bytes"] = len(stored)
    if truncated:
        doc["truncated"] = True
    if redacted:
        doc["redacted"] = True
    return doc


def deadletter_item(
    target: IngestTarget,
    *,
    reason: str,
    detail: str,
    origin: str,
    kind: OriginKind,
    offset: int,
    raw: bytes,
    request_id: str | None,
    event_id: str | None = None,
    options: ParserOptions | None = None,
    size: int | None = None,
    sha256: str | None = None,
) -> BulkItem:
    """The dead-letter document of one record, with its (bounded, redacted) raw bytes and
    the reason; see :func:`deadletter_raw`. ``options`` gives the sensitive headers and
    the header-hash key (default: the parser's defaults)."""
    origin_doc: dict[str, Any] = {"kind": kind, "name": origin, "offset": offset}
    if request_id:
        origin_doc["request_id"] = request_id
    doc: dict[str, Any] = {
        "@timestamp": datetime.now(UTC).isoformat(timespec="milliseconds"),
        "reason": reason,
        "detail": detail[:8000],
        "origin": origin_doc,
        "raw": deadletter_raw(
            raw,
            options=options or ParserOptions(),
            max_bytes=target.deadletter_raw_bytes,
            size=size,
            sha256=sha256,
        ),
    }
    if event_id:
        doc["event"] = {"id": event_id}
    return BulkItem(
        index=target.deadletter_index,
        id=_deadletter_id(origin, offset, raw),
        source=orjson.dumps(doc),
        op="index",
    )


@dataclass(frozen=True)
class StreamSource:
    """A stream to ingest, opened only when its turn comes."""

    origin: str
    kind: OriginKind
    open: Callable[[], Iterable[bytes]]
    request_id: str | None = None


def _refused_to_deadletter(
    target: IngestTarget, options: ParserOptions
) -> Callable[[StreamTicket, BulkRejected], BulkItem]:
    def handler(ticket: StreamTicket, refused: BulkRejected) -> BulkItem:
        report = ticket.report
        return deadletter_item(
            target,
            reason="opensearch_rejected",
            detail=f"HTTP {refused.status}: {refused.reason}",
            origin=report.origin,
            kind=report.kind,
            offset=ticket.offsets.get(refused.item.id, -1),
            raw=refused.item.source,
            request_id=None,
            event_id=refused.item.id,
            options=options,
        )

    return handler


def _until_broken(
    results: Iterable[ParsedDocument | Any], report: StreamReport
) -> Iterator[ParsedDocument | Any]:
    """The parse results, until the parser itself fails on this stream (a defect met on
    crafted input): then the stream is reported with ``error`` — a failed key the S3
    poller retries with backoff and reports, an SQS message left for redrive — and the
    other streams go on. Read errors are the caller's (``OSError``, botocore)."""
    iterator = iter(results)
    while True:
        try:
            result = next(iterator)
        except StopIteration:
            return
        except (OSError, BotoCoreError, ClientError):
            raise
        except Exception as exc:
            log.exception("parsing %s failed", report.origin)
            report.error = f"parser failed: {type(exc).__name__}: {exc}"[:500]
            return
        yield result


def _feed(
    pipeline: BulkPipeline,
    ticket: StreamTicket,
    source: StreamSource,
    options: ParserOptions,
    target: IngestTarget,
) -> None:
    """Parse one stream into the pipeline; close its ticket with the parse accounting."""
    report = ticket.report
    stats = ParseStats(origin=source.origin)
    prefix = target.index_prefix
    offsets = ticket.offsets
    try:
        for result in _until_broken(
            parse_stream(source.open(), origin=source.origin, options=options, stats=stats),
            report,
        ):
            if isinstance(result, ParsedDocument):
                offsets[result.id] = result.offset
                pipeline.add(
                    ticket, BulkItem(result.index_name(prefix), result.id, result.source_bytes())
                )
            else:
                item = deadletter_item(
                    target,
                    reason=result.reason,
                    detail=result.detail,
                    origin=result.origin,
                    kind=source.kind,
                    offset=result.offset,
                    raw=result.raw,
                    request_id=source.request_id,
                    options=options,
                    size=result.size,
                    sha256=result.sha256,
                )
                pipeline.add(ticket, item, deadletter=True)
    except (OSError, BotoCoreError, ClientError) as exc:
        report.error = f"{type(exc).__name__}: {exc}"
    report.records_in = stats.records_in
    report.truncated = stats.truncated
    report.bytes_read = stats.bytes_read
    for reason, count in stats.rejected_by_reason.items():
        report.rejected_by_reason[reason] = report.rejected_by_reason.get(reason, 0) + count
    pipeline.close(ticket)


def ingest_streams(
    sources: Iterable[StreamSource],
    *,
    indexer: BulkIndexer,
    options: ParserOptions,
    target: IngestTarget,
) -> Iterator[StreamReport]:
    """Ingest many streams through shared bulk bodies; yields each stream's report once
    every one of its records is durable, in the order the streams came.

    A stream that cannot be read is reported with ``error`` (and whatever it yielded
    before the error is accounted for); :class:`ingest.bulk.BulkUnavailable` propagates.
    """
    pipeline = BulkPipeline(indexer)
    pipeline.refused_handler = _refused_to_deadletter(target, options)
    try:
        for source in sources:
            ticket = pipeline.open(StreamReport(origin=source.origin, kind=source.kind))
            _feed(pipeline, ticket, source, options, target)
            for finished in pipeline.finished():
                yield finished.report
        for finished in pipeline.drain():
            yield finished.report
    finally:
        pipeline.shutdown()


def ingest_stream(
    chunks: Iterable[bytes] | bytes,
    *,
    origin: str,
    kind: OriginKind,
    indexer: BulkIndexer,
    options: ParserOptions,
    target: IngestTarget,
    request_id: str | None = None,
) -> StreamReport:
    """Parse and index one stream; returns when every record is durable in OpenSearch."""
    data: Iterable[bytes] = [chunks] if isinstance(chunks, bytes) else chunks
    source = StreamSource(origin, kind, lambda: data, request_id)
    (report,) = ingest_streams([source], indexer=indexer, options=options, target=target)
    return report


def file_source(path: Path, chunk_size: int = 1 << 20) -> StreamSource:
    return StreamSource(str(path), "file", lambda: read_chunks(path, chunk_size))


def ingest_file(
    path: Path,
    *,
    indexer: BulkIndexer,
    options: ParserOptions,
    target: IngestTarget,
) -> StreamReport:
    """One file; an unreadable file is reported with the reason, never raised."""
    (report,) = ingest_streams(
        [file_source(path, options.chunk_size)], indexer=indexer, options=options, target=target
    )
    return report


def ingest_files(
    paths: Iterable[Path],
    *,
    indexer: BulkIndexer,
    options: ParserOptions,
    target: IngestTarget,
    on_stream: Callable[[StreamReport], None] | None = None,
) -> IngestReport:
    """Files in order, sharing bulk bodies; an unreadable file never stops the others."""
    report = IngestReport()
    started = time.monotonic()
    sources = (file_source(path, options.chunk_size) for path in paths)
    for stream in ingest_streams(sources, indexer=indexer, options=options, target=target):
        report.add(stream)
        if on_stream is not None:
            on_stream(stream)
    report.seconds = time.monotonic() - started
    return report
