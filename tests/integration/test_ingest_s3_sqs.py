"""S3 prefixes and SQS notifications against the real S3Proxy, ElasticMQ and OpenSearch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from ingest.bulk import BulkIndexer
from ingest.checkpoint import CheckpointStore
from ingest.models import StreamReport
from ingest.parser import ParserOptions
from ingest.s3_source import S3Location, S3PollReport, ingest_s3_object, ingest_s3_prefix
from ingest.service import IngestTarget
from ingest.sqs_source import consume
from wafsiem.settings import S3PollSettings

from ..waf_records import gz_ndjson, ndjson, waf_record
from .ingest_fixtures import count, indexer, target

__all__ = ["indexer", "target"]

ACCT = "111122223333"
NOW = datetime(2025, 11, 25, 12, 30, tzinfo=UTC)  # the keys' folders are within the window


def _clock() -> datetime:
    return NOW


def _waf_key(acl: str, minute: int, n: int) -> str:
    return (
        f"AWSLogs/{ACCT}/WAFLogs/eu-west-1/{acl}/2025/11/25/12/{minute:02d}/"
        f"{ACCT}_waflogs_eu-west-1_{acl}_20251125T12{minute:02d}Z_{n:08x}.log.gz"
    )


def test_s3_prefix_in_key_order_with_checkpoint(
    s3: Any, bucket: str, opensearch: Any, unique: str, target: IngestTarget,
    indexer: BulkIndexer,
) -> None:  # fmt: skip
    store = CheckpointStore(opensearch, f"{unique}-state")
    location = S3Location(bucket, "logs/")
    n = 0
    for acl in ("acl-b", "acl-a"):
        for minute in (0, 5):
            records = [waf_record(n + i) for i in range(10)]
            n += 10
            s3.put_object(
                Bucket=bucket, Key="logs/" + _waf_key(acl, minute, n), Body=gz_ndjson(records)
            )
    s3.put_object(Bucket=bucket, Key="logs/AWSLogs/notes/", Body=b"")  # a directory marker
    options = ParserOptions()

    first = ingest_s3_prefix(
        s3, location, store=store, indexer=indexer, options=options, target=target, now=_clock
    )
    # key order: acl-a (written third and fourth) before acl-b; the marker is skipped
    assert [s.origin.rsplit("_", 1)[1] for s in first.streams] == [
        f"{k:08x}.log.gz" for k in (30, 40, 10, 20)
    ]
    assert first.indexed == 40 and first.failed_streams == 0
    assert count(opensearch, target.index_prefix) == 40

    # nothing new: the checkpoint makes the next pass a no-op
    again = ingest_s3_prefix(
        s3, location, store=store, indexer=indexer, options=options, target=target, now=_clock
    )
    assert again.streams == []

    # a new file for acl-a sorts before acl-b's files, and is still found
    s3.put_object(
        Bucket=bucket,
        Key="logs/" + _waf_key("acl-a", 10, 999),
        Body=gz_ndjson([waf_record(500 + i) for i in range(7)]),
    )
    late = ingest_s3_prefix(
        s3, location, store=store, indexer=indexer, options=options, target=target, now=_clock
    )
    assert [s.indexed for s in late.streams] == [7]
    assert count(opensearch, target.index_prefix) == 47
    checkpoint = store.load(location.uri)
    assert set(checkpoint.streams) == {
        f"logs/AWSLogs/{ACCT}/WAFLogs/eu-west-1/acl-a/",
        f"logs/AWSLogs/{ACCT}/WAFLogs/eu-west-1/acl-b/",
    }
    opensearch.indices.delete(index=f"{unique}-state", ignore=[404])


def test_missing_object_is_reported_not_raised(
    s3: Any, bucket: str, target: IngestTarget, indexer: BulkIndexer
) -> None:
    stream = ingest_s3_object(
        s3, bucket, "no/such/key.gz", indexer=indexer, options=ParserOptions(), target=target,
        sleep=lambda _s: None,
    )  # fmt: skip
    assert stream.error is not None and stream.error.startswith("NoSuchKey")
    assert stream.origin == f"s3://{bucket}/no/such/key.gz"


def _queue(sqs: Any, name: str, **attributes: str) -> str:
    return str(sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"])


def _s3_event(bucket: str, key_encoded: str) -> dict[str, Any]:
    return {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "eventName": "ObjectCreated:Put",
                "s3": {"bucket": {"name": bucket}, "object": {"key": key_encoded, "size": 1}},
            }
        ]
    }


def test_sqs_notifications_direct_sns_and_test_event(
    s3: Any, sqs: Any, bucket: str, unique: str, opensearch: Any, target: IngestTarget,
    indexer: BulkIndexer,
) -> None:  # fmt: skip
    url = _queue(sqs, f"{unique}-n")
    s3.put_object(Bucket=bucket, Key="a b/one+two.log.gz", Body=gz_ndjson(
        [waf_record(i) for i in range(12)]
    ))  # fmt: skip
    plain = ndjson([waf_record(100 + i) for i in range(3)])
    s3.put_object(Bucket=bucket, Key="plain.log", Body=plain)
    encoded = json.dumps(_s3_event(bucket, "a+b/one%2Btwo.log.gz"))  # URL-encoded key
    sqs.send_message(QueueUrl=url, MessageBody=encoded)
    sns = {"Type": "Notification", "Message": json.dumps(_s3_event(bucket, "plain.log"))}
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps(sns))
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"Event": "s3:TestEvent"}))

    def ingest_object(b: str, k: str) -> StreamReport:
        return ingest_s3_object(s3, b, k, indexer=indexer, options=ParserOptions(), target=target)

    report = consume(sqs, url, ingest_object, wait_seconds=1)
    assert (report.messages, report.deleted, report.test_events) == (3, 3, 1)
    assert report.indexed == 15
    assert count(opensearch, target.index_prefix) == 15
    assert not sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1).get("Messages")
    sqs.delete_queue(QueueUrl=url)


def test_poison_message_reaches_redrive_queue(
    s3: Any, sqs: Any, bucket: str, unique: str, target: IngestTarget, indexer: BulkIndexer,
    tmp_path: Path,
) -> None:  # fmt: skip
    dlq = _queue(sqs, f"{unique}-dlq")
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    url = _queue(
        sqs,
        f"{unique}-q",
        VisibilityTimeout="1",
        RedrivePolicy=json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "2"}),
    )
    sqs.send_message(QueueUrl=url, MessageBody="this is not an S3 notification")
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps(_s3_event(bucket, "missing.gz")))

    def ingest_object(b: str, k: str) -> StreamReport:
        return ingest_s3_object(
            s3, b, k, indexer=indexer, options=ParserOptions(), target=target,
            sleep=lambda _s: None,
        )  # fmt: skip

    left = 0
    for _ in range(4):  # each pass receives what is visible; nothing is deleted
        report = consume(sqs, url, ingest_object, wait_seconds=2, visibility_timeout=1)
        assert report.deleted == 0
        left += report.left_for_redrive
    assert left >= 4
    moved = []
    for _ in range(5):
        moved += sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10, WaitTimeSeconds=1).get(
            "Messages", []
        )
        if len(moved) == 2:
            break
    assert sorted(m["Body"][:10] for m in moved) == sorted(
        ["this is no", json.dumps(_s3_event(bucket, "missing.gz"))[:10]]
    )
    for queue in (url, dlq):
        sqs.delete_queue(QueueUrl=queue)


def test_visibility_is_extended_while_work_goes_on(sqs: Any, unique: str) -> None:
    import time

    from ingest.sqs_source import VisibilityKeeper

    url = _queue(sqs, f"{unique}-vis")
    sqs.send_message(QueueUrl=url, MessageBody="{}")
    (message,) = sqs.receive_message(QueueUrl=url, VisibilityTimeout=2, WaitTimeSeconds=2)[
        "Messages"
    ]
    with VisibilityKeeper(sqs, url, timeout=2) as keeper:
        keeper.hold(message["MessageId"], message["ReceiptHandle"])
        deadline = time.monotonic() + 5  # well past the 2 s visibility timeout
        while time.monotonic() < deadline:
            assert not sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1).get("Messages")
        keeper.release(message["MessageId"])
    time.sleep(2.5)
    again = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=2).get("Messages", [])
    assert [m["MessageId"] for m in again] == [message["MessageId"]]
    sqs.delete_queue(QueueUrl=url)


# --- polling that cannot skip (issue 14, item 4) -------------------------------------


class _FlakyS3:
    """The real S3 client, except that reading a key in ``broken`` is refused."""

    def __init__(self, s3: Any, broken: set[str] | None = None) -> None:
        self._s3 = s3
        self.broken = broken if broken is not None else set()

    def get_object(self, **kwargs: Any) -> Any:
        if kwargs["Key"] in self.broken:
            raise ClientError(
                {"Error": {"Code": "AccessDenied", "Message": "refused by the test"}}, "GetObject"
            )
        return self._s3.get_object(**kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._s3, name)


def _put(s3: Any, bucket: str, key: str, first: int, records: int) -> None:
    s3.put_object(
        Bucket=bucket, Key=key, Body=gz_ndjson([waf_record(first + i) for i in range(records)])
    )


def _pass(
    s3: Any, location: S3Location, store: CheckpointStore, indexer: BulkIndexer,
    target: IngestTarget, at: datetime = NOW, **kwargs: Any,
) -> S3PollReport:  # fmt: skip
    return ingest_s3_prefix(
        s3, location, store=store, indexer=indexer, options=ParserOptions(), target=target,
        now=lambda: at, **kwargs,
    )  # fmt: skip


def test_key_sorting_before_the_checkpointed_one_is_ingested_next_pass(
    s3: Any, bucket: str, opensearch: Any, unique: str, target: IngestTarget,
    indexer: BulkIndexer,
) -> None:  # fmt: skip
    store = CheckpointStore(opensearch, f"{unique}-state")
    location = S3Location(bucket, "")
    first_key = _waf_key("acl-a", 5, 0x20)
    _put(s3, bucket, first_key, 0, 10)
    first = _pass(s3, location, store, indexer, target)
    assert [s.indexed for s in first.streams] == [10]

    # WAF's random file-name hash: a file landing later in the same folder (and one in
    # the folder before) sorts before the key already read
    same_folder, older_folder = _waf_key("acl-a", 5, 0x10), _waf_key("acl-a", 0, 0x30)
    assert same_folder < first_key and older_folder < first_key
    _put(s3, bucket, same_folder, 100, 5)
    _put(s3, bucket, older_folder, 200, 6)
    late = _pass(s3, location, store, indexer, target)
    assert sorted(s.origin.rsplit("/", 1)[1] for s in late.streams) == sorted(
        k.rsplit("/", 1)[1] for k in (same_folder, older_folder)
    )
    assert late.indexed == 11 and late.duplicates == 0
    assert count(opensearch, target.index_prefix) == 21

    assert _pass(s3, location, store, indexer, target).streams == []
    stream = f"AWSLogs/{ACCT}/WAFLogs/eu-west-1/acl-a/"
    state = store.load(location.uri).streams[stream]
    assert {stream + k for k in state.done} == {first_key, same_folder, older_folder}
    assert state.through == datetime(2025, 11, 25, 9, tzinfo=UTC)  # 12:30 - 3 h, floored

    # hours later the window has moved on: the done keys are pruned, nothing is re-read
    later = NOW + timedelta(hours=5)
    assert _pass(s3, location, store, indexer, target, at=later).streams == []
    assert store.load(location.uri).streams[stream].done == {}
    opensearch.indices.delete(index=f"{unique}-state", ignore=[404])


def test_failed_key_is_retried_after_backoff_then_ingested(
    s3: Any, bucket: str, opensearch: Any, unique: str, target: IngestTarget,
    indexer: BulkIndexer,
) -> None:  # fmt: skip
    poll = S3PollSettings(retry_base_seconds=60, max_attempts=3)
    store = CheckpointStore(opensearch, f"{unique}-state", poll)
    location = S3Location(bucket, "")
    good, bad = _waf_key("acl-a", 0, 1), _waf_key("acl-a", 0, 2)
    _put(s3, bucket, good, 0, 4)
    _put(s3, bucket, bad, 100, 9)
    flaky = _FlakyS3(s3, {bad})

    first = _pass(flaky, location, store, indexer, target)
    assert (first.indexed, first.failed_streams, first.failed_pending) == (4, 1, 1)
    (failed,) = first.failed_keys
    assert (failed.key, failed.attempts, failed.gave_up) == (bad, 1, False)
    assert "AccessDenied" in failed.reason
    assert failed.next_try == NOW + timedelta(seconds=60)

    # within the backoff: not read, but still reported
    waiting = _pass(flaky, location, store, indexer, target, at=NOW + timedelta(seconds=30))
    assert waiting.streams == [] and waiting.failed_pending == 1 and waiting.retried == 0

    # still broken after the backoff: attempt 2, the next wait doubles
    again = _pass(flaky, location, store, indexer, target, at=NOW + timedelta(seconds=61))
    assert (again.retried, again.recovered, again.failed_pending) == (1, 0, 1)
    assert again.failed_keys[0].attempts == 2
    assert again.failed_keys[0].next_try == NOW + timedelta(seconds=61 + 120)

    flaky.broken.clear()  # the cause is fixed
    too_early = _pass(flaky, location, store, indexer, target, at=NOW + timedelta(seconds=120))
    assert too_early.streams == []
    fixed = _pass(flaky, location, store, indexer, target, at=NOW + timedelta(seconds=200))
    assert (fixed.retried, fixed.recovered, fixed.indexed) == (1, 1, 9)
    assert (fixed.failed_pending, fixed.failed_given_up, fixed.failed_keys) == (0, 0, [])
    assert count(opensearch, target.index_prefix) == 13
    later = _pass(flaky, location, store, indexer, target, at=NOW + timedelta(hours=1))
    assert later.streams == [] and store.load(location.uri).failed == {}
    opensearch.indices.delete(index=f"{unique}-state", ignore=[404])


def test_given_up_key_is_reported_every_pass_until_retried(
    s3: Any, bucket: str, opensearch: Any, unique: str, target: IngestTarget,
    indexer: BulkIndexer,
) -> None:  # fmt: skip
    poll = S3PollSettings(retry_base_seconds=1, max_attempts=2)
    store = CheckpointStore(opensearch, f"{unique}-state", poll)
    location = S3Location(bucket, "")
    bad = _waf_key("acl-a", 0, 7)
    _put(s3, bucket, bad, 0, 3)
    flaky = _FlakyS3(s3, {bad})
    _pass(flaky, location, store, indexer, target)
    gave_up = _pass(flaky, location, store, indexer, target, at=NOW + timedelta(seconds=5))
    assert (gave_up.failed_given_up, gave_up.failed_keys[0].gave_up) == (1, True)
    for hours in (1, 24, 24 * 30):  # long after the window: never retried, never dropped
        quiet = _pass(flaky, location, store, indexer, target, at=NOW + timedelta(hours=hours))
        assert quiet.streams == [] and quiet.failed_given_up == 1
        assert [f.key for f in quiet.failed_keys] == [bad]
    flaky.broken.clear()
    revived = _pass(
        flaky, location, store, indexer, target, at=NOW + timedelta(days=31), retry_given_up=True
    )
    assert (revived.recovered, revived.indexed, revived.failed_given_up) == (1, 3, 0)
    opensearch.indices.delete(index=f"{unique}-state", ignore=[404])


def test_two_pollers_do_not_lose_each_others_keys(
    s3: Any, bucket: str, opensearch: Any, unique: str, target: IngestTarget,
    indexer: BulkIndexer,
) -> None:  # fmt: skip
    """Poller A lists, reads one object and is held; poller B runs a whole pass meanwhile
    (two new objects, one of them failing); A then finishes over B's saves."""
    poll = S3PollSettings(save_interval_seconds=0)
    state = f"{unique}-state"
    location = S3Location(bucket, "")
    keys = [_waf_key("acl-a", 10, n) for n in range(1, 6)]
    for n, key in enumerate(keys):
        _put(s3, bucket, key, n * 10, 10)
    late, broken = _waf_key("acl-a", 5, 0xA), _waf_key("acl-a", 5, 0xB)
    b_indexer = BulkIndexer(opensearch, max_bytes=256 * 1024, concurrency=1)
    b_reports: list[S3PollReport] = []

    def hold_a(_stream: StreamReport) -> None:
        if b_reports:
            return
        _put(s3, bucket, late, 500, 6)  # only B will list these two
        _put(s3, bucket, broken, 600, 6)
        b_store = CheckpointStore(opensearch, state, poll)
        b_reports.append(_pass(_FlakyS3(s3, {broken}), location, b_store, b_indexer, target))

    a_store = CheckpointStore(opensearch, state, poll)
    a = _pass(s3, location, a_store, indexer, target, on_stream=hold_a)
    (b,) = b_reports
    assert a.listed == 5 and b.listed == 6  # B: four of A's, plus its own two
    assert a.checkpoint_conflicts >= 1  # A's saves met B's and merged them in
    checkpoint = CheckpointStore(opensearch, state, poll).load(location.uri)
    stream = f"AWSLogs/{ACCT}/WAFLogs/eu-west-1/acl-a/"
    assert {stream + k for k in checkpoint.streams[stream].done} == {*keys, late}
    assert set(checkpoint.failed) == {broken}
    # nothing lost, nothing read again: a third pass finds no new object
    third = _pass(s3, location, CheckpointStore(opensearch, state, poll), indexer, target)
    assert third.listed == 0 and third.failed_pending == 1
    assert count(opensearch, target.index_prefix) == 56  # ids are deterministic
    assert a.indexed + b.indexed + a.duplicates + b.duplicates == 50 + 6 + 40
    opensearch.indices.delete(index=state, ignore=[404])


def test_two_pollers_in_parallel_threads(
    s3: Any, bucket: str, opensearch: Any, unique: str, target: IngestTarget,
) -> None:  # fmt: skip
    poll = S3PollSettings(save_interval_seconds=0)
    state = f"{unique}-state"
    location = S3Location(bucket, "")
    keys = [_waf_key(acl, minute, n) for acl in ("acl-a", "acl-b") for minute in (0, 5)
            for n in range(4)]  # fmt: skip
    for n, key in enumerate(keys):
        _put(s3, bucket, key, n * 5, 5)
    reports: list[S3PollReport] = []
    # the state index first: this test is about the checkpoint, not about two processes
    # creating one index at the same moment
    CheckpointStore(opensearch, state, poll).load(location.uri)

    def poller() -> None:
        indexer = BulkIndexer(opensearch, max_bytes=64 * 1024, concurrency=1)
        store = CheckpointStore(opensearch, state, poll)
        reports.append(_pass(s3, location, store, indexer, target))

    threads = [threading.Thread(target=poller) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert len(reports) == 2
    checkpoint = CheckpointStore(opensearch, state, poll).load(location.uri)
    done = {stream + k for stream, s in checkpoint.streams.items() for k in s.done}
    assert done == set(keys)
    assert count(opensearch, target.index_prefix) == 5 * len(keys)
    indexer = BulkIndexer(opensearch, max_bytes=64 * 1024, concurrency=1)
    assert (
        _pass(s3, location, CheckpointStore(opensearch, state, poll), indexer, target).listed == 0
    )
    opensearch.indices.delete(index=state, ignore=[404])


def test_old_format_checkpoint_is_migrated(
    s3: Any, bucket: str, opensearch: Any, unique: str, target: IngestTarget,
    indexer: BulkIndexer,
) -> None:  # fmt: skip
    """A format-1 checkpoint (highest key per stream) skipped a file sorting before it:
    after the upgrade that file is found; what was read is only counted as duplicates."""
    state = f"{unique}-state"
    location = S3Location(bucket, "")
    read, skipped, gone = (_waf_key("acl-a", 5, n) for n in (0x20, 0x10, 0x30))
    _put(s3, bucket, read, 0, 4)
    _put(s3, bucket, skipped, 100, 3)
    store = CheckpointStore(opensearch, state)
    store.load(location.uri)  # creates the state index
    _pass(s3, S3Location(bucket, read), store, indexer, target)  # `read` is indexed
    opensearch.index(index=state, id=f"checkpoint:{location.uri}", body={
        "kind": "checkpoint", "source": location.uri,
        "positions": {read.rsplit("2025/", 1)[0]: read},
        "failed": {gone: "NoSuchKey: gone"},
    }, refresh=True)  # fmt: skip
    migrated = _pass(s3, location, CheckpointStore(opensearch, state), indexer, target)
    assert (migrated.indexed, migrated.duplicates) == (3, 4)
    assert migrated.retried == 1 and migrated.failed_pending == 1  # the old failed key
    assert migrated.failed_keys[0].key == gone and migrated.failed_keys[0].attempts == 2
    body = opensearch.get(index=state, id=f"checkpoint:{location.uri}")["_source"]
    assert body["format"] == 2 and "positions" not in body
    opensearch.indices.delete(index=state, ignore=[404])


def test_cli_reports_failed_keys_and_writes_metrics(
    s3: Any, bucket: str, opensearch: Any, unique: str, target: IngestTarget, tmp_path: Path,
) -> None:  # fmt: skip
    """`wafsiem ingest s3 --json --metrics-file`: the failed-key counters are there (a key
    failed by an earlier pass stays reported), and exit status 1 once one is given up."""
    state = f"{unique}-state"
    location = S3Location(bucket, "")
    key = _waf_key("acl-a", 0, 1)
    _put(s3, bucket, key, 0, 3)
    poll = S3PollSettings(max_attempts=1)
    store = CheckpointStore(opensearch, state, poll)
    indexer = BulkIndexer(opensearch, max_bytes=64 * 1024, concurrency=1)
    _pass(_FlakyS3(s3, {key}), location, store, indexer, target)  # given up at once
    env = os.environ | {
        "WAFSIEM_OPENSEARCH__INDEX_PREFIX": target.index_prefix,
        "WAFSIEM_OPENSEARCH__DEADLETTER_INDEX": target.deadletter_index,
        "WAFSIEM_OPENSEARCH__STATE_INDEX": state,
    }
    metrics = tmp_path / "ingest.prom"
    argv = [sys.executable, "-m", "wafsiem", "ingest", "s3", location.uri, "--json",
            "--metrics-file", str(metrics)]  # fmt: skip
    run = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    assert run.returncode == 1, run.stderr[-2000:]
    report = json.loads(run.stdout)
    assert (report["failed_given_up"], report["failed_keys"][0]["key"]) == (1, key)
    text = metrics.read_text()
    assert f'wafsiem_ingest_s3_failed_keys{{source="{location.uri}",state="given_up"}} 1.0' in text

    fixed = subprocess.run([*argv, "--retry-failed"], env=env, capture_output=True, text=True)
    assert fixed.returncode == 0, fixed.stderr[-2000:]
    report = json.loads(fixed.stdout)
    assert (report["recovered"], report["indexed"], report["failed_keys"]) == (1, 3, [])
    assert 'result="recovered",source=' in metrics.read_text()
    opensearch.indices.delete(index=state, ignore=[404])
