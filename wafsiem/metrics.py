"""Prometheus metrics of one running app, on a registry the app owns.

Nothing is registered on prometheus_client's global ``REGISTRY``: every app (and every
test) builds its own :class:`Metrics` on its own :class:`CollectorRegistry`, so two apps in
one process never share or collide on counters.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

__all__ = ["CONTENT_TYPE_LATEST", "Metrics"]

LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 180.0)


class Metrics:
    """Ingest counters (by source kind) and Firehose request counters and latency."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        r = self.registry
        self.records_read = Counter(
            "wafsiem_ingest_records_read", "WAF records read", ["kind"], registry=r
        )
        self.records_indexed = Counter(
            "wafsiem_ingest_records_indexed", "records newly indexed", ["kind"], registry=r
        )
        self.records_duplicate = Counter(
            "wafsiem_ingest_records_duplicate",
            "records already indexed (same event.id)",
            ["kind"],
            registry=r,
        )
        self.records_dead_lettered = Counter(
            "wafsiem_ingest_records_dead_lettered",
            "records written to the dead-letter index",
            ["kind"],
            registry=r,
        )
        self.firehose_requests = Counter(
            "wafsiem_firehose_requests",
            "Firehose delivery requests by response status code",
            ["status"],
            registry=r,
        )
        self.firehose_latency = Histogram(
            "wafsiem_firehose_request_seconds",
            "time to answer a Firehose delivery request",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )

    def record_stream(
        self, kind: str, *, read: int, indexed: int, duplicates: int, dead_lettered: int
    ) -> None:
        """Count the outcome of one ingested stream (file, object, Firehose request)."""
        self.records_read.labels(kind=kind).inc(read)
        self.records_indexed.labels(kind=kind).inc(indexed)
        self.records_duplicate.labels(kind=kind).inc(duplicates)
        self.records_dead_lettered.labels(kind=kind).inc(dead_lettered)

    def record_firehose_request(self, status: int, seconds: float) -> None:
        self.firehose_requests.labels(status=str(status)).inc()
        self.firehose_latency.observe(seconds)

    def exposition(self) -> bytes:
        """The registry in the Prometheus text format."""
        return generate_latest(self.registry)
