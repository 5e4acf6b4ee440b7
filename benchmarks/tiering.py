"""Tiering figures, one run against the local stack:

- export rows/s (PIT read -> Arrow -> Parquet parts) and its ratio to merely reading the
  same index with the same PIT/search_after pages (goal >= 0.8);
- the whole `tier run` of the day (export, read-back verify, manifest, delete);
- Parquet bytes / OpenSearch primary store bytes of the same day (goal <= 0.10), and
  Parquet bytes / raw JSON bytes of the records.

    eval "$(wafsiem stack env)"
    python benchmarks/tiering.py [--hours 1] [--rps 30]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

# benchmarks/ingest.py is named like the `ingest` package: keep this folder off the path.
HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]

from ingest.bulk import BulkIndexer  # noqa: E402
from ingest.parser import ParserOptions, expand_paths  # noqa: E402
from ingest.service import IngestTarget, ingest_files  # noqa: E402
from tiering.export import export_index, export_to_parquet  # noqa: E402
from tiering.parquet_io import PartWriter, new_run_id  # noqa: E402
from tiering.service import Tiering, hot_indices, run_tiering  # noqa: E402
from tiering.store import open_store  # noqa: E402
from wafsiem.clients import opensearch_client  # noqa: E402
from wafsiem.schema import index_template  # noqa: E402
from wafsiem.settings import get_settings  # noqa: E402

DAY = "2025-11-20"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--hours", type=int, default=1)
    parser.add_argument("--rps", type=int, default=30)
    parser.add_argument("--page-size", type=int, default=5000)
    args = parser.parse_args()
    settings = get_settings()
    client = opensearch_client(settings)
    name = f"bench-{uuid.uuid4().hex[:8]}"
    prefix = f"{name}-waf-logs"
    state = f"{name}-state"  # outside the template's pattern
    client.indices.put_index_template(name=prefix, body=index_template(prefix=prefix))
    try:
        with tempfile.TemporaryDirectory() as tmp:
            run(client, settings, Path(tmp), prefix, state, args)
    finally:
        client.indices.delete(index=f"{name}-*", ignore=[404])
        client.indices.delete_index_template(name=prefix, ignore=[404])


def settle(client: Any, index: str, timeout: float = 120.0) -> None:
    """Wait until the force merge has settled: one segment per primary shard and the same
    primary store size on three reads a second apart (right after a merge OpenSearch can
    still count the old segments' files, or not yet count the new one's)."""
    client.indices.flush(index=index)
    client.indices.refresh(index=index)
    deadline = time.monotonic() + timeout
    sizes: list[int] = []
    while time.monotonic() < deadline:
        stats = client.indices.stats(index=index, metric="store,segments")["_all"]["primaries"]
        shards = client.indices.get_settings(index=index)[index]["settings"]["index"]
        if stats["segments"]["count"] <= int(shards["number_of_shards"]):
            sizes.append(int(stats["store"]["size_in_bytes"]))
            if len(sizes) >= 3 and len(set(sizes[-3:])) == 1:
                return
        time.sleep(1.0)
    print(f"warning: store size of {index} did not settle: {sizes[-5:]}", file=sys.stderr)


def run(client: Any, settings: Any, tmp: Path, prefix: str, state: str, args: Any) -> None:
    out = tmp / "logs"
    generated = json.loads(subprocess.run(  # noqa: S603 (our own CLI, fixed arguments)
        [sys.executable, "-m", "wafsiem", "generate", "--out", str(out),
         "--start", f"{DAY}T06:00:00Z", "--hours", str(args.hours), "--rps", str(args.rps),
         "--domains", "50", "--seed", "7", "--layout", "waf-s3", "--json"],
        capture_output=True, text=True, check=True).stdout)  # fmt: skip
    raw_bytes = int(generated["bytes_uncompressed"])
    files = [p for p in expand_paths([out]) if p.name.endswith(".gz")]
    indexer = BulkIndexer(client, max_bytes=8 * 1024 * 1024, concurrency=2)
    report = ingest_files(files, indexer=indexer, options=ParserOptions(),
                          target=IngestTarget(prefix, f"{prefix}-deadletter"))  # fmt: skip
    index = f"{prefix}-{DAY.replace('-', '.')}"
    client.indices.refresh(index=index)
    client.indices.forcemerge(index=index, max_num_segments=1)
    settle(client, index)
    hot = hot_indices(client, prefix)[datetime.fromisoformat(DAY).date()]
    rows = hot.docs

    def read_only(slice_id: int, hits: list[dict[str, Any]]) -> None:
        return None

    started = time.perf_counter()
    read = export_index(client, index, read_only, page_size=args.page_size)
    read_seconds = time.perf_counter() - started

    store = open_store(str(tmp / "cold-probe"), settings)
    day = hot.day
    run_id = new_run_id()

    def new_writer(slice_id: int) -> PartWriter:
        return PartWriter(store, day, run_id, f"s{slice_id}")

    started = time.perf_counter()  # the same export as `tier run` does
    exported, parts = export_to_parquet(client, index, new_writer, page_size=args.page_size)
    export_seconds = time.perf_counter() - started
    parquet_bytes = sum(f.bytes for f in parts)

    cold = open_store(str(tmp / "cold"), settings)
    ctx = Tiering(client=client, store=cold, prefix=prefix, state_index=state,
                  page_size=args.page_size)  # fmt: skip
    started = time.perf_counter()
    tiered = run_tiering(ctx, hot_days=1, now=datetime.now(UTC))
    tier_seconds = time.perf_counter() - started
    client.indices.delete(index=state, ignore=[404])
    assert [d.action for d in tiered.days] == ["tiered"], tiered
    assert read.rows == exported.rows == rows == tiered.days[0].rows

    figures = {
        "machine": f"{platform.machine()} {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}",
        "records": report.records_in,
        "rows": rows,
        "pit_read_rows_per_s": round(rows / read_seconds),
        "export_rows_per_s": round(rows / export_seconds),
        "export_vs_read": round(read_seconds / export_seconds, 3),
        "tier_run_rows_per_s": round(rows / tier_seconds),
        "opensearch_primary_store_bytes": hot.bytes,
        "parquet_bytes": parquet_bytes,
        "parquet_files": len(parts),
        "raw_json_bytes": raw_bytes,
        "parquet_vs_opensearch": round(parquet_bytes / hot.bytes, 4),
        "parquet_vs_raw_json": round(parquet_bytes / raw_bytes, 4),
    }
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
