"""Numbers no document store can hold are dropped, never allowed to crash a stream."""

from __future__ import annotations

import orjson

from ingest.parser import ParsedDocument, ParserOptions, parse_stream
from ingest.parser.rules import as_int
from tests.waf_records import waf_record


def test_as_int_bounds() -> None:
    assert as_int(2**63 - 1) == 2**63 - 1
    assert as_int(-(2**63)) == -(2**63)
    assert as_int(2**63) is None
    assert as_int(1e300) is None
    assert as_int("300") == 300
    assert as_int(True) is None


def test_huge_numbers_do_not_stop_the_stream() -> None:
    record = waf_record(1)
    record["rateBasedRuleList"] = [
        {"rateBasedRuleId": "x", "maxRateAllowed": 1e300, "evaluationWindowSec": "300"}
    ]
    record["requestBodySize"] = 12345
    huge = orjson.dumps(record).replace(b"12345", b"99999999999999999999")
    data = huge + b"\n" + orjson.dumps(waf_record(2)) + b"\n"
    results = list(parse_stream(data, origin="t", options=ParserOptions()))
    assert [type(r) for r in results] == [ParsedDocument, ParsedDocument]
    first = results[0]
    assert isinstance(first, ParsedDocument)
    first.bulk_lines()  # serialises without "Integer exceeds 64-bit range"
    assert "body" not in first.doc.get("http", {}).get("request", {})
    assert first.doc["waf"]["rate_based_rules"][0]["evaluation_window_sec"] == 300
