"""Files into the real OpenSearch: every record indexed, a duplicate, or dead-lettered."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import orjson

from ingest.bulk import BulkIndexer
from ingest.parser import ParserOptions
from ingest.service import IngestTarget, ingest_files

from ..waf_records import BASE_MS, gz_ndjson, ndjson, waf_record
from .ingest_fixtures import count, indexer, target

__all__ = ["indexer", "target"]  # fixtures


def test_files_indexed_then_replayed_without_duplicates(
    tmp_path: Path, opensearch: Any, target: IngestTarget, indexer: BulkIndexer
) -> None:
    records = [waf_record(n, action="BLOCK" if n % 7 == 0 else "ALLOW") for n in range(300)]
    # the last records fall on the next UTC day: two daily indices
    records += [waf_record(1000 + n, ts=BASE_MS + 13 * 3600_000 + n) for n in range(20)]
    garbage = [b"{not json", b'"a string"', b'{"timestamp": 1, "action": "ALLOW"}']
    (tmp_path / "a.log.gz").write_bytes(gz_ndjson(records[:200], garbage))
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.log").write_bytes(ndjson(records[200:]))
    files = [tmp_path / "a.log.gz", tmp_path / "sub" / "b.log"]
    options = ParserOptions()

    first = ingest_files(files, indexer=indexer, options=options, target=target)
    assert first.records_in == 323
    assert (first.indexed, first.duplicates, first.dead_lettered) == (320, 0, 3)
    assert first.balanced
    prefix = target.index_prefix
    assert count(opensearch, prefix) == 320  # through the alias
    days = sorted(opensearch.indices.get(index=f"{prefix}-*"))
    assert days == [f"{prefix}-2025.11.25", f"{prefix}-2025.11.26"]

    assert count(opensearch, target.deadletter_index) == 3
    dead = opensearch.search(
        index=target.deadletter_index, body={"size": 10, "sort": [{"origin.offset": "asc"}]}
    )["hits"]["hits"]
    assert sorted(base64.b64decode(h["_source"]["raw"]["base64"]) for h in dead) == sorted(garbage)
    reasons = {h["_source"]["reason"] for h in dead}
    assert reasons == {"not_json", "not_object", "missing_http_request"}
    assert {h["_source"]["origin"]["name"] for h in dead} == {str(files[0])}

    replay = ingest_files(files, indexer=indexer, options=options, target=target)
    assert (replay.indexed, replay.duplicates, replay.dead_lettered) == (0, 320, 3)
    assert count(opensearch, prefix) == 320
    assert count(opensearch, target.deadletter_index) == 3

    one = opensearch.search(
        index=prefix, body={"query": {"term": {"http.request.id": "req-00000007"}}}
    )["hits"]["hits"]
    assert len(one) == 1
    assert one[0]["_source"]["waf"]["action"] == "BLOCK"
    assert one[0]["_id"] == one[0]["_source"]["event"]["id"]


def test_a_bad_file_never_stops_the_others(
    tmp_path: Path, opensearch: Any, target: IngestTarget, indexer: BulkIndexer
) -> None:
    good = tmp_path / "good.log"
    good.write_bytes(ndjson([waf_record(n) for n in range(5)]))
    vanished = tmp_path / "vanished.log.gz"
    report = ingest_files([vanished, good], indexer=indexer, options=ParserOptions(), target=target)
    assert report.failed_streams == 1
    assert report.streams[0].error is not None and "vanished.log.gz" in report.streams[0].error
    assert report.streams[1].indexed == 5
    assert count(opensearch, target.index_prefix) == 5


def test_documents_opensearch_refuses_are_dead_lettered(
    tmp_path: Path, opensearch: Any, unique: str, target: IngestTarget, indexer: BulkIndexer
) -> None:
    # a stricter template for this prefix: url.path must be a number, so OpenSearch refuses
    strict_prefix = f"{unique}-strict"
    body = {
        "index_patterns": [f"{strict_prefix}-*"],
        "priority": 500,
        "template": {
            "mappings": {"properties": {"url": {"properties": {"path": {"type": "long"}}}}}
        },
    }
    opensearch.indices.put_index_template(name=strict_prefix, body=body)
    try:
        strict = IngestTarget(index_prefix=strict_prefix, deadletter_index=target.deadletter_index)
        path = tmp_path / "x.log"
        path.write_bytes(ndjson([waf_record(1), waf_record(2)]))
        report = ingest_files([path], indexer=indexer, options=ParserOptions(), target=strict)
        assert (report.indexed, report.dead_lettered) == (0, 2)
        assert report.streams[0].rejected_by_reason == {"opensearch_rejected": 2}
        assert count(opensearch, target.deadletter_index) == 2
        dead = opensearch.search(index=target.deadletter_index, body={"size": 5})["hits"]["hits"]
        assert len(dead) == 2
        for hit in dead:
            source = hit["_source"]
            assert source["reason"] == "opensearch_rejected"
            assert "mapper_parsing_exception" in source["detail"]
            document = orjson.loads(base64.b64decode(source["raw"]["base64"]))
            assert document["event"]["id"] == source["event"]["id"]
    finally:
        opensearch.indices.delete(index=f"{strict_prefix}-*", ignore=[404])
        opensearch.indices.delete_index_template(name=strict_prefix, ignore=[404])


def test_cli_reports_every_file_in_json(
    tmp_path: Path, opensearch: Any, unique: str, target: IngestTarget
) -> None:
    import os
    import subprocess
    import sys

    (tmp_path / "one.log.gz").write_bytes(gz_ndjson([waf_record(n) for n in range(40)]))
    (tmp_path / "two.log").write_bytes(ndjson([waf_record(100 + n) for n in range(9)], [b"x"]))
    env = os.environ | {
        "WAFSIEM_OPENSEARCH__INDEX_PREFIX": target.index_prefix,
        "WAFSIEM_OPENSEARCH__DEADLETTER_INDEX": target.deadletter_index,
    }
    result = subprocess.run(
        [sys.executable, "-m", "wafsiem", "ingest", "files", str(tmp_path), "--json"],
        env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = orjson.loads(result.stdout)
    per_file = {Path(s["origin"]).name: s for s in report["streams"]}
    assert per_file["one.log.gz"]["indexed"] == 40
    assert (per_file["two.log"]["indexed"], per_file["two.log"]["dead_lettered"]) == (9, 1)
    assert (report["records_in"], report["indexed"], report["dead_lettered"]) == (50, 49, 1)
    progress = [orjson.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    assert progress and progress[-1]["completed"] == progress[-1]["total"]
    assert count(opensearch, target.index_prefix) == 49
