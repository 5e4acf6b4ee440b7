"""``tier status`` (every day in either tier) and ``tier restore`` (a cold day back hot)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import orjson
from opensearchpy import OpenSearch

from ingest.bulk import BulkIndexer, BulkItem
from tiering.ledger import Ledger
from tiering.manifest import load_manifest
from tiering.models import DayState, DayStatus, Manifest, RestoreReport
from tiering.parquet_io import iter_partition_batches, unflatten_row
from tiering.service import hot_indices, index_name
from tiering.store import ColdStore
from wafsiem.errors import WafsiemError


def tier_status(
    client: OpenSearch, store: ColdStore, *, prefix: str, state_index: str
) -> list[DayStatus]:
    """Each day known to the hot tier, the cold tier or the ledger, oldest first."""
    hot = hot_indices(client, prefix)
    ledger = {e.date: e for e in Ledger(client, state_index, prefix).all()}
    manifests: dict[date, Manifest] = {}
    for day in store.partitions():
        manifest = load_manifest(store, day)
        if manifest is not None:
            manifests[day] = manifest
    days: list[DayStatus] = []
    for day in sorted(set(hot) | set(ledger) | set(manifests)):
        entry, manifest, index = ledger.get(day), manifests.get(day), hot.get(day)
        state: DayState = "hot"
        if entry is not None and entry.state == "tiering":
            state = "tiering"
        elif manifest is not None:
            state = "cold"
        bytes_hot = index.bytes if index else (entry.bytes_hot if entry else None)
        bytes_cold = manifest.bytes if manifest else None
        ratio = bytes_cold / bytes_hot if bytes_cold is not None and bytes_hot else None
        days.append(
            DayStatus(
                date=day,
                state=state,
                index=index_name(prefix, day),
                hot_index=index is not None,
                rows=manifest.rows if manifest else (index.docs if index else None),
                rows_hot=index.docs if index else None,
                bytes_hot=bytes_hot,
                bytes_cold=bytes_cold,
                ratio=round(ratio, 4) if ratio is not None else None,
                files=len(manifest.files) if manifest else None,
                restored_until=entry.restored_until if entry else None,
                error=entry.error if entry else None,
            )
        )
    return days


def _items(store: ColdStore, manifest: Manifest, index: str) -> Iterator[BulkItem]:
    for batch in iter_partition_batches(store, manifest.date, manifest.files):
        for row in batch.to_pylist():
            doc = unflatten_row(row)
            yield BulkItem(index, doc["event"]["id"], orjson.dumps(doc))


def restore_day(
    client: OpenSearch,
    store: ColdStore,
    day: date,
    *,
    prefix: str,
    state_index: str,
    indexer: BulkIndexer,
    keep_days: int = 7,
    now: datetime | None = None,
) -> RestoreReport:
    """Load a cold day back into ``<prefix>-YYYY.MM.DD`` with the bulk ``create`` op (a
    second restore only meets duplicates). The day stays hot for ``keep_days``; then
    ``tier run`` drops the index again (the partition already holds every row)."""
    started = time.monotonic()
    manifest = load_manifest(store, day)
    if manifest is None:
        raise WafsiemError(f"{day} has no cold partition in {store.uri}")
    index = index_name(prefix, day)
    outcome = indexer.index(_items(store, manifest, index))
    client.indices.refresh(index=index, ignore_unavailable=True)
    until = (now or datetime.now(UTC)) + timedelta(days=keep_days)
    Ledger(client, state_index, prefix).update(day, index, restored_until=until)
    return RestoreReport(
        date=day,
        index=index,
        rows=manifest.rows,
        indexed=outcome.indexed,
        duplicates=outcome.duplicates,
        rejected=len(outcome.rejected),
        restored_until=until,
        seconds=time.monotonic() - started,
    )
