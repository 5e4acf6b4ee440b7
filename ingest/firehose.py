"""The Kinesis Data Firehose HTTP endpoint protocol: decode, validate, ingest, answer.

A delivery request is ``POST`` JSON ``{"requestId", "timestamp", "records": [{"data":
<base64>}, ...]}`` with the headers ``X-Amz-Firehose-Request-Id`` (the same id as the
body), ``X-Amz-Firehose-Access-Key`` and, optionally, ``Content-Encoding: gzip``. The
answer is always JSON ``{"requestId", "timestamp"[, "errorMessage"]}`` echoing the id.

Status codes, in the order the checks run:

* 401 — the access key is missing or wrong (compared in constant time), or no key is
  configured at all: an endpoint without a key refuses every delivery.
* 413 — ``Content-Length``, the bytes actually read, or the gunzipped body exceed
  ``firehose.max_body_bytes``; or the records' decoded bytes do: one budget of that size
  counts every decoded (gunzipped) record and the raw text of invalid ones, and once it
  is spent the request is refused before another gzip record is inflated.
* 400 — unsupported ``Content-Encoding``, corrupt gzip, malformed JSON, a missing or
  invalid ``requestId``, one that differs from the header, or ``records`` not a list of
  ``{"data": "<string>"}`` objects. (Firehose retries a 400 too; the message says why.)
* 503 with ``Retry-After`` — the endpoint is full (``firehose.max_concurrent_requests``
  deliveries are being read or ingested already; checked before the body is read, so
  memory stays about that many bodies), or OpenSearch is unavailable (connection errors,
  :class:`~ingest.bulk.BulkUnavailable`): nothing is acknowledged and Firehose retries.
  500 for anything unexpected.
* 200 — only once every record is indexed, a duplicate or dead-lettered.

Record data decodes to one or more WAF JSON records (NDJSON or concatenated); the records
of a request are joined with ``\\n`` into one stream with origin ``firehose:<requestId>``.
A record whose ``data`` is not valid base64 (or is gzip that does not inflate) does not
fail the request: it is dead-lettered with the text as received and reason
``invalid_base64`` (``invalid_gzip``). A retried request adds no documents: ids are
``event.id`` and documents are written with the ``create`` op.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import logging
import re
import threading
import time
import zlib
from collections.abc import AsyncIterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from opensearchpy import OpenSearch
from opensearchpy.exceptions import ConnectionError as OSConnectionError
from opensearchpy.exceptions import ConnectionTimeout, TransportError
from pydantic import SecretStr
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from ingest.bulk import TRANSIENT_STATUSES, BulkIndexer, BulkItem, BulkUnavailable
from ingest.models import OriginKind, StreamReport
from ingest.parser import ParserOptions
from ingest.service import IngestTarget, deadletter_item, ingest_stream
from wafsiem.metrics import Metrics
from wafsiem.settings import Settings

log = logging.getLogger(__name__)

KIND: OriginKind = "firehose"
REQUEST_ID_HEADER = "x-amz-firehose-request-id"
ACCESS_KEY_HEADER = "x-amz-firehose-access-key"
GZIP_MAGIC = b"\x1f\x8b"
_REQUEST_ID = re.compile(r"[\x21-\x7e]{1,256}")  # printable ASCII, no spaces or controls


class FirehoseError(Exception):
    """A request answered with a non-200 status and a short message."""

    def __init__(self, status: int, message: str, request_id: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.request_id = request_id


@dataclass
class FirehoseResult:
    """The protocol answer: status code and the JSON body Firehose expects."""

    status: int
    request_id: str
    error_message: str | None = None
    report: StreamReport | None = None
    timestamp_ms: int = field(default_factory=lambda: int(time.time() * 1000))
    retry_after: int | None = None  # seconds, sent as Retry-After (with a 503)

    def headers(self) -> dict[str, str]:
        return {} if self.retry_after is None else {"Retry-After": str(self.retry_after)}

    def body(self) -> bytes:
        data: dict[str, Any] = {"requestId": self.request_id, "timestamp": self.timestamp_ms}
        if self.error_message is not None:
            data["errorMessage"] = self.error_message
        return orjson.dumps(data)


@dataclass
class InvalidRecord:
    offset: int  # where it would have started in the joined stream
    raw: bytes  # the record's data as received
    reason: str
    detail: str


@dataclass
class Delivery:
    """A validated delivery request: decoded records joined into one stream."""

    request_id: str
    timestamp_ms: int | None
    records: int
    payload: bytes
    invalid: list[InvalidRecord] = field(default_factory=list)


def valid_request_id(value: object) -> str | None:
    return value if isinstance(value, str) and _REQUEST_ID.fullmatch(value) else None


def check_access_key(configured: SecretStr | None, provided: str | None) -> None:
    """401 unless ``provided`` equals the configured key (constant-time comparison)."""
    if configured is None or not configured.get_secret_value():
        raise FirehoseError(
            401,
            "no Firehose access key is configured on this endpoint "
            "(WAFSIEM_FIREHOSE__ACCESS_KEY); every delivery is refused",
        )
    expected = configured.get_secret_value().encode("utf-8")
    given = (provided or "").encode("utf-8", "surrogateescape")
    if not hmac.compare_digest(expected, given):
        raise FirehoseError(401, "missing or wrong X-Amz-Firehose-Access-Key")


def check_content_length(value: str | None, limit: int) -> None:
    if value is None:
        return
    try:
        length = int(value)
    except ValueError:
        raise FirehoseError(400, "Content-Length is not a number") from None
    if length > limit:
        raise FirehoseError(413, f"request body of {length} bytes exceeds {limit} bytes")


async def read_limited(stream: AsyncIterable[bytes], limit: int) -> bytes:
    """The whole body, refusing (413) as soon as more than ``limit`` bytes arrived."""
    parts: list[bytes] = []
    size = 0
    try:
        async for chunk in stream:
            size += len(chunk)
            if size > limit:
                raise FirehoseError(413, f"request body exceeds {limit} bytes")
            parts.append(chunk)
    except ClientDisconnect:
        raise FirehoseError(400, "the client disconnected before the body ended") from None
    return b"".join(parts)


def gunzip_limited(data: bytes, limit: int) -> bytes:
    """Inflate gzip (every member) without ever holding more than ``limit`` bytes.

    Raises ``FirehoseError(413)`` past the limit (zip bombs) and ``ValueError`` for data
    that is not complete, valid gzip.
    """
    if limit <= 0:  # zlib reads a max_length of 0 as "unlimited": never ask for it
        raise FirehoseError(413, "decompressed records exceed the body limit")
    out: list[bytes] = []
    size = 0
    rest = data
    while rest:
        inflater = zlib.decompressobj(wbits=31)
        try:
            piece = inflater.decompress(rest, limit - size + 1)
        except zlib.error as exc:
            raise ValueError(f"corrupt gzip: {exc}") from None
        size += len(piece)
        if size > limit:
            raise FirehoseError(413, f"decompressed body exceeds {limit} bytes")
        out.append(piece)
        if not inflater.eof:
            raise ValueError("truncated gzip")
        rest = inflater.unused_data.lstrip(b"\x00")
    return b"".join(out)


def decode_body(body: bytes, content_encoding: str | None, limit: int) -> bytes:
    encoding = (content_encoding or "identity").strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding not in ("gzip", "x-gzip"):
        raise FirehoseError(400, "unsupported Content-Encoding (only gzip is accepted)")
    try:
        return gunzip_limited(body, limit)
    except ValueError as exc:
        raise FirehoseError(400, f"Content-Encoding is gzip but the body is not: {exc}") from None


def parse_delivery(body: bytes, header_request_id: str | None, limit: int) -> Delivery:
    """Validate the JSON body and decode its records (400 for a malformed request)."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise FirehoseError(400, "the body is not valid JSON") from None
    if not isinstance(data, dict):
        raise FirehoseError(400, "the body is not a JSON object")
    request_id = valid_request_id(data.get("requestId"))
    if request_id is None:
        raise FirehoseError(400, "requestId is missing or not a printable ASCII string")
    if header_request_id is not None and header_request_id != request_id:
        raise FirehoseError(400, "X-Amz-Firehose-Request-Id differs from the body's requestId")
    timestamp = data.get("timestamp")
    if timestamp is not None and (isinstance(timestamp, bool) or not isinstance(timestamp, int)):
        raise FirehoseError(400, "timestamp is not an integer", request_id)
    records = data.get("records")
    if not isinstance(records, list):
        raise FirehoseError(400, "records is missing or not a list", request_id)
    return _decode_records(request_id, timestamp, records, limit)


def _decode_records(
    request_id: str, timestamp: int | None, records: list[Any], limit: int
) -> Delivery:
    """Decode every record within one budget of ``limit`` bytes: decoded records and the
    raw text of invalid ones (kept for their dead letters) both count against it, and
    the request is refused (413) as soon as nothing is left of it — in particular no gzip
    record is inflated once the budget is spent."""
    parts: list[bytes] = []
    invalid: list[InvalidRecord] = []
    offset = 0  # position in the joined stream
    used = 0  # bytes held: decoded records and the raw text of invalid ones
    for number, record in enumerate(records):
        text = record.get("data") if isinstance(record, dict) else None
        if not isinstance(text, str):
            raise FirehoseError(
                400, f"records[{number}].data is missing or not a string", request_id
            )
        bad: tuple[str, str] | None = None
        try:
            decoded = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):  # ValueError: non-ASCII text
            bad = ("invalid_base64", "record data is not valid base64")
            decoded = b""
        if bad is None and decoded.startswith(GZIP_MAGIC):
            remaining = limit - used
            if remaining <= 0:
                raise FirehoseError(413, f"decoded records exceed {limit} bytes", request_id)
            try:
                decoded = gunzip_limited(decoded, remaining)
            except ValueError as exc:
                bad = ("invalid_gzip", f"record data is base64 of {exc}")
            except FirehoseError as exc:
                raise FirehoseError(exc.status, exc.message, request_id) from None
        if bad is not None:
            # an empty line holds its place, so each invalid record has its own offset
            raw = text.encode("utf-8", "replace")
            used += len(raw) + 1
            if used > limit:
                raise FirehoseError(413, f"decoded records exceed {limit} bytes", request_id)
            invalid.append(InvalidRecord(offset, raw, *bad))
            parts.append(b"")
            offset += 1
            continue
        if not decoded:
            continue
        offset += len(decoded) + 1
        used += len(decoded) + 1
        if used > limit:
            raise FirehoseError(413, f"decoded records exceed {limit} bytes", request_id)
        parts.append(decoded)
    payload = b"\n".join(parts) + b"\n" if parts else b""
    return Delivery(request_id, timestamp, len(records), payload, invalid)


def _is_transient(exc: BaseException) -> bool:
    if isinstance(exc, BulkUnavailable | OSConnectionError | ConnectionTimeout):
        return True
    if isinstance(exc, TransportError):
        return exc.status_code in TRANSIENT_STATUSES or exc.status_code == "N/A"
    return False


class FirehoseService:
    """Answers delivery requests; the FastAPI route only hands it headers and the body."""

    def __init__(
        self,
        *,
        indexer: BulkIndexer,
        options: ParserOptions,
        target: IngestTarget,
        access_key: SecretStr | None,
        max_body_bytes: int,
        metrics: Metrics | None = None,
        max_concurrent_requests: int = 4,
        retry_after_seconds: int = 5,
    ) -> None:
        self.indexer = indexer
        self.options = options
        self.target = target
        self.access_key = access_key
        self.max_body_bytes = max_body_bytes
        self.metrics = metrics
        self.retry_after_seconds = retry_after_seconds
        self._slots = threading.BoundedSemaphore(max_concurrent_requests)

    @classmethod
    def from_settings(
        cls, settings: Settings, client: OpenSearch, metrics: Metrics | None = None
    ) -> FirehoseService:
        # Firehose retries a failed request itself (for up to its retry duration), so the
        # endpoint gives up on OpenSearch within seconds instead of the batch sources' minute.
        indexer = BulkIndexer(
            client,
            max_bytes=settings.ingest.bulk_bytes,
            concurrency=settings.ingest.bulk_concurrency,
            max_attempts=4,
            max_backoff_seconds=2.0,
        )
        return cls(
            indexer=indexer,
            options=ParserOptions.from_settings(settings),
            target=IngestTarget.from_settings(settings),
            access_key=settings.firehose.access_key,
            max_body_bytes=settings.firehose.max_body_bytes,
            metrics=metrics,
            max_concurrent_requests=settings.firehose.max_concurrent_requests,
            retry_after_seconds=settings.firehose.retry_after_seconds,
        )

    async def receive(
        self, headers: Mapping[str, str], body: AsyncIterable[bytes]
    ) -> FirehoseResult:
        """Check, read and ingest one request; the body is read only once authorised."""
        started = time.perf_counter()
        header_id = headers.get(REQUEST_ID_HEADER)
        request_id = valid_request_id(header_id) or ""
        try:
            check_access_key(self.access_key, headers.get(ACCESS_KEY_HEADER))
            check_content_length(headers.get("content-length"), self.max_body_bytes)
            if not self._slots.acquire(blocking=False):
                raise FirehoseError(
                    503, "the endpoint is busy (too many deliveries at once); retry later"
                )
            try:
                raw = await read_limited(body, self.max_body_bytes)
                result = await run_in_threadpool(self.process, raw, headers)
            finally:
                self._slots.release()
        except FirehoseError as exc:
            result = FirehoseResult(exc.status, exc.request_id or request_id, exc.message)
            if exc.status == 503:
                result.retry_after = self.retry_after_seconds
        seconds = time.perf_counter() - started
        if self.metrics is not None:
            self.metrics.record_firehose_request(result.status, seconds)
        self._log(result, seconds)
        return result

    def process(self, raw: bytes, headers: Mapping[str, str]) -> FirehoseResult:
        """Decode and ingest an authorised body (blocking: run it in a worker thread)."""
        header_id = headers.get(REQUEST_ID_HEADER)
        body = decode_body(raw, headers.get("content-encoding"), self.max_body_bytes)
        delivery = parse_delivery(body, header_id, self.max_body_bytes)
        try:
            report = self.ingest(delivery)
        except FirehoseError:
            raise
        except Exception as exc:
            if _is_transient(exc):
                log.warning("firehose %s: OpenSearch unavailable: %s", delivery.request_id, exc)
                raise FirehoseError(
                    503,
                    "OpenSearch is unavailable; nothing was acknowledged, retry later",
                    delivery.request_id,
                ) from exc
            log.exception("firehose %s: ingest failed", delivery.request_id)
            raise FirehoseError(
                500, "internal error while indexing; see the server log", delivery.request_id
            ) from exc
        return FirehoseResult(200, delivery.request_id, report=report)

    def ingest(self, delivery: Delivery) -> StreamReport:
        """Every record indexed, a duplicate or dead-lettered when this returns."""
        origin = f"{KIND}:{delivery.request_id}"
        if delivery.invalid:
            self._deadletter(origin, delivery)
        report = ingest_stream(
            delivery.payload,
            origin=origin,
            kind=KIND,
            indexer=self.indexer,
            options=self.options,
            target=self.target,
            request_id=delivery.request_id,
        )
        if report.error is not None:  # the parser failed part-way: never acknowledge that
            raise FirehoseError(
                500,
                "internal error while parsing the delivery; nothing acknowledged (Firehose "
                "retries it, then writes it to its S3 backup); see the server log",
                delivery.request_id,
            )
        for bad in delivery.invalid:
            report.rejected_by_reason[bad.reason] = report.rejected_by_reason.get(bad.reason, 0) + 1
        report.records_in += len(delivery.invalid)
        report.dead_lettered += len(delivery.invalid)
        if self.metrics is not None:
            self.metrics.record_stream(
                KIND,
                read=report.records_in,
                indexed=report.indexed,
                duplicates=report.duplicates,
                dead_lettered=report.dead_lettered,
            )
        return report

    def _deadletter(self, origin: str, delivery: Delivery) -> None:
        items: list[BulkItem] = [
            deadletter_item(
                self.target,
                reason=bad.reason,
                detail=bad.detail,
                origin=origin,
                kind=KIND,
                offset=bad.offset,
                raw=bad.raw,
                request_id=delivery.request_id,
                options=self.options,
            )
            for bad in delivery.invalid
        ]
        outcome = self.indexer.index(items)
        if outcome.rejected:
            raise RuntimeError(
                f"the dead-letter index refused a record: {outcome.rejected[0].reason}"
            )

    @staticmethod
    def _log(result: FirehoseResult, seconds: float) -> None:
        r = result.report
        outcome = (
            f"{r.records_in} in, {r.indexed} indexed, {r.duplicates} duplicates, "
            f"{r.dead_lettered} dead-lettered"
            if r is not None
            else f"HTTP {result.status}: {result.error_message}"
        )
        log.info("firehose %s: %s (%.3fs)", result.request_id or "-", outcome, seconds)
