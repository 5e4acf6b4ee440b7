"""`ingest files` end to end against the raw ceiling of the same OpenSearch, in one run.

The ceiling posts the very same documents, pre-built as bulk bodies, straight to
``_bulk`` with the same body size and concurrency; the ingest run reads gzip files,
parses, transforms and bulk-indexes through :func:`ingest.service.ingest_files`.
Both write to fresh indices with the production template; both are deleted afterwards.

    eval "$(wafsiem stack env)"
    python benchmarks/ingest.py [--records 100000] [--files 20]
"""

from __future__ import annotations

import argparse
import gzip
import importlib.util
import os
import platform
import random
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import orjson

# This script is named like the `ingest` package: keep its folder off the import path.
HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
_spec = importlib.util.spec_from_file_location("bench_parse", HERE / "parse.py")
assert _spec is not None and _spec.loader is not None
_bench_parse = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_bench_parse)
make_record = _bench_parse.make_record

from ingest.bulk import BulkIndexer, BulkItem, batches  # noqa: E402
from ingest.parser import ParsedDocument, ParserOptions, parse_stream  # noqa: E402
from ingest.parser.native import native_builder  # noqa: E402
from ingest.service import IngestTarget, ingest_files  # noqa: E402
from wafsiem.clients import opensearch_client  # noqa: E402
from wafsiem.schema import index_template  # noqa: E402
from wafsiem.settings import get_settings  # noqa: E402


def write_files(folder: Path, records: int, files: int, seed: int) -> tuple[list[Path], int]:
    rng = random.Random(seed)
    paths, raw_bytes = [], 0
    per_file = records // files
    for f in range(files):
        lines = [orjson.dumps(make_record(rng, f * per_file + i)) for i in range(per_file)]
        body = b"\n".join(lines) + b"\n"
        raw_bytes += len(body)
        path = folder / f"part-{f:04d}.log.gz"
        path.write_bytes(gzip.compress(body, compresslevel=6))
        paths.append(path)
    return paths, raw_bytes


def prebuilt_items(paths: list[Path], prefix: str, options: ParserOptions) -> list[BulkItem]:
    items = []
    for path in paths:
        for result in parse_stream(path.read_bytes(), origin=str(path), options=options):
            if isinstance(result, ParsedDocument):
                items.append(
                    BulkItem(result.index_name(prefix), result.id, orjson.dumps(result.doc))
                )
    return items


def ceiling(client: object, items: list[BulkItem], max_bytes: int, concurrency: int) -> float:
    """Pre-built bulk bodies posted straight to _bulk; returns seconds."""
    bodies = [b"".join(i.lines() for i in batch) for batch in batches(items, max_bytes)]
    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        for response in pool.map(lambda body: client.bulk(body=body), bodies):  # type: ignore[attr-defined]
            assert not response["errors"], "ceiling run had item errors"
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--files", type=int, default=20)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    settings = get_settings()
    client = opensearch_client(settings)
    run = uuid.uuid4().hex[:8]
    ceiling_prefix, ingest_prefix = f"bench-{run}-ceiling", f"bench-{run}-ingest"
    for prefix in (ceiling_prefix, ingest_prefix):
        client.indices.put_index_template(name=prefix, body=index_template(prefix=prefix))
    options = ParserOptions.from_settings(settings)
    max_bytes, concurrency = settings.ingest.bulk_bytes, settings.ingest.bulk_concurrency
    print(
        f"machine: {os.cpu_count()} cores, {platform.platform()}, "
        f"python {platform.python_version()}; OpenSearch {client.info()['version']['number']}; "
        f"parser: {'native' if native_builder(options) else 'python'}"
    )
    try:
        with tempfile.TemporaryDirectory() as tmp:
            paths, raw_bytes = write_files(Path(tmp), args.records, args.files, args.seed)
            n = args.records // args.files * args.files
            print(f"input: {n:,} records in {len(paths)} gzip files, {raw_bytes / 1e6:.0f} MB raw")

            items = prebuilt_items(paths, ceiling_prefix, options)
            seconds = ceiling(client, items, max_bytes, concurrency)
            ceiling_rate = len(items) / seconds
            print(f"ceiling (pre-built _bulk bodies): {ceiling_rate:,.0f} docs/s, {seconds:.1f}s")
            del items

            indexer = BulkIndexer(client, max_bytes=max_bytes, concurrency=concurrency)
            target = IngestTarget(ingest_prefix, f"bench-{run}-deadletter")
            started = time.perf_counter()
            report = ingest_files(paths, indexer=indexer, options=options, target=target)
            seconds = time.perf_counter() - started
            assert report.indexed == n and report.balanced, report
            ingest_rate = n / seconds
            print(
                f"ingest files (read+gunzip+parse+bulk): {ingest_rate:,.0f} records/s "
                f"({seconds:.1f} s, {raw_bytes / seconds / 1e6:.1f} MB/s raw)"
            )
            print(f"ratio ingest/ceiling: {ingest_rate / ceiling_rate:.2f} (goal >= 0.85)")
    finally:
        client.indices.delete(index=f"bench-{run}-*", ignore=[404])
        for prefix in (ceiling_prefix, ingest_prefix):
            client.indices.delete_index_template(name=prefix, ignore=[404])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
