"""Framings: NDJSON, concatenated, pretty-printed, mixed, gzip (multi-member, truncated)."""

from __future__ import annotations

import gzip
import json
import zlib

import orjson
import pytest

from ingest.parser.framing import RecordFramer
from tests.unit.conftest import parse_all


def rec(n: int) -> dict:
    return {
        "timestamp": 1717243200000 + n,
        "action": "ALLOW",
        "webaclId": "arn:aws:wafv2:us-east-1:1:global/webacl/a/b",
        "httpRequest": {
            "clientIp": "10.0.0.1",
            "headers": [{"name": "x", "value": "}{ tricky }\n{"}],
            "uri": f"/{n}",
        },
    }


def compact(n: int) -> bytes:
    return orjson.dumps(rec(n))


def pretty(n: int) -> bytes:
    return json.dumps(rec(n), indent=4).encode()


def stamps(data: bytes | list[bytes]) -> list[int]:
    docs, rejects, stats = parse_all(data)
    assert not rejects, rejects
    assert stats.records_in == stats.parsed == len(docs)
    return [d.timestamp_ms - 1717243200000 for d in docs]


def chunked(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


def test_ndjson() -> None:
    data = b"\n".join(compact(i) for i in range(5)) + b"\n"
    assert stamps(data) == [0, 1, 2, 3, 4]


def test_ndjson_crlf_and_blank_lines_and_no_final_newline() -> None:
    data = b"\r\n\r\n".join(compact(i) for i in range(3))
    assert stamps(data) == [0, 1, 2]


def test_concatenated_without_delimiter() -> None:
    data = b"".join(compact(i) for i in range(6))
    assert stamps(data) == list(range(6))


def test_pretty_printed_concatenated_and_mixed() -> None:
    data = (
        pretty(0)
        + pretty(1)
        + b"\n"
        + compact(2)
        + compact(3)
        + b"\n\n"
        + pretty(4)
        + b"  "
        + compact(5)
    )
    assert stamps(data) == list(range(6))


@pytest.mark.parametrize("size", [1, 7, 64, 1000])
def test_any_chunking_gives_the_same_records(size: int) -> None:
    data = pretty(0) + compact(1) + b"\n" + compact(2) + compact(3) + pretty(4)
    assert stamps(chunked(data, size)) == list(range(5))


def test_utf8_bom_is_skipped() -> None:
    assert stamps(b"\xef\xbb\xbf" + compact(0) + b"\n" + compact(1)) == [0, 1]


def test_gzip_detected_by_magic_bytes() -> None:
    data = gzip.compress(b"\n".join(compact(i) for i in range(4)))
    docs, _, stats = parse_all(chunked(data, 5))
    assert [d.timestamp_ms % 1000 for d in docs] == [0, 1, 2, 3]
    assert stats.compressed and not stats.truncated
    assert stats.bytes_read == len(data)


def test_plain_data_that_merely_looks_binary_is_not_gunzipped() -> None:
    _, rejects, stats = parse_all(b"\x1f" + b"\n" + compact(0))
    assert not stats.compressed
    assert [r.reason for r in rejects] == ["not_json"]


def test_multi_member_gzip() -> None:
    data = (
        gzip.compress(compact(0) + b"\n")
        + gzip.compress(compact(1) + compact(2))
        + gzip.compress(pretty(3))
    )
    assert stamps(chunked(data, 13)) == [0, 1, 2, 3]


def test_multi_member_gzip_with_nul_padding() -> None:
    data = gzip.compress(compact(0)) + gzip.compress(compact(1)) + b"\x00" * 16
    docs, rejects, stats = parse_all(data)
    assert len(docs) == 2 and not rejects and not stats.truncated


def test_truncated_gzip_keeps_records_before_the_cut() -> None:
    plain = b"\n".join(compact(i) for i in range(200)) + b"\n"
    data = gzip.compress(plain)
    cut = data[: len(data) * 2 // 3]
    docs, rejects, stats = parse_all(chunked(cut, 100))
    assert stats.truncated
    assert "ended inside" in stats.truncated_detail
    assert len(docs) > 50
    assert [d.timestamp_ms % 1000 for d in docs] == list(range(len(docs)))
    assert stats.records_in == stats.parsed + stats.rejected
    assert all(r.reason == "truncated" for r in rejects)
    assert len(rejects) <= 1


def test_truncated_second_member() -> None:
    second = gzip.compress(compact(1) + b"\n" + compact(2) + b"\n")
    data = gzip.compress(compact(0) + b"\n") + second[: len(second) - 12]
    docs, _, stats = parse_all(data)
    assert stats.truncated
    assert docs[0].timestamp_ms % 1000 == 0


def test_corrupt_gzip_is_reported_as_truncated() -> None:
    good = gzip.compress(b"\n".join(compact(i) for i in range(50)) + b"\n")
    data = good[:40] + bytes(b ^ 0xFF for b in good[40:80]) + good[80:]
    _docs, _rejects, stats = parse_all(data)
    assert stats.truncated
    assert "corrupt" in stats.truncated_detail
    assert stats.records_in == stats.parsed + stats.rejected


def test_garbage_between_records_is_rejected_with_offsets() -> None:
    first = compact(0)
    garbage = b'{"timestamp": 1, "action": broken'
    data = first + b"\n" + garbage + b"\n" + compact(1) + b"\nplain text line\n" + compact(2)
    docs, rejects, _ = parse_all(chunked(data, 9))
    assert [d.timestamp_ms % 1000 for d in docs] == [0, 1, 2]
    assert [(r.reason, r.raw) for r in rejects] == [
        ("not_json", garbage),
        ("not_json", b"plain text line"),
    ]
    assert rejects[0].offset == len(first) + 1
    assert data[rejects[1].offset : rejects[1].offset + 5] == b"plain"


def test_broken_ndjson_line_never_swallows_the_next_lines() -> None:
    data = b'{not json\n"a string"\n[1, 2]\n' + compact(0) + b"\n{broken again\n" + compact(1)
    for size in (3, 64, len(data)):
        docs, rejects, _ = parse_all(chunked(data, size))
        assert [d.timestamp_ms % 1000 for d in docs] == [0, 1]
        assert [(r.reason, r.raw) for r in rejects] == [
            ("not_json", b"{not json"),
            ("not_object", b'"a string"'),
            ("not_object", b"[1, 2]"),
            ("not_json", b"{broken again"),
        ]


def test_broken_record_in_a_stream_without_newlines_resyncs() -> None:
    data = compact(0) + b'{"timestamp": 5, "action": oops}' + compact(1) + compact(2)
    docs, rejects, _ = parse_all(chunked(data, 50))
    assert [d.timestamp_ms % 1000 for d in docs] == [0, 1, 2]
    assert [r.raw for r in rejects] == [b'{"timestamp": 5, "action": oops}']


def test_unterminated_last_record_in_plain_stream_is_not_json() -> None:
    data = compact(0) + b"\n" + compact(1)[:-10]
    docs, rejects, stats = parse_all(data)
    assert len(docs) == 1 and [r.reason for r in rejects] == ["not_json"]
    assert not stats.truncated


def test_framer_keeps_only_the_unfinished_tail() -> None:
    framer = RecordFramer()
    frames = framer.feed(compact(0) + b"\n" + compact(1)[:20])
    assert len(frames) == 1
    assert framer.pending_bytes == 20


def test_large_stream_is_decompressed_in_bounded_pieces() -> None:
    from ingest.parser.framing import decoded_chunks
    from ingest.parser.models import ParseStats

    plain = b"\n".join(compact(i) for i in range(3000))
    pieces = list(decoded_chunks([gzip.compress(plain)], ParseStats(), piece_size=4096))
    assert max(len(p) for p in pieces) <= 4096
    assert b"".join(pieces) == plain


def test_raw_deflate_is_not_mistaken_for_gzip() -> None:
    data = zlib.compress(compact(0))
    _, rejects, stats = parse_all(data)
    assert not stats.compressed
    assert stats.records_in == stats.rejected == len(rejects) >= 1
