"""The fast path (ingest.parser.fastpath) gives exactly what the general path gives.

``build_fast`` must produce the same event id, timestamp and document as
``build_document`` (same keys in the same order, so the same bytes) and hash the same
header values in the record; when it gives up (None: a required field is not in its usual
shape) it has changed nothing, and the general path decides.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest.parser import ParsedDocument, ParserOptions, StreamParser
from ingest.parser.fastpath import _CACHE_LIMIT, FastContext, build_fast
from ingest.parser.framing import RecordFramer
from ingest.parser.transform import RecordError, build_document
from tests.unit.conftest import HASH_KEY, fixture_paths

FIXTURE_RECORDS = [orjson.loads(p.read_bytes()) for p in fixture_paths()]

TYPICAL: dict[str, Any] = {
    "timestamp": 1_717_200_000_123,
    "formatVersion": 1,
    "webaclId": "arn:aws:wafv2:eu-west-1:111122223333:regional/webacl/api-prod/8a7b6c5d",
    "terminatingRuleId": "Default_Action",
    "terminatingRuleType": "REGULAR",
    "action": "ALLOW",
    "terminatingRuleMatchDetails": [],
    "httpSourceName": "ALB",
    "httpSourceId": "123456789012-app/my-alb/abc",
    "ruleGroupList": [
        {
            "ruleGroupId": "AWS#AWSManagedRulesCommonRuleSet",
            "terminatingRule": None,
            "nonTerminatingMatchingRules": [
                {"ruleId": "NoUserAgent_HEADER", "action": "COUNT", "overriddenAction": "BLOCK"}
            ],
            "excludedRules": None,
        }
    ],
    "rateBasedRuleList": [],
    "nonTerminatingMatchingRules": [],
    "requestHeadersInserted": None,
    "responseCodeSent": None,
    "httpRequest": {
        "clientIp": "203.0.113.7",
        "country": "NL",
        "headers": [
            {"name": "Host", "value": "shop.example.com:8443"},
            {"name": "User-Agent", "value": "curl/8.5.0"},
            {"name": "Referer", "value": "https://shop.example.com/"},
            {"name": "Cookie", "value": "session=abc"},
            {"name": "accept", "value": "*/*"},
        ],
        "uri": "/checkout",
        "args": "q=1",
        "httpVersion": "HTTP/1.1",
        "httpMethod": "POST",
        "requestId": "1-abc",
        "fragment": "",
        "scheme": "https",
        "host": "",
    },
    "labels": [{"name": "awswaf:clientip:geo:country:NL"}],
    "ja3Fingerprint": "a" * 32,
    "ja4Fingerprint": "t13d1516h2_8daaf6152771_02713d6af862",
    "requestBodySize": 120,
    "requestBodySizeInspectedByWAF": 120,
}
BASES = [*FIXTURE_RECORDS, TYPICAL]

OPTION_SETS = [
    ParserOptions(hash_key=HASH_KEY),
    ParserOptions(hash_key=b"k" * 100, keep_original=False),
    ParserOptions(hash_key=HASH_KEY, sensitive_headers=frozenset({"host", "user-agent", "ñ"})),
]

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from(
        ["", "-", "null", " 12 ", "7", "COUNT", "HEADER", "Cookie", "Host", "host:80", "::1"]
    )
    | st.text(max_size=12)
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(
            st.sampled_from(["name", "value", "ruleId", "action", "key", "x"])
            | st.text(max_size=6),
            children,
            max_size=3,
        )
    ),
    max_leaves=8,
)
header_entries = st.lists(
    st.fixed_dictionaries(
        {
            "name": st.sampled_from(
                ["Host", "host", "Cookie", "cookie", "User-Agent", "Referer", "X-Api-Key", "ΑΣ"]
            )
            | st.text(max_size=8),
            "value": st.text(max_size=8) | json_scalars,
        }
    ),
    max_size=6,
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _paths(item, (*prefix, index))
    return found


@st.composite
def records(draw: st.DrawFn) -> dict[str, Any]:
    record = copy.deepcopy(draw(st.sampled_from(BASES)))
    for _ in range(draw(st.integers(0, 4))):
        paths = [p for p in _paths(record) if p]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = record
        for key in path[:-1]:
            parent = parent[key]
        if draw(st.booleans()) and isinstance(parent, dict):
            del parent[path[-1]]
        else:
            parent[path[-1]] = draw(json_values)
    request = record.get("httpRequest")
    if isinstance(request, dict) and draw(st.booleans()):
        request["headers"] = draw(header_entries)
    return record


def _both(raw: bytes, options: ParserOptions) -> tuple[Any, Any, Any, Any]:
    """(fast result, record after fast, general result or RecordError, record after)."""
    fast_record = orjson.loads(raw)
    general_record = orjson.loads(raw)
    fast = build_fast(fast_record, raw, FastContext(options))
    general: Any
    try:
        general = build_document(general_record, raw, options)
    except RecordError as exc:
        general = exc
    return fast, fast_record, general, general_record


def _assert_same(raw: bytes, options: ParserOptions) -> None:
    fast, fast_record, general, general_record = _both(raw, options)
    if fast is None:  # the general path decides; nothing was changed before giving up
        assert orjson.dumps(fast_record) == orjson.dumps(orjson.loads(raw))
        return
    assert not isinstance(general, RecordError), general
    assert fast == general
    assert orjson.dumps(fast[2]) == orjson.dumps(general[2])  # same key order too
    assert orjson.dumps(fast_record) == orjson.dumps(general_record)


@pytest.mark.parametrize("options", OPTION_SETS)
@pytest.mark.parametrize("record", BASES)
def test_fixtures_fast_equals_general(record: dict[str, Any], options: ParserOptions) -> None:
    _assert_same(orjson.dumps(record), options)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(records(), st.sampled_from(OPTION_SETS), st.booleans())
def test_variations_fast_equals_general(
    record: dict[str, Any], options: ParserOptions, pretty: bool
) -> None:
    try:
        raw = orjson.dumps(record)
    except TypeError:  # an integer orjson cannot write
        return
    if pretty:
        raw = json.dumps(record, indent=1, ensure_ascii=False).encode()
    _assert_same(raw, options)


def test_stream_uses_fast_path_and_matches_general() -> None:
    options = OPTION_SETS[0]
    raws = [orjson.dumps(r) for r in BASES]
    parser = StreamParser(origin="s", options=options)
    results = list(parser.parse(b"\n".join(raws) + b"\n"))
    assert all(isinstance(r, ParsedDocument) for r in results)
    for raw, result in zip(raws, results, strict=True):
        assert isinstance(result, ParsedDocument)
        event_id, timestamp, doc = build_document(orjson.loads(raw), raw, options)
        assert (result.id, result.timestamp_ms) == (event_id, timestamp)
        assert orjson.dumps(result.doc) == orjson.dumps(doc)
        action, source, end = result.bulk_lines("p").split(b"\n")
        assert orjson.loads(action) == {
            "index": {"_index": result.index_name("p"), "_id": event_id}
        }
        assert source == orjson.dumps(doc) and end == b""
    assert parser.stats.parsed == len(raws) and parser.stats.rejected == 0


def test_repeated_and_sensitive_headers_take_the_careful_route() -> None:
    record = copy.deepcopy(TYPICAL)
    record["httpRequest"]["headers"] += [
        {"name": "COOKIE", "value": "second"},
        {"name": "x-n", "value": 5},
        {"name": 7, "value": "x"},
    ]
    _assert_same(orjson.dumps(record), OPTION_SETS[0])
    fast = build_fast(orjson.loads(orjson.dumps(record)), b"{}", FastContext(OPTION_SETS[0]))
    assert fast is not None
    cookies = fast[2]["http"]["request"]["headers"]["cookie"]
    assert isinstance(cookies, list) and all(c.startswith("hmac-sha256:") for c in cookies)


def test_per_stream_caches_are_bounded() -> None:
    ctx = FastContext(OPTION_SETS[0])
    for index in range(_CACHE_LIMIT * 2 + 5):
        record = copy.deepcopy(TYPICAL)
        record["webaclId"] = f"arn:aws:wafv2:us-east-1:1:global/webacl/w{index}/id"
        record["httpRequest"]["host"] = f"h{index}.example.com"
        record["httpRequest"]["headers"] = [{"name": f"X-H{index}", "value": "v"}]
        raw = orjson.dumps(record)
        assert build_fast(orjson.loads(raw), raw, ctx) is not None
    assert len(ctx.webacls) <= _CACHE_LIMIT
    assert len(ctx.hosts) <= _CACHE_LIMIT
    assert len(ctx.lower_names) <= _CACHE_LIMIT


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from(BASES), max_size=5), st.integers(1, 4096), st.booleans())
def test_lazy_framing_matches_list_framing(
    picked: list[dict[str, Any]], chunk: int, newline_between: bool
) -> None:
    joiner = b"\n" if newline_between else b""
    data = joiner.join(orjson.dumps(r) for r in picked) + b"\n \n{broken\n"
    pieces = [data[i : i + chunk] for i in range(0, len(data), chunk)]
    eager, lazy = RecordFramer(), RecordFramer()
    eager_frames = [f for piece in pieces for f in eager.feed(piece)] + eager.finish()
    lazy_frames = [f for piece in pieces for f in lazy.iter_feed(piece)]
    lazy_frames += list(lazy.iter_finish())
    assert [(o, r) for o, r, _ in eager_frames] == [(o, r) for o, r, _ in lazy_frames]
    assert len(eager_frames) == len(picked) + 1
