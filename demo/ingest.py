"""The demo's two ingest paths, both over the real services.

* Older days: the generator writes each 5-minute log object to S3 in WAF's own key
  layout; S3Proxy has no bucket notifications, so after each upload the demo sends the
  S3 event notification (the ``Records[].s3.bucket.name`` / ``.object.key`` shape S3
  sends) to the SQS queue itself, while :func:`ingest.sqs_source.consume` works the
  queue as ``wafsiem ingest sqs`` does.
* Today: the generator posts Kinesis Data Firehose delivery requests over HTTP to
  ``POST /firehose`` of the running API, with the access key — only the buffers Firehose
  would have delivered by now.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote_plus

from demo.models import DayIngest
from ingest.bulk import BulkIndexer
from ingest.generator.catalogue import WebAcl
from ingest.generator.models import GenerateOptions
from ingest.generator.service import generate
from ingest.generator.writers import GROUND_TRUTH_NAME, FirehoseHttpSender, S3Sink
from ingest.models import StreamReport
from ingest.parser import ParserOptions
from ingest.s3_source import ingest_s3_object
from ingest.service import IngestTarget
from ingest.sqs_source import MessageOutcome, SqsReport, consume
from wafsiem.settings import Settings

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sqs import SQSClient

Advance = Callable[[int], None]  # records handled since the last call
SQS_BATCH = 10
CONSUMERS = 3  # SQS consumers; each object is its own small bulk, so they overlap


def s3_event(bucket: str, key: str, size: int, at: datetime) -> dict[str, Any]:
    """An ``ObjectCreated:Put`` S3 event notification, as S3 sends it to SQS."""
    return {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": "us-east-1",
                "eventTime": at.astimezone(UTC).isoformat(timespec="milliseconds"),
                "eventName": "ObjectCreated:Put",
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "configurationId": "wafsiem-demo",
                    "bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"},
                    "object": {"key": quote_plus(key, safe="/"), "size": size},
                },
            }
        ]
    }


class NotifyingS3Sink(S3Sink):
    """Uploads each log object, then queues its S3 event notification (batches of 10).
    The ground truth goes to ``truth_dir`` instead of the log bucket."""

    def __init__(
        self,
        s3: S3Client,
        bucket: str,
        sqs: SQSClient,
        queue_url: str,
        truth_path: Path,
    ) -> None:
        super().__init__(s3, bucket, "")
        self.sqs = sqs
        self.queue_url = queue_url
        self.truth_path = truth_path
        self.pending: list[str] = []
        self.objects = 0

    def put(self, key: str, data: bytes) -> None:
        if key == GROUND_TRUTH_NAME:
            self.truth_path.parent.mkdir(parents=True, exist_ok=True)
            self.truth_path.write_bytes(data)
            return
        super().put(key, data)
        self.objects += 1
        event = s3_event(self.bucket, self._key(key), len(data), datetime.now(UTC))
        self.pending.append(json.dumps(event))
        if len(self.pending) >= SQS_BATCH:
            self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        entries = [{"Id": str(i), "MessageBody": body} for i, body in enumerate(self.pending)]
        answer = self.sqs.send_message_batch(QueueUrl=self.queue_url, Entries=entries)  # type: ignore[arg-type]
        if answer.get("Failed"):
            raise RuntimeError(f"SQS refused notifications: {answer['Failed'][:1]}")
        self.pending = []


def ingest_day_s3(
    settings: Settings,
    options: GenerateOptions,
    *,
    s3: S3Client,
    sqs: SQSClient,
    indexer: BulkIndexer,
    queue_url: str,
    truth_path: Path,
    advance: Advance,
    consumers: int = CONSUMERS,
) -> DayIngest:
    """Generate ``options`` (one day) into S3 with notifications while ``consumers``
    threads work the queue (as several ``wafsiem ingest sqs`` would)."""
    started = time.monotonic()
    day: date = options.start.date()
    sink = NotifyingS3Sink(s3, settings.s3.bucket, sqs, queue_url, truth_path)
    sent: list[int] = []
    failure: list[BaseException] = []
    produced = threading.Event()

    def produce() -> None:
        try:
            summary = generate(options, sink)
            sink.flush()
            sent.append(summary.records)
        except BaseException as exc:  # reported by the consuming thread
            failure.append(exc)
        finally:
            produced.set()

    producer = threading.Thread(target=produce, name=f"demo-generate-{day}", daemon=True)
    producer.start()
    parser_options = ParserOptions.from_settings(settings)
    target = IngestTarget.from_settings(settings)

    def ingest_object(bucket: str, key: str) -> StreamReport:
        return ingest_s3_object(
            s3, bucket, key, indexer=indexer, options=parser_options, target=target
        )

    total = SqsReport()
    lock = threading.Lock()

    def on_message(outcome: MessageOutcome) -> None:
        with lock:
            for stream in outcome.streams:
                total.add(stream)
            total.messages += 1
            total.left_for_redrive += not outcome.deleted
            advance(sum(s.records_in for s in outcome.streams))

    def work() -> None:
        """Work the queue until the producer is done and a pass finds it empty."""
        try:
            while True:
                finished_before = produced.is_set()
                report = consume(
                    sqs, queue_url, ingest_object, wait_seconds=1, on_message=on_message
                )
                if finished_before and report.messages == 0:
                    return
        except BaseException as exc:
            failure.append(exc)

    workers = [
        threading.Thread(target=work, name=f"demo-sqs-{day}-{n}", daemon=True)
        for n in range(consumers)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    producer.join()
    if failure:
        raise failure[0]
    if total.left_for_redrive:
        raise RuntimeError(
            f"{total.left_for_redrive} notification(s) of {day} could not be handled: "
            + "; ".join(s.error or "" for s in total.streams if s.error)[:500]
        )
    return DayIngest(
        date=day,
        path="s3+sqs",
        objects=sink.objects,
        records_sent=sent[0] if sent else 0,
        records_read=total.records_in,
        indexed=total.indexed,
        duplicates=total.duplicates,
        dead_lettered=total.dead_lettered,
        seconds=round(time.monotonic() - started, 1),
    )


class DeliveredByNow(FirehoseHttpSender):
    """Sends only the buffers Firehose would have delivered by ``cutoff``."""

    def __init__(
        self, url: str, access_key: str, cutoff: datetime, advance: Advance, **kwargs: Any
    ) -> None:
        super().__init__(url, access_key, **kwargs)
        self.cutoff_ms = int(cutoff.timestamp() * 1000)
        self.advance = advance
        self.records = 0

    def send(self, acl: WebAcl, records: list[bytes], delivered_ms: int, seed: int) -> None:
        if delivered_ms > self.cutoff_ms:
            return
        super().send(acl, records, delivered_ms, seed)
        self.records += len(records)
        self.advance(len(records))


def ingest_day_firehose(
    options: GenerateOptions,
    *,
    url: str,
    access_key: str,
    now: datetime,
    counters: Callable[[], dict[str, int]],
    advance: Advance,
) -> DayIngest:
    """Post today's delivered buffers to ``url`` (``POST /firehose``); the outcome comes
    from the server's own counters (``counters``: GET /metrics)."""
    started = time.monotonic()
    before = counters()
    sender = DeliveredByNow(url, access_key, now, advance)
    generate(options, None, sender)
    after = counters()
    delta = {name: after[name] - before.get(name, 0) for name in after}
    return DayIngest(
        date=options.start.date(),
        path="firehose",
        objects=sender.stats.requests,
        records_sent=sender.records,
        records_read=delta["read"],
        indexed=delta["indexed"],
        duplicates=delta["duplicate"],
        dead_lettered=delta["dead_lettered"],
        seconds=round(time.monotonic() - started, 1),
    )
