"""Hostile input is bounded in memory: RSS growth of the two cases of issue 14.

* ``firehose`` — an authorised ~1.5 MB Firehose delivery crafted against the decompressed
  budget: a gzip record that fills it (64 MiB, the default ``firehose.max_body_bytes``),
  an invalid record that pushes it past the limit, then gzip bombs (zeros, ~1000:1).
  Before the fix the bombs were inflated with no limit (~1.4 GB).
* ``line-file`` — a 200 MB object that is one single line (no newline) through the
  ingest path (``ingest_stream`` over 1 MiB chunks of a file, as ``ingest files``).
* ``line-s3`` (with ``--s3``) — the same object through ``ingest_s3_object`` from the
  object store of the local stack (S3Proxy).

Each case runs in a fresh subprocess, which reports its RSS after setup (the baseline:
interpreter, imports, the request body in memory; the peak counter is reset there) and
its peak RSS (``VmHWM``; ``ru_maxrss`` where /proc is missing) after the case; the
growth is the difference. OpenSearch is a stand-in that accepts every
document (memory of wafsiem's own code is measured, not the server's). ``--against REV``
runs the same cases on the code of a git revision too (e.g. the one before the fix).

    python benchmarks/hostile_memory.py [--size-mb 200] [--s3] [--against REV]
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path
from typing import Any

MIB = 1 << 20
LIMIT_MB = 256
ROOT = Path(__file__).resolve().parents[1]


# -- inputs (built in the parent; the child only reads them) --------------------------------


def firehose_body(path: Path, body_bytes: int = 1_500_000, budget: int = 64 * MIB) -> None:
    import base64

    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode("ascii")

    records = [{"data": b64(gzip.compress(b"y" * (budget - 1)))}, {"data": "%"}]
    size = sum(len(r["data"]) for r in records)
    zeros = bytes(16 * MIB)
    while size < body_bytes * 0.95:
        packer = zlib.compressobj(9, zlib.DEFLATED, 31)
        parts = [packer.compress(zeros) for _ in range(16)] + [packer.flush()]  # 256 MiB
        bomb = b64(b"".join(parts))
        records.append({"data": bomb})
        size += len(bomb)
    body = {"requestId": "hostile-memory", "timestamp": 0, "records": records}
    path.write_text(json.dumps(body))


def single_line(path: Path, size_mb: int) -> None:
    with path.open("wb") as handle:
        handle.write(b'{"timestamp":1700000000000,"action":"ALLOW","x":"')
        block = b"A" * MIB
        for _ in range(size_mb):
            handle.write(block)  # never a newline, never a closing quote


# -- the child --------------------------------------------------------------------------------


class AcceptAll:
    """A stand-in for OpenSearch's ``_bulk``: every item created."""

    def bulk(self, body: bytes, **_: Any) -> dict[str, Any]:
        lines = body.count(b"\n") // 2
        return {"errors": False, "items": [{"create": {"status": 201}}] * lines}


def _status_mb(field: str) -> float | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    return None


def baseline_mb() -> float:
    """RSS now, with the peak reset (Linux); elsewhere the peak so far (a lower bound)."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS
    current = _status_mb("VmRSS")
    return current if current is not None else peak_mb()


def peak_mb() -> float:
    peak = _status_mb("VmHWM")
    if peak is not None:
        return peak
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def child(case: str, data: Path, bucket: str | None) -> dict[str, Any]:
    from ingest.bulk import BulkIndexer
    from ingest.parser import ParserOptions
    from ingest.service import IngestTarget

    indexer = BulkIndexer(AcceptAll(), concurrency=1)  # type: ignore[arg-type]
    options = ParserOptions()
    target = IngestTarget("bench-hostile", "bench-hostile-deadletter")
    outcome: dict[str, Any] = {}
    if case == "firehose":
        import asyncio

        from pydantic import SecretStr

        from ingest.firehose import FirehoseService

        service = FirehoseService(
            indexer=indexer,
            options=options,
            target=target,
            access_key=SecretStr("k"),
            max_body_bytes=64 * MIB,
        )
        body = data.read_bytes()
        headers = {"x-amz-firehose-access-key": "k", "x-amz-firehose-request-id": "hostile-memory"}

        async def stream() -> Any:
            yield body

        baseline = baseline_mb()
        started = time.perf_counter()
        result = asyncio.run(service.receive(headers, stream()))
        outcome = {"status": result.status, "message": result.error_message}
    elif case == "line-file":
        from ingest.parser.service import read_chunks
        from ingest.service import ingest_stream

        baseline = baseline_mb()
        started = time.perf_counter()
        report = ingest_stream(
            read_chunks(data), origin=str(data), kind="file", indexer=indexer,
            options=options, target=target,
        )  # fmt: skip
        outcome = report.model_dump(include={"records_in", "dead_lettered", "rejected_by_reason"})
    elif case == "line-s3":
        from ingest.s3_source import ingest_s3_object
        from wafsiem.clients import s3_client
        from wafsiem.settings import get_settings

        s3 = s3_client(get_settings())
        baseline = baseline_mb()
        started = time.perf_counter()
        report = ingest_s3_object(
            s3, bucket or "", data.name, indexer=indexer, options=options, target=target
        )
        outcome = report.model_dump(
            include={"records_in", "dead_lettered", "rejected_by_reason", "error"}
        )
    else:
        raise SystemExit(f"unknown case {case}")
    seconds = time.perf_counter() - started
    peak = peak_mb()
    return {
        "case": case,
        "baseline_mb": round(baseline, 1),
        "peak_mb": round(peak, 1),
        "growth_mb": round(peak - baseline, 1),
        "seconds": round(seconds, 2),
        "outcome": outcome,
    }


# -- the parent -------------------------------------------------------------------------------


def run_case(case: str, data: Path, code: Path | None, bucket: str | None) -> dict[str, Any]:
    env = dict(os.environ)
    if code is not None:  # another revision's packages first on the path
        env["PYTHONPATH"] = os.pathsep.join([str(code), env.get("PYTHONPATH", "")])
    command = [sys.executable, str(Path(__file__).resolve()), "--child", case, "--data", str(data)]
    if bucket:
        command += ["--bucket", bucket]
    done = subprocess.run(  # noqa: S603 - our own interpreter and script
        command, capture_output=True, text=True, env=env, cwd=code or ROOT, check=False
    )
    if done.returncode != 0:
        return {"case": case, "error": done.stderr.strip().splitlines()[-1:]}
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def export_revision(revision: str, into: Path) -> Path:
    into.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(  # noqa: S603
        ["git", "-C", str(ROOT), "archive", revision, "ingest", "wafsiem"],  # noqa: S607
        capture_output=True,
        check=True,
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)  # noqa: S603, S607
    return into


def upload(path: Path) -> str:
    from wafsiem.clients import s3_client
    from wafsiem.settings import get_settings

    settings = get_settings()
    s3 = s3_client(settings)
    bucket = settings.s3.bucket
    with contextlib.suppress(Exception):  # it exists
        s3.create_bucket(Bucket=bucket)
    s3.upload_file(str(path), bucket, path.name)
    return bucket


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mb", type=int, default=200, help="size of the single-line object")
    parser.add_argument("--s3", action="store_true", help="also through S3 (the local stack)")
    parser.add_argument("--against", metavar="REV", help="also run the code of this revision")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--bucket", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.data, args.bucket)))
        return

    with tempfile.TemporaryDirectory(prefix="wafsiem-hostile-") as tmp:
        work = Path(tmp)
        body, line = work / "firehose.json", work / f"single-line-{args.size_mb}mb.json"
        firehose_body(body)
        single_line(line, args.size_mb)
        cases = [("firehose", body), ("line-file", line)]
        bucket = None
        if args.s3:
            bucket = upload(line)
            cases.append(("line-s3", line))
        print(
            f"firehose request: {body.stat().st_size / 1e6:.2f} MB; single line: {args.size_mb} MB"
        )
        codes: list[tuple[str, Path | None]] = [("this checkout", None)]
        if args.against:
            old = export_revision(args.against, work / "old")
            codes.append((args.against, old))
        results = []
        for label, code in codes:
            for case, data in cases:
                result = run_case(case, data, code, bucket)
                result["code"] = label
                results.append(result)
                growth = result.get("growth_mb")
                verdict = (
                    ""
                    if growth is None
                    else ("  OK" if growth < LIMIT_MB else f"  > {LIMIT_MB} MB")
                )
                print(
                    f"{label:>14} {case:<10} baseline {result.get('baseline_mb', '-'):>7} MB  "
                    f"peak {result.get('peak_mb', '-'):>7} MB  growth "
                    f"{growth if growth is not None else '-':>7} MB  "
                    f"{result.get('seconds', '-')} s{verdict}  "
                    f"{result.get('outcome') or result.get('error')}"
                )
        if bucket:
            from wafsiem.clients import s3_client
            from wafsiem.settings import get_settings

            s3_client(get_settings()).delete_object(Bucket=bucket, Key=line.name)
        print(json.dumps(results))


if __name__ == "__main__":
    # benchmarks/ingest.py would shadow the ingest package: drop this script's folder
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).parent]
    main()
