"""Query speed: ``top`` (by rule, size 10) over 30 generated cold days and 7 hot days.

Data, built once and cached (keyed by the parameters; ``--rebuild`` to redo):

- cold: ONE day of ``--records-per-day`` generated records (the project's generator ->
  parser -> Arrow -> :class:`tiering.parquet_io.PartWriter`, the writer ``tier run``
  uses), then the other days as DuckDB ``COPY`` of that file with ``@timestamp`` shifted
  by whole days (zstd, the same row-group size and order). Each day gets its hourly
  rollup (:func:`tiering.rollup.write_rollup`, the function ``tier run`` uses; added to a
  cache built without them), a manifest and a ``cold`` ledger entry, as ``tier run``
  writes them, so the planner sends it to DuckDB and ``top`` reads the rollup;
- hot: ``--hot-days`` generated days of ``--hot-records-per-day`` records, bulk-indexed
  into daily indices with the production template.

The OpenSearch names (``bench-query-<key>-*``: daily indices, template, state index with
the ledger) are kept for the next run; ``--cleanup`` deletes them at the end.

Measured in one process, warm (one untimed run first), ``--runs`` timed runs each, p50 and
p95: ``query.service.top`` over the cold days, the hot days and both; baselines over the
same data without the service: DuckDB ``count(*)`` and the bare GROUP BY over the same
Parquet files, and one OpenSearch ``terms`` aggregation over the same indices. For the
cold case the service's steps are timed separately too (ledger read, view, counts, total).

    eval "$(wafsiem stack env)"
    python benchmarks/query.py [--records-per-day 1000000] [--runs 20] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

# benchmarks/ingest.py is named like the `ingest` package: keep this folder off the path.
HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]

from ingest.bulk import BulkIndexer, BulkItem  # noqa: E402
from ingest.generator import GenerateOptions, Generator  # noqa: E402
from ingest.parser import ParsedDocument, ParserOptions, parse_stream  # noqa: E402
from query import sql  # noqa: E402
from query.cold import ColdTier  # noqa: E402
from query.filters import build_filter, iso  # noqa: E402
from query.hot import HotTier  # noqa: E402
from query.models import TOP_FIELDS  # noqa: E402
from query.service import QueryContext, top  # noqa: E402
from tiering.cold_read import cold_connection  # noqa: E402
from tiering.ledger import Ledger  # noqa: E402
from tiering.manifest import load_manifest, manifest_path, write_manifest  # noqa: E402
from tiering.models import LedgerEntry, Manifest, ManifestFile  # noqa: E402
from tiering.parquet_io import (  # noqa: E402
    ROW_GROUP_ROWS,
    IdDigest,
    PartWriter,
    new_run_id,
    sort_table,
    table_from_sources,
)
from tiering.rollup import ROLLUP_VERSION, write_rollup  # noqa: E402
from tiering.service import index_name  # noqa: E402
from tiering.store import LocalStore, partition_dir  # noqa: E402
from wafsiem.clients import opensearch_client  # noqa: E402
from wafsiem.schema import SCHEMA_VERSION, index_template  # noqa: E402
from wafsiem.settings import get_settings  # noqa: E402

COLD_START = date(2025, 9, 1)
CHUNK_DOCS = 20_000  # documents per Arrow table / per bulk call
# zstd level of the copied days: tiering's 9 costs ~2.5x the time of the copy; only the
# size of the columns `top` does not read (the raw record above all) depends on it
COPY_ZSTD_LEVEL = 3


class _Parse:
    """A generator consumer: parses each chunk of NDJSON records into documents."""

    def __init__(self, options: ParserOptions) -> None:
        self.options = options
        self.docs: list[ParsedDocument] = []
        self.rejected = 0

    def consume(self, chunk: bytes) -> None:
        for result in parse_stream(chunk, origin="bench", options=self.options):
            if isinstance(result, ParsedDocument):
                self.docs.append(result)
            else:
                self.rejected += 1


def generated_chunks(start: date, days: int, records_per_day: int, seed: int, domains: int) -> Any:
    """Parsed documents of generated traffic in time order, whole generator buckets
    (time windows) of about :data:`CHUNK_DOCS` documents at a time."""
    options = GenerateOptions(
        start=datetime.combine(start, datetime.min.time(), UTC),
        hours=24 * days,
        rps=records_per_day / 86_400,
        domains=domains,
        seed=seed,
    )
    generator = Generator(options)
    parser_options = ParserOptions()
    docs: list[ParsedDocument] = []
    for lo, hi in generator.buckets():
        sinks = [_Parse(parser_options) for _ in generator.topology.acls]
        generator.generate_bucket(lo, hi, sinks)
        assert not any(s.rejected for s in sinks), "generated records were rejected"
        docs += [d for s in sinks for d in s.docs]
        if len(docs) >= CHUNK_DOCS:
            yield docs
            docs = []
    if docs:
        yield docs


# --- cold --------------------------------------------------------------------------------


def build_cold(root: Path, args: Any, log: Callable[[str], None]) -> tuple[LocalStore, list[date]]:
    """The cached cold store: ``args.cold_days`` committed partitions."""
    store = LocalStore(root)
    days = [COLD_START + timedelta(days=n) for n in range(args.cold_days)]
    marker = root / "built.json"
    if marker.exists() and not args.rebuild:
        add_rollups(store, days, log)  # a cache built before rollups: add them only
        return store, days
    started = time.perf_counter()
    run_id = new_run_id()
    first = days[0]
    writer = PartWriter(store, first, run_id, "gen")
    digest, rows, last_ms = IdDigest(), 0, -1
    for docs in generated_chunks(first, 1, args.records_per_day, args.seed, args.domains):
        if not docs:
            continue
        table = sort_table(table_from_sources([d.doc for d in docs]))
        stamps = table["@timestamp"]
        lo = stamps[0].value
        if lo < last_ms:
            raise RuntimeError("generator buckets overlap in time: the day would not be sorted")
        last_ms = stamps[-1].value
        writer.write(table)
        digest.update(d.id for d in docs)
        rows += table.num_rows
    files = writer.close()
    manifest = Manifest(
        date=first,
        files=files,
        rows=rows,
        digest=digest.hex,
        schema_version=SCHEMA_VERSION,
        created=datetime.now(UTC),
        run_id=run_id,
    )
    write_manifest(store, manifest)
    log(f"cold day {first}: {rows:,} rows generated and written in "
        f"{time.perf_counter() - started:.0f} s")  # fmt: skip
    copy_days(store, manifest, days[1:], log)
    add_rollups(store, days, log)
    marker.write_text(json.dumps({"days": len(days), "rows_per_day": rows}))
    return store, days


def copy_days(
    store: LocalStore, source: Manifest, days: list[date], log: Callable[[str], None]
) -> None:
    """The other days: DuckDB COPY of the first day's files, ``@timestamp`` shifted."""
    import duckdb

    started = time.perf_counter()
    src = [str(store.table / partition_dir(source.date) / f.name) for f in source.files]
    con = duckdb.connect(":memory:")
    try:
        for day in days:
            shift = (day - source.date).days
            name = f"part-{source.run_id}-copy-0000.parquet"
            target = store.spool_dir(partition_dir(day)) / name
            shifted = f'"@timestamp" + INTERVAL {int(shift)} DAY AS "@timestamp"'
            options = (
                f"FORMAT parquet, COMPRESSION zstd, COMPRESSION_LEVEL {COPY_ZSTD_LEVEL}, "
                f"ROW_GROUP_SIZE {ROW_GROUP_ROWS}"
            )
            statement = (
                f"COPY (SELECT * REPLACE ({shifted}) FROM read_parquet($src, "  # noqa: S608
                f"hive_partitioning = false)) TO '{target}' ({options})"
            )
            con.execute(statement, {"src": src})
            manifest = source.model_copy(
                update={
                    "date": day,
                    "files": [
                        ManifestFile(name=name, rows=source.rows, bytes=target.stat().st_size)
                    ],
                    "created": datetime.now(UTC),
                    "rollup": None,  # made by add_rollups from the copy itself
                }
            )
            write_manifest(store, manifest)
    finally:
        con.close()
    log(f"cold days: {len(days)} copies in {time.perf_counter() - started:.0f} s")


def add_rollups(store: LocalStore, days: list[date], log: Callable[[str], None]) -> None:
    """The hourly rollup of each day that lacks one (or has an older version), made by
    the function ``tier run`` uses, then listed in the day's manifest as it does."""
    started, made = time.perf_counter(), 0
    for day in days:
        manifest = load_manifest(store, day)
        assert manifest is not None, manifest_path(day)
        if manifest.rollup is not None and manifest.rollup.version == ROLLUP_VERSION:
            continue
        rollup = write_rollup(store, day, manifest.files, manifest.rows, manifest.run_id)
        write_manifest(store, manifest.model_copy(update={"rollup": rollup}))
        made += 1
    if made:
        log(f"cold rollups: {made} days in {time.perf_counter() - started:.0f} s")


def mark_cold(client: Any, state: str, prefix: str, store: LocalStore, days: list[date]) -> None:
    """Ledger entries as ``tier run`` leaves them for a tiered day."""
    ledger = Ledger(client, state, prefix)
    have = {e.date for e in ledger.all() if e.state == "cold"}
    for day in days:
        if day in have:
            continue
        manifest = load_manifest(store, day)
        assert manifest is not None, manifest_path(day)
        ledger.put(
            LedgerEntry(
                date=day,
                state="cold",
                index=index_name(prefix, day),
                rows=manifest.rows,
                files=len(manifest.files),
                bytes_cold=manifest.bytes,
                digest=manifest.digest,
            )
        )
    client.indices.refresh(index=state)


# --- hot ---------------------------------------------------------------------------------


def build_hot(
    client: Any, settings: Any, prefix: str, args: Any, log: Callable[[str], None]
) -> list[date]:
    start = COLD_START + timedelta(days=args.cold_days)
    days = [start + timedelta(days=n) for n in range(args.hot_days)]
    expected = args.hot_records_per_day * args.hot_days
    client.indices.put_index_template(name=prefix, body=index_template(prefix=prefix))
    if not args.rebuild and client.indices.exists(index=f"{prefix}-*"):
        client.indices.refresh(index=f"{prefix}-*")
        found = int(client.count(index=f"{prefix}-*")["count"])
        if abs(found - expected) <= expected * 0.02:  # the generator's count is approximate
            return days
    client.indices.delete(index=f"{prefix}-*", ignore=[404])
    started = time.perf_counter()
    indexer = BulkIndexer(
        client, max_bytes=settings.ingest.bulk_bytes, concurrency=settings.ingest.bulk_concurrency
    )
    indexed = 0
    for docs in generated_chunks(start, args.hot_days, args.hot_records_per_day, args.seed + 1,
                                  args.domains):  # fmt: skip
        items = [BulkItem(d.index_name(prefix), d.id, orjson.dumps(d.doc)) for d in docs]
        outcome = indexer.index(items)
        indexed += outcome.indexed
    client.indices.refresh(index=f"{prefix}-*")
    log(f"hot days: {indexed:,} documents indexed in {time.perf_counter() - started:.0f} s")
    return days


# --- measuring ---------------------------------------------------------------------------


def timed(fn: Callable[[], Any], runs: int) -> tuple[list[float], Any]:
    result = fn()  # warm
    seconds = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        seconds.append(time.perf_counter() - started)
    return seconds, result


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def summary(values: list[float]) -> dict[str, float]:
    return {
        "p50_ms": round(statistics.median(values) * 1000, 1),
        "p95_ms": round(pct(values, 0.95) * 1000, 1),
    }


def cold_files(store: LocalStore, days: list[date]) -> list[str]:
    paths = []
    for day in days:
        manifest = load_manifest(store, day)
        assert manifest is not None
        paths += [str(store.table / partition_dir(day) / f.name) for f in manifest.files]
    return paths


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--records-per-day", type=int, default=1_000_000)
    parser.add_argument("--cold-days", type=int, default=30)
    parser.add_argument("--hot-days", type=int, default=7)
    parser.add_argument("--hot-records-per-day", type=int, default=100_000)
    parser.add_argument("--domains", type=int, default=279)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--threads", type=int, default=None, help="DuckDB threads (default: all)")
    parser.add_argument(
        "--data-dir", type=Path, default=Path(tempfile.gettempdir()) / "wafsiem-bench-query"
    )
    parser.add_argument("--rebuild", action="store_true", help="rebuild the cached data")
    parser.add_argument(
        "--cleanup", action="store_true", help="delete the OpenSearch data at the end"
    )
    parser.add_argument("--json", action="store_true", help="print the figures as JSON only")
    args = parser.parse_args()

    def log(message: str) -> None:
        if not args.json:
            print(message, flush=True)

    settings = get_settings()
    client = opensearch_client(settings)
    key = (f"c{args.records_per_day}x{args.cold_days}-h{args.hot_records_per_day}x{args.hot_days}"
           f"-d{args.domains}-s{args.seed}")  # fmt: skip
    name = f"bench-query-{key}".lower()
    prefix, state = f"{name}-waf-logs", f"{name}-state"  # the state index is outside the template
    log(f"machine: {platform.machine()} {os.cpu_count()} CPUs, {platform.platform()}, "
        f"Python {platform.python_version()}, OpenSearch {client.info()['version']['number']}; "
        f"load average {os.getloadavg()[0]:.2f}")  # fmt: skip
    try:
        store, cold_days = build_cold(args.data_dir / f"cold-c{args.records_per_day}-s{args.seed}"
                                      f"-d{args.domains}-n{args.cold_days}", args, log)  # fmt: skip
        mark_cold(client, state, prefix, store, cold_days)
        hot_days = build_hot(client, settings, prefix, args, log)
        figures = measure(client, settings, store, prefix, state, cold_days, hot_days, args, log)
    finally:
        if args.cleanup:
            client.indices.delete(index=f"{name}-*", ignore=[404])
            client.indices.delete_index_template(name=prefix, ignore=[404])
    if args.json:
        print(json.dumps(figures, indent=2))
    return 0


def measure(
    client: Any,
    settings: Any,
    store: LocalStore,
    prefix: str,
    state: str,
    cold_days: list[date],
    hot_days: list[date],
    args: Any,
    log: Callable[[str], None],
) -> dict[str, Any]:
    import duckdb

    limits = settings.query.model_copy(update={"cold_threads": args.threads})
    ctx = QueryContext(client, store, prefix, state, limits)
    one_day = timedelta(days=1)

    def window(days: list[date]) -> Any:
        start = datetime.combine(days[0], datetime.min.time(), UTC)
        end = datetime.combine(days[-1] + one_day, datetime.min.time(), UTC)
        return build_filter({"from": iso(start), "to": iso(end)}, max_range=timedelta(days=400))

    cold_flt, hot_flt = window(cold_days), window(hot_days)
    all_flt = window([*cold_days, *hot_days])
    rows: dict[str, dict[str, Any]] = {}

    def record(label: str, seconds: list[float], **extra: Any) -> None:
        rows[label] = {**summary(seconds), **extra}

    # --- the service
    for label, flt in (("top cold", cold_flt), ("top hot", hot_flt), ("top cold+hot", all_flt)):

        def run_top(flt: Any = flt) -> Any:
            return top(ctx, flt, by="rule", size=10)

        seconds, result = timed(run_top, args.runs)
        plan = result.plan
        record(label, seconds, docs=result.total, cold_days=len(plan.cold_days),
               hot_days=len(plan.hot_days))  # fmt: skip
    cold_rows = rows["top cold"]["docs"]
    assert rows["top cold"]["cold_days"] == len(cold_days) and rows["top cold"]["hot_days"] == 0
    assert rows["top hot"]["hot_days"] == len(hot_days) and rows["top hot"]["cold_days"] == 0

    # --- cold baselines: the same files, a plain DuckDB connection kept open
    files = cold_files(store, cold_days)
    con = duckdb.connect(":memory:", config={"threads": args.threads} if args.threads else {})
    rule, group_rule, ip = (sql.col(f) for f in (*TOP_FIELDS["rule"], "source.ip"))
    seconds, counted = timed(
        lambda: con.execute("SELECT count(*) FROM read_parquet($f)", {"f": files}).fetchone(),
        args.runs,
    )
    record("duckdb count(*) (footers)", seconds, docs=counted[0])
    group_by = (
        f"SELECT {rule}, {group_rule}, count(*) AS n, count(DISTINCT {ip}) "  # noqa: S608
        f"FROM read_parquet($f) WHERE {rule} IS NOT NULL GROUP BY ALL ORDER BY n DESC LIMIT 10"
    )
    seconds, _ = timed(lambda: con.execute(group_by, {"f": files}).fetchall(), args.runs)
    record("duckdb bare GROUP BY", seconds)
    con.close()

    # --- the cold steps of top, one by one (what the service does, in its order)
    fields = TOP_FIELDS["rule"]
    seconds, _ = timed(lambda: ctx.plan(cold_flt), args.runs)
    record("  step: ledger read (plan)", seconds)

    def open_view() -> None:
        view = cold_connection(store, days=cold_days, threads=args.threads)
        sql.register_functions(view.connection)
        view.connection.close()

    seconds, _ = timed(open_view, args.runs)
    record("  step: open view", seconds)
    with ColdTier(store, cold_days, args.threads) as tier:
        seconds, _ = timed(lambda: tier.counts_and_ips(cold_flt, fields), args.runs)
        record("  step: counts + distinct IPs", seconds)
        seconds, _ = timed(lambda: tier.total(cold_flt), args.runs)
        record("  step: total", seconds)

    # --- the hot steps of top (plan with hot days only: counts, then exact IP sets, total)
    hot_tier = HotTier(client, prefix, hot_days)
    seconds, counts = timed(lambda: hot_tier.counts(hot_flt, fields), args.runs)
    record("  step: hot counts (composite)", seconds)
    chosen = [k for k, _ in sorted(counts.items(), key=lambda kv: -kv[1])[:10]]
    seconds, _ = timed(lambda: hot_tier.ip_sets(hot_flt, fields, chosen), args.runs)
    record("  step: hot IP sets of the top 10", seconds)
    seconds, _ = timed(lambda: hot_tier.total(hot_flt), args.runs)
    record("  step: hot total", seconds)

    # --- hot baseline: one terms aggregation over the same indices
    indices = ",".join(index_name(prefix, d) for d in hot_days)
    body = {"size": 0, "query": {"match_all": {}},
            "aggs": {"r": {"terms": {"field": "waf.terminating_rule.id", "size": 10}}}}  # fmt: skip
    seconds, _ = timed(lambda: client.search(index=indices, body=body), args.runs)
    record("opensearch terms agg", seconds)

    manifests = [load_manifest(store, day) for day in cold_days]
    rollups = [m.rollup for m in manifests if m is not None and m.rollup is not None]
    assert len(rollups) == len(cold_days), "a cold day without its rollup"
    rollup_rows = sum(r.rows for r in rollups)
    rollup_bytes = sum(r.bytes for r in rollups)
    cold = rows["top cold"]["p50_ms"]
    figures = {
        "machine": f"{platform.machine()} {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}",
        "load_average": round(os.getloadavg()[0], 2),
        "records_per_cold_day": cold_rows // len(cold_days),
        "cold_days": len(cold_days),
        "cold_rows": cold_rows,
        "cold_parquet_bytes": sum(Path(f).stat().st_size for f in files),
        "cold_rollup_rows": rollup_rows,
        "cold_rollup_bytes": rollup_bytes,
        "hot_days": len(hot_days),
        "hot_docs": rows["top hot"]["docs"],
        "runs": args.runs,
        "rows": rows,
        "ratios": {
            "top_cold_vs_bare_group_by": round(cold / rows["duckdb bare GROUP BY"]["p50_ms"], 2),
            "top_cold_vs_count": round(cold / rows["duckdb count(*) (footers)"]["p50_ms"], 2),
            "top_hot_vs_terms_agg": round(
                rows["top hot"]["p50_ms"] / rows["opensearch terms agg"]["p50_ms"], 2
            ),
        },
        "goal_top_cold_p50_under_1s": cold < 1000,
    }
    log(f"\n{len(cold_days)} cold days x {cold_rows // len(cold_days):,} rows "
        f"({figures['cold_parquet_bytes'] / 1e9:.2f} GB Parquet; hourly rollups "
        f"{rollup_rows:,} rows, {rollup_bytes / 1e6:.0f} MB), {len(hot_days)} hot days "
        f"({rows['top hot']['docs']:,} docs); {args.runs} warm runs each\n")  # fmt: skip
    log(f"{'':32} {'p50 ms':>9} {'p95 ms':>9}")
    for label, row in rows.items():
        log(f"{label:32} {row['p50_ms']:>9,.1f} {row['p95_ms']:>9,.1f}")
    log("")
    for label, ratio in figures["ratios"].items():
        log(f"{label}: {ratio}")
    log(f"goal: top over the cold days within 1 s warm: {'met' if cold < 1000 else 'NOT met'} "
        f"(p50 {cold:,.0f} ms)")  # fmt: skip
    return figures


if __name__ == "__main__":
    raise SystemExit(main())
