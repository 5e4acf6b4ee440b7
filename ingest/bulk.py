"""Bulk indexing into OpenSearch: at least once, never duplicated, every record accounted.

Documents are written with the ``create`` op and ``_id = event.id``: a replayed record
meets a 409 and is counted as a duplicate instead of being written twice. Only the items
that failed for a transient reason (429, 5xx) are retried, with jittered exponential
backoff; an item OpenSearch rejects for itself (mapping, parse) is returned as rejected so
the caller can dead-letter it. When OpenSearch stays unreachable, :class:`BulkUnavailable`
is raised and nothing must be acknowledged upstream.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

import orjson
from opensearchpy import OpenSearch
from opensearchpy.exceptions import ConnectionError as OSConnectionError
from opensearchpy.exceptions import ConnectionTimeout, TransportError

from wafsiem.errors import WafsiemError

TRANSIENT_STATUSES = frozenset({429, 500, 502, 503, 504})


class BulkUnavailable(WafsiemError):
    """OpenSearch did not take the documents after every retry; acknowledge nothing."""


@dataclass(slots=True)
class BulkItem:
    index: str
    id: str
    source: bytes
    op: str = "create"  # "create" for WAF documents; "index" for idempotent overwrites

    def lines(self) -> bytes:
        action = orjson.dumps({self.op: {"_index": self.index, "_id": self.id}})
        return action + b"\n" + self.source + b"\n"


@dataclass(slots=True)
class BulkRejected:
    item: BulkItem
    status: int
    reason: str


@dataclass
class BulkOutcome:
    indexed: int = 0
    duplicates: int = 0
    rejected: list[BulkRejected] = field(default_factory=list)
    requests: int = 0
    retried_items: int = 0
    bytes_sent: int = 0

    def add(self, other: BulkOutcome) -> None:
        self.indexed += other.indexed
        self.duplicates += other.duplicates
        self.rejected.extend(other.rejected)
        self.requests += other.requests
        self.retried_items += other.retried_items
        self.bytes_sent += other.bytes_sent


def batches(items: Iterable[BulkItem], max_bytes: int) -> Iterator[list[BulkItem]]:
    """Groups of items whose bulk body stays near ``max_bytes`` (at least one item each)."""
    batch: list[BulkItem] = []
    size = 0
    for item in items:
        cost = len(item.source) + len(item.index) + len(item.id) + 40
        if batch and size + cost > max_bytes:
            yield batch
            batch, size = [], 0
        batch.append(item)
        size += cost
    if batch:
        yield batch


class BulkIndexer:
    """Sends bulk requests, a few in flight, retrying only what failed transiently."""

    def __init__(
        self,
        client: OpenSearch,
        *,
        max_bytes: int = 8 * 1024 * 1024,
        concurrency: int = 2,
        max_attempts: int = 8,
        backoff_seconds: float = 0.25,
        max_backoff_seconds: float = 15.0,
        refresh: bool = False,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.client = client
        self.max_bytes = max_bytes
        self.concurrency = max(1, concurrency)
        self.max_attempts = max_attempts
        self.backoff_seconds = backoff_seconds
        self.max_backoff_seconds = max_backoff_seconds
        self.refresh = refresh
        self.sleep = sleep

    def index(self, items: Iterable[BulkItem]) -> BulkOutcome:
        """Index every item; returns once each is indexed, a duplicate, or rejected."""
        total = BulkOutcome()
        if self.concurrency == 1:
            for batch in batches(items, self.max_bytes):
                total.add(self._send_with_retries(batch))
            return total
        with ThreadPoolExecutor(self.concurrency, thread_name_prefix="bulk") as pool:
            pending: set[Future[BulkOutcome]] = set()
            try:
                for batch in batches(items, self.max_bytes):
                    if len(pending) >= self.concurrency:
                        done, pending = wait(pending, return_when=FIRST_COMPLETED)
                        for future in done:
                            total.add(future.result())
                    pending.add(pool.submit(self._send_with_retries, batch))
                for future in pending:
                    total.add(future.result())
            except BaseException:
                for future in pending:
                    future.cancel()
                raise
        return total

    def _backoff(self, attempt: int) -> float:
        ceiling = min(self.max_backoff_seconds, self.backoff_seconds * (2**attempt))
        return random.uniform(ceiling / 2, ceiling)  # noqa: S311 (jitter, not security)

    def _send_with_retries(self, batch: list[BulkItem]) -> BulkOutcome:
        outcome = BulkOutcome()
        for item, (status, reason) in zip(batch, self.send_batch(batch, outcome), strict=True):
            if status in (200, 201):
                outcome.indexed += 1
            elif status == 409:
                outcome.duplicates += 1
            else:
                outcome.rejected.append(BulkRejected(item, status, reason))
        return outcome

    def send_batch(self, batch: list[BulkItem], stats: BulkOutcome) -> list[tuple[int, str]]:
        """Per item of ``batch``: (status, reason) once it is final — 200/201 written,
        409 a duplicate (``create``), anything else refused by OpenSearch for itself.
        Transient failures are retried; :class:`BulkUnavailable` when they persist."""
        results: list[tuple[int, str] | None] = [None] * len(batch)
        todo = list(range(len(batch)))
        last_error = ""
        for attempt in range(self.max_attempts):
            if attempt:
                stats.retried_items += len(todo)
                self.sleep(self._backoff(attempt))
            body = b"".join(batch[i].lines() for i in todo)
            try:
                response = self.client.bulk(
                    body=body, params={"refresh": "true"} if self.refresh else None
                )
            except (OSConnectionError, ConnectionTimeout) as exc:
                last_error = f"connection: {exc}"
                continue
            except TransportError as exc:
                status = exc.status_code if isinstance(exc.status_code, int) else 0
                if status in TRANSIENT_STATUSES:
                    last_error = f"HTTP {status}: {exc.error}"
                    continue
                raise BulkUnavailable(f"OpenSearch refused the bulk request: {exc}") from exc
            stats.requests += 1
            stats.bytes_sent += len(body)
            retry = []
            for i, result in zip(todo, response["items"], strict=True):
                info = next(iter(result.values()))
                status = int(info.get("status", 0))
                if status in TRANSIENT_STATUSES:
                    retry.append(i)
                else:
                    results[i] = (status, "" if status < 300 or status == 409 else _reason(info))
            todo = retry
            if not todo:
                return [r for r in results if r is not None]
            last_error = "items throttled or failed on the server"
        raise BulkUnavailable(
            f"OpenSearch did not take {len(todo)} documents after {self.max_attempts} "
            f"attempts ({last_error})",
            hint="check OpenSearch health; nothing was acknowledged upstream",
        )


def _reason(info: dict[str, Any]) -> str:
    error = info.get("error") or {}
    reason = f"{error.get('type', 'error')}: {error.get('reason', '')}".strip()
    caused = (error.get("caused_by") or {}).get("reason")
    return f"{reason} ({caused})" if caused else reason
