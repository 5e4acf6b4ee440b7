"""S3 event notifications from SQS (also wrapped in SNS) as a source.

A message is deleted only after every record of every object it names is indexed, a
duplicate, or dead-lettered. While its objects are worked on, its visibility is extended
so no other consumer takes it. A message that cannot be handled (not an S3 notification,
an object that cannot be read) is left on the queue: after the queue's ``maxReceiveCount``
receives, SQS moves it to the redrive dead-letter queue instead of letting it spin. An
object whose ingest fails with an unexpected error is such a message too: the error is
logged and reported, the consumer goes on with the next message (no crash loop); only
OpenSearch being unavailable stops it.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote_plus

from botocore.exceptions import BotoCoreError, ClientError
from opensearchpy.exceptions import ConnectionError as OSConnectionError
from opensearchpy.exceptions import ConnectionTimeout
from pydantic import BaseModel, Field

from ingest.bulk import BulkUnavailable
from ingest.models import IngestReport, StreamReport

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

IngestObject = Callable[[str, str], StreamReport]
log = logging.getLogger(__name__)


class NotificationError(ValueError):
    """The message is not an S3 event notification we can act on (a poison message)."""


@dataclass(frozen=True)
class Notification:
    objects: list[tuple[str, str]]  # (bucket, key)
    test_event: bool = False


def parse_notification(body: str) -> Notification:
    """S3 event notification, direct or inside an SNS envelope; keys URL-decoded."""
    try:
        message: Any = json.loads(body)
    except ValueError as exc:
        raise NotificationError(f"message body is not JSON: {exc}") from exc
    if isinstance(message, dict) and message.get("Type") == "Notification":
        try:
            message = json.loads(message.get("Message", ""))
        except ValueError as exc:
            raise NotificationError(f"SNS Message is not JSON: {exc}") from exc
    if not isinstance(message, dict):
        raise NotificationError("message is not a JSON object")
    if message.get("Event") == "s3:TestEvent":
        return Notification(objects=[], test_event=True)
    records = message.get("Records")
    if not isinstance(records, list):
        raise NotificationError("no Records: not an S3 event notification")
    objects = []
    for record in records:
        try:
            if not str(record.get("eventName", "")).startswith("ObjectCreated"):
                continue
            s3 = record["s3"]
            objects.append((s3["bucket"]["name"], unquote_plus(s3["object"]["key"])))
        except (KeyError, TypeError, AttributeError) as exc:
            raise NotificationError(f"malformed S3 event record: {exc!r}") from exc
    return Notification(objects=objects)


class MessageOutcome(BaseModel):
    message_id: str
    deleted: bool
    test_event: bool = False
    error: str | None = None
    streams: list[StreamReport] = Field(default_factory=list)


class SqsReport(IngestReport):
    messages: int = 0
    deleted: int = 0
    left_for_redrive: int = 0
    test_events: int = 0
    outcomes: list[MessageOutcome] = Field(default_factory=list)


@dataclass
class VisibilityKeeper:
    """Extends the visibility of in-flight messages until they are finished."""

    sqs: SQSClient
    queue_url: str
    timeout: int
    handles: dict[str, str] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __enter__(self) -> VisibilityKeeper:
        self._thread = threading.Thread(target=self._run, name="sqs-visibility", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def hold(self, message_id: str, handle: str) -> None:
        with self._lock:
            self.handles[message_id] = handle

    def release(self, message_id: str) -> None:
        with self._lock:
            self.handles.pop(message_id, None)

    def _run(self) -> None:
        interval = max(1.0, self.timeout / 3)
        while not self._stop.wait(interval):
            with self._lock:
                handles = list(self.handles.values())
            for handle in handles:
                try:
                    self.sqs.change_message_visibility(
                        QueueUrl=self.queue_url,
                        ReceiptHandle=handle,
                        VisibilityTimeout=self.timeout,
                    )
                except (ClientError, BotoCoreError):
                    continue  # the message may be gone already; the next round retries


def handle_message(
    sqs: SQSClient, queue_url: str, message: Mapping[str, Any], ingest_object: IngestObject
) -> MessageOutcome:
    message_id = message.get("MessageId", "")
    try:
        notification = parse_notification(message.get("Body", ""))
    except NotificationError as exc:
        return MessageOutcome(message_id=message_id, deleted=False, error=str(exc))
    outcome = MessageOutcome(
        message_id=message_id, deleted=False, test_event=notification.test_event
    )
    for bucket, key in notification.objects:
        try:
            stream = ingest_object(bucket, key)
        except (BulkUnavailable, OSConnectionError, ConnectionTimeout):
            raise  # OpenSearch down: stop, delete nothing, the message comes back
        except Exception as exc:  # a poison object: never a crash loop, leave it to redrive
            log.exception("s3://%s/%s: ingest failed; left for the queue's redrive", bucket, key)
            receives = message.get("Attributes", {}).get("ApproximateReceiveCount", "?")
            outcome.error = (
                f"s3://{bucket}/{key}: {type(exc).__name__}: {exc} "
                f"(receive {receives}; left for redrive)"
            )[:2000]
            break
        outcome.streams.append(stream)
        if stream.error is not None:
            outcome.error = f"s3://{bucket}/{key}: {stream.error}"
    if outcome.error is None:
        sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
        outcome.deleted = True
    return outcome


def consume(
    sqs: SQSClient,
    queue_url: str,
    ingest_object: IngestObject,
    *,
    follow: bool = False,
    wait_seconds: int = 5,
    visibility_timeout: int = 120,
    max_messages: int = 10,
    should_stop: Callable[[], bool] = lambda: False,
    on_message: Callable[[MessageOutcome], None] | None = None,
) -> SqsReport:
    """Receive and handle messages until the queue is empty (or forever with ``follow``)."""
    started = time.monotonic()
    report = SqsReport()
    with VisibilityKeeper(sqs, queue_url, visibility_timeout) as keeper:
        while not should_stop():
            received = sqs.receive_message(
                QueueUrl=queue_url,
                MaxNumberOfMessages=max_messages,
                WaitTimeSeconds=wait_seconds,
                VisibilityTimeout=visibility_timeout,
                AttributeNames=["ApproximateReceiveCount"],
            ).get("Messages", [])
            if not received:
                if follow:
                    continue
                break
            for message in received:
                keeper.hold(message["MessageId"], message["ReceiptHandle"])
                try:
                    outcome = handle_message(sqs, queue_url, message, ingest_object)
                finally:
                    keeper.release(message["MessageId"])
                report.messages += 1
                report.deleted += outcome.deleted
                report.left_for_redrive += not outcome.deleted
                report.test_events += outcome.test_event
                report.outcomes.append(outcome)
                for stream in outcome.streams:
                    report.add(stream)
                if on_message is not None:
                    on_message(outcome)
    report.seconds = time.monotonic() - started
    return report
