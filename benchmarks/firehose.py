"""Firehose endpoint throughput: `wafsiem serve` + POST /firehose into the local OpenSearch.

Starts ``python -m wafsiem serve`` on a free port (its own index prefix and access key),
then a few client threads post Firehose delivery requests of ~1 MB (``--records`` WAF
records of ~1.5 KB each, base64 in the Firehose JSON envelope) for ``--seconds``. Prints
sustained MB/s (decoded WAF JSON) and records/s, p50/p99 request latency, and the ratio
to a baseline in the same run: the same documents, parsed beforehand, posted as
pre-built ``_bulk`` bodies (``create`` op) straight to OpenSearch by as many threads.
Every index and template it creates is deleted at the end.

    eval "$(wafsiem stack env)"
    python benchmarks/firehose.py [--seconds 20] [--threads 3] [--records 700]
"""

from __future__ import annotations

import argparse
import base64
import itertools
import os
import random
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import httpx
import orjson
from parse import make_record  # benchmarks/parse.py: realistic ~1.5 KB WAF records

from ingest.bulk import BulkIndexer
from ingest.firehose import FirehoseService
from ingest.parser import ParsedDocument, ParserOptions, parse_stream
from ingest.parser.native import native_available
from ingest.service import IngestTarget
from wafsiem.bootstrap import load_index_templates
from wafsiem.clients import opensearch_client
from wafsiem.schema import index_template
from wafsiem.settings import get_settings

KEY = "benchmark-firehose-key"


@dataclass
class Delivery:
    request_id: str
    body: bytes  # the Firehose JSON envelope
    bulk: bytes  # the same records as schema documents, _bulk create lines
    records: int
    record_bytes: int


@dataclass
class Run:
    latencies: list[float] = field(default_factory=list)
    records: int = 0
    record_bytes: int = 0
    wire_bytes: int = 0
    failures: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    def line(self, label: str) -> str:
        lat = sorted(self.latencies) or [0.0]
        p50 = lat[len(lat) // 2]
        p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))]
        return (
            f"{label:>9}: {self.mb_per_s:6.2f} MB/s, {self.records / self.seconds:9,.0f} "
            f"records/s, {len(self.latencies)} requests, p50 {p50 * 1000:.0f} ms, "
            f"p99 {p99 * 1000:.0f} ms, failures {self.failures or 0}"
        )

    @property
    def mb_per_s(self) -> float:
        return self.record_bytes / 1e6 / self.seconds


def build(count: int, per_delivery: int, base_prefix: str, seed: int) -> list[Delivery]:
    """Unique records (templates varied by a counter), in Firehose and _bulk form."""
    rng = random.Random(seed)
    templates = [orjson.dumps(make_record(rng, i)) for i in range(2000)]
    options = ParserOptions()
    serial = itertools.count()
    out = []
    for _ in range(count):
        datas = []
        for _ in range(per_delivery):
            n = next(serial)
            raw = templates[n % len(templates)]
            # a distinct requestId makes a distinct record (and event.id)
            datas.append(raw.replace(b'"requestId":"', b'"requestId":"%012d-' % n, 1))
        request_id = str(uuid.uuid4())
        body = orjson.dumps(
            {
                "requestId": request_id,
                "timestamp": int(time.time() * 1000),
                "records": [{"data": base64.b64encode(d).decode()} for d in datas],
            }
        )
        lines = []
        for doc in parse_stream(b"\n".join(datas), origin="bench", options=options):
            assert isinstance(doc, ParsedDocument)
            action = {"create": {"_index": doc.index_name(base_prefix), "_id": doc.id}}
            lines += [orjson.dumps(action), doc.source_bytes()]
        bulk = b"\n".join(lines) + b"\n"
        out.append(Delivery(request_id, body, bulk, len(datas), sum(map(len, datas))))
    return out


def drive(
    deliveries: list[Delivery],
    threads: int,
    seconds: float,
    post: Callable[[httpx.Client, Delivery], httpx.Response],
) -> Run:
    run = Run()
    lock = threading.Lock()
    source: Iterator[Delivery] = iter(deliveries)
    deadline = time.perf_counter() + seconds

    def worker() -> None:
        with httpx.Client(timeout=180) as client:
            while time.perf_counter() < deadline:
                with lock:
                    item = next(source, None)
                if item is None:
                    return
                started = time.perf_counter()
                response = post(client, item)
                elapsed = time.perf_counter() - started
                ok = response.status_code == 200 and not response.json().get("errors")
                with lock:
                    run.latencies.append(elapsed)
                    if ok:
                        run.records += item.records
                        run.record_bytes += item.record_bytes
                        run.wire_bytes += len(item.body)
                    else:
                        key = str(response.status_code)
                        run.failures[key] = run.failures.get(key, 0) + 1

    started = time.perf_counter()
    workers = [threading.Thread(target=worker) for _ in range(threads)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()
    run.seconds = time.perf_counter() - started
    if next(source, None) is None:
        print(f"note: ran out of pre-built deliveries after {run.seconds:.1f}s", file=sys.stderr)
    return run


class _NullOpenSearch:
    """Takes every bulk item at once: what is left is the endpoint's own CPU."""

    def bulk(self, body: bytes, params: object = None) -> dict[str, object]:
        return {"items": [{"create": {"status": 201}}] * (body.count(b"\n") // 2)}


def endpoint_cpu(deliveries: list[Delivery]) -> str:
    """Decode + parse + bulk-body building per delivery, in-process, one thread."""
    service = FirehoseService(
        indexer=BulkIndexer(_NullOpenSearch(), concurrency=1),  # type: ignore[arg-type]
        options=ParserOptions(),
        target=IngestTarget("cpu-only", "cpu-only-deadletter"),
        access_key=None,
        max_body_bytes=64 << 20,
    )
    sample = deliveries[:20]
    started = time.process_time()
    for item in sample:
        result = service.process(item.body, {"x-amz-firehose-request-id": item.request_id})
        assert result.status == 200
    seconds = time.process_time() - started
    megabytes = sum(item.record_bytes for item in sample) / 1e6
    return (
        f"endpoint CPU alone (OpenSearch stubbed): {megabytes / seconds:.1f} MB/s per core, "
        f"{seconds / len(sample) * 1000:.0f} ms CPU per delivery"
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_healthy(base: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"wafsiem serve exited with {proc.returncode}")
        try:
            if httpx.get(f"{base}/healthz", timeout=5).status_code in (200, 503):
                return
        except httpx.TransportError:
            time.sleep(0.2)
    raise SystemExit("wafsiem serve did not answer within 60 s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--threads", type=int, default=3)
    parser.add_argument("--records", type=int, default=700, help="records per delivery")
    parser.add_argument("--deliveries", type=int, default=300, help="pre-built deliveries")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    settings = get_settings()
    opensearch = opensearch_client(settings)
    tag = f"bench-{uuid.uuid4().hex[:8]}"
    prefix, deadletter, base_prefix = f"{tag}-waf-logs", f"{tag}-deadletter", f"{tag}-base"
    for name in (prefix, base_prefix):
        opensearch.indices.put_index_template(name=name, body=index_template(prefix=name))
    dl_template = load_index_templates()["waf-deadletter"]
    dl_template["index_patterns"] = [f"{deadletter}*"]
    opensearch.indices.put_index_template(name=deadletter, body=dl_template)

    started = time.perf_counter()
    deliveries = build(args.deliveries, args.records, base_prefix, args.seed)
    size = sum(d.record_bytes for d in deliveries) / len(deliveries)
    print(
        f"input: {len(deliveries)} deliveries of {args.records} records, "
        f"{size / 1e6:.2f} MB decoded ({size / args.records:.0f} B/record), "
        f"{sum(len(d.body) for d in deliveries) / len(deliveries) / 1e6:.2f} MB on the wire; "
        f"built in {time.perf_counter() - started:.1f}s; {args.threads} client threads, "
        f"{args.seconds:.0f}s per run, {os.cpu_count()} CPUs; "
        f"parser: {'native' if native_available() else 'python'}"
    )

    port = free_port()
    env = {
        **os.environ,
        "WAFSIEM_OPENSEARCH__INDEX_PREFIX": prefix,
        "WAFSIEM_OPENSEARCH__DEADLETTER_INDEX": deadletter,
        "WAFSIEM_FIREHOSE__ACCESS_KEY": KEY,
    }
    command = [sys.executable, "-m", "wafsiem", "serve", "--host", "127.0.0.1"]
    proc = subprocess.Popen(  # noqa: S603 (our own interpreter and module)
        [*command, "--port", str(port), "--log-level", "warning", "--json"],
        env=env,
        stdout=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(base, proc)

        def firehose(client: httpx.Client, item: Delivery) -> httpx.Response:
            headers = {
                "Content-Type": "application/json",
                "X-Amz-Firehose-Request-Id": item.request_id,
                "X-Amz-Firehose-Access-Key": KEY,
            }
            return client.post(f"{base}/firehose", content=item.body, headers=headers)

        def bulk(client: httpx.Client, item: Delivery) -> httpx.Response:
            return client.post(
                f"{settings.opensearch.url}/_bulk",
                content=item.bulk,
                headers={"Content-Type": "application/x-ndjson"},
            )

        endpoint = drive(deliveries, args.threads, args.seconds, firehose)
        time.sleep(2)
        baseline = drive(deliveries, args.threads, args.seconds, bulk)
        load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
        print(f"load average after the runs: {load} (other work on the machine skews both)")
        print(endpoint.line("firehose"))
        print(f"           {endpoint_cpu(deliveries)}")
        print(baseline.line("_bulk"))
        print(
            f"ratio firehose/_bulk: {endpoint.mb_per_s / baseline.mb_per_s:.2f} "
            f"(goal >= 5 MB/s: {'met' if endpoint.mb_per_s >= 5 else 'NOT met'})"
        )
        opensearch.indices.refresh(index=f"{prefix}*")
        indexed = opensearch.count(index=f"{prefix}*")["count"]
        print(f"check: {indexed} documents indexed for {endpoint.records} records acknowledged")
        return 0 if indexed == endpoint.records else 1
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        opensearch.indices.delete(index=f"{tag}-*", ignore=[404])
        for name in (prefix, base_prefix, deadletter):
            opensearch.indices.delete_index_template(name=name, ignore=[404])


if __name__ == "__main__":
    sys.exit(main())
