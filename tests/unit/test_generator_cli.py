"""`wafsiem generate` through click, the Firehose HTTP sender and the S3 sink."""

from __future__ import annotations

import base64
import gzip
import json
import threading
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import orjson
import pytest
from click.testing import CliRunner

from ingest.generator import GenerateOptions, generate
from ingest.generator.catalogue import build_acls
from ingest.generator.cli import generate_command
from ingest.generator.writers import FirehoseHttpSender, S3Sink, split_s3_uri
from wafsiem.errors import WafsiemError


def test_cli_json_summary_and_ground_truth(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        generate_command,
        [
            "--out",
            str(tmp_path),
            "--start",
            "2024-05-01T10:00:00Z",
            "--hours",
            "0.1",
            "--rps",
            "10",
            "--domains",
            "30",
            "--seed",
            "4",
            "--layout",
            "waf-s3",
            "--scenario",
            "sqli-scanner@+1m,minutes=3",
            "--scenario",
            "fp-xss-body@2024-05-01T10:02Z",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["records"] > 0 and summary["files"] > 0 and summary["bytes"] > 0
    assert set(summary["scenarios"]) == {"baseline", "sqli-scanner", "fp-xss-body"}
    assert sum(summary["scenarios"].values()) == summary["records"]
    truth_path = Path(summary["ground_truth"])
    assert truth_path == tmp_path / "ground-truth.json"
    truth = orjson.loads(truth_path.read_bytes())
    assert [s["id"] for s in truth["scenarios"]] == ["baseline", "sqli-scanner", "fp-xss-body"]
    files = list(tmp_path.rglob("*.log.gz"))
    assert len(files) == summary["files"]
    assert (
        sum(len(gzip.decompress(p.read_bytes()).splitlines()) for p in files) == summary["records"]
    )


def test_cli_people_output_and_errors(tmp_path: Path) -> None:
    runner = CliRunner()
    ok = runner.invoke(
        generate_command,
        [
            "--out",
            str(tmp_path),
            "--start",
            "2024-05-01T10:00Z",
            "--hours",
            "0.05",
            "--rps",
            "5",
            "--domains",
            "10",
        ],
    )
    assert ok.exit_code == 0, ok.output
    assert "records" in ok.stdout and "ground truth" in ok.stdout
    missing = runner.invoke(generate_command, ["--hours", "0.05"])
    assert missing.exit_code != 0 and "--out" in missing.output
    bad = runner.invoke(generate_command, ["--out", str(tmp_path), "--scenario", "nope"])
    assert bad.exit_code != 0 and "unknown scenario" in bad.output


def test_cli_registered_on_root() -> None:
    from wafsiem.cli import build_root

    result = CliRunner().invoke(build_root(), ["generate", "--help"])
    assert result.exit_code == 0
    assert "--scenario" in result.output and "fp-size-body" in result.output


class _Endpoint(BaseHTTPRequestHandler):
    bodies: ClassVar[list[dict[str, Any]]] = []
    headers_seen: ClassVar[list[dict[str, str]]] = []
    fail_first = 0

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if _Endpoint.fail_first > 0:
            _Endpoint.fail_first -= 1
            self.send_response(503)
            self.end_headers()
            return
        document = json.loads(body)
        _Endpoint.bodies.append(document)
        _Endpoint.headers_seen.append(dict(self.headers))
        answer = json.dumps({"requestId": document["requestId"], "timestamp": 1}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def endpoint() -> Iterator[str]:
    _Endpoint.bodies, _Endpoint.headers_seen, _Endpoint.fail_first = [], [], 0
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Endpoint)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/firehose"
    server.shutdown()
    server.server_close()


def test_firehose_http_delivery(endpoint: str, tmp_path: Path) -> None:
    _Endpoint.fail_first = 1  # the first answer is a 503: the sender retries
    result = CliRunner().invoke(
        generate_command,
        [
            "--firehose-url",
            endpoint,
            "--firehose-access-key",
            "s3cret",
            "--out",
            str(tmp_path),
            "--start",
            "2024-05-01T10:00Z",
            "--hours",
            "0.1",
            "--rps",
            "10",
            "--domains",
            "20",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    records = [
        orjson.loads(base64.b64decode(r["data"]))
        for body in _Endpoint.bodies
        for r in body["records"]
    ]
    assert len(records) == summary["records"] and summary["requests"] == len(_Endpoint.bodies)
    assert all(r["formatVersion"] == 1 for r in records)
    for headers, body in zip(_Endpoint.headers_seen, _Endpoint.bodies, strict=True):
        assert headers["X-Amz-Firehose-Access-Key"] == "s3cret"
        assert headers["X-Amz-Firehose-Request-Id"] == body["requestId"]
        assert headers["Content-Type"] == "application/json"
        assert isinstance(body["timestamp"], int)


def test_firehose_sender_gives_up_with_backoff() -> None:
    calls: list[int] = []
    sleeps: list[float] = []

    def opener(request: urllib.request.Request, timeout: float) -> tuple[int, bytes]:
        calls.append(1)
        return 500, b"boom"

    sender = FirehoseHttpSender(
        "http://x.invalid/", None, max_attempts=4, opener=opener, sleep=sleeps.append
    )
    acl = build_acls("111122223333", "444455556666")[0]
    with pytest.raises(WafsiemError, match="after 4 attempts"):
        sender.send(acl, [b'{"a":1}'], 1714557600000, 1)
    assert len(calls) == 4 and sleeps == [0.5, 1.0, 2.0]
    with pytest.raises(ValueError):
        FirehoseHttpSender("file:///etc/passwd", None)


def test_firehose_sender_splits_large_batches() -> None:
    seen: list[int] = []

    def opener(request: urllib.request.Request, timeout: float) -> tuple[int, bytes]:
        assert request.data is not None
        seen.append(len(json.loads(request.data)["records"]))
        return 200, b"{}"

    sender = FirehoseHttpSender("http://x.invalid/", "k", max_request_bytes=1000, opener=opener)
    acl = build_acls("111122223333", "444455556666")[0]
    sender.send(acl, [b"x" * 300] * 10, 1714557600000, 1)
    assert sum(seen) == 10 and len(seen) > 1 and sender.stats.requests == len(seen)


class _FakeS3:
    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], bytes] = {}

    def put_object(self, *, Bucket: str, Key: str, Body: bytes) -> dict[str, Any]:
        self.objects[(Bucket, Key)] = Body
        return {}


def test_s3_sink_writes_objects_and_ground_truth() -> None:
    client = _FakeS3()
    bucket, prefix = split_s3_uri("s3://logs/generated/run1/")
    options = GenerateOptions(
        start=datetime(2024, 5, 1, 10, tzinfo=UTC), hours=0.05, rps=5, domains=10, seed=1
    )
    summary = generate(options, S3Sink(client, bucket, prefix))  # type: ignore[arg-type]
    keys = [key for (b, key) in client.objects if b == "logs"]
    assert "generated/run1/ground-truth.json" in keys
    assert summary.ground_truth == "s3://logs/generated/run1/ground-truth.json"
    assert all(
        k.startswith(
            (
                "generated/run1/AWSLogs/111122223333/WAFLogs/",
                "generated/run1/AWSLogs/444455556666/WAFLogs/",
                "generated/run1/ground",
            )
        )
        for k in keys
    )
    assert len(keys) == summary.files + 1
    with pytest.raises(ValueError):
        split_s3_uri("/local/path")
