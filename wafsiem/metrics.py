"""Prometheus metrics of one running app, on a registry the app owns.

Nothing is registered on prometheus_client's global ``REGISTRY``: every app (and every
test) builds its own :class:`Metrics` on its own :class:`CollectorRegistry`, so two apps in
one process never share or collide on counters.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, cast

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    write_to_textfile,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.metrics_core import Metric

__all__ = ["CONTENT_TYPE_LATEST", "Metrics", "query_tier"]

LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 180.0)


def query_tier(hot_days: Iterable[object], cold_days: Iterable[object]) -> str:
    """``hot``, ``cold``, ``mixed`` or ``none``: which tiers answered a query."""
    hot, cold = bool(list(hot_days)), bool(list(cold_days))
    return "mixed" if hot and cold else "hot" if hot else "cold" if cold else "none"


class Metrics:
    """Ingest counters (by source kind), Firehose requests and latency, queries by
    operation and tier, override attempts by result and actor, detector decisions,
    background loop rounds, and tiering days by action."""

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

        self.query_requests = Counter(
            "wafsiem_query_requests",
            "query API requests by operation (events, top, timeline) and the tiers that "
            "answered (hot, cold, mixed, none; failed when the query raised)",
            ["operation", "tier"],
            registry=r,
        )
        self.query_seconds = Histogram(
            "wafsiem_query_seconds",
            "time to answer a query API request",
            ["operation"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.overrides = Counter(
            "wafsiem_overrides",
            "override and revert attempts by kind and audited result "
            "(applied, unverified, dry_run, unchanged, reverted, refused, failed) and actor",
            ["kind", "result", "actor"],
            registry=r,
        )
        self.detector_decisions = Counter(
            "wafsiem_detector_decisions",
            "detector decisions by action (override, skip, keep) and result "
            "(applied, dry_run, unchanged, failed; none when nothing was attempted)",
            ["action", "result"],
            registry=r,
        )
        self.loop_rounds = Counter(
            "wafsiem_loop_rounds",
            "rounds of the background loops of `wafsiem serve` (detector, ttl) by outcome",
            ["loop", "outcome"],
            registry=r,
        )
        self.s3_failed_keys = Gauge(
            "wafsiem_ingest_s3_failed_keys",
            "S3 keys of a polled source that could not be read, by state "
            "(retrying: waiting for a backoff; given_up: past max_attempts)",
            ["source", "state"],
            registry=r,
        )
        self.s3_retries = Counter(
            "wafsiem_ingest_s3_retries",
            "reads of failed S3 keys after their backoff, by result (recovered, failed)",
            ["source", "result"],
            registry=r,
        )
        self.tiering_days = Counter(
            "wafsiem_tiering_days",
            "days handled by `wafsiem tier run` by action",
            ["action"],
            registry=r,
        )
        self.tiering_rows = Counter(
            "wafsiem_tiering_rows", "rows written to the cold tier", registry=r
        )
        self.tiering_last_run = Gauge(
            "wafsiem_tiering_last_run_timestamp_seconds",
            "when the last `wafsiem tier run` finished (Unix time)",
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

    def record_query(self, operation: str, tier: str, seconds: float) -> None:
        self.query_requests.labels(operation=operation, tier=tier).inc()
        self.query_seconds.labels(operation=operation).observe(seconds)

    def record_override(self, record: Mapping[str, Any] | None) -> None:
        """Count one override or revert attempt from its audit record."""
        if not record:
            return
        self.overrides.labels(
            kind=str(record.get("kind") or "override"),
            result=str(record.get("result") or "unknown"),
            actor=str(record.get("actor") or "unknown"),
        ).inc()

    def record_decision(self, action: str, result: str | None) -> None:
        self.detector_decisions.labels(action=action, result=result or "none").inc()

    def record_loop_round(self, loop: str, ok: bool) -> None:
        self.loop_rounds.labels(loop=loop, outcome="ok" if ok else "failed").inc()

    def record_s3_poll(
        self, source: str, *, retrying: int, given_up: int, retried: int, recovered: int
    ) -> None:
        """The failed keys of one `ingest s3` pass over ``source`` (never dropped silently)."""
        self.s3_failed_keys.labels(source=source, state="retrying").set(retrying)
        self.s3_failed_keys.labels(source=source, state="given_up").set(given_up)
        self.s3_retries.labels(source=source, result="recovered").inc(recovered)
        self.s3_retries.labels(source=source, result="failed").inc(max(retried - recovered, 0))

    def record_tiering_day(self, action: str, rows: int) -> None:
        self.tiering_days.labels(action=action).inc()
        self.tiering_rows.inc(rows)

    def exposition(self) -> bytes:
        """The registry in the Prometheus text format."""
        return generate_latest(self.registry)

    def write_textfile(self, path: Path, prefix: str = "wafsiem_") -> None:
        """The metrics named ``prefix…`` as a file for node_exporter's textfile collector
        (atomic rename): how a batch job (``wafsiem tier run``) hands its counters to
        Prometheus."""
        write_to_textfile(str(path), cast(CollectorRegistry, _Only(self.registry, prefix)))


class _Only:
    """The families of a registry whose names start with a prefix (a read-only view)."""

    def __init__(self, registry: CollectorRegistry, prefix: str) -> None:
        self.registry, self.prefix = registry, prefix

    def collect(self) -> Iterator[Metric]:
        for family in self.registry.collect():
            if family.name.startswith(self.prefix):
                yield family
