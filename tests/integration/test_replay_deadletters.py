"""`wafsiem ingest replay-deadletters` against the real OpenSearch: a dead letter leaves
the dead-letter index only once its record is indexed (or already was), a record that
fails again stays with its new reason and attempt count, redacted/truncated raw bytes
are never replayed, and a crash between the index and the delete loses nothing."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from typing import Any

import orjson
import pytest
from opensearchpy.exceptions import ConnectionError as OSConnectionError

from ingest.bulk import BulkIndexer, BulkItem
from ingest.parser import ParserOptions
from ingest.replay import ReplayFilter, replay_deadletters
from ingest.service import IngestTarget, deadletter_item, ingest_stream
from wafsiem.schema import index_template

from ..waf_records import waf_record
from .ingest_fixtures import count, indexer, target

__all__ = ["indexer", "target"]  # fixtures

OPTIONS = ParserOptions()


def event_id(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()[:32]


def dead_letter(
    target: IngestTarget, indexer: BulkIndexer, raw: bytes, reason: str, **raw_fields: Any
) -> BulkItem:
    """A dead-letter document as ingest writes it; ``raw_fields`` override ``raw.*``."""
    item = deadletter_item(
        target, reason=reason, detail="test", origin=f"test:{reason}", kind="file",
        offset=0, raw=raw, request_id=None,
    )  # fmt: skip
    if raw_fields:
        doc = orjson.loads(item.source)
        doc["raw"].update(raw_fields)
        item.source = orjson.dumps(doc)
    outcome = indexer.index([item])
    assert outcome.indexed == 1, outcome.rejected
    return item


def dead_docs(opensearch: Any, target: IngestTarget) -> dict[str, dict[str, Any]]:
    opensearch.indices.refresh(index=target.deadletter_index)
    hits = opensearch.search(index=target.deadletter_index, body={"size": 100})["hits"]["hits"]
    return {hit["_id"]: hit["_source"] for hit in hits}


def replay(opensearch: Any, indexer: BulkIndexer, target: IngestTarget, **kw: Any) -> Any:
    report = replay_deadletters(opensearch, indexer=indexer, options=OPTIONS, target=target, **kw)
    assert report.balanced, report
    return report


def test_fixed_record_indexed_and_gone_bad_ones_stay(
    opensearch: Any, indexer: BulkIndexer, target: IngestTarget
) -> None:
    good = orjson.dumps(waf_record(1))
    no_action = waf_record(2)
    del no_action["action"]
    garbage = b'{"not": "a waf record"'
    # the real ingest path dead-letters the two bad records, indexes the good one
    stream = ingest_stream(
        b"\n".join([good, orjson.dumps(no_action), garbage]) + b"\n",
        origin="test.log", kind="file", indexer=indexer, options=OPTIONS, target=target,
    )  # fmt: skip
    assert (stream.indexed, stream.dead_lettered) == (1, 2)
    # a record an earlier parser got wrong: valid WAF JSON in the dead-letter index
    fixed = orjson.dumps(waf_record(3))
    fixed_letter = dead_letter(target, indexer, fixed, "parser_bug")
    # an oversized record stored as a bounded prefix with its full size and SHA-256
    big = orjson.dumps(waf_record(4))
    cut = dead_letter(
        target, indexer, big[:40], "too_large",
        bytes=len(big), sha256=hashlib.sha256(big).hexdigest(),
    )  # fmt: skip
    assert count(opensearch, target.deadletter_index) == 4
    before = dead_docs(opensearch, target)

    report = replay(opensearch, indexer, target)
    assert (report.read, report.indexed, report.duplicates, report.still_dead) == (4, 1, 0, 3)
    assert report.not_replayable == 1
    assert report.failed_by_reason == {"missing_action": 1, "not_json": 1}
    assert (report.documents_indexed, report.deleted) == (1, 1)

    # the fixed record is in the hot index under its deterministic id, and only there
    assert count(opensearch, target.index_prefix + "-*") == 2
    found = opensearch.search(
        index=target.index_prefix + "-*", body={"query": {"ids": {"values": [event_id(fixed)]}}}
    )["hits"]["hits"]
    assert len(found) == 1 and found[0]["_source"]["event"]["original"] == fixed.decode()
    after = dead_docs(opensearch, target)
    assert fixed_letter.id not in after and len(after) == 3
    for doc_id, doc in after.items():
        assert doc["raw"] == before[doc_id]["raw"]  # the raw bytes are kept as they were
        assert doc["replay"]["attempts"] == 1
        assert doc["replay"]["first_reason"] == before[doc_id]["reason"]
    assert after[cut.id]["reason"] == "not_replayable"
    assert "too_large" in after[cut.id]["detail"]
    assert sorted(d["reason"] for d in after.values()) == [
        "missing_action", "not_json", "not_replayable",
    ]  # fmt: skip

    # a second run: nothing new, still accounted, attempts counted
    again = replay(opensearch, indexer, target)
    assert (again.read, again.indexed, again.still_dead, again.not_replayable) == (3, 0, 3, 1)
    assert {d["replay"]["attempts"] for d in dead_docs(opensearch, target).values()} == {2}
    assert dead_docs(opensearch, target)[cut.id]["replay"]["first_reason"] == "too_large"
    assert count(opensearch, target.index_prefix + "-*") == 2


@pytest.mark.parametrize(
    ("header", "why"),
    [("X-Note", "SHA-256"), ("Cookie", "redacted")],  # Cookie: redacted as it is stored
)
def test_redacted_raw_bytes_are_not_replayed(
    opensearch: Any, indexer: BulkIndexer, target: IngestTarget, header: str, why: str
) -> None:
    record = waf_record(5)
    original = orjson.dumps(record)
    record["httpRequest"]["headers"].append({"name": header, "value": "<edited>"})
    redacted = orjson.dumps(record)  # valid WAF JSON, but not the bytes that arrived
    dead_letter(
        target, indexer, redacted, "parser_bug", sha256=hashlib.sha256(original).hexdigest()
    )
    report = replay(opensearch, indexer, target)
    assert (report.read, report.not_replayable, report.indexed) == (1, 1, 0)
    assert count(opensearch, target.index_prefix + "-*") == 0
    (doc,) = dead_docs(opensearch, target).values()
    assert doc["reason"] == "not_replayable" and why in doc["detail"], doc["detail"]


class _DiesBeforeDelete:
    """The OpenSearch client of a process that dies right after the documents were
    acknowledged and before the dead letters are deleted."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def bulk(self, *args: Any, **kwargs: Any) -> Any:
        raise OSConnectionError("N/A", "process died", None)


def test_crash_between_index_and_delete_is_a_duplicate_next_run(
    opensearch: Any, indexer: BulkIndexer, target: IngestTarget
) -> None:
    raws = [orjson.dumps(waf_record(10 + i)) for i in range(3)]
    for raw in raws:
        dead_letter(target, indexer, raw, "parser_bug")
    with pytest.raises(OSConnectionError):
        replay_deadletters(
            _DiesBeforeDelete(opensearch),  # type: ignore[arg-type]
            indexer=indexer,
            options=OPTIONS,
            target=target,
        )
    assert count(opensearch, target.index_prefix + "-*") == 3  # indexed ...
    assert count(opensearch, target.deadletter_index) == 3  # ... and not lost from here

    report = replay(opensearch, indexer, target)
    assert (report.read, report.indexed, report.duplicates, report.deleted) == (3, 0, 3, 3)
    assert count(opensearch, target.deadletter_index) == 0
    assert count(opensearch, target.index_prefix + "-*") == 3  # never twice


def test_opensearch_rejected_replayed_after_the_mapping_is_fixed(
    opensearch: Any, indexer: BulkIndexer, target: IngestTarget, unique: str
) -> None:
    strict_prefix = f"{unique}-strict"
    body = {
        "index_patterns": [f"{strict_prefix}-*"],
        "priority": 500,
        "template": {
            "mappings": {"properties": {"url": {"properties": {"path": {"type": "long"}}}}}
        },
    }
    opensearch.indices.put_index_template(name=strict_prefix, body=body)
    strict = IngestTarget(index_prefix=strict_prefix, deadletter_index=target.deadletter_index)
    try:
        data = b"\n".join(orjson.dumps(waf_record(20 + i)) for i in range(2))
        stream = ingest_stream(
            data, origin="strict.log", kind="file", indexer=indexer, options=OPTIONS,
            target=strict,
        )  # fmt: skip
        assert stream.rejected_by_reason == {"opensearch_rejected": 2}
        still = replay(opensearch, indexer, strict)  # the mapping is still wrong
        assert (still.read, still.still_dead) == (2, 2)
        assert still.failed_by_reason == {"opensearch_rejected": 2}
    finally:
        opensearch.indices.delete_index_template(name=strict_prefix, ignore=[404])
    opensearch.indices.delete(index=f"{strict_prefix}-*", ignore=[404])  # mapping fixed
    opensearch.indices.put_index_template(
        name=strict_prefix, body=index_template(prefix=strict_prefix)
    )
    try:
        report = replay(opensearch, indexer, strict)
        assert (report.read, report.indexed, report.still_dead) == (2, 2, 0)
        assert count(opensearch, target.deadletter_index) == 0
        assert count(opensearch, f"{strict_prefix}-*") == 2
    finally:
        opensearch.indices.delete_index_template(name=strict_prefix, ignore=[404])


def test_cli_reason_and_time_filters_with_json_counters(
    opensearch: Any, indexer: BulkIndexer, target: IngestTarget
) -> None:
    dead_letter(target, indexer, orjson.dumps(waf_record(30)), "parser_bug")
    dead_letter(target, indexer, orjson.dumps(waf_record(31)), "other_bug")
    env = {
        **os.environ,
        "WAFSIEM_OPENSEARCH__INDEX_PREFIX": target.index_prefix,
        "WAFSIEM_OPENSEARCH__DEADLETTER_INDEX": target.deadletter_index,
    }

    def run(*args: str) -> dict[str, Any]:
        command = [sys.executable, "-m", "wafsiem", "ingest", "replay-deadletters", *args]
        done = subprocess.run(
            [*command, "--json"], env=env, capture_output=True, timeout=120, check=False
        )
        assert done.returncode == 0, done.stderr.decode()
        assert b'"progress"' in done.stderr or b"replay" in done.stderr
        return dict(orjson.loads(done.stdout))

    past = run("--to", "2020-01-01T00:00:00Z")
    assert past["read"] == 0 and past["balanced"] is True
    only = run("--reason", "parser_bug", "--from", "2020-01-01T00:00:00Z")
    assert (only["read"], only["indexed"], only["still_dead"], only["deleted"]) == (1, 1, 0, 1)
    left = dead_docs(opensearch, target)
    assert [d["reason"] for d in left.values()] == ["other_bug"]
    rest = run()
    assert (rest["read"], rest["indexed"], rest["duplicates"]) == (1, 1, 0)
    assert count(opensearch, target.deadletter_index) == 0
    assert count(opensearch, target.index_prefix + "-*") == 2


def test_no_deadletter_index_is_an_empty_run(
    opensearch: Any, indexer: BulkIndexer, unique: str
) -> None:
    missing = IngestTarget(index_prefix=f"{unique}-x", deadletter_index=f"{unique}-no-dl")
    report = replay(opensearch, indexer, missing, selection=ReplayFilter(reason="x"))
    assert report.read == 0
