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
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from ingest.bulk import BulkIndexer, BulkItem, BulkOutcome, BulkRejected
from ingest.models import IngestReport, OriginKind, StreamReport
from ingest.parser import ParsedDocument, ParserOptions, ParseStats, Reject, parse_stream
from ingest.parser.service import read_chunks
from wafsiem.settings import Settings

DEADLETTER_FLUSH_ITEMS = 500


@dataclass(frozen=True)
class IngestTarget:
    """Where documents go: the daily-index prefix and the dead-letter index."""

    index_prefix: str = "waf-logs"
    deadletter_index: str = "waf-deadletter"

    @classmethod
    def from_settings(cls, settings: Settings) -> IngestTarget:
        return cls(settings.opensearch.index_prefix, settings.opensearch.deadletter_index)


def _deadletter_id(origin: str, offset: int, raw: bytes) -> str:
    """Stable per record, so a replayed dead letter overwrites itself instead of piling up."""
    digest = hashlib.blake2b(digest_size=16)
    digest.update(origin.encode("utf-8", "surrogateescape"))
    digest.update(offset.to_bytes(8, "big", signed=True))
    digest.update(raw)
    return digest.hexdigest()


def _deadletter_item(
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
) -> BulkItem:
    origin_doc: dict[str, Any] = {"kind": kind, "name": origin, "offset": offset}
    if request_id:
        origin_doc["request_id"] = request_id
    doc: dict[str, Any] = {
        "@timestamp": datetime.now(UTC).isoformat(timespec="milliseconds"),
        "reason": reason,
        "detail": detail[:8000],
        "origin": origin_doc,
        "raw": {
            "base64": base64.b64encode(raw).decode("ascii"),
            "bytes": len(raw),
            "sha256": hashlib.sha256(raw).hexdigest(),
        },
    }
    if event_id:
        doc["event"] = {"id": event_id}
    return BulkItem(
        index=target.deadletter_index,
        id=_deadletter_id(origin, offset, raw),
        source=orjson.dumps(doc),
        op="index",
    )


class _StreamRun:
    """State of one stream while it is being ingested."""

    def __init__(
        self,
        indexer: BulkIndexer,
        target: IngestTarget,
        report: StreamReport,
        request_id: str | None,
    ) -> None:
        self.indexer = indexer
        self.target = target
        self.report = report
        self.request_id = request_id
        self.pending_deadletters: list[BulkItem] = []
        self.offsets: dict[str, int] = {}

    def document_items(self, results: Iterable[ParsedDocument | Reject]) -> Iterator[BulkItem]:
        prefix = self.target.index_prefix
        for result in results:
            if isinstance(result, ParsedDocument):
                self.offsets[result.id] = result.offset
                yield BulkItem(result.index_name(prefix), result.id, orjson.dumps(result.doc))
            else:
                self.pending_deadletters.append(
                    _deadletter_item(
                        self.target,
                        reason=result.reason,
                        detail=result.detail,
                        origin=result.origin,
                        kind=self.report.kind,
                        offset=result.offset,
                        raw=result.raw,
                        request_id=self.request_id,
                    )
                )
                if len(self.pending_deadletters) >= DEADLETTER_FLUSH_ITEMS:
                    self.flush_deadletters()

    def flush_deadletters(self) -> None:
        if not self.pending_deadletters:
            return
        items, self.pending_deadletters = self.pending_deadletters, []
        outcome = self.indexer.index(items)
        if outcome.rejected:  # the dead-letter index refusing is not recoverable here
            first = outcome.rejected[0]
            raise RuntimeError(f"the dead-letter index refused a record: {first.reason}")
        self.report.dead_lettered += len(items)

    def deadletter_refused(self, refused: list[BulkRejected]) -> None:
        for rejected in refused:
            self.pending_deadletters.append(
                _deadletter_item(
                    self.target,
                    reason="opensearch_rejected",
                    detail=f"HTTP {rejected.status}: {rejected.reason}",
                    origin=self.report.origin,
                    kind=self.report.kind,
                    offset=self.offsets.get(rejected.item.id, -1),
                    raw=rejected.item.source,
                    request_id=self.request_id,
                    event_id=rejected.item.id,
                )
            )
        self.report.rejected_by_reason["opensearch_rejected"] = len(refused) + (
            self.report.rejected_by_reason.get("opensearch_rejected", 0)
        )


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
    report = StreamReport(origin=origin, kind=kind)
    stats = ParseStats(origin=origin)
    run = _StreamRun(indexer, target, report, request_id)
    results = parse_stream(chunks, origin=origin, options=options, stats=stats)
    outcome: BulkOutcome = indexer.index(run.document_items(results))
    run.deadletter_refused(outcome.rejected)
    run.flush_deadletters()
    report.records_in = stats.records_in
    report.indexed = outcome.indexed
    report.duplicates = outcome.duplicates
    report.truncated = stats.truncated
    report.bytes_read = stats.bytes_read
    for reason, count in stats.rejected_by_reason.items():
        report.rejected_by_reason[reason] = report.rejected_by_reason.get(reason, 0) + count
    return report


def ingest_file(
    path: Path,
    *,
    indexer: BulkIndexer,
    options: ParserOptions,
    target: IngestTarget,
) -> StreamReport:
    """One file; an unreadable file is reported with the reason, never raised."""
    try:
        return ingest_stream(
            read_chunks(path, options.chunk_size),
            origin=str(path),
            kind="file",
            indexer=indexer,
            options=options,
            target=target,
        )
    except OSError as exc:
        return StreamReport(origin=str(path), kind="file", error=f"{type(exc).__name__}: {exc}")


def ingest_files(
    paths: Iterable[Path],
    *,
    indexer: BulkIndexer,
    options: ParserOptions,
    target: IngestTarget,
    on_stream: Any = None,
) -> IngestReport:
    report = IngestReport()
    for path in paths:
        stream = ingest_file(path, indexer=indexer, options=options, target=target)
        report.add(stream)
        if on_stream is not None:
            on_stream(stream)
    return report
