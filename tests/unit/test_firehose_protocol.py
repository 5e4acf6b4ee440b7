"""The Firehose HTTP endpoint protocol without services: checks, decoding, status codes."""

from __future__ import annotations

import asyncio
import base64
import gzip
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from pydantic import SecretStr

from ingest.bulk import BulkIndexer
from ingest.firehose import (
    FirehoseError,
    FirehoseResult,
    FirehoseService,
    check_access_key,
    check_content_length,
    decode_body,
    gunzip_limited,
    parse_delivery,
    read_limited,
)
from ingest.parser import ParserOptions
from ingest.service import IngestTarget
from wafsiem.metrics import Metrics

from ..waf_records import waf_record

KEY = "s3cret-firehose-key"
RID = "ed4acda5-034f-9f42-bba1-f29aea6d7d8f"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def delivery(datas: list[bytes], request_id: str = RID) -> bytes:
    return orjson.dumps(
        {"requestId": request_id, "timestamp": 1, "records": [{"data": b64(d)} for d in datas]}
    )


def status_of(exc: pytest.ExceptionInfo[FirehoseError]) -> int:
    return exc.value.status


def test_access_key_constant_time_and_refused_when_unset() -> None:
    check_access_key(SecretStr(KEY), KEY)
    for given in (None, "", "wrong", KEY + "x", KEY[:-1]):
        with pytest.raises(FirehoseError) as exc:
            check_access_key(SecretStr(KEY), given)
        assert status_of(exc) == 401
    for configured in (None, SecretStr("")):
        with pytest.raises(FirehoseError) as exc:
            check_access_key(configured, "")
        assert status_of(exc) == 401
        assert "no Firehose access key is configured" in exc.value.message


def test_content_length_and_streamed_size_limits() -> None:
    check_content_length(None, 10)
    check_content_length("10", 10)
    with pytest.raises(FirehoseError) as exc:
        check_content_length("11", 10)
    assert status_of(exc) == 413
    with pytest.raises(FirehoseError) as exc:
        check_content_length("ten", 10)
    assert status_of(exc) == 400

    async def chunks(*parts: bytes) -> AsyncIterator[bytes]:
        for part in parts:
            yield part

    assert asyncio.run(read_limited(chunks(b"abc", b"def"), 6)) == b"abcdef"
    with pytest.raises(FirehoseError) as exc:
        asyncio.run(read_limited(chunks(b"abc", b"defg"), 6))
    assert status_of(exc) == 413


def test_gzip_body_and_zip_bomb_bound() -> None:
    plain = b'{"a": 1}' * 100
    assert decode_body(gzip.compress(plain), "gzip", 10_000) == plain
    assert gunzip_limited(gzip.compress(b"ab") + gzip.compress(b"cd"), 10) == b"abcd"
    assert decode_body(plain, None, 10) == plain  # the limit is checked on the raw body
    bomb = gzip.compress(b"\0" * 5_000_000)
    assert len(bomb) < 10_000
    with pytest.raises(FirehoseError) as exc:
        decode_body(bomb, "gzip", 1_000_000)
    assert status_of(exc) == 413
    for bad in (b"not gzip", gzip.compress(plain)[:-10]):
        with pytest.raises(FirehoseError) as exc:
            decode_body(bad, "gzip", 10_000)
        assert status_of(exc) == 400
    with pytest.raises(FirehoseError) as exc:
        decode_body(plain, "br", 10_000)
    assert status_of(exc) == 400


@pytest.mark.parametrize(
    ("body", "header", "words"),
    [
        (b"{not json", None, "not valid JSON"),
        (b"[1, 2]", None, "not a JSON object"),
        (b'{"records": []}', None, "requestId"),
        (b'{"requestId": "", "records": []}', None, "requestId"),
        (b'{"requestId": "has space", "records": []}', None, "requestId"),
        (b'{"requestId": 7, "records": []}', None, "requestId"),
        (b'{"requestId": "a", "records": []}', "b", "differs"),
        (b'{"requestId": "a", "timestamp": "x", "records": []}', None, "timestamp"),
        (b'{"requestId": "a"}', None, "records"),
        (b'{"requestId": "a", "records": [{"nodata": 1}]}', None, "records[0].data"),
        (b'{"requestId": "a", "records": ["x"]}', None, "records[0].data"),
    ],
)
def test_malformed_requests_are_400(body: bytes, header: str | None, words: str) -> None:
    with pytest.raises(FirehoseError) as exc:
        parse_delivery(body, header, 1_000_000)
    assert status_of(exc) == 400
    assert words in exc.value.message


def test_records_joined_and_invalid_ones_kept_apart() -> None:
    one = orjson.dumps(waf_record(1))
    two_three = orjson.dumps(waf_record(2)) + orjson.dumps(waf_record(3))  # concatenated
    body = orjson.dumps(
        {
            "requestId": RID,
            "timestamp": 1_700_000_000_000,
            "records": [
                {"data": b64(one + b"\n")},
                {"data": "!!not base64!!"},
                {"data": "!!not base64!!"},
                {"data": b64(gzip.compress(two_three))},
                {"data": b64(b"\x1f\x8bnot really gzip")},
                {"data": ""},
            ],
        }
    )
    got = parse_delivery(body, RID, 1_000_000)
    assert got.request_id == RID
    assert got.records == 6
    assert got.payload.split(b"\n") == [one, b"", b"", b"", two_three, b"", b""]
    assert [(bad.reason, bad.raw[:4]) for bad in got.invalid] == [
        ("invalid_base64", b"!!no"),
        ("invalid_base64", b"!!no"),
        ("invalid_gzip", b"H4tu"),
    ]
    offsets = [bad.offset for bad in got.invalid]
    assert len(set(offsets)) == 3  # identical garbage still gets distinct dead letters


def test_decoded_size_is_bounded_too() -> None:
    bomb = gzip.compress(b"{" * 2_000_000)
    body = delivery([bomb])
    assert len(body) < 50_000
    with pytest.raises(FirehoseError) as exc:
        parse_delivery(body, None, 1_000_000)
    assert status_of(exc) == 413


def test_result_body_echoes_request_id() -> None:
    ok = orjson.loads(FirehoseResult(200, RID).body())
    assert ok["requestId"] == RID and isinstance(ok["timestamp"], int)
    assert "errorMessage" not in ok
    err = orjson.loads(FirehoseResult(401, RID, "nope").body())
    assert err["errorMessage"] == "nope"


class FakeOpenSearch:
    """Answers _bulk like OpenSearch: 201 for a new _id, 409 for a known one."""

    def __init__(self, fail: Exception | None = None) -> None:
        self.ids: dict[str, bytes] = {}
        self.fail = fail

    def bulk(self, body: bytes, params: Any = None) -> dict[str, Any]:
        if self.fail is not None:
            raise self.fail
        lines = body.splitlines()
        items = []
        for action_line, source in zip(lines[::2], lines[1::2], strict=True):
            op, meta = next(iter(orjson.loads(action_line).items()))
            key = f"{meta['_index']}/{meta['_id']}"
            if op == "create" and key in self.ids:
                items.append({op: {"status": 409}})
            else:
                self.ids[key] = source
                items.append({op: {"status": 201}})
        return {"items": items}


def service(client: Any, key: str | None = KEY) -> FirehoseService:
    return FirehoseService(
        indexer=BulkIndexer(client, concurrency=1, max_attempts=2, sleep=lambda _: None),
        options=ParserOptions(),
        target=IngestTarget("t-waf-logs", "t-waf-deadletter"),
        access_key=SecretStr(key) if key else None,
        max_body_bytes=1_000_000,
        metrics=Metrics(),
    )


def receive(svc: FirehoseService, body: bytes, **headers: str) -> FirehoseResult:
    async def stream() -> AsyncIterator[bytes]:
        yield body

    base = {"x-amz-firehose-request-id": RID, "x-amz-firehose-access-key": KEY}
    base.update({k.replace("_", "-"): v for k, v in headers.items()})
    return asyncio.run(svc.receive(base, stream()))


def test_service_accounts_every_record_and_retries_add_nothing() -> None:
    client = FakeOpenSearch()
    svc = service(client)
    body = delivery([orjson.dumps(waf_record(n)) for n in range(5)] + [b"{broken"])
    first = receive(svc, body)
    assert first.status == 200 and first.report is not None
    assert (first.report.indexed, first.report.dead_lettered) == (5, 1)
    assert first.report.balanced
    retry = receive(svc, body)
    assert retry.status == 200 and retry.report is not None
    assert (retry.report.indexed, retry.report.duplicates) == (0, 5)
    assert sum(key.startswith("t-waf-logs-") for key in client.ids) == 5
    assert sum(key.startswith("t-waf-deadletter/") for key in client.ids) == 1
    text = svc.metrics.exposition().decode() if svc.metrics else ""
    assert 'wafsiem_firehose_requests_total{status="200"} 2.0' in text
    assert 'wafsiem_ingest_records_duplicate_total{kind="firehose"} 5.0' in text


def test_service_status_codes() -> None:
    from opensearchpy.exceptions import ConnectionError as OSConnectionError

    body = delivery([orjson.dumps(waf_record(1))])
    assert receive(service(FakeOpenSearch()), body, x_amz_firehose_access_key="x").status == 401
    assert receive(service(FakeOpenSearch(), key=None), body).status == 401
    assert receive(service(FakeOpenSearch()), b"{").status == 400
    assert receive(service(FakeOpenSearch()), body, content_length="2000000").status == 413
    down = FakeOpenSearch(fail=OSConnectionError("N/A", "refused", Exception("refused")))
    unavailable = receive(service(down), body)
    assert unavailable.status == 503
    assert orjson.loads(unavailable.body())["requestId"] == RID
    broken = FakeOpenSearch(fail=KeyError("boom"))
    failed = receive(service(broken), body)
    assert failed.status == 500
    assert "boom" not in (failed.error_message or "")
