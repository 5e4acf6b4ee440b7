"""Replay planning without services: which dead letters can be replayed exactly, what
they become, and the selection query."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime
from typing import Any

import orjson

from ingest.parser import ParsedDocument, ParserOptions, parse_stream
from ingest.replay import ReplayFilter, ReplayReport, plan_replay
from ingest.service import IngestTarget

from ..waf_records import waf_record

OPTIONS = ParserOptions(hash_key=b"k")
TARGET = IngestTarget("p", "dl")


def hit(raw: bytes, reason: str = "parser_bug", **raw_fields: Any) -> dict[str, Any]:
    stored = {
        "base64": base64.b64encode(raw).decode(),
        "bytes": len(raw),
        "sha256": hashlib.sha256(raw).hexdigest(),
        **raw_fields,
    }
    source = {"reason": reason, "origin": {"name": "o", "kind": "file"}, "raw": stored}
    return {"_index": "dl", "_id": "x", "_source": source}


def test_valid_record_becomes_its_document() -> None:
    raw = orjson.dumps(waf_record(1))
    plan = plan_replay(hit(raw), OPTIONS, TARGET)
    assert plan.failure is None and plan.not_replayable is None
    (item,) = plan.items
    assert item.id == hashlib.sha256(raw).hexdigest()[:32]
    assert item.index == "p-2025.11.25" and item.op == "create"


def test_not_replayable_when_the_bytes_are_not_the_original() -> None:
    raw = orjson.dumps(waf_record(2))
    cases = [
        hit(raw, redacted=True),
        hit(raw, truncated=True),
        hit(raw[:30], bytes=len(raw)),
        hit(raw, sha256="0" * 64),
        hit(raw, original_sha256="1" * 64),
        hit(raw, original_bytes=len(raw) + 1),
        {"_index": "dl", "_id": "x", "_source": {"raw": {"base64": "%%%"}}},
    ]
    for case in cases:
        plan = plan_replay(case, OPTIONS, TARGET)
        assert plan.not_replayable and not plan.items, case


def test_still_bad_record_keeps_its_reason() -> None:
    plan = plan_replay(hit(b'{"not": "waf"}', "missing_timestamp"), OPTIONS, TARGET)
    assert plan.failure is not None and plan.failure[0] == "missing_timestamp"
    assert plan_replay(hit(b"   "), OPTIONS, TARGET).failure == (
        "no_record",
        "the raw bytes hold no record",
    )


def test_opensearch_rejected_reparses_the_exact_original_or_resends_the_doc() -> None:
    raw = orjson.dumps(waf_record(3))
    (parsed,) = list(parse_stream(raw, origin="o", options=OPTIONS))
    assert isinstance(parsed, ParsedDocument)
    doc_bytes = parsed.source_bytes()  # what OpenSearch refused, with event.original
    plan = plan_replay(hit(doc_bytes, "opensearch_rejected"), OPTIONS, TARGET)
    (item,) = plan.items
    assert item.id == parsed.id and item.index == "p-2025.11.25"

    without = orjson.loads(doc_bytes)
    del without["event"]["original"]
    stored = orjson.dumps(without)
    plan = plan_replay(hit(stored, "opensearch_rejected"), OPTIONS, TARGET)
    (item,) = plan.items
    assert (item.id, item.source) == (parsed.id, stored)


def test_filter_query_and_accounting() -> None:
    assert ReplayFilter().query() == {"match_all": {}}
    start = datetime(2026, 1, 1, tzinfo=UTC)
    query = ReplayFilter(reason="not_json", start=start).query()
    assert query["bool"]["filter"] == [
        {"term": {"reason": "not_json"}},
        {"range": {"@timestamp": {"gte": "2026-01-01T00:00:00+00:00"}}},
    ]
    report = ReplayReport(read=3, indexed=1, duplicates=1, still_dead=1, not_replayable=1)
    assert report.balanced
    assert not ReplayReport(read=2, indexed=1).balanced
