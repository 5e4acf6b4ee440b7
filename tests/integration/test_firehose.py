"""POST /firehose, /healthz and /metrics against the real OpenSearch and object store."""

from __future__ import annotations

import base64
import gzip
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from ingest.service import IngestTarget
from rules_admin.app import create_app
from wafsiem.settings import FirehoseSettings, Settings

from ..waf_records import waf_record
from .ingest_fixtures import count, target

__all__ = ["target"]  # fixtures

KEY = "integration-firehose-key"
METRICS_TOKEN = "integration-metrics-token"
SCRAPE = {"Authorization": f"Bearer {METRICS_TOKEN}"}  # /metrics needs a key or the token


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def app_settings(
    settings: Settings,
    target: IngestTarget,
    *,
    key: str | None = KEY,
    max_body_bytes: int = 8 * 1024 * 1024,
    opensearch_url: str | None = None,
    bucket: str | None = None,
) -> Settings:
    opensearch = {
        "index_prefix": target.index_prefix,
        "deadletter_index": target.deadletter_index,
        "timeout_seconds": 10.0,
    }
    if opensearch_url:
        opensearch["url"] = opensearch_url
    return settings.model_copy(
        update={
            "opensearch": settings.opensearch.model_copy(update=opensearch),
            "firehose": FirehoseSettings(
                access_key=SecretStr(key) if key else None, max_body_bytes=max_body_bytes
            ),
            "s3": settings.s3.model_copy(update={"bucket": bucket or settings.s3.bucket}),
            "api": settings.api.model_copy(update={"metrics_token": SecretStr(METRICS_TOKEN)}),
        }
    )


@pytest.fixture
def client(settings: Settings, target: IngestTarget) -> Iterator[TestClient]:
    with TestClient(create_app(app_settings(settings, target))) as test_client:
        yield test_client


def delivery(datas: list[bytes], request_id: str | None = None) -> tuple[str, bytes]:
    request_id = request_id or str(uuid.uuid4())
    body = {
        "requestId": request_id,
        "timestamp": int(time.time() * 1000),
        "records": [{"data": base64.b64encode(d).decode()} for d in datas],
    }
    return request_id, orjson.dumps(body)


def headers(request_id: str, key: str | None = KEY, **extra: str) -> dict[str, str]:
    out = {
        "Content-Type": "application/json",
        "X-Amz-Firehose-Request-Id": request_id,
        "X-Amz-Firehose-Protocol-Version": "1.0",
        "X-Amz-Firehose-Common-Attributes": '{"commonAttributes":{"env":"test"}}',
    }
    if key is not None:
        out["X-Amz-Firehose-Access-Key"] = key
    out.update(extra)
    return out


def records(start: int, n: int) -> list[bytes]:
    """WAF-style Firehose records: one JSON object each, no trailing newline."""
    return [orjson.dumps(waf_record(start + i)) for i in range(n)]


def assert_protocol_body(response: httpx.Response, request_id: str, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["requestId"] == request_id
    assert isinstance(body["timestamp"], int)
    assert ("errorMessage" in body) == (status != 200)
    return body


def test_delivery_indexed_and_retry_adds_nothing(
    client: TestClient, opensearch: Any, target: IngestTarget
) -> None:
    # two records in one data blob (newline-terminated), the rest one per record
    datas = [b"\n".join(records(0, 2)) + b"\n", *records(2, 48)]
    request_id, body = delivery(datas)
    first = client.post("/firehose", content=body, headers=headers(request_id))
    assert_protocol_body(first, request_id, 200)
    assert count(opensearch, target.index_prefix) == 50

    retry = client.post("/firehose", content=body, headers=headers(request_id))
    assert_protocol_body(retry, request_id, 200)
    assert count(opensearch, target.index_prefix) == 50
    assert count(opensearch, target.deadletter_index) == 0

    metrics = client.get("/metrics", headers=SCRAPE)
    assert metrics.status_code == 200
    assert metrics.headers["content-type"].startswith("text/plain")
    text = metrics.text
    assert 'wafsiem_ingest_records_read_total{kind="firehose"} 100.0' in text
    assert 'wafsiem_ingest_records_indexed_total{kind="firehose"} 50.0' in text
    assert 'wafsiem_ingest_records_duplicate_total{kind="firehose"} 50.0' in text
    assert 'wafsiem_firehose_requests_total{status="200"} 2.0' in text
    assert "wafsiem_firehose_request_seconds_count 2.0" in text


def test_gzip_content_encoding(client: TestClient, opensearch: Any, target: IngestTarget) -> None:
    request_id, body = delivery(records(100, 30))
    response = client.post(
        "/firehose",
        content=gzip.compress(body),
        headers=headers(request_id, **{"Content-Encoding": "gzip"}),
    )
    assert_protocol_body(response, request_id, 200)
    assert count(opensearch, target.index_prefix) == 30


def test_garbage_records_dead_lettered_with_raw_bytes(
    client: TestClient, opensearch: Any, target: IngestTarget
) -> None:
    garbage = b'{"not": "a waf record"'
    request_id, body = delivery([*records(200, 3), garbage])
    payload = orjson.loads(body)
    payload["records"].append({"data": "%%% not base64 %%%"})
    response = client.post("/firehose", content=orjson.dumps(payload), headers=headers(request_id))
    assert_protocol_body(response, request_id, 200)
    assert count(opensearch, target.index_prefix) == 3
    assert count(opensearch, target.deadletter_index) == 2
    hits = opensearch.search(index=target.deadletter_index, body={"size": 10})["hits"]["hits"]
    by_reason = {hit["_source"]["reason"]: hit["_source"] for hit in hits}
    assert set(by_reason) == {"not_json", "invalid_base64"}
    assert base64.b64decode(by_reason["not_json"]["raw"]["base64"]) == garbage
    assert base64.b64decode(by_reason["invalid_base64"]["raw"]["base64"]) == b"%%% not base64 %%%"
    for source in by_reason.values():
        assert source["origin"]["kind"] == "firehose"
        assert source["origin"]["name"] == f"firehose:{request_id}"
        assert source["origin"]["request_id"] == request_id

    # the retry overwrites the same dead letters instead of piling up
    again = client.post("/firehose", content=orjson.dumps(payload), headers=headers(request_id))
    assert_protocol_body(again, request_id, 200)
    assert count(opensearch, target.deadletter_index) == 2
    text = client.get("/metrics", headers=SCRAPE).text
    assert 'wafsiem_ingest_records_dead_lettered_total{kind="firehose"} 4.0' in text


@pytest.mark.parametrize("key", [None, "", "wrong-key", KEY + "-and-more"])
def test_wrong_or_missing_key_is_401(
    client: TestClient, opensearch: Any, target: IngestTarget, key: str | None
) -> None:
    request_id, body = delivery(records(300, 2))
    response = client.post("/firehose", content=body, headers=headers(request_id, key=key))
    message = assert_protocol_body(response, request_id, 401)["errorMessage"]
    assert "Access-Key" in message
    assert count(opensearch, target.index_prefix) == 0
    scraped = client.get("/metrics", headers=SCRAPE).text
    assert 'wafsiem_firehose_requests_total{status="401"} 1.0' in scraped


def test_no_key_configured_refuses_everything(
    settings: Settings, opensearch: Any, target: IngestTarget
) -> None:
    app = create_app(app_settings(settings, target, key=None))
    request_id, body = delivery(records(400, 2))
    with TestClient(app) as unkeyed:
        for key in (None, "", KEY):
            response = unkeyed.post("/firehose", content=body, headers=headers(request_id, key=key))
            message = assert_protocol_body(response, request_id, 401)["errorMessage"]
            assert "no Firehose access key is configured" in message
    assert count(opensearch, target.index_prefix) == 0


def test_too_large_is_413_by_length_and_by_stream(
    settings: Settings, opensearch: Any, target: IngestTarget
) -> None:
    app = create_app(app_settings(settings, target, max_body_bytes=8192))
    request_id, body = delivery(records(500, 20))
    assert len(body) > 8192
    with TestClient(app) as small:
        response = small.post("/firehose", content=body, headers=headers(request_id))
        assert_protocol_body(response, request_id, 413)

        def chunked() -> Iterator[bytes]:  # no Content-Length: counted while reading
            for start in range(0, len(body), 1000):
                yield body[start : start + 1000]

        streamed = small.post("/firehose", content=chunked(), headers=headers(request_id))
        assert "content-length" not in {k.lower() for k in streamed.request.headers}
        assert_protocol_body(streamed, request_id, 413)

        bomb = gzip.compress(b" " * 1_000_000)
        assert len(bomb) < 8192
        bombed = small.post(
            "/firehose",
            content=bomb,
            headers=headers(request_id, **{"Content-Encoding": "gzip"}),
        )
        assert_protocol_body(bombed, request_id, 413)
    assert count(opensearch, target.index_prefix) == 0


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b"{this is not json", "not valid JSON"),
        (b'{"timestamp": 1, "records": []}', "requestId"),
        (b'{"requestId": "other-id", "records": []}', "differs"),
        (b'{"requestId": "REQ", "records": {"data": "x"}}', "records"),
    ],
)
def test_malformed_request_is_400(client: TestClient, body: bytes, words: str) -> None:
    request_id = "REQ"
    response = client.post("/firehose", content=body, headers=headers(request_id))
    assert words in assert_protocol_body(response, request_id, 400)["errorMessage"]


def test_opensearch_unreachable_is_503_and_healthz_fails(
    settings: Settings, target: IngestTarget, bucket: str
) -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    app = create_app(app_settings(settings, target, opensearch_url=closed, bucket=bucket))
    request_id, body = delivery(records(600, 5))
    with TestClient(app) as down:
        response = down.post("/firehose", content=body, headers=headers(request_id))
        message = assert_protocol_body(response, request_id, 503)["errorMessage"]
        assert "OpenSearch is unavailable" in message
        health = down.get("/healthz")
        assert health.status_code == 503
        checks = health.json()["checks"]
        assert health.json()["status"] == "fail"
        assert checks["opensearch"]["status"] == "fail"
        assert checks["s3"]["status"] == "ok"
        scraped = down.get("/metrics", headers=SCRAPE).text
        assert 'wafsiem_firehose_requests_total{status="503"} 1.0' in scraped


def test_healthz_ok_with_the_stack(settings: Settings, target: IngestTarget, bucket: str) -> None:
    with TestClient(create_app(app_settings(settings, target, bucket=bucket))) as up:
        health = up.get("/healthz")
        assert health.status_code == 200, health.text
        assert health.json()["status"] == "ok"
        assert {name: c["status"] for name, c in health.json()["checks"].items()} == {
            "opensearch": "ok",
            "s3": "ok",
            "cold": "ok",
        }
    missing = app_settings(settings, target, bucket=f"{bucket}-missing")
    with TestClient(create_app(missing)) as no_bucket:
        health = no_bucket.get("/healthz")
        assert health.status_code == 503
        assert health.json()["checks"]["s3"]["status"] == "fail"


def test_wafsiem_serve_subprocess(
    settings: Settings, opensearch: Any, target: IngestTarget, bucket: str
) -> None:
    port = free_port()
    env = {
        **os.environ,
        "WAFSIEM_OPENSEARCH__INDEX_PREFIX": target.index_prefix,
        "WAFSIEM_OPENSEARCH__DEADLETTER_INDEX": target.deadletter_index,
        "WAFSIEM_FIREHOSE__ACCESS_KEY": KEY,
        "WAFSIEM_S3__BUCKET": bucket,
    }
    command = [sys.executable, "-m", "wafsiem", "serve", "--host", "127.0.0.1"]
    proc = subprocess.Popen(
        [*command, "--port", str(port), "--json", "--log-level", "warning"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
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
        request_id, body = delivery(records(700, 25))
        response = httpx.post(
            f"{base}/firehose", content=body, headers=headers(request_id), timeout=60
        )
        assert_protocol_body(response, request_id, 200)
        assert count(opensearch, target.index_prefix) == 25
    finally:
        proc.terminate()
        try:
            out, _ = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
    assert orjson.loads(out)["port"] == port


def test_a_parser_failure_is_never_acknowledged(
    client: TestClient, opensearch: Any, target: IngestTarget, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The parser failing part-way through a delivery answers 500 (Firehose retries,
    then backs the records up to S3): a 200 would lose the records after the failure."""
    import ingest.service

    real = ingest.service.parse_stream

    def breaks_after_one(*args: Any, **kwargs: Any) -> Any:
        results = real(*args, **kwargs)
        yield next(iter(results))
        raise RecursionError("a parser defect on crafted input")

    monkeypatch.setattr(ingest.service, "parse_stream", breaks_after_one)
    request_id, body = delivery(records(0, 5))
    answer = client.post("/firehose", content=body, headers=headers(request_id))
    assert "parsing the delivery" in assert_protocol_body(answer, request_id, 500)["errorMessage"]
    monkeypatch.undo()
    retried = client.post("/firehose", content=body, headers=headers(request_id))
    assert_protocol_body(retried, request_id, 200)
    assert count(opensearch, target.index_prefix) == 5
