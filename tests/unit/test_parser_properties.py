"""Property tests: the parser never raises and never loses a record silently."""

from __future__ import annotations

import gzip
import json
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.unit.conftest import fixture_paths, parse_all
from wafsiem.schema import validate_document

FIXTURE_RECORDS = [orjson.loads(p.read_bytes()) for p in fixture_paths()]

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)


def _accounted(stats: Any, docs: list, rejects: list) -> None:
    assert stats.records_in == stats.parsed + stats.rejected
    assert stats.parsed == len(docs)
    assert stats.rejected == len(rejects)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2048), st.integers(1, 64))
def test_arbitrary_bytes_never_raise(data: bytes, chunk: int) -> None:
    pieces = [data[i : i + chunk] for i in range(0, len(data), chunk)]
    docs, rejects, stats = parse_all(pieces)
    _accounted(stats, docs, rejects)
    # every rejected byte came from the input
    for reject in rejects:
        assert data[reject.offset : reject.offset + len(reject.raw)] == reject.raw


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=512))
def test_arbitrary_gzip_payloads_never_raise(data: bytes) -> None:
    compressed = gzip.compress(data)
    for cut in (len(compressed), len(compressed) // 2, 11):
        docs, rejects, stats = parse_all(compressed[:cut])
        _accounted(stats, docs, rejects)


@st.composite
def mutated_records(draw: st.DrawFn) -> dict[str, Any]:
    record = json.loads(json.dumps(draw(st.sampled_from(FIXTURE_RECORDS))))
    for _ in range(draw(st.integers(0, 4))):
        target = record
        if draw(st.booleans()) and isinstance(record.get("httpRequest"), dict):
            target = record["httpRequest"]
        keys = sorted(target)
        if keys and draw(st.booleans()):
            key = draw(st.sampled_from(keys))
            if draw(st.booleans()):
                del target[key]
            else:
                target[key] = draw(json_values)
        else:
            target[draw(st.text(max_size=8))] = draw(json_values)
    return record


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(mutated_records(), min_size=1, max_size=5), st.sampled_from([b"", b"\n", b" \r\n"]))
def test_mutated_records_are_each_parsed_or_rejected(
    records: list[dict[str, Any]], separator: bytes
) -> None:
    data = separator.join(orjson.dumps(r) for r in records)
    docs, rejects, stats = parse_all(data)
    _accounted(stats, docs, rejects)
    assert stats.records_in == len(records)
    for doc in docs:
        validate_document(doc.doc)
        doc.bulk_lines()
        doc.flat_row()
