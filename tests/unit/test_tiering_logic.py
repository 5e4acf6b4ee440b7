"""Pure logic of the tiering package: digests, rows <-> documents, paths, cutoffs."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ingest.parser import ParsedDocument, ParserOptions, parse_stream
from tiering.models import Manifest, ManifestFile
from tiering.parquet_io import (
    IdDigest,
    PartWriter,
    dedup_table,
    id_digest,
    schema,
    sort_table,
    table_from_sources,
    unflatten_row,
)
from tiering.service import cutoff_day, index_name
from tiering.store import LocalStore, parse_partition, partition_dir
from wafsiem.schema import flatten_document

from ..unit.conftest import fixture_paths


@given(st.lists(st.text(min_size=1, max_size=40), unique=True, max_size=50), st.randoms())
def test_set_digest_ignores_order(ids: list[str], rng: object) -> None:
    shuffled = list(ids)
    rng.shuffle(shuffled)  # type: ignore[attr-defined]
    assert id_digest(ids) == id_digest(shuffled)


def test_set_digest_tells_sets_apart_and_merges() -> None:
    assert id_digest(["a", "b"]) != id_digest(["a", "c"])
    assert id_digest(["a"]) != id_digest(["a", "a"])  # a duplicate changes it
    left, right = IdDigest(), IdDigest()
    left.update(["a", "b"])
    right.update(["c"])
    left.merge(right)
    assert (left.hex, left.count) == (id_digest(["c", "b", "a"]), 3)


def test_dedup_keeps_the_first_row_of_each_id() -> None:
    table = pa.table({"event.id": ["x", "y", "x", "z", "y"], "n": [1, 2, 3, 4, 5]})
    assert dedup_table(table).to_pylist() == [
        {"event.id": "x", "n": 1},
        {"event.id": "y", "n": 2},
        {"event.id": "z", "n": 4},
    ]


def test_documents_survive_arrow_and_back() -> None:
    docs = []
    for path in fixture_paths():
        for result in parse_stream(path.read_bytes(), origin=path.name, options=ParserOptions()):
            if isinstance(result, ParsedDocument):
                docs.append(result.doc)
    assert docs
    table = table_from_sources(docs)
    assert table.schema.equals(schema())
    for doc, row in zip(docs, table.to_pylist(), strict=True):
        assert unflatten_row(row) == doc
    # the column-wise conversion gives what flatten_document gives row by row
    assert table.equals(pa.Table.from_pylist([flatten_document(d) for d in docs], schema()))


def test_column_conversion_matches_flatten_document_on_odd_shapes() -> None:
    docs: list[dict[str, Any]] = [
        {"@timestamp": "2025-11-20T06:00:00.066Z", "event": {"id": "a"}},
        {"@timestamp": 1763618400066, "event": "not an object", "waf": {"labels": "one"}},
        {"@timestamp": "2025-11-20T06:00:01", "waf": {"captcha": {"solve_timestamp": 17}}},
        {"@timestamp": "2025-11-20T06:00:02Z", "http": {"request": {"headers": {"a": ["b"]}}}},
        {"@timestamp": "2025-11-20T06:00:03Z", "waf": {"rule_groups": [{"x": None}]}},
    ]
    expected = pa.Table.from_pylist([flatten_document(d) for d in docs], schema())
    assert table_from_sources(docs).equals(expected)
    assert table_from_sources([]).equals(schema().empty_table())


def test_parquet_writer_options_read_back(tmp_path: Path) -> None:
    docs = []
    for path in fixture_paths():
        for result in parse_stream(path.read_bytes(), origin=path.name, options=ParserOptions()):
            if isinstance(result, ParsedDocument):
                docs.append(result.doc)
    table = sort_table(table_from_sources(docs))
    writer = PartWriter(LocalStore(tmp_path), date(2025, 11, 20), "run", "s0")
    writer.write(table)
    files = writer.close()
    store = LocalStore(tmp_path)
    parquet = pq.ParquetFile(store.table / partition_dir(date(2025, 11, 20)) / files[0].name)
    assert parquet.read().equals(table)
    columns = {c.path_in_schema: c for c in (parquet.metadata.row_group(0).column(i)
               for i in range(parquet.metadata.num_columns))}  # fmt: skip
    assert "DELTA_LENGTH_BYTE_ARRAY" in columns["event.original"].encodings
    assert "DELTA_BINARY_PACKED" in columns["@timestamp"].encodings
    assert parquet.metadata.row_group(0).sorting_columns[0].column_index == 0


def test_cutoff_is_utc_and_needs_aware_datetimes() -> None:
    assert cutoff_day(7, datetime(2025, 12, 1, 0, 30, tzinfo=UTC)) == date(2025, 11, 24)
    plus_two = timezone(timedelta(hours=2))
    assert cutoff_day(0, datetime(2025, 12, 1, 1, 0, tzinfo=plus_two)) == date(2025, 11, 30)
    with pytest.raises(ValueError):
        cutoff_day(1, datetime(2025, 12, 1))
    assert index_name("waf-logs", date(2025, 1, 2)) == "waf-logs-2025.01.02"


def test_partition_names_and_unsafe_paths(tmp_path: Path) -> None:
    assert partition_dir(date(2025, 11, 25)) == "date=2025-11-25"
    assert parse_partition("date=2025-11-25") == date(2025, 11, 25)
    assert parse_partition("date=x") is None
    store = LocalStore(tmp_path)
    for bad in ("../x", "date=2025-11-25/../../etc", "a b", ""):
        with pytest.raises(ValueError):
            store.get_bytes(bad)
    store.put_bytes("date=2025-11-25/_manifest.json", b"{}")
    assert store.partitions() == [date(2025, 11, 25)]
    assert [f.rel for f in store.list_files()] == ["date=2025-11-25/_manifest.json"]


def test_manifest_round_trip() -> None:
    manifest = Manifest(
        date=date(2025, 11, 25),
        files=[ManifestFile(name="part-a-s0-0000.parquet", rows=3, bytes=100)],
        rows=3,
        digest=id_digest(["a", "b", "c"]),
        schema_version=1,
        created=datetime(2025, 12, 1, tzinfo=UTC),
    )
    assert Manifest.model_validate_json(manifest.model_dump_json()) == manifest
    assert manifest.bytes == 100
