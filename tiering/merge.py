"""Late data: a hot index for a day that is already in the cold tier (records that
arrived late, a crash between the commit and the index delete, an expired restore) is
merged into the partition without duplicate ``event.id`` values."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from tiering.export import export_index
from tiering.lease import Lease
from tiering.manifest import remove_uncommitted, write_manifest
from tiering.models import DayResult, Manifest
from tiering.parquet_io import (
    dedup_table,
    id_digest,
    read_back,
    read_partition,
    schema,
    sort_table,
    table_from_sources,
)
from tiering.rollup import write_rollup
from tiering.service import Tiering, VerificationFailed, finish_day, verify_parts
from wafsiem.schema import SCHEMA_VERSION


def merge_day(
    ctx: Tiering, day: date, index: str, run_id: str, lease: Lease, old: Manifest
) -> DayResult:
    """Merge a hot index into the day's committed partition: rows it lacks are added,
    duplicate ``event.id``s dropped; new parts are verified and committed before the old
    parts and the index are deleted. The rollup is recomputed from the new parts and
    replaced with them."""
    import pyarrow as pa

    checked = read_back(ctx.store, day, old.files)
    if (checked.rows, checked.digest) != (old.rows, old.digest):
        raise VerificationFailed(f"cold partition {day} does not match its manifest")
    tables: list[Any] = []

    def sink(slice_id: int, hits: list[dict[str, Any]]) -> None:
        lease.heartbeat()
        tables.append(table_from_sources([h["_source"] for h in hits]))

    stats = export_index(ctx.client, index, sink, page_size=ctx.page_size, on_page=ctx.on_rows)
    late = pa.concat_tables(tables) if tables else schema().empty_table()
    old_table = read_partition(ctx.store, day, old.files)
    old_ids = set(old_table["event.id"].to_pylist())
    all_ids = old_ids | set(late["event.id"].to_pylist())
    added = len(all_ids) - len(old_ids)
    result = DayResult(
        date=day,
        index=index,
        action="index_dropped",
        rows=len(all_ids),
        files=len(old.files),
        bytes_cold=old.bytes,
    )
    if added == 0:
        return finish_day(ctx, day, index, lease, old, stats.rows, result)
    merged = sort_table(dedup_table(pa.concat_tables([old_table.cast(schema()), late])))
    writer = ctx.writer(day, run_id, "m")
    try:
        writer.write(merged)
        files = writer.close()
    except BaseException:
        writer.abort()
        raise
    ctx.checkpoint("exported")
    digest = id_digest(all_ids)
    verify_parts(ctx.store, day, files, len(all_ids), digest)
    ctx.checkpoint("verified")
    rollup = write_rollup(ctx.store, day, files, len(all_ids), run_id)
    ctx.checkpoint("rolled_up")
    manifest = Manifest(
        date=day,
        files=files,
        rows=len(all_ids),
        digest=digest,
        schema_version=SCHEMA_VERSION,
        created=datetime.now(UTC),
        source_indices=[*old.source_indices, index],
        run_id=run_id,
        rollup=rollup,
    )
    lease.renew()
    write_manifest(ctx.store, manifest)
    ctx.checkpoint("manifest")
    remove_uncommitted(ctx.store, day, manifest)  # the replaced files
    ctx.checkpoint("old_files_deleted")
    result = result.model_copy(
        update={
            "action": "merged",
            "rows_added": added,
            "files": len(files),
            "bytes_cold": manifest.bytes,
        }
    )
    return finish_day(ctx, day, index, lease, manifest, stats.rows, result)
