"""The pure parts of S3 polling: folder times, the lookback window, backoff, the
checkpoint's done/through bookkeeping, merging two pollers' saves, the format-1
migration, and the listing (walk to the streams, ``StartAfter`` from the window)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from ingest.checkpoint import (
    Checkpoint,
    FailedKey,
    backoff_seconds,
    floor_hour,
    folder_prefix,
    folder_time,
    key_time,
    migrate,
    stream_prefix,
    window_start,
)
from ingest.s3_source import S3Location, list_new_objects
from wafsiem.settings import S3PollSettings

WAF = "AWSLogs/111122223333/WAFLogs/eu-west-1/acl-a/"
NOW = datetime(2025, 11, 25, 12, 30, tzinfo=UTC)


def waf_key(day: int, hour: int, minute: int, n: int, stream: str = WAF) -> str:
    return f"{stream}2025/11/{day:02d}/{hour:02d}/{minute:02d}/acct_waflogs_{n:08x}.log.gz"


def test_folder_time_of_both_layouts_and_fallback() -> None:
    assert folder_time(waf_key(25, 12, 5, 1), WAF) == datetime(2025, 11, 25, 12, 5, tzinfo=UTC)
    firehose = "fh/2025/11/25/07/stream-1-2025-11-25-07-10-00-uuid"
    assert stream_prefix(firehose) == "fh/"
    assert folder_time(firehose, "fh/") == datetime(2025, 11, 25, 7, tzinfo=UTC)
    assert folder_time("fh/2025/13/25/07/x", "fh/") is None  # month 13
    assert folder_time("loose.log", "") is None
    modified = datetime(2025, 1, 2, 3, 4, tzinfo=UTC)
    assert key_time("loose.log", "", modified) == modified
    assert key_time("loose.log", "", modified.replace(tzinfo=None)) == modified


def test_window_start_floors_to_the_hour_in_utc() -> None:
    assert window_start(NOW, 3) == datetime(2025, 11, 25, 9, tzinfo=UTC)
    assert window_start(NOW, 0.25) == datetime(2025, 11, 25, 12, tzinfo=UTC)
    paris = NOW.astimezone(timezone(timedelta(hours=1)))  # 13:30+01:00, the same moment
    assert window_start(paris, 1) == datetime(2025, 11, 25, 11, tzinfo=UTC)
    assert floor_hour(NOW) == datetime(2025, 11, 25, 12, tzinfo=UTC)


def test_start_after_sorts_before_every_key_of_the_window_and_after_older_ones() -> None:
    after = folder_prefix(WAF, datetime(2025, 11, 25, 9, tzinfo=UTC))
    assert after == f"{WAF}2025/11/25/09/"
    assert waf_key(25, 9, 0, 0) > after and waf_key(25, 12, 55, 0xFFFF) > after
    assert waf_key(25, 8, 55, 0xFFFFFFFF) < after and waf_key(24, 23, 0, 1) < after


def test_backoff_doubles_up_to_the_cap() -> None:
    poll = S3PollSettings(retry_base_seconds=60, retry_max_seconds=600)
    assert [backoff_seconds(n, poll) for n in range(1, 7)] == [60, 120, 240, 480, 600, 600]
    assert backoff_seconds(10_000, poll) == 600  # no overflow


def test_failures_back_off_give_up_and_are_capped() -> None:
    poll = S3PollSettings(retry_base_seconds=10, max_attempts=3, max_failed_keys=2)
    checkpoint = Checkpoint(source="s3://b/")
    key = waf_key(25, 12, 0, 1)
    entry = checkpoint.record_failure(key, WAF, "AccessDenied: no", NOW, poll)
    assert entry is not None and (entry.attempts, entry.gave_up) == (1, False)
    assert entry.next_try == NOW + timedelta(seconds=10)
    assert checkpoint.due_retries(NOW + timedelta(seconds=9)) == []
    assert checkpoint.due_retries(NOW + timedelta(seconds=10)) == [key]
    checkpoint.record_failure(key, WAF, "again", NOW, poll)
    entry = checkpoint.record_failure(key, WAF, "x" * 2000, NOW, poll)
    assert entry is not None and entry.gave_up and entry.attempts == 3
    assert len(entry.reason) == 500
    assert checkpoint.due_retries(NOW + timedelta(days=365)) == []  # given up: reported only
    checkpoint.record_failure(waf_key(25, 12, 0, 2), WAF, "no", NOW, poll)
    assert checkpoint.record_failure(waf_key(25, 12, 0, 3), WAF, "no", NOW, poll) is None
    assert checkpoint.retry_given_up(NOW) == 1
    assert key in checkpoint.due_retries(NOW) and checkpoint.failed[key].attempts == 0
    assert checkpoint.mark_done(WAF, key, NOW) is True and key not in checkpoint.failed


def test_done_keys_in_the_window_and_through_before_it() -> None:
    checkpoint = Checkpoint(source="s3://b/")
    window = window_start(NOW, 3)
    assert checkpoint.list_start(WAF, window) is None  # a new stream: from its first object
    early, late = waf_key(25, 8, 0, 1), waf_key(25, 12, 5, 1)
    for key in (early, late):
        checkpoint.mark_done(WAF, key, folder_time(key, WAF) or NOW)
    checkpoint.advance(WAF, window)
    checkpoint.advance(WAF, window - timedelta(hours=5))  # never backwards
    assert checkpoint.streams[WAF].through == window
    assert checkpoint.list_start(WAF, window + timedelta(hours=1)) == window  # after downtime
    checkpoint.prune()
    assert list(checkpoint.streams[WAF].done) == [late[len(WAF) :]]
    assert checkpoint.is_done(WAF, early, datetime(2025, 11, 25, 8, tzinfo=UTC))  # by through
    assert checkpoint.is_done(WAF, late, datetime(2025, 11, 25, 12, 5, tzinfo=UTC))
    sibling = waf_key(25, 12, 5, 0)  # sorts before `late`, same folder
    assert not checkpoint.is_done(WAF, sibling, datetime(2025, 11, 25, 12, 5, tzinfo=UTC))


def _failed(stream: str, attempts: int, at: datetime) -> FailedKey:
    return FailedKey(
        stream=stream, attempts=attempts, reason="r", first_failed=at, last_failed=at,
        next_try=at,
    )  # fmt: skip


def test_merge_keeps_both_pollers_work() -> None:
    t = datetime(2025, 11, 25, 12, tzinfo=UTC)
    mine, theirs = Checkpoint(source="s"), Checkpoint(source="s")
    a, b, c, f = (waf_key(25, 12, 0, n) for n in (1, 2, 3, 4))
    mine.mark_done(WAF, a, t)
    theirs.mark_done(WAF, b, t)
    theirs.mark_done(WAF, c, t)
    mine.failed[c] = _failed(WAF, 1, t)  # failed here, read by the other poller
    theirs.failed[f] = _failed(WAF, 2, t)
    mine.failed[f] = _failed(WAF, 1, t)
    theirs.advance(WAF, t - timedelta(hours=1))
    theirs.streams["other/"] = theirs.stream("other/")
    mine.merge(theirs)
    assert set(mine.streams[WAF].done) == {k[len(WAF) :] for k in (a, b, c)}
    assert mine.streams[WAF].through == t - timedelta(hours=1)
    assert set(mine.failed) == {f} and mine.failed[f].attempts == 2
    assert "other/" in mine.streams


def test_migrate_format_1() -> None:
    last = waf_key(25, 12, 5, 0x20)
    body = {
        "kind": "checkpoint", "source": "s3://b/",
        "positions": {WAF: last, "": "notes.txt"},
        "failed": {waf_key(25, 11, 0, 1): "NoSuchKey: gone"},
    }  # fmt: skip
    checkpoint = migrate("s3://b/", body, 3, NOW)
    assert checkpoint.streams[WAF].through == datetime(2025, 11, 25, 9, tzinfo=UTC)
    assert checkpoint.streams[WAF].done == {}  # the window is read again (duplicates)
    assert checkpoint.streams[""].through is None  # undated: listed in full once
    (entry,) = checkpoint.failed.values()
    assert entry.stream == WAF and entry.attempts == 1 and entry.reason == "NoSuchKey: gone"
    assert checkpoint.due_retries(NOW) == list(checkpoint.failed)


class _FakeS3:
    """list_objects_v2 over a sorted key set (Prefix, Delimiter, StartAfter)."""

    def __init__(self, keys: list[str], modified: datetime = NOW) -> None:
        self.keys, self.modified = sorted(keys), modified
        self.calls: list[dict[str, Any]] = []

    def get_paginator(self, _name: str) -> _FakeS3:
        return self

    def paginate(self, **kw: Any) -> list[dict[str, Any]]:
        self.calls.append(kw)
        prefix, after, delimiter = (
            kw.get("Prefix", ""),
            kw.get("StartAfter", ""),
            kw.get("Delimiter"),
        )
        contents, common = [], set()
        for key in self.keys:
            if not key.startswith(prefix) or key <= after:
                continue
            rest = key[len(prefix) :]
            if delimiter and delimiter in rest:
                common.add(prefix + rest.split(delimiter, 1)[0] + delimiter)
            else:
                contents.append({"Key": key, "Size": 1, "LastModified": self.modified})
        return [{"Contents": contents, "CommonPrefixes": [{"Prefix": p} for p in sorted(common)]}]


def test_listing_walks_to_streams_and_starts_after_the_window() -> None:
    other = "AWSLogs/111122223333/WAFLogs/us-east-1/acl-b/"
    keys = [
        waf_key(24, 1, 0, 1), waf_key(25, 9, 0, 1), waf_key(25, 12, 5, 1),
        waf_key(25, 12, 5, 2, stream=other), "AWSLogs/readme.txt",
    ]  # fmt: skip
    fake = _FakeS3(keys)
    checkpoint = Checkpoint(source="s3://b/")
    window = window_start(NOW, 3)
    checkpoint.advance(WAF, window)  # a known stream; `other` is new
    checkpoint.mark_done(WAF, waf_key(25, 12, 5, 1), NOW)
    found, seen = list_new_objects(fake, S3Location("b", ""), checkpoint, window)  # type: ignore[arg-type]
    assert [o.key for o in found] == sorted(
        ["AWSLogs/readme.txt", waf_key(25, 9, 0, 1), waf_key(25, 12, 5, 2, stream=other)]
    )
    assert {WAF, other, ""} <= seen
    starts = {c["Prefix"]: c.get("StartAfter") for c in fake.calls if "Delimiter" not in c}
    assert starts == {WAF: f"{WAF}2025/11/25/09/", other: ""}  # new stream: from the first
    assert not any(c["Prefix"].startswith(WAF + "2025") for c in fake.calls)  # no deeper walk


@pytest.mark.parametrize("prefix", ["AWSLogs/111122223333/WAFLogs/eu-west-1/acl-a/2025/11/", "AWS"])
def test_listing_from_a_prefix_inside_or_above_the_layout(prefix: str) -> None:
    keys = [waf_key(25, 12, 0, 1), waf_key(25, 12, 5, 1)]
    found, _ = list_new_objects(
        _FakeS3(keys),
        S3Location("b", prefix),
        Checkpoint(source="s3://b/"),
        NOW,  # type: ignore[arg-type]
    )
    assert [o.key for o in found] == keys
    assert all(o.stream == WAF for o in found)


def test_a_web_acl_named_like_a_year_is_a_stream_of_its_own() -> None:
    digits = "AWSLogs/111122223333/WAFLogs/eu-west-1/2024/"
    old, new = waf_key(25, 12, 0, 1, stream=digits), waf_key(25, 12, 5, 1, stream=digits)
    fake = _FakeS3([old, new, waf_key(25, 12, 0, 1)])
    checkpoint = Checkpoint(source="s3://b/")
    window = window_start(NOW, 3)
    checkpoint.advance(digits, window)
    checkpoint.advance(WAF, window)
    checkpoint.mark_done(digits, old, NOW)
    for prefix in ("", "AWSLogs/111122223333/WAFLogs/eu-west-1/", digits):
        fake.calls.clear()
        found, _ = list_new_objects(fake, S3Location("b", prefix), checkpoint, window)  # type: ignore[arg-type]
        assert new in [o.key for o in found] and old not in [o.key for o in found]
        assert {c["Prefix"]: c["StartAfter"] for c in fake.calls if "StartAfter" in c}[digits] == (
            f"{digits}2025/11/25/09/"
        )
