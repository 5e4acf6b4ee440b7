"""µs per record of ``wafsiem_native.Transformer.build`` next to ``orjson.loads`` (and the
Python transform, ``build_fast`` + ``orjson.dumps``) on benchmarks/parse.py records.

    python benchmarks/native_build.py [--records 20000] [--repeat 7]

The minimum of the repeats is reported (the machine may be noisy).
"""

from __future__ import annotations

import argparse
import importlib.util
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path

import orjson

_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
if str(_HERE.parent) not in sys.path:
    sys.path.insert(0, str(_HERE.parent))

import wafsiem_native  # noqa: E402

from ingest.parser import ParserOptions  # noqa: E402
from ingest.parser.fastpath import FastContext, build_fast  # noqa: E402


def _make_record() -> Callable[..., dict]:
    spec = importlib.util.spec_from_file_location("_bench_parse", _HERE / "parse.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.make_record


def _best(run: Callable[[], None], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()

    make_record = _make_record()
    rng = random.Random(7)
    lines = [orjson.dumps(make_record(rng, i)) for i in range(args.records)]
    options = ParserOptions()
    transformer = wafsiem_native.Transformer(
        options.hash_key, sorted(options.sensitive_headers), options.keep_original
    )
    assert all(transformer.build(line) is not None for line in lines)

    loads, dumps, build = orjson.loads, orjson.dumps, transformer.build

    def run_loads() -> None:
        for line in lines:
            loads(line)

    def run_native() -> None:
        for line in lines:
            build(line)

    def run_python() -> None:
        ctx = FastContext(options)
        for line in lines:
            result = build_fast(loads(line), line, ctx)
            assert result is not None
            dumps(result[2])

    size = sum(map(len, lines)) / len(lines)
    per = 1e6 / len(lines)
    print(f"{len(lines)} records, {size:.0f} B/record; min of {args.repeat} runs")
    results = {
        "orjson.loads": _best(run_loads, args.repeat),
        "native build": _best(run_native, args.repeat),
        "python loads+build_fast+dumps": _best(run_python, max(1, args.repeat // 2)),
    }
    for name, seconds in results.items():
        print(
            f"{name:>30}: {seconds * per:6.2f} µs/record, {len(lines) / seconds:>10,.0f} records/s"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
