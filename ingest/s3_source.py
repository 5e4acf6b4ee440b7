"""S3 as a source: backfill or poll a prefix, with a durable checkpoint that cannot skip.

Both AWS layouts are understood: WAF's direct delivery
(``AWSLogs/<acct>/WAFLogs/<region>/<acl>/YYYY/MM/dd/HH/mm/<file>.log.gz``) and Firehose's
(``<prefix>YYYY/MM/dd/HH/<stream>-<n>-YYYY-MM-dd-HH-mm-ss-<uuid>``). Keys are time-ordered
only *within* one delivery stream, and WAF writes several files into one folder whose
names end in a random hash, so a file can land with a key that sorts before one already
read. A pass therefore finds the streams under the prefix (a ``/``-delimited walk that
stops at the folder holding the year folders), lists each from the start of its
lookback window (``StartAfter``) and reads every key not yet done; see
:mod:`ingest.checkpoint` for the state kept and ``docs/operations.md`` for the limits.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import BaseModel, Field

from ingest.bulk import BulkIndexer
from ingest.checkpoint import (
    Checkpoint,
    CheckpointStore,
    floor_hour,
    folder_prefix,
    folder_time,
    key_time,
    stream_prefix,
    window_start,
)
from ingest.models import IngestReport, StreamReport
from ingest.parser import ParserOptions
from ingest.service import IngestTarget, StreamSource, ingest_streams
from wafsiem.errors import WafsiemError
from wafsiem.settings import S3PollSettings

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

__all__ = [
    "FailedKeyReport",
    "S3Location",
    "S3PollReport",
    "ingest_s3_object",
    "ingest_s3_prefix",
    "list_new_objects",
    "stream_prefix",
]

PERMANENT_S3_ERRORS = frozenset({"NoSuchKey", "AccessDenied", "InvalidObjectState", "404", "403"})
READ_ATTEMPTS = 3
MAX_BUFFERED_BYTES = 16 * 1024 * 1024  # larger objects stream (bounded memory)
MAX_WALK_DEPTH = 8
REPORTED_FAILED_KEYS = 100
_YEAR = re.compile(r"\d{4}/")
_INSIDE_DATE = re.compile(r"^(.*/)?\d{4}/(?:\d{2}/){0,4}$")  # .../YYYY/[MM/[DD/[HH/[mm/]]]]
# account, WAFLogs, region folders of WAF's layout: their children are never year folders
# (a web ACL may well be called "2024")
_WAF_ABOVE_ACL = re.compile(r"(?:^|/)AWSLogs/(?:[^/]+/(?:WAFLogs/(?:[^/]+/)?)?)?$")


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


@dataclass(frozen=True)
class PendingObject:
    key: str
    size: int
    stream: str
    time: datetime
    retry: bool = False


@dataclass
class _Units:
    # (prefix, stream): listed from the stream's window start (StartAfter)
    dated: list[tuple[str, str]] = field(default_factory=list)
    full: list[str] = field(default_factory=list)  # subtrees deeper than the walk goes
    loose: list[Any] = field(default_factory=list)  # objects met on the way down


def _discover(s3: S3Client, location: S3Location) -> _Units:
    """Walk the prefix folder by folder down to each stream (the folder of year folders).

    A prefix that already sits inside the date folders is one unit of its stream."""
    units = _Units()
    paginator = s3.get_paginator("list_objects_v2")
    pending = [(location.prefix, 0)]
    while pending:
        current, depth = pending.pop()
        inside = _INSIDE_DATE.match(current) if depth == 0 else None
        if inside is not None and not _WAF_ABOVE_ACL.search(inside.group(1) or ""):
            units.dated.append((current, inside.group(1) or ""))
            continue
        if depth >= MAX_WALK_DEPTH:
            units.full.append(current)
            continue
        children: list[str] = []
        for page in paginator.paginate(Bucket=location.bucket, Prefix=current, Delimiter="/"):
            children += [c["Prefix"] for c in page.get("CommonPrefixes", []) if "Prefix" in c]
            units.loose += page.get("Contents", [])
        years = [c for c in children if _YEAR.fullmatch(c[len(current) :])]
        if _WAF_ABOVE_ACL.search(current):
            years = []
        if years:
            units.dated.append((current, current))  # the year folders: one listing
        others = [child for child in children if child not in years]
        pending += [(child, depth + 1) for child in sorted(others, reverse=True)]
    return units


def list_new_objects(
    s3: S3Client, location: S3Location, checkpoint: Checkpoint, window: datetime
) -> tuple[list[PendingObject], set[str]]:
    """Objects under the prefix not yet done (key order) and every stream seen."""
    units = _discover(s3, location)
    paginator = s3.get_paginator("list_objects_v2")
    objects: dict[str, Any] = {obj["Key"]: obj for obj in units.loose}
    for prefix, stream in units.dated:
        start = checkpoint.list_start(stream, window) if stream else None
        after = "" if start is None else folder_prefix(stream, start)  # "": from the first
        for page in paginator.paginate(Bucket=location.bucket, Prefix=prefix, StartAfter=after):
            objects.update((obj["Key"], obj) for obj in page.get("Contents", []))
    for prefix in units.full:
        for page in paginator.paginate(Bucket=location.bucket, Prefix=prefix):
            objects.update((obj["Key"], obj) for obj in page.get("Contents", []))
    seen = {stream for _, stream in units.dated}
    found: list[PendingObject] = []
    for key, obj in objects.items():
        if key.endswith("/"):  # directory markers some S3 servers list
            continue
        stream = stream_prefix(key)
        seen.add(stream)
        moment = key_time(key, stream, obj.get("LastModified") or datetime.now(UTC))
        if key in checkpoint.failed or checkpoint.is_done(stream, key, moment):
            continue
        found.append(PendingObject(key, int(obj.get("Size", 0)), stream, moment))
    found.sort(key=lambda item: item.key)
    return found, seen


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


class FailedKeyReport(BaseModel):
    key: str
    attempts: int
    reason: str
    next_try: datetime
    gave_up: bool


class S3PollReport(IngestReport):
    """One pass (or, summed by the CLI, a run) over a prefix."""

    listed: int = Field(default=0, description="new objects the listing found")
    retried: int = Field(default=0, description="failed keys read again (backoff over)")
    recovered: int = Field(default=0, description="failed keys read successfully at last")
    failed_pending: int = Field(default=0, description="failed keys waiting for a retry")
    failed_given_up: int = Field(default=0, description="failed keys past max_attempts")
    failed_unrecorded: int = Field(
        default=0, description="failures beyond max_failed_keys: listed again next pass"
    )
    checkpoint_conflicts: int = Field(default=0, description="saves merged with another's")
    failed_keys: list[FailedKeyReport] = Field(default_factory=list)

    def set_failed(self, checkpoint: Checkpoint) -> None:
        entries = sorted(checkpoint.failed.items())
        self.failed_given_up = sum(entry.gave_up for _, entry in entries)
        self.failed_pending = len(entries) - self.failed_given_up
        self.failed_keys = [
            FailedKeyReport(
                key=key,
                attempts=e.attempts,
                reason=e.reason,
                next_try=e.next_try,
                gave_up=e.gave_up,
            )
            for key, e in entries[:REPORTED_FAILED_KEYS]
        ]


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _retry_item(checkpoint: Checkpoint, key: str) -> PendingObject:
    entry = checkpoint.failed[key]
    moment = folder_time(key, entry.stream) or entry.first_failed
    return PendingObject(key, 0, entry.stream, moment, retry=True)


def ingest_s3_prefix(
    s3: S3Client,
    location: S3Location,
    *,
    store: CheckpointStore,
    indexer: BulkIndexer,
    options: ParserOptions,
    target: IngestTarget,
    poll: S3PollSettings | None = None,
    now: Callable[[], datetime] = _utcnow,
    retry_given_up: bool = False,
    on_listed: Callable[[int, int], None] | None = None,
    on_stream: Callable[[StreamReport], None] | None = None,
) -> S3PollReport:
    """One pass: every object not yet done, in key order, then the failed keys whose
    backoff is over. An object is acknowledged only once its records are durable in
    OpenSearch; one that cannot be read is recorded with its next try, never dropped."""
    poll = poll or store.settings
    started, conflicts = time.monotonic(), store.conflicts
    moment = now()
    window = window_start(moment, poll.lookback_hours)
    checkpoint = store.load(location.uri)
    if retry_given_up:
        checkpoint.retry_given_up(moment)
    listed, seen = list_new_objects(s3, location, checkpoint, window)
    todo = listed + [_retry_item(checkpoint, key) for key in checkpoint.due_retries(moment)]
    if on_listed is not None:
        on_listed(len(todo), sum(item.size for item in todo))
    report = S3PollReport(listed=len(listed), retried=len(todo) - len(listed))
    stuck: set[str] = set()
    saved = time.monotonic()
    sources = (s3_object_source(s3, location.bucket, item.key) for item in todo)
    streams: Iterator[StreamReport] = ingest_streams(
        sources, indexer=indexer, options=options, target=target
    )
    try:
        for item, stream in zip(todo, streams, strict=True):
            if stream.error is None:
                report.recovered += checkpoint.mark_done(item.stream, item.key, item.time)
            elif checkpoint.record_failure(
                item.key, item.stream, stream.error, now(), poll
            ) is None:  # fmt: skip
                report.failed_unrecorded += 1
                stuck.add(item.stream)
            dated = folder_time(item.key, item.stream) is not None
            if dated and not item.retry and item.stream not in stuck:
                # listed in key order from the window: every earlier hour is handled
                checkpoint.advance(item.stream, min(floor_hour(item.time), window))
            if time.monotonic() - saved >= poll.save_interval_seconds:
                store.save(checkpoint)  # only now is the object acknowledged
                saved = time.monotonic()
            report.add(stream)
            if on_stream is not None:
                on_stream(stream)
    except BaseException:
        with suppress(Exception):  # keep what is durable; the original error goes on
            store.save(checkpoint)
        raise
    for name in seen | set(checkpoint.streams):
        if name not in stuck:
            checkpoint.advance(name, window)
    store.save(checkpoint)
    report.set_failed(checkpoint)
    report.checkpoint_conflicts = store.conflicts - conflicts
    report.seconds = time.monotonic() - started
    return report
