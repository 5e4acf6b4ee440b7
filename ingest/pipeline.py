"""Many streams through shared, full bulk bodies — each still acknowledged in order.

Files and S3 objects are often small (a 5-minute WAF file holds a few hundred records):
indexing them one at a time leaves OpenSearch idle while the next one is parsed. The
pipeline packs the documents of consecutive streams into full bulk bodies, keeps a few
requests in flight, and reports a stream as finished only when every one of its records
is indexed, a duplicate, or dead-lettered — and only after every stream before it, so a
checkpoint written on that report never skips an unfinished stream.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field

from ingest.bulk import BulkIndexer, BulkItem, BulkOutcome, BulkRejected
from ingest.models import StreamReport

RefusedHandler = Callable[["StreamTicket", BulkRejected], BulkItem]


@dataclass
class StreamTicket:
    """One stream's progress through the pipeline."""

    report: StreamReport
    pending: int = 0
    closed: bool = False
    offsets: dict[str, int] = field(default_factory=dict)  # event.id -> offset in stream

    @property
    def finished(self) -> bool:
        return self.closed and self.pending == 0


@dataclass
class _Entry:
    ticket: StreamTicket
    item: BulkItem
    deadletter: bool


class BulkPipeline:
    """Not thread-safe: one producer thread feeds it; HTTP runs on a small pool."""

    def __init__(self, indexer: BulkIndexer) -> None:
        self.indexer = indexer
        self.stats = BulkOutcome()
        self._batch: list[_Entry] = []
        self._batch_bytes = 0
        self._inflight: dict[Future[list[tuple[int, str]]], list[_Entry]] = {}
        self._pool = ThreadPoolExecutor(indexer.concurrency, thread_name_prefix="bulk")
        self._order: deque[StreamTicket] = deque()
        self.refused_handler: RefusedHandler | None = None  # refused doc -> dead letter

    # -- producer side ---------------------------------------------------------------------

    def open(self, report: StreamReport) -> StreamTicket:
        ticket = StreamTicket(report)
        self._order.append(ticket)
        return ticket

    def add(self, ticket: StreamTicket, item: BulkItem, *, deadletter: bool = False) -> None:
        self._append(ticket, item, deadletter)
        if self._batch_bytes >= self.indexer.max_bytes:
            self._send()

    def _append(self, ticket: StreamTicket, item: BulkItem, deadletter: bool) -> None:
        ticket.pending += 1
        self._batch.append(_Entry(ticket, item, deadletter))
        self._batch_bytes += len(item.source) + len(item.index) + len(item.id) + 40

    def close(self, ticket: StreamTicket) -> None:
        ticket.closed = True

    def finished(self) -> Iterator[StreamTicket]:
        """Streams finished so far, in the order they were opened (non-blocking)."""
        self._collect(block=False)
        while self._order and self._order[0].finished:
            yield self._order.popleft()

    def drain(self) -> Iterator[StreamTicket]:
        """Send what is left and wait for everything; finished streams in order."""
        while self._order or self._batch or self._inflight:
            if self._batch:
                self._send()
            elif self._inflight:
                self._collect(block=True)
            yield from self.finished()
            if self._order and not self._batch and not self._inflight:
                head = self._order[0]
                if not head.closed:
                    raise RuntimeError("drain() called with a stream still open")
                if head.pending:  # pragma: no cover - defensive; accounting bug
                    raise RuntimeError(f"{head.report.origin}: {head.pending} items lost")

    def shutdown(self) -> None:
        for future in self._inflight:
            future.cancel()
        self._pool.shutdown(wait=True, cancel_futures=True)

    # -- sending and accounting ----------------------------------------------------------------

    def _send(self) -> None:
        while len(self._inflight) >= self.indexer.concurrency:
            self._collect(block=True)
        entries, self._batch, self._batch_bytes = self._batch, [], 0
        if entries:
            items = [e.item for e in entries]
            future = self._pool.submit(self.indexer.send_batch, items, self.stats)
            self._inflight[future] = entries

    def _collect(self, block: bool) -> None:
        if not self._inflight:
            return
        done, _ = wait(
            list(self._inflight), timeout=None if block else 0, return_when=FIRST_COMPLETED
        )
        for future in done:
            entries = self._inflight.pop(future)
            results = future.result()  # BulkUnavailable propagates: nothing acknowledged
            for entry, (status, reason) in zip(entries, results, strict=True):
                self._account(entry, status, reason)

    def _account(self, entry: _Entry, status: int, reason: str) -> None:
        ticket, report = entry.ticket, entry.ticket.report
        ticket.pending -= 1
        if entry.deadletter:
            if status >= 300:
                raise RuntimeError(f"the dead-letter index refused a record: {reason}")
            report.dead_lettered += 1
        elif status in (200, 201):
            report.indexed += 1
        elif status == 409:
            report.duplicates += 1
        else:
            refused = BulkRejected(entry.item, status, reason)
            if self.refused_handler is None:
                raise RuntimeError(f"OpenSearch refused a document and no handler: {reason}")
            self._append(ticket, self.refused_handler(ticket, refused), deadletter=True)
            count = report.rejected_by_reason.get("opensearch_rejected", 0)
            report.rejected_by_reason["opensearch_rejected"] = count + 1
