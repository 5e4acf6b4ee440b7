"""Where generated logs go: object key layouts (WAF direct-to-S3, Firehose to S3), sinks
(local directory, S3 bucket) and a Kinesis Data Firehose HTTP endpoint sender.
"""

from __future__ import annotations

import base64
import hashlib
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import orjson

from ingest.generator.catalogue import WebAcl
from wafsiem.errors import WafsiemError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

GROUND_TRUTH_NAME = "ground-truth.json"


def _digest(*parts: object) -> str:
    return hashlib.sha256("/".join(map(str, parts)).encode()).hexdigest()


def _uuid(*parts: object) -> str:
    h = _digest(*parts)
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-8{h[17:20]}-{h[20:32]}"


def _utc(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def waf_s3_key(acl: WebAcl, bucket_ms: int, seed: int) -> str:
    """``AWSLogs/<acct>/WAFLogs/<region>/<acl>/YYYY/MM/dd/HH/mm/<acct>_waflogs_<region>_<acl>_
    <YYYYMMDDTHHmmZ>_<hash8>.log.gz`` for the 5-minute window starting at ``bucket_ms``."""
    t = _utc(bucket_ms)
    region = acl.log_region
    name = (
        f"{acl.account}_waflogs_{region}_{acl.name}_{t:%Y%m%dT%H%M}Z_"
        f"{_digest(seed, acl.arn, bucket_ms)[:8]}.log.gz"
    )
    return f"AWSLogs/{acl.account}/WAFLogs/{region}/{acl.name}/{t:%Y/%m/%d/%H/%M}/{name}"


def firehose_stream(acl: WebAcl) -> str:
    """WAF requires log delivery streams to be named ``aws-waf-logs-*``."""
    return f"aws-waf-logs-{acl.name}"


def firehose_delivery_ms(bucket_end_ms: int, acl: WebAcl, seed: int) -> int:
    """When Firehose flushes the buffer: shortly after the 5-minute buffer interval."""
    return bucket_end_ms + 1000 * (
        1 + int(_digest("delivery", seed, acl.name, bucket_end_ms)[:4], 16) % 59
    )


def firehose_key(acl: WebAcl, delivered_ms: int, seed: int) -> str:
    """``YYYY/MM/dd/HH/<stream>-1-YYYY-MM-dd-HH-mm-ss-<uuid>`` (Firehose's default prefix)."""
    t = _utc(delivered_ms)
    stream = firehose_stream(acl)
    return (
        f"{t:%Y/%m/%d/%H}/{stream}-1-{t:%Y-%m-%d-%H-%M-%S}-"
        f"{_uuid('firehose', seed, acl.name, delivered_ms)}"
    )


class Sink(Protocol):
    def put(self, key: str, data: bytes) -> None: ...

    def location(self, key: str) -> str: ...


class LocalSink:
    def __init__(self, root: Path) -> None:
        self.root = root

    def put(self, key: str, data: bytes) -> None:
        path = self.root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)

    def location(self, key: str) -> str:
        return str(self.root / key)


class S3Sink:
    def __init__(self, client: S3Client, bucket: str, prefix: str) -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/")

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def put(self, key: str, data: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data)

    def location(self, key: str) -> str:
        return f"s3://{self.bucket}/{self._key(key)}"


def split_s3_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/prefix`` -> (bucket, prefix)."""
    if not uri.startswith("s3://"):
        raise ValueError(f"not an s3:// URI: {uri}")
    bucket, _, prefix = uri[5:].partition("/")
    if not bucket:
        raise ValueError(f"no bucket in {uri}")
    return bucket, prefix


@dataclass
class FirehoseStats:
    requests: int = 0
    bytes: int = 0
    retries: int = 0


Opener = Callable[[urllib.request.Request, float], tuple[int, bytes]]


def _urlopen(request: urllib.request.Request, timeout: float) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (scheme checked)
            return int(response.status), response.read()
    except urllib.error.HTTPError as exc:
        return int(exc.code), exc.read()


class FirehoseHttpSender:
    """POSTs records in the Kinesis Data Firehose HTTP endpoint delivery request format:
    ``{"requestId", "timestamp", "records": [{"data": base64}]}`` with the
    ``X-Amz-Firehose-*`` headers; retries non-200 answers with exponential backoff."""

    def __init__(
        self,
        url: str,
        access_key: str | None,
        *,
        max_request_bytes: int = 1 << 20,
        max_attempts: int = 6,
        backoff_seconds: float = 0.5,
        timeout: float = 30.0,
        opener: Opener = _urlopen,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"Firehose URL must be http(s): {url}")
        self.url = url
        self.access_key = access_key
        self.max_request_bytes = max_request_bytes
        self.max_attempts = max_attempts
        self.backoff = backoff_seconds
        self.timeout = timeout
        self.opener = opener
        self.sleep = sleep
        self.stats = FirehoseStats()

    def send(self, acl: WebAcl, records: list[bytes], delivered_ms: int, seed: int) -> None:
        batch: list[dict[str, str]] = []
        size = 0
        for record in records:
            encoded = base64.b64encode(record).decode()
            if batch and size + len(encoded) > self.max_request_bytes:
                self._post(acl, batch, delivered_ms, seed)
                batch, size = [], 0
            batch.append({"data": encoded})
            size += len(encoded) + 12
        if batch:
            self._post(acl, batch, delivered_ms, seed)

    def _post(self, acl: WebAcl, batch: list[dict[str, str]], delivered_ms: int, seed: int) -> None:
        request_id = _uuid("firehose-request", seed, acl.name, delivered_ms, self.stats.requests)
        body = orjson.dumps({"requestId": request_id, "timestamp": delivered_ms, "records": batch})
        headers = {
            "Content-Type": "application/json",
            "X-Amz-Firehose-Request-Id": request_id,
            "X-Amz-Firehose-Source-Arn": f"arn:aws:firehose:{acl.region}:{acl.account}:"
            f"deliverystream/{firehose_stream(acl)}",
            "X-Amz-Firehose-Protocol-Version": "1.0",
            "User-Agent": "Amazon Kinesis Data Firehose Agent/1.0",
        }
        if self.access_key:
            headers["X-Amz-Firehose-Access-Key"] = self.access_key
        last = ""
        for attempt in range(self.max_attempts):
            request = urllib.request.Request(  # noqa: S310 (http(s) checked in __init__)
                self.url, data=body, headers=headers, method="POST"
            )
            try:
                status, answer = self.opener(request, self.timeout)
            except (urllib.error.URLError, OSError) as exc:
                status, answer = 0, str(exc).encode()
            if status == 200:
                self.stats.requests += 1
                self.stats.bytes += len(body)
                return
            last = f"HTTP {status}: {answer[:200].decode(errors='replace')}"
            if attempt + 1 < self.max_attempts:
                self.stats.retries += 1
                self.sleep(min(self.backoff * 2**attempt, 30.0))
        raise WafsiemError(
            f"Firehose endpoint {self.url} refused request {request_id} "
            f"after {self.max_attempts} attempts ({last})",
            hint="check the URL and --firehose-access-key",
        )
