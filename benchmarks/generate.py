"""Generator throughput: records/s and MB/s serialised (before gzip), then with gzip, and
the ratio against bare ``orjson.dumps`` of the same records pre-built as dicts, measured
in the same process.

    python benchmarks/generate.py [--records 300000] [--level 3]
"""

from __future__ import annotations

import argparse
import sys
import time
import zlib
from datetime import UTC, datetime
from pathlib import Path

import orjson

# benchmarks/ingest.py would shadow the ``ingest`` package when run as a script
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

from ingest.generator import GenerateOptions, Generator  # noqa: E402


class _Collect:
    def __init__(self, keep: bool) -> None:
        self.keep = keep
        self.chunks: list[bytes] = []
        self.records = 0
        self.bytes = 0

    def consume(self, chunk: bytes) -> None:
        self.records += chunk.count(b"\n")
        self.bytes += len(chunk)
        if self.keep:
            self.chunks.append(chunk)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=300_000)
    parser.add_argument("--level", type=int, default=3, help="gzip level for the second figure")
    args = parser.parse_args()
    rps = 250.0
    hours = args.records / rps / 3600
    options = GenerateOptions(
        start=datetime(2024, 5, 1, 0, tzinfo=UTC), hours=hours, rps=rps, seed=1
    )
    generator = Generator(options)

    sinks = [_Collect(keep=False) for _ in generator.topology.acls]
    began = time.perf_counter()
    for lo, hi in generator.buckets():
        generator.generate_bucket(lo, hi, sinks)
    elapsed = time.perf_counter() - began
    records = sum(s.records for s in sinks)
    size = sum(s.bytes for s in sinks)
    rate = records / elapsed
    print(
        f"generate (serialised, no gzip): {records:,} records in {elapsed:.2f}s = "
        f"{rate:,.0f} records/s, {size / elapsed / 1e6:,.1f} MB/s, "
        f"{size / records:,.0f} bytes/record"
    )

    # a second run kept in memory: gzip it, and build the orjson baseline from it
    generator = Generator(options)
    kept = [_Collect(keep=True) for _ in generator.topology.acls]
    for lo, hi in generator.buckets()[:4]:
        generator.generate_bucket(lo, hi, kept)
    data = b"".join(c for s in kept for c in s.chunks)
    began = time.perf_counter()
    compressed = zlib.compress(data, args.level)
    gz_seconds = time.perf_counter() - began
    gz_rate = data.count(b"\n") / gz_seconds
    combined = 1 / (1 / rate + 1 / gz_rate)
    print(
        f"gzip level {args.level}: {len(data) / gz_seconds / 1e6:,.1f} MB/s "
        f"({len(data) / len(compressed):.1f}x); generate + gzip: {combined:,.0f} records/s"
    )

    dicts = [orjson.loads(line) for line in data.splitlines()]
    began = time.perf_counter()
    total = 0
    for record in dicts:
        total += len(orjson.dumps(record))
    base_seconds = time.perf_counter() - began
    base_rate = len(dicts) / base_seconds
    print(
        f"baseline orjson.dumps of pre-built records: {base_rate:,.0f} records/s, "
        f"{total / base_seconds / 1e6:,.1f} MB/s"
    )
    print(f"ratio generate / orjson.dumps: {rate / base_rate:.2f}")


if __name__ == "__main__":
    main()
