"""S3 as a source: backfill or poll a prefix in key order, with a durable checkpoint.

Both AWS layouts are understood: WAF's direct delivery
(``AWSLogs/<acct>/WAFLogs/<region>/<acl>/YYYY/MM/dd/HH/mm/<file>.log.gz``) and Firehose's
(``<prefix>YYYY/MM/dd/HH/<stream>-<n>-YYYY-MM-dd-HH-mm-ss-<uuid>``). Keys are time-ordered
only *within* one delivery stream (one web ACL, or one Firehose prefix), so the
checkpoint keeps the last key per stream prefix: a new file of web ACL ``a`` is found
even when web ACL ``b``'s files sort after it.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from ingest.bulk import BulkIndexer
from ingest.checkpoint import Checkpoint, CheckpointStore
from ingest.models import IngestReport, StreamReport
from ingest.parser import ParserOptions
from ingest.service import IngestTarget, StreamSource, ingest_streams
from wafsiem.errors import WafsiemError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

_WAF_STREAM = re.compile(r"^(.*?AWSLogs/[^/]+/WAFLogs/[^/]+/[^/]+/)\d{4}/\d{2}/\d{2}/\d{2}/")
_FIREHOSE_STREAM = re.compile(r"^(.*?)\d{4}/\d{2}/\d{2}/\d{2}/[^/]+$")
PERMANENT_S3_ERRORS = frozenset({"NoSuchKey", "AccessDenied", "InvalidObjectState", "404", "403"})
READ_ATTEMPTS = 3
MAX_BUFFERED_BYTES = 256 * 1024 * 1024


@dataclass(frozen=True)
class S3Location:
    bucket: str
    prefix: str

    @classmethod
    def parse(cls, uri: str) -> S3Location:
        if not uri.startswith("s3://"):
            raise WafsiemError(f"not an s3:// URI: {uri!r}", hint="write s3://bucket/prefix")
        bucket, _, prefix = uri.removeprefix("s3://").partition("/")
        if not bucket:
            raise WafsiemError(f"no bucket in {uri!r}")
        return cls(bucket, prefix)

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"


def stream_prefix(key: str) -> str:
    """The delivery stream a key belongs to (its key order is time order)."""
    match = _WAF_STREAM.match(key) or _FIREHOSE_STREAM.match(key)
    return match.group(1) if match else ""


def list_new_objects(
    s3: S3Client, location: S3Location, checkpoint: Checkpoint
) -> Iterator[tuple[str, int]]:
    """(key, size) of objects under the prefix not yet done, in key order."""
    paginator = s3.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=location.bucket, Prefix=location.prefix):
        for obj in page.get("Contents", []):
            key = obj["Key"]
            if key.endswith("/"):  # directory markers some S3 servers list
                continue
            if key in checkpoint.failed or checkpoint.done(stream_prefix(key), key):
                continue
            yield key, int(obj.get("Size", 0))


def _is_permanent(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code", "") in PERMANENT_S3_ERRORS


def _read_object(
    s3: S3Client, bucket: str, key: str, sleep: Callable[[float], None]
) -> Iterable[bytes]:
    """The object's bytes; transient read errors are retried, the last one raised."""
    for attempt in range(READ_ATTEMPTS):
        if attempt:
            sleep(0.5 * 2**attempt)
        try:
            response = s3.get_object(Bucket=bucket, Key=key)
            size = int(response.get("ContentLength", 0))
            body = response["Body"]
            if size > MAX_BUFFERED_BYTES:  # too big to hold: stream it, no retry
                return body.iter_chunks(1 << 20)
            with body:
                return [body.read()]
        except ClientError as exc:
            if _is_permanent(exc) or attempt == READ_ATTEMPTS - 1:
                raise
        except (BotoCoreError, OSError):
            if attempt == READ_ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


def s3_object_source(
    s3: S3Client, bucket: str, key: str, sleep: Callable[[float], None] = time.sleep
) -> StreamSource:
    return StreamSource(f"s3://{bucket}/{key}", "s3", lambda: _read_object(s3, bucket, key, sleep))


def ingest_s3_object(
    s3: S3Client,
    bucket: str,
    key: str,
    *,
    indexer: BulkIndexer,
    options: ParserOptions,
    target: IngestTarget,
    sleep: Callable[[float], None] = time.sleep,
) -> StreamReport:
    """One object. A read error is retried; one that persists is reported, not raised.

    :class:`ingest.bulk.BulkUnavailable` (OpenSearch down) propagates: nothing is done.
    """
    (report,) = ingest_streams(
        [s3_object_source(s3, bucket, key, sleep)], indexer=indexer, options=options, target=target
    )
    return report


def ingest_s3_prefix(
    s3: S3Client,
    location: S3Location,
    *,
    store: CheckpointStore,
    indexer: BulkIndexer,
    options: ParserOptions,
    target: IngestTarget,
    on_listed: Callable[[int, int], None] | None = None,
    on_stream: Callable[[StreamReport], None] | None = None,
) -> IngestReport:
    """One pass: every object not yet done, in key order; the checkpoint moves past an
    object only once it and every object before it are durable in OpenSearch."""
    started = time.monotonic()
    checkpoint = store.load(location.uri)
    todo = sorted(list_new_objects(s3, location, checkpoint))
    if on_listed is not None:
        on_listed(len(todo), sum(size for _, size in todo))
    report = IngestReport()
    sources = (s3_object_source(s3, location.bucket, key) for key, _size in todo)
    streams = ingest_streams(sources, indexer=indexer, options=options, target=target)
    for (key, _size), stream in zip(todo, streams, strict=True):
        if stream.error is not None:
            checkpoint.failed[key] = stream.error
        prefix = stream_prefix(key)
        if key > checkpoint.positions.get(prefix, ""):
            checkpoint.positions[prefix] = key
        store.save(checkpoint)  # only now is the object acknowledged
        report.add(stream)
        if on_stream is not None:
            on_stream(stream)
    report.seconds = time.monotonic() - started
    return report
