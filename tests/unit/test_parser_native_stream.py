"""Streams parse to the same results with the native fast path as without it.

Record by record equality is tests/unit/test_parser_native.py's job; here whole streams
(NDJSON, concatenated objects, pretty-printed, gzip, broken records, any chunking) go
through :class:`StreamParser` with ``native`` on and off, and every result, offset, reject
and count must match. ``wafsiem_native`` is imported outright: CI builds it.
"""

from __future__ import annotations

import copy
import dataclasses
import gzip
import json
from typing import Any

import orjson
import wafsiem_native  # noqa: F401 - fails the module when the native package is missing
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest.parser import ParsedDocument, ParserOptions, Reject, StreamParser
from ingest.parser.native import native_available, native_builder
from tests.unit.conftest import HASH_KEY
from tests.unit.test_parser_fastpath import BASES, TYPICAL

ON = ParserOptions(hash_key=HASH_KEY)
OFF = dataclasses.replace(ON, native=False)


def _results(data: bytes, options: ParserOptions, chunk: int) -> tuple[list[Any], Any]:
    parser = StreamParser(origin="s3://b/k", options=options)
    pieces = [data[i : i + chunk] for i in range(0, len(data), chunk)]
    out: list[Any] = []
    for result in parser.parse(iter(pieces)):
        if isinstance(result, ParsedDocument):
            out.append(("doc", result.id, result.timestamp_ms, result.offset, result.bulk_lines()))
        else:
            assert isinstance(result, Reject)
            out.append(("reject", result.reason, result.offset, result.raw))
    return out, parser.stats


def _native_share(data: bytes, chunk: int) -> float:
    parser = StreamParser(origin="s", options=ON)
    pieces = [data[i : i + chunk] for i in range(0, len(data), chunk)]
    docs = [r for r in parser.parse(iter(pieces)) if isinstance(r, ParsedDocument)]
    return sum(1 for d in docs if d._doc is None) / max(1, len(docs))


def test_native_is_installed_and_used() -> None:
    assert native_available()
    assert native_builder(ON) is not None
    assert native_builder(OFF) is None
    data = b"\n".join(orjson.dumps(TYPICAL) for _ in range(50)) + b"\n"
    assert _native_share(data, 1 << 20) == 1.0


def test_native_document_reads_as_the_same_dict() -> None:
    raw = orjson.dumps(TYPICAL)
    (on,) = StreamParser(origin="s", options=ON).parse(raw + b"\n")
    (off,) = StreamParser(origin="s", options=OFF).parse(raw + b"\n")
    assert isinstance(on, ParsedDocument) and isinstance(off, ParsedDocument)
    assert on.source_bytes() == off.source_bytes()
    assert on.doc == off.doc
    assert on.flat_row() == off.flat_row()
    on.doc["waf"]["action"] = "COUNT"  # once read as a dict, the dict is the document
    assert b'"action":"COUNT"' in on.source_bytes()


pieces = st.one_of(
    st.sampled_from(BASES).map(orjson.dumps),
    st.sampled_from(BASES).map(lambda r: json.dumps(r, indent=1).encode()),
    st.sampled_from(BASES).map(lambda r: json.dumps(r, ensure_ascii=True).encode()),
    st.sampled_from([b"{broken", b"[1,2]", b"not json", b'{"timestamp": 1}', b"\xff\xfe{}"]),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(pieces, min_size=1, max_size=8),
    st.sampled_from([b"\n", b"", b"\r\n", b"\n\n  "]),
    st.integers(1, 5000),
    st.booleans(),
)
def test_streams_match_without_native(
    parts: list[bytes], joiner: bytes, chunk: int, compress: bool
) -> None:
    data = joiner.join(parts) + b"\n"
    if compress:
        data = gzip.compress(data)
    on, on_stats = _results(data, ON, chunk)
    off, off_stats = _results(data, OFF, chunk)
    assert on == off
    assert on_stats == off_stats


def test_typical_traffic_goes_native() -> None:
    records = []
    for index in range(200):
        record = copy.deepcopy(TYPICAL)
        record["timestamp"] += index
        record["httpRequest"]["requestId"] = f"1-{index:08x}"
        records.append(orjson.dumps(record))
    data = b"\n".join(records) + b"\n"
    assert _native_share(data, 4096) == 1.0
    assert _results(data, ON, 4096) == _results(data, OFF, 4096)


_BUILD_ON = native_builder(ON)
NOT_JSON = [
    b'{"timestamp":01}',
    b'{"timestamp":1,}',
    b'{"a":[1,2,]}',
    b'{"a":"\\x"}',
    b'{"a":"\\u12"}',
    b'{"a":"\\ud800"}',
    b'{"a":"tab\there"}',
    b'{"a":"\x00"}',
    b'{"a":"\xc3"}',
    b'{"a":"\xed\xa0\x80"}',
    b'{"a":"\xc0\xaf"}',
    b'{"a":"\xf4\x90\x80\x80"}',
    b'{"a":NaN}',
    b'{"a":Infinity}',
    b'{"a":1e}',
    b'{"a":-}',
    b'{"a":.5}',
    b'{"a":tru}',
    b'{"a":1} x',
    b'{"a":1}}',
    b"{'a':1}",
    b'{"a" 1}',
    b"{a:1}",
    b'\xef\xbb\xbf{"a":1}',
]


def _orjson_accepts(raw: bytes) -> bool:
    try:
        orjson.loads(raw)
    except orjson.JSONDecodeError:
        return False
    return True


def test_native_refuses_what_orjson_refuses() -> None:
    assert _BUILD_ON is not None
    base = orjson.dumps(TYPICAL)
    for bad in NOT_JSON:
        assert not _orjson_accepts(bad), bad
        assert _BUILD_ON(bad) is None, bad
        spliced = base[:-1] + b',"x":' + bad[5:]  # the bad part inside a real record
        if not _orjson_accepts(spliced):
            assert _BUILD_ON(spliced) is None, spliced


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(BASES), st.data())
def test_native_accepts_only_valid_json(record: dict[str, Any], data: st.DataObject) -> None:
    """Byte mutations of real records: whatever orjson refuses, native declines; whatever
    native builds equals the Python result."""
    assert _BUILD_ON is not None
    raw = bytearray(orjson.dumps(record))
    alphabet = list(b'{}[]",:\\/01-+.eE \t\n\x00\x1f\x7fu\xc3\xa9\xed\xa0\xff')
    for _ in range(data.draw(st.integers(1, 3))):
        pos = data.draw(st.integers(0, len(raw) - 1))
        byte = data.draw(st.sampled_from(alphabet))
        how = data.draw(st.sampled_from(["replace", "insert", "delete"]))
        if how == "replace":
            raw[pos] = byte
        elif how == "insert":
            raw.insert(pos, byte)
        else:
            del raw[pos]
    mutated = bytes(raw).strip(b" \t\r\n")
    built = _BUILD_ON(mutated)
    if not _orjson_accepts(mutated):
        assert built is None
        return
    if built is not None:
        on, _ = _results(mutated + b"\n", ON, 1 << 20)
        off, _ = _results(mutated + b"\n", OFF, 1 << 20)
        assert on == off
