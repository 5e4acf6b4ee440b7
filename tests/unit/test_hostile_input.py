"""Hostile input is bounded: the Firehose budget, oversized records, bounded and redacted
dead letters, a poison object on SQS, a full endpoint (issue 14, items 5 and 6)."""

from __future__ import annotations

import asyncio
import base64
import gzip
import hashlib
import tracemalloc
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from pydantic import SecretStr

from ingest.bulk import BulkIndexer, BulkUnavailable
from ingest.firehose import FirehoseError, FirehoseService, parse_delivery
from ingest.models import StreamReport
from ingest.parser import ParserOptions, Reject
from ingest.parser.framing import Oversized, RecordFramer
from ingest.parser.redact import redact_raw
from ingest.parser.transform import header_hasher
from ingest.service import IngestTarget, deadletter_item
from ingest.sqs_source import handle_message
from tests.unit.conftest import parse_all

from ..waf_records import waf_record
from .test_firehose_protocol import KEY, RID, FakeOpenSearch, b64, delivery

MIB = 1 << 20
SECRET = "Bearer eyJhbGciOi.very-secret-token"


def record_bytes(n: int) -> bytes:
    return orjson.dumps(waf_record(n))


def chunked(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


# -- (a) the Firehose decompressed-size budget ------------------------------------------------


def test_invalid_records_count_against_the_budget() -> None:
    limit = 100_000
    body = orjson.dumps(
        {
            "requestId": RID,
            "records": [{"data": b64(b"x" * (limit - 100))}, {"data": "!" * 500}],
        }
    )
    with pytest.raises(FirehoseError) as exc:
        parse_delivery(body, RID, limit)
    assert exc.value.status == 413
    assert exc.value.request_id == RID


def test_no_gzip_record_is_inflated_once_the_budget_is_spent() -> None:
    """The request of the report: a record that fills the budget, an invalid record that
    pushes it past the limit, then a gzip bomb (here 64 MB of zeros in ~64 KB)."""
    limit = 1_000_000
    body = orjson.dumps(
        {
            "requestId": RID,
            "records": [
                {"data": b64(gzip.compress(b"y" * (limit - 1)))},
                {"data": "%"},
                {"data": b64(gzip.compress(bytes(64 * MIB)))},
            ],
        }
    )
    assert len(body) < 300_000
    tracemalloc.start()
    try:
        with pytest.raises(FirehoseError) as exc:
            parse_delivery(body, RID, limit)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert exc.value.status == 413
    assert peak < 8 * MIB, f"peak {peak} bytes: the bomb was inflated"


def test_413_is_answered_in_firehose_json() -> None:
    svc = _service(FakeOpenSearch(), max_body_bytes=1000)
    records = [{"data": b64(gzip.compress(b"z" * 990))}, {"data": "!" * 100}]
    body = orjson.dumps({"requestId": RID, "records": records})
    assert len(body) < 1000  # the body fits; what it decodes to does not
    result = _receive(svc, body)
    assert result.status == 413
    answer = orjson.loads(result.body())
    assert answer["requestId"] == RID and "exceed" in answer["errorMessage"]


# -- (b) a maximum record size in the framer ------------------------------------------------


def test_oversized_record_is_a_bounded_prefix_with_size_and_sha256() -> None:
    huge = b'{"timestamp":1,"x":"' + b"a" * (3 * MIB) + b'"}'
    data = record_bytes(1) + b"\n" + huge + b"\n" + record_bytes(2) + b"\n"
    for size in (len(data), MIB, 4096):
        docs, rejects, stats = parse_all(chunked(data, size))
        assert [d.timestamp_ms for d in docs] == [waf_record(n)["timestamp"] for n in (1, 2)]
        (reject,) = rejects
        assert reject.reason == "oversized"
        assert reject.offset == len(record_bytes(1)) + 1
        assert reject.raw == huge[: 64 * 1024]
        assert reject.size == len(huge)
        assert reject.sha256 == hashlib.sha256(huge).hexdigest()
        assert stats.records_in == 3 and stats.rejected_by_reason == {"oversized": 1}


def test_the_limit_is_a_setting() -> None:
    line = b'{"timestamp":1,"x":"' + b"a" * 5000 + b'"}'
    options = ParserOptions(max_record_bytes=4096)
    _, rejects, _ = parse_all(line + b"\n", options)
    assert [r.reason for r in rejects] == ["oversized"]
    _, rejects, _ = parse_all(line + b"\n", ParserOptions(max_record_bytes=8192))
    assert [r.reason for r in rejects] == ["missing_action"]


def test_framer_never_buffers_an_oversized_line() -> None:
    """A 64 MB single line: the framer holds at most the limit plus one chunk."""
    framer = RecordFramer(max_record_bytes=MIB)
    digest = hashlib.sha256()
    frames = []
    chunk = b'{"a":"' + b"b" * (MIB - 6)
    for number in range(64):
        piece = chunk if number == 0 else b"b" * MIB
        digest.update(piece)
        frames += framer.feed(piece)
        assert framer.pending_bytes <= 2 * MIB
    frames += framer.finish()
    ((offset, raw, value),) = frames
    assert offset == 0 and raw == chunk[: 64 * 1024]
    assert value == Oversized(64 * MIB, digest.hexdigest())


def test_oversized_plain_line_and_record_in_a_stream_without_newlines() -> None:
    garbage = b"g" * (2 * MIB)
    data = garbage + b"\n" + b"".join(record_bytes(n) for n in range(3))
    for size in (len(data), 65536):
        docs, rejects, _ = parse_all(chunked(data, size))
        assert len(docs) == 3
        assert [(r.reason, r.size) for r in rejects] == [("oversized", len(garbage))]


# -- dead letters: bounded and redacted --------------------------------------------------------


def test_deadletter_of_an_oversized_record_is_bounded() -> None:
    reject = Reject("oversized", "too big", "s3://b/k", 10, b"p" * 1000, 200 * MIB, "ab" * 32)
    item = deadletter_item(
        IngestTarget(),
        reason=reject.reason,
        detail=reject.detail,
        origin=reject.origin,
        kind="s3",
        offset=reject.offset,
        raw=reject.raw,
        request_id=None,
        size=reject.size,
        sha256=reject.sha256,
    )
    raw = orjson.loads(item.source)["raw"]
    assert raw["bytes"] == 200 * MIB and raw["sha256"] == "ab" * 32
    assert raw["truncated"] is True and raw["stored_bytes"] == 1000
    assert base64.b64decode(raw["base64"]) == b"p" * 1000


def test_no_deadletter_holds_more_than_the_raw_limit() -> None:
    data = b"q" * (5 * MIB)
    target = IngestTarget(deadletter_raw_bytes=MIB)
    item = deadletter_item(
        target,
        reason="invalid_base64",
        detail="",
        origin="firehose:x",
        kind="firehose",
        offset=0,
        raw=data,
        request_id="x",
    )
    assert len(item.source) < 1.5 * MIB
    raw = orjson.loads(item.source)["raw"]
    assert raw["bytes"] == len(data) and raw["sha256"] == hashlib.sha256(data).hexdigest()
    assert raw["truncated"] is True and len(base64.b64decode(raw["base64"])) == MIB


def _broken_record_with_secrets() -> bytes:
    record = waf_record(7)
    record["httpRequest"]["headers"] += [
        {"name": "Authorization", "value": SECRET},
        {"name": "cOoKiE", "value": 'session="abc123"; theme=dark'},
    ]
    return orjson.dumps(record)[:-20]  # cut: not JSON any more


def test_deadletter_raw_bytes_are_redacted_as_the_parser_would() -> None:
    options = ParserOptions(hash_key=b"k")
    raw = _broken_record_with_secrets()
    _, (reject,), _ = parse_all(raw, options)
    item = deadletter_item(
        IngestTarget(),
        reason=reject.reason,
        detail=reject.detail,
        origin="f",
        kind="file",
        offset=0,
        raw=reject.raw,
        request_id=None,
        options=options,
    )
    doc = orjson.loads(item.source)
    stored = base64.b64decode(doc["raw"]["base64"])
    assert SECRET.encode() not in stored and b"abc123" not in stored
    hasher = header_hasher(options)
    assert hasher.hash_value(SECRET).encode() in stored
    assert hasher.hash_value('session="abc123"; theme=dark').encode() in stored
    assert b"shop.example.com" in stored  # other headers untouched
    assert doc["raw"]["sha256"] == hashlib.sha256(raw).hexdigest()
    assert doc["raw"]["bytes"] == len(raw) and doc["raw"]["redacted"] is True


@pytest.mark.parametrize(
    "raw",
    [
        b'{"headers":[{"name" : "AUTHORIZATION" ,\n "value" : "Bearer xyz"}',
        b'{"headers":[{"value":"Bearer xyz","name":"authorization"}]}',
        b'{"headers":[{"name":"Authoriz\\u0061tion","value":"Bearer xyz"}',
        b'garbage "name":"x-api-key","value":"Bearer xyz" more garbage',
        b'{"headers":[{"name":"authorization","value":"Bearer xyz',  # value cut off
        b'{"rateBasedRuleList":[{"customValues":[{"key":"HEADER","name":"Authorization",'
        b'"value":"Bearer xyz"}]}]}',
    ],
)
def test_textual_redaction_works_on_malformed_json(raw: bytes) -> None:
    redacted, count = redact_raw(raw, ParserOptions())
    assert count == 1
    assert b"xyz" not in redacted and b"hmac-sha256:" in redacted


def test_redaction_leaves_other_bytes_alone() -> None:
    raw = b'{"headers":[{"name":"Host","value":"Bearer xyz"}'
    assert redact_raw(raw, ParserOptions()) == (raw, 0)
    hashed = b'{"name":"cookie","value":"hmac-sha256:' + b"0" * 32 + b'"}'
    assert redact_raw(hashed, ParserOptions()) == (hashed, 1)  # not hashed twice


def test_firehose_deadletters_are_redacted() -> None:
    client = FakeOpenSearch()
    svc = _service(client)
    result = _receive(svc, delivery([_broken_record_with_secrets()]))
    assert result.status == 200 and result.report is not None
    assert result.report.dead_lettered == 1
    (source,) = [v for k, v in client.ids.items() if k.startswith("t-waf-deadletter/")]
    stored = base64.b64decode(orjson.loads(source)["raw"]["base64"])
    assert SECRET.encode() not in stored and b"abc123" not in stored


# -- a poison object never crash-loops the SQS consumer ----------------------------------------


class FakeSqs:
    def __init__(self) -> None:
        self.deleted: list[str] = []

    def delete_message(self, QueueUrl: str, ReceiptHandle: str) -> None:
        self.deleted.append(ReceiptHandle)


def _message(*keys: str) -> dict[str, Any]:
    records = [
        {"eventName": "ObjectCreated:Put", "s3": {"bucket": {"name": "b"}, "object": {"key": k}}}
        for k in keys
    ]
    return {
        "MessageId": "m1",
        "ReceiptHandle": "h1",
        "Body": orjson.dumps({"Records": records}).decode(),
        "Attributes": {"ApproximateReceiveCount": "2"},
    }


def test_a_poison_object_is_left_for_redrive_not_raised() -> None:
    def ingest(bucket: str, key: str) -> StreamReport:
        raise RuntimeError("the dead-letter index refused a record: too large")

    sqs = FakeSqs()
    outcome = handle_message(sqs, "q", _message("poison"), ingest)  # type: ignore[arg-type]
    assert not outcome.deleted and sqs.deleted == []
    assert outcome.error is not None and "RuntimeError" in outcome.error
    assert "receive 2" in outcome.error


def test_opensearch_down_still_stops_the_consumer() -> None:
    def ingest(bucket: str, key: str) -> StreamReport:
        raise BulkUnavailable("down")

    with pytest.raises(BulkUnavailable):
        handle_message(FakeSqs(), "q", _message("k"), ingest)  # type: ignore[arg-type]


# -- (c) a full endpoint answers 503 with Retry-After -------------------------------------------


def _service(client: Any, **overrides: Any) -> FirehoseService:
    settings: dict[str, Any] = {
        "indexer": BulkIndexer(client, concurrency=1, max_attempts=2, sleep=lambda _: None),
        "options": ParserOptions(),
        "target": IngestTarget("t-waf-logs", "t-waf-deadletter"),
        "access_key": SecretStr(KEY),
        "max_body_bytes": 1_000_000,
    }
    settings.update(overrides)
    return FirehoseService(**settings)


def _headers() -> dict[str, str]:
    return {"x-amz-firehose-request-id": RID, "x-amz-firehose-access-key": KEY}


def _receive(svc: FirehoseService, body: bytes) -> Any:
    async def stream() -> AsyncIterator[bytes]:
        yield body

    return asyncio.run(svc.receive(_headers(), stream()))


def test_busy_endpoint_answers_503_with_retry_after() -> None:
    svc = _service(FakeOpenSearch(), max_concurrent_requests=1, retry_after_seconds=7)
    body = delivery([record_bytes(1)])

    async def scenario() -> tuple[Any, Any, Any]:
        release = asyncio.Event()

        async def slow() -> AsyncIterator[bytes]:
            await release.wait()
            yield body

        async def fast() -> AsyncIterator[bytes]:
            yield body

        first = asyncio.create_task(svc.receive(_headers(), slow()))
        await asyncio.sleep(0.05)
        busy = await svc.receive(_headers(), fast())
        release.set()
        done = await first
        after = await svc.receive(_headers(), fast())
        return busy, done, after

    busy, done, after = asyncio.run(scenario())
    assert busy.status == 503 and busy.headers() == {"Retry-After": "7"}
    assert orjson.loads(busy.body())["requestId"] == RID
    assert done.status == 200 and after.status == 200  # the slot was given back
