"""``tier run``: hot daily indices older than ``hot_days`` -> verified Parquet partitions.

Per day, under that day's lease: remove uncommitted files, export the index (PIT), write
Parquet parts, read them back from the store and compare the row count and the set digest
of ``event.id`` with what the index returned, write the hourly rollup
(:mod:`tiering.rollup`), commit the manifest, then block writes to
the index, check its count is still what was exported, and delete it. A crash at any step
leaves either the index or a committed partition (or both), never neither; the next run
finishes the job. A hot index for a day that is already cold (late data, a crash after
the commit, a restore) is merged: rows the partition lacks are added, duplicates dropped.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from opensearchpy import OpenSearch

from tiering.export import export_to_parquet, index_count
from tiering.lease import DEFAULT_TTL_SECONDS, Lease
from tiering.ledger import Ledger
from tiering.manifest import load_manifest, remove_uncommitted, write_manifest
from tiering.models import DayResult, Manifest, ManifestFile, RunReport
from tiering.parquet_io import FILE_ROWS, ROW_GROUP_ROWS, PartWriter, new_run_id, read_back
from tiering.rollup import write_rollup
from tiering.store import ColdStore
from wafsiem.errors import WafsiemError
from wafsiem.schema import SCHEMA_VERSION

CRASH_ENV = "WAFSIEM_TIERING_CRASH_AT"
CRASH_EXIT_CODE = 86
STEPS = (
    "leased",
    "exported",
    "verified",
    "rolled_up",
    "manifest",
    "old_files_deleted",
    "index_blocked",
    "index_deleted",
)


def crash_point(step: str) -> None:
    """Exit at once (no cleanup) when ``$WAFSIEM_TIERING_CRASH_AT`` names ``step``: the
    crash tests' way to kill a run at a known place."""
    if os.environ.get(CRASH_ENV) == step:
        os._exit(CRASH_EXIT_CODE)


class VerificationFailed(WafsiemError):
    """The files read back from the store differ from the index: nothing is deleted."""


@dataclass(frozen=True)
class HotIndex:
    name: str
    day: date
    docs: int
    bytes: int


def index_name(prefix: str, day: date) -> str:
    return f"{prefix}-{day:%Y.%m.%d}"


def hot_indices(client: OpenSearch, prefix: str) -> dict[date, HotIndex]:
    """The daily indices ``<prefix>-YYYY.MM.DD`` with their document count and primary
    store bytes."""
    pattern = re.compile(rf"^{re.escape(prefix)}-(\d{{4}})\.(\d{{2}})\.(\d{{2}})$")
    rows = client.cat.indices(
        index=f"{prefix}-*", format="json", bytes="b", h="index,docs.count,pri.store.size"
    )
    found: dict[date, HotIndex] = {}
    for row in rows:
        match = pattern.match(row["index"])
        if not match:
            continue
        day = date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
        found[day] = HotIndex(
            row["index"], day, int(row.get("docs.count") or 0), int(row.get("pri.store.size") or 0)
        )
    return found


@dataclass
class Tiering:
    """What a run works with; clients are built by the caller."""

    client: OpenSearch
    store: ColdStore
    prefix: str
    state_index: str
    lease_ttl: float = DEFAULT_TTL_SECONDS
    page_size: int = 5000
    row_group_rows: int = ROW_GROUP_ROWS
    file_rows: int = FILE_ROWS
    checkpoint: Callable[[str], None] = crash_point
    on_rows: Callable[[int], None] | None = None
    ledger: Ledger = field(init=False)

    def __post_init__(self) -> None:
        self.ledger = Ledger(self.client, self.state_index, self.prefix)

    def writer(self, day: date, run_id: str, tag: str) -> PartWriter:
        return PartWriter(
            self.store,
            day,
            run_id,
            tag,
            row_group_rows=self.row_group_rows,
            file_rows=self.file_rows,
        )


def cutoff_day(hot_days: int, now: datetime | None = None) -> date:
    """Days strictly before this one are tiered (UTC)."""
    current = now or datetime.now(UTC)
    if current.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return current.astimezone(UTC).date() - timedelta(days=hot_days)


def run_tiering(
    ctx: Tiering,
    *,
    hot_days: int,
    dry_run: bool = False,
    now: datetime | None = None,
    on_day: Callable[[DayResult], None] | None = None,
) -> RunReport:
    """Tier every day before the cutoff: hot indices, and days an interrupted run left."""
    started = time.monotonic()
    cutoff = cutoff_day(hot_days, now)
    report = RunReport(hot_days=hot_days, cutoff=cutoff, dry_run=dry_run)
    hot = hot_indices(ctx.client, ctx.prefix)
    days = {d for d in hot if d < cutoff}
    if not dry_run:
        days |= {e.date for e in ctx.ledger.all() if e.state == "tiering" and e.date < cutoff}
    run_id = new_run_id()
    for day in sorted(days):
        if dry_run:
            manifest = load_manifest(ctx.store, day)
            docs = hot[day].docs if day in hot else 0
            action = "would_merge" if manifest else "would_tier"
            result = DayResult(
                date=day,
                index=index_name(ctx.prefix, day),
                action=action,
                rows=docs,
                bytes_hot=hot[day].bytes if day in hot else 0,
            )
        else:
            result = tier_day(ctx, day, hot.get(day), run_id)
        report.days.append(result)
        if on_day is not None:
            on_day(result)
    report.seconds = time.monotonic() - started
    return report


def tier_day(ctx: Tiering, day: date, hot: HotIndex | None, run_id: str) -> DayResult:
    """Tier one day under its lease; never raises for a day's own failure."""
    started = time.monotonic()
    index = index_name(ctx.prefix, day)
    lease = Lease(
        ctx.client,
        ctx.state_index,
        f"tiering:{ctx.prefix}:{day.isoformat()}",
        ttl_seconds=ctx.lease_ttl,
    )
    if not lease.acquire():
        return DayResult(date=day, index=index, action="skipped_leased")
    try:
        ctx.checkpoint("leased")
        result = _tier_leased(ctx, day, hot, run_id, lease)
    except Exception as exc:
        message = f"{type(exc).__name__}: {exc}"
        with contextlib.suppress(Exception):  # OpenSearch may be what failed
            ctx.ledger.update(day, index, error=message)
        result = DayResult(date=day, index=index, action="failed", error=message)
    finally:
        lease.release()
    result.seconds = time.monotonic() - started
    return result


def _tier_leased(
    ctx: Tiering, day: date, hot: HotIndex | None, run_id: str, lease: Lease
) -> DayResult:
    index = index_name(ctx.prefix, day)
    entry = ctx.ledger.get(day)
    exists = bool(ctx.client.indices.exists(index=index))
    if (
        exists
        and entry is not None
        and entry.restored_until is not None
        and entry.restored_until > datetime.now(UTC)
    ):
        return DayResult(date=day, index=index, action="skipped_restored")
    manifest = load_manifest(ctx.store, day)
    remove_uncommitted(ctx.store, day, manifest)
    ctx.store.clear_spool(day)
    if not exists:
        if manifest is None:
            raise WafsiemError(f"{index} is gone and {day} has no cold partition")
        _mark_cold(ctx, day, index, manifest, hot_bytes=None)
        return DayResult(
            date=day,
            index=index,
            action="finished",
            rows=manifest.rows,
            files=len(manifest.files),
            bytes_cold=manifest.bytes,
        )
    bytes_hot = hot.bytes if hot else 0
    changes: dict[str, Any] = {"state": "tiering", "error": None}
    if manifest is None and bytes_hot:
        changes["bytes_hot"] = bytes_hot
    ctx.ledger.update(day, index, **changes)
    if manifest is None:
        return _tier_fresh(ctx, day, index, run_id, lease, bytes_hot)
    from tiering.merge import merge_day  # merge.py builds on this module

    return merge_day(ctx, day, index, run_id, lease, manifest)


def _tier_fresh(
    ctx: Tiering, day: date, index: str, run_id: str, lease: Lease, bytes_hot: int
) -> DayResult:
    stats, files = export_to_parquet(
        ctx.client,
        index,
        lambda slice_id: ctx.writer(day, run_id, f"s{slice_id}"),
        page_size=ctx.page_size,
        on_page=ctx.on_rows,
        before_page=lease.heartbeat,
    )
    ctx.checkpoint("exported")
    verify_parts(ctx.store, day, files, stats.rows, stats.digest.hex)
    ctx.checkpoint("verified")
    rollup = write_rollup(ctx.store, day, files, stats.rows, run_id)
    ctx.checkpoint("rolled_up")
    manifest = Manifest(
        date=day,
        files=files,
        rows=stats.rows,
        digest=stats.digest.hex,
        schema_version=SCHEMA_VERSION,
        created=datetime.now(UTC),
        source_indices=[index],
        run_id=run_id,
        rollup=rollup,
    )
    lease.renew()
    write_manifest(ctx.store, manifest)
    ctx.checkpoint("manifest")
    result = DayResult(
        date=day,
        index=index,
        action="tiered",
        rows=stats.rows,
        rows_added=stats.rows,
        files=len(files),
        bytes_hot=bytes_hot,
        bytes_cold=manifest.bytes,
    )
    return finish_day(ctx, day, index, lease, manifest, stats.rows, result)


def verify_parts(
    store: ColdStore, day: date, files: list[ManifestFile], rows: int, digest: str
) -> None:
    back = read_back(store, day, files)
    problems = []
    if back.rows != rows:
        problems.append(f"rows {back.rows} != {rows}")
    if back.digest != digest:
        problems.append("event.id digest differs")
    if back.distinct != back.rows:
        problems.append(f"{back.rows - back.distinct} duplicate event.id")
    if not back.schema_ok:
        problems.append("schema differs")
    if problems:
        for entry in files:  # never committed: remove now rather than on the next run
            store.delete(f"date={day.isoformat()}/{entry.name}")
        raise VerificationFailed(
            f"{day}: files read back differ from the index: " + "; ".join(problems)
        )


def finish_day(
    ctx: Tiering,
    day: date,
    index: str,
    lease: Lease,
    manifest: Manifest,
    exported: int,
    result: DayResult,
) -> DayResult:
    """Block writes, check the index still holds exactly what was exported, delete it."""
    lease.renew()
    ctx.client.indices.put_settings(index=index, body={"index.blocks.write": True})
    ctx.checkpoint("index_blocked")
    now = index_count(ctx.client, index)
    if now != exported:  # written to while exported: keep it, the next run merges the rest
        ctx.client.indices.put_settings(index=index, body={"index.blocks.write": None})
        ctx.ledger.update(
            day,
            index,
            state="cold",
            rows=manifest.rows,
            files=len(manifest.files),
            bytes_cold=manifest.bytes,
            digest=manifest.digest,
            error=f"{index} changed during export ({exported} -> {now} docs)",
        )
        return result.model_copy(update={"action": "left_hot"})
    ctx.client.indices.delete(index=index)
    ctx.checkpoint("index_deleted")
    _mark_cold(ctx, day, index, manifest, hot_bytes=result.bytes_hot or None)
    return result


def _mark_cold(
    ctx: Tiering, day: date, index: str, manifest: Manifest, hot_bytes: int | None
) -> None:
    changes: dict[str, Any] = {
        "state": "cold",
        "rows": manifest.rows,
        "files": len(manifest.files),
        "bytes_cold": manifest.bytes,
        "digest": manifest.digest,
        "error": None,
        "restored_until": None,
    }
    if hot_bytes:
        changes["bytes_hot"] = hot_bytes
    ctx.ledger.update(day, index, **changes)
