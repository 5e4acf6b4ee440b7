"""The native fast path (``wafsiem_native``) gives exactly what the Python paths give.

``Transformer.build(raw)`` must return None (decline) or ``(event_id, timestamp_ms,
source)`` equal to ``build_document(orjson.loads(raw), raw, options)`` with
``source == orjson.dumps(doc)`` byte for byte (and so to ``build_fast``, documented to
equal it). Declining is always allowed; a different answer never is. It must also not
decline the common shapes: coverage is asserted on benchmark and generator records.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import random
from collections.abc import Callable
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import orjson
import pytest
import wafsiem_native
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from ingest.generator import GenerateOptions, ScenarioSpec
from ingest.generator.service import Generator, scenario_names
from ingest.parser import ParserOptions
from ingest.parser.fastpath import FastContext, build_fast
from ingest.parser.transform import RecordError, build_document
from tests.unit.conftest import HASH_KEY, fixture_paths
from tests.unit.test_parser_fastpath import TYPICAL, _paths

ROOT = Path(__file__).resolve().parents[2]
FIXTURE_RAWS = [p.read_bytes().strip() for p in fixture_paths()]

OPTION_SETS = [
    ParserOptions(hash_key=HASH_KEY),
    ParserOptions(),
    ParserOptions(hash_key=HASH_KEY, keep_original=False),
    ParserOptions(hash_key=HASH_KEY, sensitive_headers=frozenset()),
    ParserOptions(
        hash_key=HASH_KEY,
        sensitive_headers=frozenset(
            {"host", "user-agent", "referer", "accept", "dogname", "x-amzn-waf-customer", "ñ"}
        ),
    ),
    ParserOptions(hash_key=b"k" * 100),
    ParserOptions(hash_key=b"", sensitive_headers=frozenset({"Cookie", "x-api-key"})),
]
OPTION_IDS = ["default", "default-key", "no-original", "none", "custom", "long-key", "odd"]

_transformers: dict[ParserOptions, Any] = {}


def _transformer(options: ParserOptions) -> Any:
    transformer = _transformers.get(options)
    if transformer is None:
        transformer = _transformers[options] = wafsiem_native.Transformer(
            options.hash_key, sorted(options.sensitive_headers), options.keep_original
        )
    return transformer


def _python(raw: bytes, options: ParserOptions) -> tuple[str, int, bytes] | None:
    """The general path's answer as (id, timestamp, JSON), None for a RecordError."""
    try:
        doc_id, timestamp, doc = build_document(orjson.loads(raw), raw, options)
    except RecordError:
        return None
    return doc_id, timestamp, orjson.dumps(doc)


def _check(raw: bytes, options: ParserOptions) -> bool:
    """Native declines or matches the Python paths; True when it did not decline."""
    native = _transformer(options).build(raw)
    if native is None:
        return False
    return _matches(raw, options, native)


def _matches(raw: bytes, options: ParserOptions, native: tuple[str, int, bytes]) -> bool:
    expected = _python(raw, options)
    assert expected is not None, f"native accepted a record the general path rejects: {raw!r}"
    assert native == expected, raw
    fast = build_fast(orjson.loads(raw), raw, FastContext(options))
    if fast is not None:
        assert (fast[0], fast[1], orjson.dumps(fast[2])) == native
    return True


@cache
def _make_record() -> Callable[[random.Random, int], dict[str, Any]]:
    spec = importlib.util.spec_from_file_location("_bench_parse", ROOT / "benchmarks/parse.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.make_record


@cache
def benchmark_raws() -> list[bytes]:
    make_record = _make_record()
    rng = random.Random(11)
    return [orjson.dumps(make_record(rng, index)) for index in range(2000)]


class _Keep:
    def __init__(self) -> None:
        self.lines: list[bytes] = []

    def consume(self, chunk: bytes) -> None:
        self.lines.extend(chunk.split(b"\n")[:-1])


@cache
def generator_raws(scenario: str) -> list[bytes]:
    """Records of one scenario run (with a thin baseline), as the generator writes them."""
    start = datetime(2024, 6, 1, tzinfo=UTC)
    options = GenerateOptions(
        start=start,
        hours=0.25,
        rps=0.5,
        domains=20,
        seed=5,
        scenarios=[ScenarioSpec(name=scenario, start=start, minutes=15, intensity=0.1)],
    )
    generator = Generator(options)
    lines: list[bytes] = []
    for lo, hi in generator.buckets():
        keeps = [_Keep() for _ in generator.topology.acls]
        generator.generate_bucket(lo, hi, keeps)
        for keep in keeps:
            lines.extend(keep.lines)
    return lines


SCENARIOS = scenario_names()


# -- every known record, every option set --------------------------------------------


@pytest.mark.parametrize("options", OPTION_SETS, ids=OPTION_IDS)
def test_fixtures_and_typical(options: ParserOptions) -> None:
    raws = [*FIXTURE_RAWS, *(orjson.dumps(orjson.loads(r)) for r in FIXTURE_RAWS)]
    raws.append(orjson.dumps(TYPICAL))
    accepted = [_check(raw, options) for raw in raws]
    assert all(accepted), [raw[:80] for raw, ok in zip(raws, accepted, strict=True) if not ok]


@pytest.mark.parametrize("options", OPTION_SETS, ids=OPTION_IDS)
def test_benchmark_records(options: ParserOptions) -> None:
    raws = benchmark_raws()
    accepted = sum(_check(raw, options) for raw in raws)
    assert accepted >= 0.99 * len(raws)


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_generator_records(scenario: str) -> None:
    raws = generator_raws(scenario)
    assert len(raws) > 300
    for options in OPTION_SETS:
        accepted = sum(_check(raw, options) for raw in raws)
        assert accepted >= 0.99 * len(raws), (scenario, options, accepted, len(raws))


def test_all_scenarios_covered() -> None:
    assert set(SCENARIOS) >= {
        "sqli-scanner",
        "xss-scanner",
        "credential-stuffing",
        "bad-bots",
        "fp-size-body",
        "fp-xss-body",
    }


# -- inputs it must decline ------------------------------------------------------------

BASE = orjson.dumps(TYPICAL)


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"[]",
        b"null",
        b"{",
        b"{}",
        b'{"timestamp":1}',
        BASE[:-1],
        BASE + b"x",
        BASE + b"{}",
        b"\xef\xbb\xbf" + BASE,
        BASE.replace(b'"action":"ALLOW"', b'"action":"\xff"'),
        BASE.replace(b'"action":"ALLOW"', b'"action":"\\ud800"'),
        BASE.replace(b'"action":"ALLOW"', b'"action":"\\udc00x"'),
        BASE.replace(b'"action":"ALLOW"', b'"action":"A\tB"'),
        BASE.replace(b'"action":"ALLOW"', b'"action":"\\x"'),
        BASE.replace(b'"formatVersion":1', b'"formatVersion":1.0'),
        BASE.replace(b'"formatVersion":1', b'"formatVersion":1e0'),
        BASE.replace(b'"formatVersion":1', b'"formatVersion":01'),
        BASE.replace(b'"formatVersion":1', b'"formatVersion":9223372036854775808'),
        BASE.replace(b'"formatVersion":1', b'"formatVersion":NaN'),
        BASE.replace(b'"formatVersion":1', b'"formatVersion":[1,]'),
        BASE.replace(b'"formatVersion":1', b'"formatVersion":' + b"[" * 70 + b"]" * 70),
        BASE.replace(b'"formatVersion":1', b'"formatVersion":1,"formatVersion":2'),
        BASE.replace(b'"formatVersion":1', b'"formatVersion":1,"x":{"a":1,"a":1}'),
        BASE.replace(b'"timestamp":1717200000123', b'"timestamp":-1'),
        BASE.replace(b'"timestamp":1717200000123', b'"timestamp":"--5"'),
        BASE.replace(b'"clientIp":"203.0.113.7"', b'"clientIp":"203.0.113.07"'),
        BASE.replace(b'"clientIp":"203.0.113.7"', b'"clientIp":"fe80::1%eth0"'),
        BASE.replace(b'"clientIp":"203.0.113.7"', b'"clientIp":7'),
        BASE.replace(b'"Host"', b'"H\xc3\xb6st"'),
    ],
)
def test_declines(raw: bytes) -> None:
    for options in OPTION_SETS:
        assert _transformer(options).build(raw) is None


def test_accepts_nesting_up_to_the_limit() -> None:
    deep = b"[" * 60 + b"]" * 60
    raw = BASE.replace(b'"formatVersion":1', b'"formatVersion":1,"deep":' + deep)
    assert _check(raw, OPTION_SETS[0])


def test_huge_and_hostile_inputs_do_not_crash() -> None:
    transformer = _transformer(OPTION_SETS[0])
    for raw in [b"[" * 100_000, b'{"a":' * 100_000, b'"' + b"\\" * 100_001, b"{" + b" " * 10**6]:
        assert transformer.build(raw) is None
    many = {**TYPICAL, "httpRequest": {**TYPICAL["httpRequest"]}}
    many["httpRequest"]["headers"] = [{"name": "Cookie", "value": str(i)} for i in range(256)]
    assert _check(orjson.dumps(many), OPTION_SETS[0])


def test_large_collections_are_left_to_python() -> None:
    """More than 256 members in one array or object: declined (the pairwise duplicate
    checks stay bounded; a 2 MB object of 200k keys took 12 s before the cap)."""
    transformer = _transformer(OPTION_SETS[0])
    keys = b"{" + b",".join(b'"%d":0' % i for i in range(200_000)) + b"}"
    assert transformer.build(BASE[:-1] + b',"x":' + keys + b"}") is None
    many = {**TYPICAL, "httpRequest": {**TYPICAL["httpRequest"]}}
    many["httpRequest"]["headers"] = [{"name": f"X-{i}", "value": "v"} for i in range(257)]
    raw = orjson.dumps(many)
    assert transformer.build(raw) is None
    assert _python(raw, OPTION_SETS[0]) is not None
    group = {"ruleGroupId": "AWS#AWSManagedRulesCommonRuleSet", "terminatingRule": None}
    group["excludedRules"] = [
        {"exclusionType": "EXCLUDED_AS_COUNT", "ruleId": str(i)} for i in range(300)
    ]
    raw = orjson.dumps({**TYPICAL, "ruleGroupList": [group]})
    assert transformer.build(raw) is None
    # many groups of up to 256 rules each: counted/excluded rules are de-duplicated with a
    # set once there are many (pairwise, 64 x 256 rules took 2 s, 256 x 256 took 22 s)
    groups = [
        {
            "ruleGroupId": f"AWS#G{j}",
            "terminatingRule": None,
            "nonTerminatingMatchingRules": [
                {"ruleId": f"R{i % 200}", "action": "COUNT"} for i in range(256)
            ],
            "excludedRules": [
                {"exclusionType": "EXCLUDED_AS_COUNT", "ruleId": f"X{i}"} for i in range(256)
            ],
        }
        for j in range(32)
    ]
    assert _check(orjson.dumps({**TYPICAL, "ruleGroupList": groups + groups}), OPTION_SETS[0])


def test_constructor() -> None:
    with pytest.raises(TypeError):
        wafsiem_native.Transformer(b"k", "cookie", True)
    for names in (("cookie",), frozenset({"cookie"}), ["cookie"]):
        transformer = wafsiem_native.Transformer(b"k", names, True)
        assert transformer.build(BASE) is not None


# -- mutated records -------------------------------------------------------------------


@cache
def _bases() -> list[dict[str, Any]]:
    picked = [orjson.loads(r) for r in FIXTURE_RAWS] + [TYPICAL]
    picked += [orjson.loads(r) for r in benchmark_raws()[:40]]
    for scenario in SCENARIOS:
        raws = generator_raws(scenario)
        picked += [orjson.loads(raws[i]) for i in range(0, len(raws), max(1, len(raws) // 15))]
    return picked


text_values = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cs",))
    | st.sampled_from(['"', "\\", "/", "\x00", "\x1f", "\x7f", "\u2028", "é", "😀", "İ", "Σ"]),
    max_size=10,
)
ip_texts = (
    st.ip_addresses(v=4).map(str)
    | st.ip_addresses(v=6).map(str)
    | st.ip_addresses(v=6).map(lambda a: a.exploded)
    | st.ip_addresses(v=6).map(lambda a: str(a).upper())
    | st.ip_addresses(v=4).map(lambda a: f"::ffff:{a}")
    | st.ip_addresses(v=4).map(lambda a: f"::FFFF:{a}")
    | st.ip_addresses(v=4).map(lambda a: f" {a}\t")
    | st.sampled_from(
        [
            "::",
            "::1",
            "1::",
            "::ffff:0:0",
            "::ffff:102:304",
            "::1.2.3.4",
            "1:0:0:1:0:0:0:1",
            "0:0:1:0:0:1:0:0",
            "1:2:3:4:5:6:7::",
            "::2:3:4:5:6:7:8",
            "1:2:3:4:5:6:1.2.3.4",
            "fe80::1%1",
            "1.2.3",
            "1.2.3.4.5",
            "01.2.3.4",
            "256.1.1.1",
            "1.2.3.4/32",
            ":::",
            "1::2::3",
            "12345::",
            "g::",
            "",
            "-",
            "١.٢.٣.٤",
        ]
    )
    | st.text("0123456789abcdefABCDEF:.% ", max_size=16)
)
host_texts = st.sampled_from(
    [
        "Shop.Example.COM",
        "shop.example.com:8443",
        "shop.example.com:",
        "shop.example.com:99999",
        "shop.example.com:-1",
        "shop.example.com: 80 ",
        "shop.example.com:--5",
        "a:b:c",
        "[2001:DB8::1]:443",
        "[2001:db8::1]",
        "[::1]:x",
        "[::1]:--1",
        "[::1",
        " host.example ",
        "ÄBC.example",
        "",
        "-",
    ]
) | st.text(max_size=8)
int_texts = st.sampled_from(
    [
        *("300", " 300 ", "-5", "--5", "+5", "0", "-0", "007", "1e3", "3.0", "", "-", "null"),
        *("٣", "9223372036854775807", "9223372036854775808", "-9223372036854775808", "1" * 25),
    ]
)
plain_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.sampled_from(["", "-", "null", "COUNT", "BLOCK", "HEADER", "Cookie", "host", "x"])
    | int_texts
    | text_values
)
# floats and integers beyond 64 bits: native declines the whole record
scalars = (
    plain_scalars | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False, allow_infinity=False)
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(
            st.sampled_from(
                [
                    *("name", "value", "ruleId", "action", "key", "overriddenAction", "x"),
                    *("conditionType", "condition_type", "location", "matchedData"),
                ]
            )
            | text_values,
            children,
            max_size=3,
        )
    ),
    max_leaves=8,
)
header_names = (
    st.sampled_from(
        [
            *("Host", "host", "HOST", "Cookie", "cookie", "User-Agent", "user-agent", "Referer"),
            *("X-Api-Key", "Authorization", "accept", "Accept", "dogname", 'a"b', "a\\b"),
        ]
    )
    | st.text(st.characters(max_codepoint=127), max_size=6)
    | st.sampled_from(["ñ", "ΑΣ", "İ", "K"])  # non-ASCII: native declines
)
header_entries = st.lists(
    st.fixed_dictionaries(
        {"name": header_names, "value": text_values | plain_scalars},
    )
    | st.fixed_dictionaries(
        {}, optional={"name": header_names | plain_scalars, "value": json_values, "x": scalars}
    )
    | plain_scalars,
    max_size=6,
)
custom_values = st.lists(
    st.fixed_dictionaries(
        {},
        optional={
            "key": st.sampled_from(["HEADER", "HEADER", "QUERY", "header"]) | plain_scalars,
            "name": header_names | plain_scalars,
            "value": text_values | plain_scalars,
            "other": plain_scalars,
        },
    ),
    max_size=3,
)


@st.composite
def records(draw: st.DrawFn) -> dict[str, Any]:
    record = copy.deepcopy(draw(st.sampled_from(_bases())))
    for _ in range(draw(st.integers(0, 4))):
        paths = [p for p in _paths(record) if p]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = record
        for key in path[:-1]:
            parent = parent[key]
        choice = draw(st.integers(0, 3))
        if choice == 0 and isinstance(parent, dict):
            del parent[path[-1]]
        elif choice == 1 and isinstance(parent, dict):
            parent[draw(st.sampled_from(["x", "name", "value"]) | text_values)] = draw(json_values)
        elif choice == 2 and isinstance(parent[path[-1]], str):
            parent[path[-1]] = draw(text_values | int_texts | st.sampled_from(["-", "", "null"]))
        else:
            parent[path[-1]] = draw(json_values)
    request = record.get("httpRequest")
    if isinstance(request, dict):
        for key, strategy in (
            ("clientIp", ip_texts),
            ("host", host_texts),
            ("headers", header_entries),
            ("country", st.sampled_from(["-", "null", "", "DE"]) | scalars),
            ("requestId", st.sampled_from(["-", "null", ""]) | scalars),
        ):
            if draw(st.integers(0, 4)) == 0:
                request[key] = draw(strategy)
    for key, strategy in (
        ("requestHeadersInserted", header_entries),
        ("timestamp", int_texts | st.integers(-5, 2**63 - 1) | scalars),
        (
            "rateBasedRuleList",
            st.lists(
                st.fixed_dictionaries(
                    {"customValues": custom_values},
                    optional={"rateBasedRuleName": scalars, "maxRateAllowed": scalars},
                )
                | json_values,
                max_size=2,
            ),
        ),
        ("terminatingRuleMatchDetails", st.lists(json_values, max_size=2)),
        ("captchaResponse", json_values),
        ("oversizeFields", json_values),
        (
            "webaclId",
            st.sampled_from(["arn:", "arn:a:b:c:d:e", "arn:::::global/webacl//"]) | scalars,
        ),
    ):
        if draw(st.integers(0, 6)) == 0:
            record[key] = draw(strategy)
    return record


def _raw_forms(record: dict[str, Any], form: int) -> bytes | None:
    """Bytes of ``record``: canonical orjson, or a non-canonical writing of it."""
    try:
        raw = orjson.dumps(record)
    except TypeError:  # an integer beyond 64 bits: orjson cannot write it
        raw = json.dumps(record, ensure_ascii=False).encode()
    if form == 1:  # pretty, with every whitespace kind
        raw = json.dumps(record, indent="\t \r\n", ensure_ascii=False).encode()
    elif form == 2:  # \uXXXX for non-ASCII (surrogate pairs above the BMP)
        raw = json.dumps(record, ensure_ascii=True).encode()
    elif form == 3:  # "/" written "\/" (it never occurs outside strings)
        raw = raw.replace(b"/", b"\\/")
    elif form == 4:  # a repeated key in the record (orjson keeps the last value)
        key = next(iter(record), "x")
        raw = b"{" + orjson.dumps(key) + b':"first",' + raw[1:]
    elif form == 5:  # a repeated key in the request
        raw = raw.replace(b'"httpRequest":{', b'"httpRequest":{"clientIp":"1.2.3.4",', 1)
    elif form == 6:  # "-0" and upper-case \u escapes
        raw = raw.replace(b'"formatVersion":1', b'"formatVersion":-0').replace(
            b"\\u001f", b"\\u001F"
        )
    return raw


@settings(
    max_examples=2000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(records(), st.sampled_from(OPTION_SETS), st.integers(0, 6))
def test_mutated_records_match_or_decline(
    record: dict[str, Any], options: ParserOptions, form: int
) -> None:
    raw = _raw_forms(record, form)
    assert raw is not None
    _event(raw, options, f"form {form}")


def _event(raw: bytes, options: ParserOptions, label: str = "") -> None:
    """_check, counting (for --hypothesis-show-statistics) what native and Python did."""
    accepted = _check(raw, options)
    python = "rejects" if _python_or_error(raw, options) is None else "builds"
    event(f"{label}: native {'builds' if accepted else 'declines'}, python {python}")


def _python_or_error(raw: bytes, options: ParserOptions) -> tuple[str, int, bytes] | None:
    try:
        return _python(raw, options)
    except Exception:  # the general path raising (a bug of its own) counts as a reject
        return None


@settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ip_texts, host_texts, st.sampled_from(OPTION_SETS))
def test_addresses_and_hosts(ip: str, host: str, options: ParserOptions) -> None:
    record = copy.deepcopy(TYPICAL)
    record["httpRequest"]["clientIp"] = ip
    record["httpRequest"]["host"] = host
    _event(orjson.dumps(record), options)


@settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    header_entries,
    header_entries,
    custom_values,
    st.sampled_from(OPTION_SETS),
    st.sampled_from([0, 0, 1, 2, 3]),
)
def test_headers_and_custom_values(
    headers: list[Any],
    inserted: list[Any],
    custom: list[Any],
    options: ParserOptions,
    form: int,
) -> None:
    record = copy.deepcopy(TYPICAL)
    record["httpRequest"]["headers"] = headers
    record["httpRequest"]["host"] = ""
    record["requestHeadersInserted"] = inserted
    record["rateBasedRuleList"] = [{"rateBasedRuleName": "r", "customValues": custom}]
    raw = _raw_forms(record, form)
    assert raw is not None
    _event(raw, options, f"form {form}")


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=64), st.integers(0, len(BASE)))
def test_corrupted_bytes_match_or_decline(noise: bytes, at: int) -> None:
    _check_lenient(BASE[:at] + noise + BASE[at:])


def _check_lenient(raw: bytes) -> None:
    """Like _check, for bytes that may not be JSON at all."""
    native = _transformer(OPTION_SETS[0]).build(raw)
    if native is None:
        return
    assert native == _python(raw, OPTION_SETS[0])
