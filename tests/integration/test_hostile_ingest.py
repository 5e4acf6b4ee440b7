"""Hostile input against the real stack: oversized records and redacted dead letters are
stored (and bounded) in OpenSearch's strict dead-letter index; a full `wafsiem serve`
answers 503 with Retry-After (issue 14, items 5 and 6)."""

from __future__ import annotations

import base64
import hashlib
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
from fastapi.testclient import TestClient

from ingest.bulk import BulkIndexer
from ingest.parser import ParserOptions
from ingest.parser.transform import header_hasher
from ingest.s3_source import ingest_s3_object
from ingest.service import IngestTarget, StreamSource, ingest_streams
from rules_admin.app import create_app
from wafsiem.settings import Settings

from ..waf_records import waf_record
from .ingest_fixtures import count, target
from .test_firehose import KEY, app_settings, delivery, free_port, headers

__all__ = ["target"]  # fixtures

MIB = 1 << 20
SECRET = "Bearer integration-very-secret-token"


def deadletters(opensearch: Any, index: str) -> list[dict[str, Any]]:
    opensearch.indices.refresh(index=index)
    hits = opensearch.search(index=index, body={"size": 50})["hits"]["hits"]
    return [hit["_source"] for hit in hits]


def test_oversized_record_from_s3_is_dead_lettered_bounded(
    opensearch: Any, s3: Any, bucket: str, target: IngestTarget
) -> None:
    huge_record = waf_record(2)
    huge_record["httpRequest"]["headers"].insert(0, {"name": "Authorization", "value": SECRET})
    huge_record["httpRequest"]["uri"] = "/" + "a" * (5 * MIB)
    huge = orjson.dumps(huge_record)
    body = b"\n".join([orjson.dumps(waf_record(1)), huge, orjson.dumps(waf_record(3))]) + b"\n"
    s3.put_object(Bucket=bucket, Key="poison/one.json", Body=body)
    options = ParserOptions(hash_key=b"integration-key")
    report = ingest_s3_object(
        s3,
        bucket,
        "poison/one.json",
        indexer=BulkIndexer(opensearch, max_bytes=256 * 1024, concurrency=2),
        options=options,
        target=target,
    )
    assert report.error is None
    assert (report.records_in, report.indexed, report.dead_lettered) == (3, 2, 1)
    assert report.rejected_by_reason == {"oversized": 1}
    assert count(opensearch, target.index_prefix) == 2
    (letter,) = deadletters(opensearch, target.deadletter_index)
    assert letter["reason"] == "oversized"
    assert letter["origin"]["offset"] == len(orjson.dumps(waf_record(1))) + 1
    raw = letter["raw"]
    assert raw["bytes"] == len(huge) and raw["sha256"] == hashlib.sha256(huge).hexdigest()
    assert raw["truncated"] is True and raw["redacted"] is True
    stored = base64.b64decode(raw["base64"])
    assert len(stored) == raw["stored_bytes"] <= 64 * 1024 + 64
    assert SECRET.encode() not in stored
    assert header_hasher(options).hash_value(SECRET).encode() in stored


def test_firehose_deadletters_are_redacted_and_bounded(
    settings: Settings, opensearch: Any, target: IngestTarget
) -> None:
    broken = waf_record(9)
    broken["httpRequest"]["headers"] += [
        {"name": "Authorization", "value": SECRET},
        {"name": "Cookie", "value": "session=integration-cookie"},
    ]
    cut = orjson.dumps(broken)[:-30]  # not JSON: the parser never saw its headers
    oversized = b'{"timestamp":1,"x":"' + b"z" * (2 * MIB) + b'"}'
    request_id, body = delivery([cut, oversized, orjson.dumps(waf_record(10))])
    with TestClient(create_app(app_settings(settings, target))) as client:
        response = client.post("/firehose", content=body, headers=headers(request_id))
    assert response.status_code == 200, response.text
    assert count(opensearch, target.index_prefix) == 1
    by_reason = {d["reason"]: d for d in deadletters(opensearch, target.deadletter_index)}
    assert set(by_reason) == {"not_json", "oversized"}
    stored = base64.b64decode(by_reason["not_json"]["raw"]["base64"])
    assert SECRET.encode() not in stored and b"integration-cookie" not in stored
    assert by_reason["not_json"]["raw"]["sha256"] == hashlib.sha256(cut).hexdigest()
    assert by_reason["not_json"]["raw"]["redacted"] is True
    big = by_reason["oversized"]["raw"]
    assert big["bytes"] == len(oversized) and big["truncated"] is True
    assert len(base64.b64decode(big["base64"])) == 64 * 1024


class SlowBody:
    """A request body that waits for ``release`` before its last byte."""

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.release = threading.Event()

    def __iter__(self) -> Iterator[bytes]:
        yield self.body[:10]
        self.release.wait(30)
        yield self.body[10:]


def test_full_serve_answers_503_with_retry_after(
    settings: Settings, opensearch: Any, target: IngestTarget, bucket: str
) -> None:
    port = free_port()
    env = {
        **os.environ,
        "WAFSIEM_OPENSEARCH__INDEX_PREFIX": target.index_prefix,
        "WAFSIEM_OPENSEARCH__DEADLETTER_INDEX": target.deadletter_index,
        "WAFSIEM_FIREHOSE__ACCESS_KEY": KEY,
        "WAFSIEM_FIREHOSE__MAX_CONCURRENT_REQUESTS": "1",
        "WAFSIEM_FIREHOSE__RETRY_AFTER_SECONDS": "3",
        "WAFSIEM_API__LIMIT_CONCURRENCY": "4",
        "WAFSIEM_S3__BUCKET": bucket,
    }
    command = [sys.executable, "-m", "wafsiem", "serve", "--host", "127.0.0.1"]
    proc = subprocess.Popen(
        [*command, "--port", str(port), "--json", "--log-level", "warning"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    idle: list[socket.socket] = []
    slow_id, slow_body = delivery([orjson.dumps(waf_record(n)) for n in range(5)])
    slow = SlowBody(slow_body)
    outcome: dict[str, httpx.Response] = {}

    def post_slowly() -> None:
        outcome["slow"] = httpx.post(
            f"{base}/firehose", content=slow, headers=headers(slow_id), timeout=60
        )

    worker = threading.Thread(target=post_slowly)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, proc.communicate(timeout=5)
            try:
                if httpx.get(f"{base}/healthz", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "wafsiem serve never became healthy"
            time.sleep(0.2)
        worker.start()
        time.sleep(1.0)  # the slow delivery holds the one ingest slot
        busy_id, busy_body = delivery([orjson.dumps(waf_record(99))])
        busy = httpx.post(f"{base}/firehose", content=busy_body, headers=headers(busy_id))
        assert busy.status_code == 503, busy.text
        assert busy.headers["retry-after"] == "3"
        assert busy.json()["requestId"] == busy_id and "busy" in busy.json()["errorMessage"]

        # uvicorn's own bound: the slow delivery and three idle connections fill it
        idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(3)]
        time.sleep(0.3)
        assert httpx.get(f"{base}/healthz", timeout=5).status_code == 503
        for sock in idle:
            sock.close()
        idle = []

        slow.release.set()
        worker.join(60)
        assert outcome["slow"].status_code == 200, outcome["slow"].text
        time.sleep(0.3)
        again = httpx.post(f"{base}/firehose", content=busy_body, headers=headers(busy_id))
        assert again.status_code == 200, again.text  # Firehose's retry goes through
        assert count(opensearch, target.index_prefix) == 6
    finally:
        slow.release.set()
        for sock in idle:
            sock.close()
        proc.terminate()
        try:
            proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
        if worker.is_alive():
            worker.join(10)


def test_a_parser_failure_fails_its_stream_only(opensearch: Any, target: IngestTarget) -> None:
    """A defect the parser meets on crafted input (any exception from the parse) makes
    that stream a failed one — retried and reported by its source — and the next stream
    is ingested as usual: a poison object never stops the run."""

    def poison() -> Iterator[bytes]:
        yield orjson.dumps(waf_record(1)) + b"\n"
        raise RecursionError("maximum recursion depth exceeded")

    good = orjson.dumps(waf_record(2)) + b"\n"
    sources = [
        StreamSource("s3://b/poison.json", "s3", poison),
        StreamSource("s3://b/good.json", "s3", lambda: [good]),
    ]
    indexer = BulkIndexer(opensearch, max_bytes=256 * 1024, concurrency=1)
    first, second = ingest_streams(sources, indexer=indexer, options=ParserOptions(), target=target)
    assert first.error is not None and "parser failed: RecursionError" in first.error
    assert (first.records_in, first.indexed) == (1, 1) and first.balanced
    assert second.error is None and second.indexed == 1
    assert count(opensearch, target.index_prefix + "-*") == 2
