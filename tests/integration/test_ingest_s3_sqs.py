"""S3 prefixes and SQS notifications against the real S3Proxy, ElasticMQ and OpenSearch."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ingest.bulk import BulkIndexer
from ingest.checkpoint import CheckpointStore
from ingest.models import StreamReport
from ingest.parser import ParserOptions
from ingest.s3_source import S3Location, ingest_s3_object, ingest_s3_prefix
from ingest.service import IngestTarget
from ingest.sqs_source import consume

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
