"""Durable checkpoints for polled S3 sources, kept in the OpenSearch state index.

One document per source (``checkpoint:s3://bucket/prefix``) holds, for each delivery
stream under it (one web ACL's ``.../WAFLogs/<region>/<acl>/``, one Firehose prefix):

* ``through`` — every object of the stream whose *time* (the ``YYYY/MM/DD/HH[/mm]/``
  folder in its key; the S3 LastModified for keys outside that layout) is before it has
  been handled: ingested, or recorded in ``failed``;
* ``done`` — the keys handled at or after ``through`` (relative to the stream, with
  their time). A pass lists each stream from ``min(through, now - lookback)`` (floored to
  the hour) and skips only keys in ``done``, so a file that lands later with a key that
  sorts before one already read is still found while its folder is in the window.
  Keys before ``through`` are pruned: the document stays bounded by the files of about
  one lookback window.

``failed`` maps a key that could not be read to its attempts, reason and next try
(exponential backoff); a key given up after ``max_attempts`` stays there and is
reported on every pass. Saves use optimistic concurrency (``if_seq_no`` /
``if_primary_term``): on a conflict the stored document is merged in (union of the done
keys, the later ``through``) and the save retried, so two pollers on one source never
drop each other's work. A re-read object counts as duplicates (ids are deterministic).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from opensearchpy import OpenSearch
from opensearchpy.exceptions import ConflictError
from pydantic import BaseModel, Field, PrivateAttr

from wafsiem.errors import WafsiemError
from wafsiem.settings import S3PollSettings
from wafsiem.state_index import ensure_state_index

FORMAT = 2
SAVE_ATTEMPTS = 50
MAX_REASON_CHARS = 500
_WAF_STREAM = re.compile(r"^(.*?AWSLogs/[^/]+/WAFLogs/[^/]+/[^/]+/)\d{4}/\d{2}/\d{2}/\d{2}/")
_FIREHOSE_STREAM = re.compile(r"^(.*?)\d{4}/\d{2}/\d{2}/\d{2}/[^/]+$")
_EPOCH = datetime.fromtimestamp(0, UTC)  # "due at once"
_FOLDER = re.compile(r"(\d{4})/(\d{2})/(\d{2})/(\d{2})/(?:(\d{2})/)?")


def stream_prefix(key: str) -> str:
    """The delivery stream a key belongs to (its key order is time order)."""
    match = _WAF_STREAM.match(key) or _FIREHOSE_STREAM.match(key)
    return match.group(1) if match else ""


def floor_hour(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def window_start(now: datetime, lookback_hours: float) -> datetime:
    """The first folder hour every pass lists again."""
    return floor_hour(now.astimezone(UTC) - timedelta(hours=lookback_hours))


def folder_time(key: str, stream: str) -> datetime | None:
    """The time of the ``YYYY/MM/DD/HH[/mm]/`` folder right after the stream prefix."""
    match = _FOLDER.match(key, len(stream)) if stream else None
    if match is None:
        return None
    year, month, day, hour, minute = match.groups()
    try:
        return datetime(int(year), int(month), int(day), int(hour), int(minute or 0), tzinfo=UTC)
    except ValueError:
        return None


def key_time(key: str, stream: str, last_modified: datetime) -> datetime:
    """Folder time when the key has one, else when S3 last modified the object."""
    found = folder_time(key, stream)
    if found is not None:
        return found
    return last_modified if last_modified.tzinfo else last_modified.replace(tzinfo=UTC)


def folder_prefix(stream: str, start: datetime) -> str:
    """``StartAfter`` for a stream listed from ``start``: every later folder sorts after."""
    return f"{stream}{start.astimezone(UTC):%Y/%m/%d/%H/}"


def backoff_seconds(attempts: int, settings: S3PollSettings) -> float:
    """Wait after the ``attempts``-th failed read: base, 2×base, 4×base, … up to the cap."""
    delay = settings.retry_base_seconds * 2.0 ** min(max(attempts - 1, 0), 60)
    return min(delay, settings.retry_max_seconds)


class FailedKey(BaseModel):
    stream: str = ""
    attempts: int = 0
    reason: str
    first_failed: datetime
    last_failed: datetime
    next_try: datetime
    gave_up: bool = Field(default=False, description="max_attempts reached: no more retries")

    def due(self, now: datetime) -> bool:
        return not self.gave_up and self.next_try <= now


class StreamState(BaseModel):
    through: datetime | None = Field(
        default=None, description="every object with an earlier time is handled"
    )
    done: dict[str, int] = Field(
        default_factory=dict, description="key after the stream prefix -> its time (epoch s)"
    )


class Checkpoint(BaseModel):
    source: str
    streams: dict[str, StreamState] = Field(default_factory=dict)
    failed: dict[str, FailedKey] = Field(default_factory=dict)
    updated: datetime | None = None
    _seq_no: int | None = PrivateAttr(default=None)
    _primary_term: int | None = PrivateAttr(default=None)

    def stream(self, name: str) -> StreamState:
        return self.streams.setdefault(name, StreamState())

    def list_start(self, stream: str, window: datetime) -> datetime | None:
        """Where a pass lists ``stream`` from; None: from its first object (new stream)."""
        state = self.streams.get(stream)
        if state is None or state.through is None:
            return None
        return min(state.through, window)

    def is_done(self, stream: str, key: str, time: datetime) -> bool:
        state = self.streams.get(stream)
        if state is None:
            return False
        if state.through is not None and time < state.through:
            return True
        return key[len(stream) :] in state.done

    def mark_done(self, stream: str, key: str, time: datetime) -> bool:
        """Record ``key`` as ingested; True when it was a failed key (now recovered)."""
        self.stream(stream).done[key[len(stream) :]] = int(time.timestamp())
        return self.failed.pop(key, None) is not None

    def record_failure(
        self, key: str, stream: str, reason: str, now: datetime, settings: S3PollSettings
    ) -> FailedKey | None:
        """Count a failed read and schedule the next; None when ``max_failed_keys`` are
        already kept (the key then stays unacknowledged and is listed again)."""
        entry = self.failed.get(key)
        if entry is None:
            if len(self.failed) >= settings.max_failed_keys:
                return None
            entry = FailedKey(
                stream=stream, reason=reason, first_failed=now, last_failed=now, next_try=now
            )
            self.failed[key] = entry
        entry.attempts += 1
        entry.reason = reason[:MAX_REASON_CHARS]
        entry.last_failed = now
        entry.next_try = now + timedelta(seconds=backoff_seconds(entry.attempts, settings))
        entry.gave_up = entry.attempts >= settings.max_attempts
        return entry

    def due_retries(self, now: datetime) -> list[str]:
        return sorted(key for key, entry in self.failed.items() if entry.due(now))

    def retry_given_up(self, now: datetime) -> int:
        """Give every given-up key a fresh series of attempts; how many there were."""
        revived = 0
        for entry in self.failed.values():
            if entry.gave_up:
                entry.gave_up, entry.attempts, entry.next_try = False, 0, now
                revived += 1
        return revived

    def advance(self, stream: str, through: datetime) -> None:
        state = self.stream(stream)
        if state.through is None or through > state.through:
            state.through = through

    def prune(self) -> None:
        """Drop done keys before ``through``: no pass lists them again."""
        for state in self.streams.values():
            if state.through is not None:
                cut = int(state.through.timestamp())
                state.done = {k: t for k, t in state.done.items() if t >= cut}

    def merge(self, other: Checkpoint) -> None:
        """Fold in what another poller saved: nothing either of them did is lost."""
        for name, theirs in other.streams.items():
            mine = self.stream(name)
            mine.done = {**theirs.done, **mine.done}
            if theirs.through is not None:
                self.advance(name, theirs.through)
        for key, entry in other.failed.items():
            current = self.failed.get(key)
            if current is None or (entry.attempts, entry.last_failed) > (
                current.attempts,
                current.last_failed,
            ):
                self.failed[key] = entry
        for key, entry in list(self.failed.items()):
            state = self.streams.get(entry.stream)
            if state is not None and key[len(entry.stream) :] in state.done:
                del self.failed[key]  # one of the pollers has read it since
        self.prune()


def migrate(source: str, body: dict[str, Any], lookback_hours: float, now: datetime) -> Checkpoint:
    """A format-1 document (``positions``: the highest key per stream; ``failed``: key ->
    reason) as format 2. Each dated stream is listed again from its last key's folder
    minus the lookback, so files that the old checkpoint skipped in that span are found
    (what was already read counts as duplicates); the undated stream (``""``) is listed
    in full once. Old failed keys are retried on the next pass."""
    checkpoint = Checkpoint(source=source)
    for stream, last in dict(body.get("positions") or {}).items():
        moment = folder_time(str(last), stream)
        through = window_start(moment, lookback_hours) if moment is not None else None
        checkpoint.streams[stream] = StreamState(through=through)
    for key, reason in dict(body.get("failed") or {}).items():
        checkpoint.failed[key] = FailedKey(
            stream=stream_prefix(key), reason=str(reason)[:MAX_REASON_CHARS],
            first_failed=now, last_failed=now, next_try=_EPOCH, attempts=1,
        )  # fmt: skip
    return checkpoint


class CheckpointStore:
    """Reads and writes checkpoints in ``index`` (realtime GET: no refresh needed)."""

    def __init__(
        self, client: OpenSearch, index: str, settings: S3PollSettings | None = None
    ) -> None:
        self.client = client
        self.index = index
        self.settings = settings or S3PollSettings()
        self.conflicts = 0

    @staticmethod
    def _doc_id(source: str) -> str:
        return f"checkpoint:{source}"

    def load(self, source: str) -> Checkpoint:
        ensure_state_index(self.client, self.index)
        found = self.client.get(index=self.index, id=self._doc_id(source), ignore=[404])
        if not found.get("found"):
            return Checkpoint(source=source)
        body = found["_source"]
        if body.get("format") == FORMAT:
            checkpoint = Checkpoint.model_validate({**body, "source": source})
        else:
            checkpoint = migrate(source, body, self.settings.lookback_hours, datetime.now(UTC))
        checkpoint._seq_no = found.get("_seq_no")
        checkpoint._primary_term = found.get("_primary_term")
        return checkpoint

    def save(self, checkpoint: Checkpoint) -> None:
        """Write only over the version loaded; on a conflict merge the stored one in and
        try again (``checkpoint`` then holds the merged state)."""
        doc_id = self._doc_id(checkpoint.source)
        for _ in range(SAVE_ATTEMPTS):
            checkpoint.prune()
            checkpoint.updated = datetime.now(UTC)
            body = {"kind": "checkpoint", "format": FORMAT, **checkpoint.model_dump(mode="json")}
            if checkpoint._seq_no is None or checkpoint._primary_term is None:
                concurrency: dict[str, Any] = {"op_type": "create"}
            else:
                concurrency = {
                    "if_seq_no": checkpoint._seq_no,
                    "if_primary_term": checkpoint._primary_term,
                }
            try:
                written = self.client.index(index=self.index, id=doc_id, body=body, **concurrency)
            except ConflictError:
                self.conflicts += 1
                stored = self.load(checkpoint.source)
                checkpoint.merge(stored)
                checkpoint._seq_no = stored._seq_no
                checkpoint._primary_term = stored._primary_term
                continue
            checkpoint._seq_no = written["_seq_no"]
            checkpoint._primary_term = written["_primary_term"]
            return
        raise WafsiemError(
            f"checkpoint {checkpoint.source} changed under {SAVE_ATTEMPTS} saves in a row",
            hint="too many pollers on one source? run one per prefix",
        )

    def reset(self, source: str) -> None:
        self.client.delete(index=self.index, id=self._doc_id(source), ignore=[404])
